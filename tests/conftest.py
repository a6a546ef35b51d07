"""Shared fixtures: paths to the repository's corpus and the shared benchmark circuits."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "circuits"
SHARED = REPO.parent / "shared" / "circuits"


@pytest.fixture
def corpus() -> Path:
    return CORPUS


@pytest.fixture
def shared_circuits() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared benchmark circuits not found at {SHARED}")
    return SHARED
