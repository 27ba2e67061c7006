"""Shared test fixtures: where the small real files live."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The folder of small real music files (see tests/data/README.md)."""
    return DATA_DIR
