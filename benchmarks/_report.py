"""What every benchmark's JSON says about the machine, and how it is written.

The benchmark scripts import this as a sibling module (``python benchmarks/x.py`` puts
``benchmarks/`` first on the path).
"""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any

import numpy as np


def machine(load_before: float, **facts: Any) -> dict[str, Any]:
    """The Python version, the script's own ``facts`` and the 1-minute load average before
    and after the run: above the core count, other processes shared the CPUs and the timings
    are off by about that factor."""
    return {
        "python": platform.python_version(),
        **facts,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def peak_rss_gib() -> float:
    """This process's peak resident memory so far, in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_facts() -> dict[str, Any]:
    """numpy's version, the core count and the processor: what throughput figures depend on."""
    return {
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def settings(args: Any) -> dict[str, Any]:
    """A script's parsed arguments as JSON-ready values (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def write_report(path: Path, report: dict[str, Any]) -> None:
    """``report`` as indented JSON at ``path`` (folders made as needed), and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
