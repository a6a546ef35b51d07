"""Planner of the ``dense`` method: the universal AND the way a trained network computes it
(dense.py), for the circuits it applies to; every other circuit is planned as ``superposed``
would plan it (without considering ``deep``), and a dense layer that would cost one neuron
per gate or more becomes the exact gadgets.

The dense construction fits its read-off while choosing its width, so the fitted block is
made here and recorded as a ``prebuilt`` level (every gate's read-off reads every neuron).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from circuit2mlp.codegen.plan import DENSE, LevelPlan, Plan, plain_activity
from circuit2mlp.codegen.planners.exact import exact_plan
from circuit2mlp.codegen.planners.superposed import superposed_plan
from circuit2mlp.ir import LayeredCircuit

HELP = "one layer of two-input ANDs built as training found it (U-AND circuits)"


def plan(layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None) -> Plan:
    """The dense plan, or the superposed / exact one where dense does not apply or pay."""
    from circuit2mlp.codegen.dense import applies, dense_block

    if not applies(layered, config):
        return superposed_plan(layered, dataclasses.replace(config, method="superposed"), progress)
    block = dense_block(layered, config)
    if block is None:
        return exact_plan(layered, config.method, None, config.seed)
    gates = layered.layers[0]
    how = np.full(len(gates), DENSE, dtype=np.int8)
    level = LevelPlan("prebuilt", 0, tuple(g.name for g in gates), how, block=block)
    activity = tuple(plain_activity(layered.level_signals(i)) for i in range(2))
    return Plan(config.method, activity, (level,), input_dim=None, seed=config.seed)
