"""What the commands share: the rich consoles (stdout, stderr), a progress display, and
reading a circuit file with one-line errors."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from circuit2mlp.errors import UserError


def console(to_stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, wide enough that tables never truncate
    circuit names (rich would assume 80 columns)."""
    console = Console(stderr=to_stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=to_stderr, highlight=False, width=max(console.width, 160))
    return console


stdout = console()
stderr = console(to_stderr=True)


def read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def load_circuit_file(path: Path, quiet: bool):
    from circuit2mlp.formats import load_circuit

    warnings: list[str] = []
    circuit = load_circuit(path, warnings)
    if not quiet:
        for line in warnings:
            stderr.print(line, markup=False)
    return circuit


def progress(quiet: bool, spinner: bool = False) -> Progress:
    """A transient rich progress display on stderr (off with -q or when stderr is not a
    terminal); ``spinner``: for stages of unknown length, a spinner and the stage's name."""
    columns = (
        (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        if spinner
        else (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
    )
    return Progress(
        *columns,
        console=stderr,
        transient=True,
        disable=quiet or not stderr.is_terminal,
    )
