#!/usr/bin/env bash
# Set up tuplet on this machine: the system programs its commands and tests need, then a virtual
# environment in .venv with tuplet and its test tools.
#
# System programs (installed only when missing):
#   fluidsynth + the General MIDI SoundFont  audio (tuplet render, generate --wav, the tests)
#   chromium (Debian/Ubuntu)                  the studio's browser tests (Playwright drives it;
#                                             no browser is downloaded)
# Debian/Ubuntu: apt-get as root, or `sudo -n` where that needs no password; macOS: Homebrew.
# Where none of those works, it prints the exact command to run and goes on with the Python part
# (everything but audio and the studio's browser tests works without them).
#
# torch is pinned to 2.13.0 in pyproject.toml (a CPU build where the machine has it on disk).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fluidsynth fluid-soundfont-gm chromium)
BREW_PACKAGES=(fluid-synth)
SOUNDFONT=/usr/share/sounds/sf2/FluidR3_GM.sf2

missing_system() {
  command -v fluidsynth >/dev/null 2>&1 || return 0
  if [ "$(uname -s)" = Linux ] && [ ! -e "$SOUNDFONT" ] && [ -z "${TUPLET_SOUNDFONT:-}" ]; then
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  return 1
}

install_system() {
  if ! missing_system; then
    return 0
  fi
  local sudo=()
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
      else
        echo "setup: audio and the studio's browser tests need system packages that this user" >&2
        echo "  cannot install; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${APT_PACKAGES[*]}" >&2
        return 0
      fi
    fi
    echo "setup: installing ${APT_PACKAGES[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { "${sudo[@]}" apt-get update -q >/dev/null &&
           "${sudo[@]}" apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null; }; then
      echo "setup: apt-get could not install them; run: apt-get install -y ${APT_PACKAGES[*]}" >&2
    fi
  elif command -v brew >/dev/null 2>&1; then
    echo "setup: installing ${BREW_PACKAGES[*]} (Homebrew)"
    brew install "${BREW_PACKAGES[@]}" ||
      echo "setup: Homebrew could not install them; run: brew install ${BREW_PACKAGES[*]}" >&2
    echo "setup: Homebrew's fluid-synth has no General MIDI SoundFont: set TUPLET_SOUNDFONT to one (.sf2)" >&2
  else
    echo "setup: no package manager found for the audio programs; install FluidSynth and a" >&2
    echo "  General MIDI SoundFont by hand (Debian: apt-get install ${APT_PACKAGES[*]})" >&2
  fi
}

install_system

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[test,bench,studio,audio]'
# basic-pitch's wheel carries its ONNX model; its Linux metadata asks for TensorFlow, which it
# does not need to run that model, so it comes without its declared dependencies (the ones it
# imports are in the audio extra); pip's note that TensorFlow is missing is expected and hidden
if ! log=$(python -m pip install -q --no-deps basic-pitch==0.4.0 2>&1); then
  echo "$log" >&2
  exit 1
fi
