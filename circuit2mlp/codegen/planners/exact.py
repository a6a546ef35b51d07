"""Planner of the ``exact`` method: every gate its own exact gadget, nothing stored negated,
no activity measured. The yardstick every other construction is compared with."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from circuit2mlp.codegen.plan import LevelPlan, Plan, how_of, plain_activity
from circuit2mlp.codegen.terms import gadget_terms
from circuit2mlp.ir import LayeredCircuit

HELP = "a dedicated exact gadget per gate (no superposition)"


def gadget_level(layered: LayeredCircuit, i: int, names: tuple[str, ...]) -> LevelPlan:
    """Layer ``i`` with every gate on its plain exact gadget, reading features ``names``."""
    gates = layered.layers[i]
    terms = gadget_terms(gates, names)
    return LevelPlan(
        "compute",
        i,
        tuple(g.name for g in gates),
        how_of(terms, np.zeros(len(gates), bool), None),
        terms,
        notes={"kind": "compute"},
    )


def exact_plan(layered: LayeredCircuit, method: str, input_dim: int | None, seed: int) -> Plan:
    """The all-gadget plan (also what ``dense`` builds when its neurons would cost more)."""
    activity = tuple(plain_activity(layered.level_signals(i)) for i in range(layered.depth + 1))
    levels = tuple(gadget_level(layered, i, activity[i].names) for i in range(layered.depth))
    return Plan(method, activity, levels, input_dim=input_dim, seed=seed)


def plan(layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None) -> Plan:
    """The exact method's plan."""
    return exact_plan(layered, config.method, config.input_dim, config.seed)
