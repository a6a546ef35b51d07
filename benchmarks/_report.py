"""What every benchmark's JSON says about the machine, and how it is written.

The benchmark scripts import this as a sibling module (``python benchmarks/x.py`` puts
``benchmarks/`` first on the path).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine(load_before: float, **facts: Any) -> dict[str, Any]:
    """The Python version, the script's own ``facts`` and the 1-minute load average before
    and after the run: above the core count, other processes shared the CPUs and the timings
    are off by about that factor."""
    return {
        "python": platform.python_version(),
        **facts,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """``report`` as indented JSON at ``path`` (folders made as needed), and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
