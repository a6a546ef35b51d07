"""The emitter: any construction plan (plan.py) becomes the input embedding and layer blocks.

One function per level kind, chosen by the level's ``kind`` (never by the method that
planned it): ``compute`` levels are wired and read off by superposed.compute_block, ``decode``
levels are decode.decode_block, ``prebuilt`` levels (and any level whose planner already
emitted it, e.g. while calibrating a width) carry their block. Every block's stats start with
the plan's counts of the level (plan.LevelPlan.counts) and the planner's notes.
"""

from __future__ import annotations

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import FeatureMap, LayerBlock
from circuit2mlp.codegen.decode import decode_block
from circuit2mlp.codegen.embedding import input_embedding
from circuit2mlp.codegen.plan import LevelPlan, Plan
from circuit2mlp.codegen.superposed import compute_block
from circuit2mlp.ir import LayeredCircuit


def emit_inputs(
    inputs: tuple[str, ...], input_dim: int | None, flip: np.ndarray, seed: int
) -> tuple[FeatureMap, object]:
    """(input feature map, embed matrix): basis-aligned, or random unit directions in
    ``input_dim`` dimensions drawn from the first of two streams spawned from ``seed``."""
    stream = np.random.default_rng(seed).spawn(2)[0]
    return input_embedding(inputs, input_dim, flip, stream)


def emit_level(level: LevelPlan, layered: LayeredCircuit, activity: tuple[LevelActivity, ...]):
    """The layer block of one planned level (``activity``: the plan's, per level of wires)."""
    if level.block is not None:
        block = level.block
        if level.kind == "prebuilt":  # its construction's figures, the plan's counts
            block.stats.update(level.counts())
        return block
    if level.kind == "decode":
        block = decode_block(activity[0])
    elif level.kind == "compute":
        assert level.layer is not None
        i = level.layer
        block = compute_block(level, layered.layers[i], activity[i], activity[i + 1].flip)
    else:
        raise ValueError(f"level kind '{level.kind}' has no emission and no prebuilt block")
    block.stats.update(level.notes)
    return block


def emit(
    plan: Plan, layered: LayeredCircuit
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed matrix, blocks, names of wires stored negated) of a plan."""
    if plan.inputs is not None:
        features, embed = plan.inputs
    else:
        flip = np.asarray(plan.activity[0].flip, dtype=bool)
        features, embed = emit_inputs(layered.inputs, plan.input_dim, flip, plan.seed)
    blocks = [emit_level(level, layered, plan.activity) for level in plan.levels]
    return features, embed, blocks, plan.stored_negated()
