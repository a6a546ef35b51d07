"""``circuit2mlp passes``: the compiler passes in pipeline order."""

from __future__ import annotations

import click


@click.command("passes")
def passes_cmd() -> None:
    """List the compiler passes in pipeline order."""
    from circuit2mlp.passes.registry import PASSES

    for p in PASSES:
        click.echo(f"{p.name:12s} {p.description}")


COMMANDS = (passes_cmd,)
