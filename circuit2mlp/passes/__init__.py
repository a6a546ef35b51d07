"""Compiler passes: pure functions, each with a name and a one-line description.

``PASSES`` lists them in pipeline order; ``circuit2mlp passes`` prints the list and
``compile --stop-after NAME --dump-ir FILE`` stops after one and writes its result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pass:
    """A named pipeline step: ``run(ir, options) -> ir``."""

    name: str
    description: str
    run: Callable[..., Any]
