"""Commands that live in their own modules (one job each) and join the ``circuit2mlp`` group.

Each module listed in :data:`MODULES` defines ``COMMANDS``: a sequence of click commands.
Keeping them apart from ``cli.py`` keeps each command small and lets optional features
(exports, plots, sweeps) import their heavy dependencies only when run.
"""

from __future__ import annotations

import importlib

import click

MODULES: tuple[str, ...] = (
    "compile",
    "verify",
    "check",
    "passes",
    "generate",
    "sweep",
    "export",
    "interp",
    "plot",
    "dataset",
)


def register(group: click.Group) -> None:
    """Add every command of every module in :data:`MODULES` to ``group``."""
    for name in MODULES:
        module = importlib.import_module(f"circuit2mlp.commands.{name}")
        for command in module.COMMANDS:
            group.add_command(command)
