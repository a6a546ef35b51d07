"""Codegen driver: a layered circuit becomes a construction plan, and the plan weights.

The method's planner (looked up in the registry, codegen/planners/) makes every decision;
the one emitter (emit.py) builds the input embedding and the layer blocks of any plan. All
randomness comes from generators seeded by the config, so the same seed gives the same
weights.
"""

from __future__ import annotations

from collections.abc import Callable

from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.emit import emit
from circuit2mlp.codegen.plan import Plan
from circuit2mlp.codegen.planners import planner_for
from circuit2mlp.ir import LayeredCircuit


def make_plan(
    layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None
) -> Plan:
    """The plan of ``config.method`` for this circuit (``progress(text)`` hears each step)."""
    return planner_for(config.method)(layered, config, progress or (lambda text: None))


def build_blocks(
    layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed matrix, blocks, names of wires stored negated) for
    ``config.method``: its plan, emitted."""
    return emit(make_plan(layered, config, progress), layered)


__all__ = ["DTYPE", "build_blocks", "make_plan"]
