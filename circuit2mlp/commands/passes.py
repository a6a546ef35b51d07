"""``circuit2mlp passes``: the compiler passes in pipeline order."""

from __future__ import annotations

import click


@click.command("passes")
def passes_cmd() -> None:
    """List the compiler passes in pipeline order: the IR passes, then planning and
    emission (each a valid --stop-after)."""
    from circuit2mlp.compiler import CODEGEN_STEPS
    from circuit2mlp.passes.registry import PASSES

    for p in PASSES:
        click.echo(f"{p.name:12s} {p.description}")
    for name, description in CODEGEN_STEPS:
        click.echo(f"{name:12s} {description}")


COMMANDS = (passes_cmd,)
