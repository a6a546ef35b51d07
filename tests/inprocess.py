"""Running the CLI inside the test process: no new interpreter, so heavy imports (torch)
happen once per session."""

from __future__ import annotations

from circuit2mlp.cli import main


def cli(*args) -> int:
    """Run ``circuit2mlp ARGS`` in-process and return its exit status."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
