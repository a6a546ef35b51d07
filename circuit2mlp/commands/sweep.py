"""``circuit2mlp sweep``: compile + verify every combination of options, in parallel, into one
JSON or CSV table (see :mod:`circuit2mlp.sweep`)."""

from __future__ import annotations

from pathlib import Path

import click

from circuit2mlp.errors import UserError


def _int_list(text: str, what: str, low: int, allow_auto: bool = False) -> list[int | None]:
    """``"500,1000"`` -> [500, 1000]; ``auto`` -> None where allowed."""
    values: list[int | None] = []
    for item in text.split(","):
        item = item.strip()
        if allow_auto and item == "auto":
            values.append(None)
            continue
        try:
            value = int(item)
        except ValueError:
            raise UserError(f"--{what}: '{item}' is not an integer") from None
        if value < low:
            raise UserError(f"--{what}: {value} out of range (need >= {low})")
        values.append(value)
    if len(set(values)) != len(values):
        raise UserError(f"--{what}: a value is repeated")
    return values


@click.command("sweep")
@click.argument("circuits", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--methods",
    default=None,
    help="Comma-separated compile methods (default: the compiler's default method).",
)
@click.option(
    "--widths",
    default="auto",
    show_default=True,
    help="Comma-separated neurons per layer; 'auto' lets the compiler choose.",
)
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@click.option(
    "--sparsity",
    "sparsities",
    default="3",
    show_default=True,
    help="Comma-separated sparsities s (compiled for and verified on k-hot inputs, k <= s).",
)
@click.option(
    "--samples",
    "-n",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Verification samples per sparsity level k.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Table to write: .json (list of rows) or .csv.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the jobs on this Dask distributed scheduler (e.g. tcp://host:8786).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1),
    default=None,
    help="Local worker processes (default: CPU count). Ignored with --scheduler.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def sweep_cmd(
    circuits: tuple[Path, ...],
    methods: str | None,
    widths: str,
    seeds: str,
    sparsities: str,
    samples: int,
    output: Path,
    scheduler: str | None,
    jobs: int | None,
    quiet: bool,
) -> None:
    """Compile and verify CIRCUITS for every method x width x seed x sparsity, one job each,
    in parallel, and write one row per job to a plot-ready table.

    Rows are in a fixed order (circuit, method, width, seed, sparsity), so local and Dask runs
    give the same table apart from the timing columns. A failed job keeps its row, with the
    message in the 'error' column; the exit status is 1 if any job failed.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from circuit2mlp.compiler import METHODS, CompileConfig
    from circuit2mlp.fileio import write_text_atomic
    from circuit2mlp.sweep import plan, run_sweep, table_format, table_text

    fmt = table_format(output)
    chosen = [m.strip() for m in methods.split(",")] if methods else [CompileConfig().method]
    for method in chosen:
        if method not in METHODS:
            raise UserError(f"--methods: unknown method '{method}' (known: {', '.join(METHODS)})")
    labels = [str(c) for c in circuits]
    job_list = plan(
        labels,
        chosen,
        _int_list(widths, "widths", 1, allow_auto=True),
        [v for v in _int_list(seeds, "seeds", 0) if v is not None],
        [v for v in _int_list(sparsities, "sparsity", 0) if v is not None],
        samples,
    )
    stderr = Console(stderr=True, highlight=False)
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task("", total=len(job_list))

        def step(row: dict) -> None:
            what = f"{Path(row['circuit']).stem} {row['method']} w={row['width']}"
            bar.update(task, advance=1, description=what)

        rows = run_sweep(labels, job_list, workers=jobs, scheduler=scheduler, progress=step)
    write_text_atomic(output, table_text(rows, fmt))
    failed = [r for r in rows if r["error"]]
    if not quiet:
        for row in failed[:5]:
            stderr.print(
                f"failed: {row['circuit']} {row['method']} width={row['width']} "
                f"seed={row['seed']} s={row['sparsity']}: {row['error']}",
                markup=False,
                soft_wrap=True,
            )
        click.echo(f"wrote {output}: {len(rows)} rows, {len(failed)} failed")
    if failed:
        raise SystemExit(1)


COMMANDS = (sweep_cmd,)
