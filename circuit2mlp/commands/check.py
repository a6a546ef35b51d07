"""``circuit2mlp check``: compile and verify every circuit of a folder (its manifest's
settings)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from circuit2mlp.commands.common import progress, stdout


@click.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check_cmd(folder: Path, as_json: bool) -> None:
    """Compile and verify every circuit in FOLDER with the settings of FOLDER/manifest.yaml.

    Exit 1 when any circuit fails.
    """
    from circuit2mlp.corpus import check_folder, plan

    jobs = plan(folder)
    with progress(as_json) as bar:
        task = bar.add_task("checking", total=len(jobs))

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"checking {name}")

        rows = check_folder(folder, progress=step)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        from circuit2mlp.report import render_check

        render_check(rows, stdout)
        failed = sum(not r["passed"] for r in rows)
        stdout.print(f"{len(rows) - failed} passed, {failed} failed")
    if any(not r["passed"] for r in rows):
        sys.exit(1)


COMMANDS = (check_cmd,)
