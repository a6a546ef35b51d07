"""Driver of the ``deep`` method: a layered circuit becomes one deep block per layer.

Measures every wire's activity (activity.py; the stored polarity of each wire), embeds the
inputs, then per circuit layer writes the gates as threshold items, sizes each pool with the
error model (deep_model.py) -- or shares a forced ``--width`` among the pools in the
proportions the model asks for -- and emits the block (deep.py). Randomness: one stream per
layer, seeded from the config seed, so the same seed gives the same weights.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity, level_values, measure_activity
from circuit2mlp.codegen.blocks import FeatureMap, LayerBlock
from circuit2mlp.codegen.decode import decode_block
from circuit2mlp.codegen.deep import DeepOptions, LayerItems, PoolPlan, deep_block, layer_items
from circuit2mlp.codegen.deep_model import (
    CLEAN,
    LevelNoise,
    PoolInputs,
    pool_errors,
    sample_error,
    size_pool,
)
from circuit2mlp.codegen.embedding import input_embedding
from circuit2mlp.codegen.exact import gate_arrays
from circuit2mlp.codegen.superposed import exact_neurons_of
from circuit2mlp.ir import LayeredCircuit
from circuit2mlp.simulate import sparse_inputs

#: Most items per slot in pools of threshold >= 2: the model's coincidence term misses
#: slots that one truly active input leaves one unit short, where cross-talk finishes the
#: job; measured on 10^5 gates per level, 40-74 items per slot stayed clean over 8 levels
#: and 92 set off the chain reaction by level 7 of 32.
MAX_COINCIDENCE_LOAD = 48
#: Predicted share of samples with a wrong wire that an automatic width aims at (whole net).
TARGET_SAMPLE_ERROR = 0.003


def pool_inputs(items: LayerItems, hot_in: np.ndarray, hot_out: np.ndarray) -> list[PoolInputs]:
    """The error model's view of each pool of a layer (ascending threshold). ``hot_in`` /
    ``hot_out``: how often each wire of the level below / of this level is 1 in its stored
    polarity on exactly-s-hot inputs, the hardest samples verify checks (averaged over k = 0..s
    the activity is about half as high, and the cross-talk tail is steep in it)."""
    per_gate = np.bincount(items.gate, minlength=hot_out.size).astype(float)
    freq = hot_out[items.gate] / np.maximum(per_gate[items.gate], 1)
    positive = np.bincount(
        items.entry_item, weights=(items.entry_weight > 0).astype(float), minlength=items.n
    )
    density = float(hot_in.sum()) / max(hot_in.size, 1)
    pools = []
    for theta in np.unique(items.theta).tolist():
        sel = items.theta == theta
        pools.append(
            PoolInputs(
                theta=int(theta),
                n=int(sel.sum()),
                active=float(freq[sel].sum()),
                fanin=float(positive[sel].mean()),
                input_density=density,
            )
        )
    return pools


def hot_frequencies(
    layered: LayeredCircuit, levels: list[LevelActivity], sparsity: int, seed: int
) -> list[np.ndarray]:
    """Per level, how often each wire is 1 in its stored polarity on exactly-s-hot inputs
    (512 seeded samples, bit-parallel simulation)."""
    m = len(layered.inputs)
    rng = np.random.default_rng([seed, 4])
    x = sparse_inputs(m, min(sparsity, m), 512, rng)
    n = max(x.shape[0], 1)
    out = []
    for level, rows in zip(levels, level_values(layered, x), strict=True):
        ones = np.bitwise_count(rows).sum(axis=1) / n if rows.size else np.zeros(len(level.names))
        out.append(np.where(level.flip, 1.0 - ones, ones))
    return out


def plan_layer(
    items: LayerItems,
    model: list[PoolInputs],
    prev: LevelNoise,
    options: DeepOptions,
    target: float,
    width: int | None,
) -> tuple[list[PoolPlan], LevelNoise, float]:
    """Pools with their slots (from the model, or ``width`` neurons shared in the model's
    proportions), the noise handed to the next level and the predicted wrong wires."""
    sizes = [size_pool(p, options.q, prev, target, options.low, options.high) for p in model]
    floors = [
        math.ceil(p.n * options.q / MAX_COINCIDENCE_LOAD) if p.theta >= 2 else 0 for p in model
    ]
    sizes = [max(s, min(f, p.n)) for s, f, p in zip(sizes, floors, model, strict=True)]
    if width is not None:
        # coincidence pools get their floor, the linear pools (the critical ones) the rest
        per = 2 if options.ramp else 1
        budget = max(len(model), width // per)
        if not any(p.theta == 1 for p in model):  # coincidence pools only: share the width
            floors = [0] * len(model)
        fixed = [min(f, p.n) if p.theta >= 2 else 0 for f, p in zip(floors, model, strict=True)]
        linear = [
            s if p.theta == 1 or not f else 0 for s, f, p in zip(sizes, fixed, model, strict=True)
        ]
        room = max(len(model), budget - sum(fixed))
        total = max(sum(linear), 1)
        sizes = [
            max(1, int(s * room / total)) if s else max(1, f)
            for s, f, p in zip(linear, fixed, model, strict=True)
        ]
        if budget >= sum(p.n for p in model):  # room for a slot per item: no sharing at all
            sizes = [p.n for p in model]
    plans, wrong, on_mass, n_total = [], 0.0, 0.0, 0
    for pool, slots in zip(model, sizes, strict=True):
        plans.append(
            PoolPlan(pool.theta, np.flatnonzero(items.theta == pool.theta), slots, options.q)
        )
        w, on = pool_errors(
            pool, slots, options.q, prev, options.low, options.high, ramp=options.ramp
        )
        wrong += w
        dedicated = slots >= pool.n
        on_mass += 0.0 if dedicated else on * pool.n
        n_total += pool.n
    return plans, LevelNoise(on_mass / max(n_total, 1), options.q), wrong


def _levels(layered: LayeredCircuit, config) -> list[LevelActivity]:
    """Activity of every level; outputs are read in their true polarity."""
    rng = np.random.default_rng(config.seed)
    levels = measure_activity(layered, config.sparsity, rng.spawn(2)[1])
    last = levels[-1]
    levels[-1] = dataclasses.replace(
        last,
        flip=np.zeros_like(last.flip),
        frequency=np.where(last.flip, 1 - last.frequency, last.frequency),
    )
    return levels


def _plans(layered: LayeredCircuit, config, options: DeepOptions, levels: list[LevelActivity]):
    """Per layer (items, pool plans, predicted wrong wires), in order."""
    hot = hot_frequencies(layered, levels, config.sparsity, config.seed)
    prev = CLEAN
    target = -np.log1p(-TARGET_SAMPLE_ERROR) / max(layered.depth, 1)
    for i, gates in enumerate(layered.layers):
        items = layer_items(gates, levels[i], levels[i + 1].flip)
        model = pool_inputs(items, hot[i], hot[i + 1])
        plans, prev, wrong = plan_layer(
            items, model, prev, options, target / max(len(model), 1), config.width
        )
        yield items, plans, wrong


def predicted_neurons(layered: LayeredCircuit, config) -> int:
    """Neurons the deep method would use at its automatic width (no weights built)."""
    options = DeepOptions()
    per = 2 if options.ramp else 1
    levels = _levels(layered, config)
    total = 0
    for _, plans, _ in _plans(layered, config, options, levels):
        for plan in plans:
            dedicated = plan.slots >= plan.items.size
            total += per * (plan.items.size if dedicated else plan.slots)
    return total


def build_deep_blocks(
    layered: LayeredCircuit, config, options: DeepOptions | None = None
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed, blocks, wires stored negated) for ``--method deep``."""
    options = options or DeepOptions()
    if not config.error_correction:
        options = dataclasses.replace(options, ramp=False)
    rng = np.random.default_rng(config.seed)
    streams = rng.spawn(2)
    levels = _levels(layered, config)
    features, embed = input_embedding(layered.inputs, config.input_dim, levels[0].flip, streams[0])
    blocks: list[LayerBlock] = []
    if config.input_dim is not None and config.input_dim < len(layered.inputs):
        blocks.append(decode_block(levels[0]))
    plans_iter = _plans(layered, config, options, levels)
    for i, (gates, (items, plans, wrong)) in enumerate(
        zip(layered.layers, plans_iter, strict=True)
    ):
        block = deep_block(
            gates,
            levels[i],
            levels[i + 1].flip,
            plans,
            items,
            options,
            np.random.default_rng([config.seed, 3, i]),
        )
        block.stats["exact_neurons"] = exact_neurons_of(
            gate_arrays(gates, {name: j for j, name in enumerate(levels[i].names)})
        )
        block.stats["predicted_errors"] = wrong
        block.stats["predicted_sample_error"] = sample_error([wrong])
        blocks.append(block)
    flipped = frozenset(
        name for level in levels for name, f in zip(level.names, level.flip, strict=True) if f
    )
    return features, embed, blocks, flipped
