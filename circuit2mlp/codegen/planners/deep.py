"""Planner of the ``deep`` method, and the rule for when ``superposed`` hands a circuit to it.

The deep construction (deep_pipeline.py: threshold items in pools of shared slots, every
level in superposition) plans and emits in one pass, so this planner runs its entry point
(deep_pipeline.build_deep_blocks) and records what it decided: per level the gates (each a
slot of a superposed code, or a carry), the pools with their threshold, items, slots and
slots per item, the predicted errors, and the block itself, which the emitter passes
through (level kind ``prebuilt``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.plan import CARRY, CODE, LevelPlan, Plan
from circuit2mlp.ir import LayeredCircuit

HELP = "every level in superposition: threshold items on shared slots (wide circuits)"

#: Figures of a deep block the plan records (the rest are the emitted block's measurements).
_RECORDED = ("kind", "pools", "exact_neurons", "predicted_errors", "predicted_sample_error")

#: The default method considers the deep construction (every level in superposition) for
#: circuits with a level at least this wide: below it the deep method needs more neurons
#: than gates (its width grows like sqrt(m), docs/theory.md section 8), and small circuits
#: keep exactly the weights they had.
DEEP_MIN_WIRES = 20_000


#: Gates the superposed method puts on shared coincidence neurons when no literal is negated
#: (no degree-1 term); every other gate costs it at least its exact gadget.
_COINCIDENCE_OPS = frozenset({"AND", "NAND", "MAJ"})


def _deep_is_cheaper(layered: LayeredCircuit, config) -> bool:
    """Whether ``superposed`` at the automatic width should use the deep construction: a
    wide level, and the deep error model's neurons below what the superposed method must
    spend at least: the exact gadgets of its non-coincidence gates (sparse random circuits
    are mostly those; a U-AND has none, and its shared neurons are far cheaper than deep).
    The superposed planner asks; a forced width or inputs in superposition keep it."""
    if config.width is not None or config.input_dim is not None:
        return False
    if max((len(layer) for layer in layered.layers), default=0) < DEEP_MIN_WIRES:
        return False
    from circuit2mlp.codegen.deep_pipeline import forget_model, predicted_neurons
    from circuit2mlp.codegen.exact import gate_gadget
    from circuit2mlp.ir import symmetric_form

    def shareable(gate) -> bool:
        op, negated = symmetric_form(gate)
        return op in _COINCIDENCE_OPS and not any(negated)

    floor = sum(
        gate_gadget(g).neurons for layer in layered.layers for g in layer if not shareable(g)
    )
    # the deep model's width search costs a chain pass per width: skip it when nothing can pay
    if floor == 0:
        return False
    if predicted_neurons(layered, config) < floor:
        return True  # the model stays kept for the build that follows
    forget_model()
    return False


def plan(layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None) -> Plan:
    """The deep construction, run and recorded (module docstring)."""
    from circuit2mlp.codegen.deep_pipeline import build_deep_blocks

    say = progress or (lambda text: None)
    say("planning and building the deep layers")
    features, embed, blocks, flipped = build_deep_blocks(layered, config)
    names = [layered.level_signals(i) for i in range(layered.depth + 1)]
    activity = tuple(
        LevelActivity(
            level,
            np.array([n in flipped for n in level], dtype=bool),
            np.zeros(len(level)),
            0.0,
            0,
        )
        for level in names
    )
    levels = []
    i = 0  # circuit layer of the next computing block
    for block in blocks:
        if block.stats.get("kind") == "decode":
            how = np.full(len(layered.inputs), CARRY, dtype=np.int8)
            levels.append(LevelPlan("decode", None, layered.inputs, how, block=block))
            continue
        gates = layered.layers[i]
        how = np.array([CARRY if g.op == "BUF" else CODE for g in gates], dtype=np.int8)
        notes = {k: block.stats[k] for k in _RECORDED if k in block.stats}
        levels.append(LevelPlan("prebuilt", i, names[i + 1], how, notes=notes, block=block))
        i += 1
    return Plan(
        config.method,
        activity,
        tuple(levels),
        input_dim=config.input_dim,
        seed=config.seed,
        inputs=(features, embed),
        flipped=flipped,
    )
