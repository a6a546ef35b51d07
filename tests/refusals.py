"""The command-line contract for bad input, checked through the real executable: exit
status 2, exactly one stderr line, no traceback, no output file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def assert_compile_refused(src: Path, out: Path) -> str:
    """Run ``circuit2mlp compile SRC -o OUT`` in a new interpreter, assert the contract and
    return the one stderr line."""
    result = subprocess.run(
        [sys.executable, "-m", "circuit2mlp.cli", "compile", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert not out.exists()
    return lines[0]
