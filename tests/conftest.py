"""Shared test fixtures: where the small real files live; one torch thread for a module."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The folder of small real music files (see tests/data/README.md)."""
    return DATA_DIR


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module's tests (small models run fastest so on 2 cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
