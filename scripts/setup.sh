#!/usr/bin/env bash
# Set up a virtual environment in .venv with tuplet and its test tools.
# torch is pinned to 2.13.0 in pyproject.toml (a CPU build where the machine has it on disk).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[test,bench]'
