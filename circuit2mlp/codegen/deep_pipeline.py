"""Driver of the ``deep`` method: a layered circuit becomes one deep block per layer.

Measures every wire's activity (activity.py; the stored polarity of each wire), embeds the
inputs, then per circuit layer writes the gates as threshold items and sizes each pool with the
error model: the level pass (deep_model.py) gives the linear pools' proportions, the
coincidence pools (threshold >= 2) get MAX_COINCIDENCE_LOAD items per slot; at the automatic
width the linear pools are evened to one load and the per-sample chain pass (deep_chain.py)
scales them to the target share of wrong samples over the whole depth -- or a forced
``--width`` gives the coincidence pools their floor and the linear pools the rest.
Then it emits the blocks (deep.py). Randomness: one stream per
layer, seeded from the config seed, so the same seed gives the same weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity, level_values, measure_activity
from circuit2mlp.codegen.blocks import FeatureMap, LayerBlock
from circuit2mlp.codegen.decode import decode_block
from circuit2mlp.codegen.deep import DeepOptions, LayerItems, PoolPlan, deep_block, layer_items
from circuit2mlp.codegen.deep_chain import LayerPlanView, chain_errors, chain_sample_error
from circuit2mlp.codegen.deep_model import (
    CLEAN,
    LevelNoise,
    PoolInputs,
    pool_errors,
    sample_error,
    size_pool,
)
from circuit2mlp.codegen.embedding import input_embedding
from circuit2mlp.ir import LayeredCircuit
from circuit2mlp.simulate import sparse_inputs

#: Items per slot of the pools of threshold >= 2 (their slots only fire with an active input,
#: so they take many more items than the linear pool). The model's coincidence term is not
#: trusted to size them: with the ramp's lower corner at 0.5, the all-kinds circuit of 10^5
#: gates per level at ~50,000 neurons per layer read 1 of 400 3-hot samples wrong with 80
#: per slot, 3 of 400 with 64 (the extra slots going to the linear pool); the slots of the
#: coincidence pools fired on cross-talk 2-4 times in 10,000 (docs/theory.md section 8).
MAX_COINCIDENCE_LOAD = 80
#: Most items per slot an automatic width gives a linear pool (threshold 1), whatever the
#: model says. The model's count of cross-talk misses what a slot of many -1 reads does to
#: active wires (the fade): on the default family (60 % AND(a, NOT b), 10^5 gates per level,
#: depth 4) 40 items per slot read 0 of 1,000 3-hot samples wrong, 47 read 67 % wrong and
#: the model's 63 all of them; on the all-kinds circuits the model asks for 28-35.
MAX_LINEAR_LOAD = 40
#: Input density (active wires over wires of the level below, on s-hot samples) up to which
#: MAX_LINEAR_LOAD holds; a denser level gets a cap lower in proportion. The cap was measured
#: at 10^5 gates per level (density about 4e-5); on the default family at depth 3 the
#: automatic width of 40 items per slot read 19 % of 3-hot samples wrong at 5*10^4 gates per
#: level and 95 % at 3*10^4, where the model saw nothing (the chain reaction of a denser level).
LINEAR_LOAD_DENSITY = 4e-5
#: Predicted share of samples with a wrong wire that an automatic width aims at (whole net)
#: when the config names no ``target_error`` (``--target-error``; the same default).
TARGET_SAMPLE_ERROR = 0.005
#: Most the automatic width spreads the coincidence pools (their load divided by up to this)
#: when their own predicted share of wrong samples leaves the linear pools no room.
MAX_SPREAD = 8.0
#: Chains of the chain model per simulated sample (512 samples): the runaway is a rare event.
CHAIN_REPLICAS = 2


def pool_inputs(
    items: LayerItems,
    hot_in: np.ndarray,
    hot_out: np.ndarray,
    wire_items: np.ndarray | None = None,
) -> list[PoolInputs]:
    """The error model's view of each pool of a layer (ascending threshold). ``hot_in`` /
    ``hot_out``: how often each wire of the level below / of this level is 1 in its stored
    polarity on exactly-s-hot inputs, the hardest samples verify checks (averaged over k = 0..s
    the activity is about half as high, and the cross-talk tail is steep in it).
    ``wire_items``: items of each wire of the level below (a wire's read-off noise is the sum
    of its items'; 1 for inputs)."""
    per_gate = np.bincount(items.gate, minlength=hot_out.size).astype(float)
    # an item is on when its gate's stored value differs from the gate's constant
    gate_on = hot_out[items.gate]
    on_freq = np.where(items.consts[items.gate] > 0.5, 1.0 - gate_on, gate_on)
    freq = on_freq / np.maximum(per_gate[items.gate], 1)
    if wire_items is None:
        wire_items = np.ones(hot_in.size)

    def per_item(weights: np.ndarray) -> np.ndarray:
        """Sum of ``weights`` (one per input entry) over each item's entries."""
        return np.bincount(items.entry_item, weights=weights, minlength=items.n)

    plus, minus = items.entry_weight > 0, items.entry_weight < 0
    positive = per_item(plus.astype(float))
    reached = per_item(plus * wire_items[items.entry_feature])
    behind = per_item(minus * wire_items[items.entry_feature])
    killing = per_item(minus * hot_in[items.entry_feature])
    # subtracted items of gates that read 1 from their first item: one input short of firing
    # whenever the gate is on (the second step of an XOR)
    short = (items.sign < 0) & (items.consts[items.gate] < 0.5)
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
                reach=float(reached[sel].sum() / max(positive[sel].sum(), 1)),
                negative=float(behind[sel].mean()),
                killers=float(killing[sel].sum()),
                exposed=float(gate_on[sel & short].sum()),
            )
        )
    return pools


def hot_frequencies(
    layered: LayeredCircuit, levels: list[LevelActivity], sparsity: int, seed: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per level, how often each wire is 1 in its stored polarity on exactly-s-hot inputs
    (512 seeded samples, bit-parallel simulation), and per (sample, level) the sample's number
    of active wires over the level's mean (the chain model's per-sample activity)."""
    m = len(layered.inputs)
    rng = np.random.default_rng([seed, 4])
    x = sparse_inputs(m, min(sparsity, m), 512, rng)
    n = max(x.shape[0], 1)
    out, ratios = [], []
    for level, rows in zip(levels, level_values(layered, x), strict=True):
        ones = np.bitwise_count(rows).sum(axis=1) / n if rows.size else np.zeros(len(level.names))
        out.append(np.where(level.flip, 1.0 - ones, ones))
        stored = np.where(level.flip[:, None], ~rows, rows) if rows.size else rows
        per_sample = np.zeros(n)
        for start in range(0, stored.shape[0], 4096):
            bits = np.unpackbits(
                stored[start : start + 4096].view(np.uint8), axis=1, bitorder="little"
            )
            per_sample += bits[:, :n].sum(axis=0)
        ratios.append(per_sample / max(per_sample.mean(), 1e-9))
    return out, np.stack(ratios, axis=1)


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
        _slots_at_load(p.n, options.q, MAX_COINCIDENCE_LOAD) if p.theta >= 2 else 0
        for p in model
    ]
    sizes = [max(s, f) for s, f in zip(sizes, floors, strict=True)]
    if width is not None:
        # coincidence pools get their floor, the linear pools (the critical ones) the rest
        per = 2 if options.ramp else 1
        budget = max(len(model), width // per)
        if not any(p.theta == 1 for p in model):  # coincidence pools only: share the width
            floors = [0] * len(model)
        fixed = [f if p.theta >= 2 else 0 for f, p in zip(floors, model, strict=True)]
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


def _plans(
    layered: LayeredCircuit, config, options: DeepOptions, levels: list[LevelActivity]
) -> list[tuple[LayerItems, list[PoolPlan], float]]:
    """Per layer (items, pool plans, predicted wrong wires), in order. The level-by-level
    model gives each pool's share; at the automatic width every shared pool is then scaled by
    one factor, the smallest (within 1 %) whose chain-model sample error meets the target."""
    hot, ratios = hot_frequencies(layered, levels, config.sparsity, config.seed)
    prev = CLEAN
    goal = float(getattr(config, "target_error", TARGET_SAMPLE_ERROR))
    target = -np.log1p(-goal) / max(layered.depth, 1)
    layers = []
    wire_items = np.ones(len(levels[0].names))
    for i, gates in enumerate(layered.layers):
        items = layer_items(gates, levels[i], levels[i + 1].flip)
        model = pool_inputs(items, hot[i], hot[i + 1], wire_items)
        wire_items = np.bincount(items.gate, minlength=len(gates)).astype(float)
        plans, noise, _ = plan_layer(
            items, model, prev, options, target / max(len(model), 1), config.width
        )
        # proportions only: later layers see the first layer's noise, not the mean pass's
        # compounding one (the chain pass sets the absolute width)
        prev = noise if i == 0 else prev
        layers.append((items, model, plans))
    if config.width is None:
        layers = _even_linear_load(layers, options.q)
    activity = np.tile(ratios, (CHAIN_REPLICAS, 1))  # (chains, levels + 1)

    evaluated: dict[tuple[float, float], tuple[list[list[PoolPlan]], np.ndarray]] = {}

    def chain(scale: float, spread: float = 1.0) -> tuple[list[list[PoolPlan]], np.ndarray]:
        """Pools at (scale, spread) and the chain pass's errors (each pair evaluated once:
        the search ends on a scale it has already tried)."""
        if (scale, spread) not in evaluated:
            evaluated[(scale, spread)] = _chain_at(scale, spread)
        return evaluated[(scale, spread)]

    def _chain_at(scale: float, spread: float) -> tuple[list[list[PoolPlan]], np.ndarray]:
        if config.width is None:
            scaled = [
                _scaled_layer(plans, model, scale, options.q, spread)
                for _, model, plans in layers
            ]
        else:
            scaled = [plans for _, _, plans in layers]
        views = [
            LayerPlanView(model, [p.slots for p in plans], [p.q for p in plans], activity[:, i])
            for i, ((_, model, _), plans) in enumerate(zip(layers, scaled, strict=True))
        ]
        errors = chain_errors(
            views, np.random.default_rng([config.seed, 5]), options.low, options.high, options.ramp
        )
        return scaled, errors

    scale, spread = 1.0, 1.0
    if config.width is None and layers:
        # the coincidence pools' own share (the fade of an XOR's second step grows with their
        # load, and adds up over the levels) must leave the linear pools room: with those
        # nearly dedicated, at most half the target
        while spread < MAX_SPREAD and chain_sample_error(chain(64, spread)[1]) > goal / 2:
            spread *= 1.25
        lo_s, hi_s = 1 / 16, 1.0
        while chain_sample_error(chain(hi_s, spread)[1]) > goal and hi_s < 64:
            lo_s, hi_s = hi_s, hi_s * 2
        while hi_s / lo_s > 1.01:
            mid = math.sqrt(lo_s * hi_s)
            if chain_sample_error(chain(mid, spread)[1]) > goal:
                lo_s = mid
            else:
                hi_s = mid
        scale = hi_s
    scaled, errors = chain(scale, spread)
    return [
        (items, plans, wrong)
        for (items, _, _), plans, wrong in zip(layers, scaled, _per_level(errors), strict=True)
    ]


def _even_linear_load(layers: list, q: int) -> list:
    """Every layer's shared linear pool at one load, the mean load the level pass gave them:
    the chain scale then keeps them even. The level pass sizes a pool on a geometric grid of
    8 % steps against a steep tail, so pools of nearly the same inputs came out up to 8 %
    apart (on the all-kinds circuit of 10^5 gates per level, levels 1 and 6 at 26 items per
    slot, the others at 28), a difference of grid points, not of noise."""
    shared = [
        (pool.n, plan.slots)
        for _, model, plans in layers
        for pool, plan in zip(model, plans, strict=True)
        if pool.theta == 1 and plan.slots < pool.n
    ]
    if not shared:
        return layers
    load = sum(n * q for n, _ in shared) / sum(slots for _, slots in shared)
    out = []
    for items, model, plans in layers:
        even = [
            dataclasses.replace(plan, slots=_slots_at_load(pool.n, q, load))
            if pool.theta == 1 and plan.slots < pool.n
            else plan
            for pool, plan in zip(model, plans, strict=True)
        ]
        out.append((items, model, even))
    return out


def _scaled_layer(
    plans: list[PoolPlan], model: list[PoolInputs], scale: float, q: int, spread: float = 1.0
) -> list[PoolPlan]:
    """A layer's pools at chain scale ``scale``: the linear pools (threshold 1) scaled, but
    never above linear_cap items per slot; the coincidence pools at their load floor (as
    a forced width has them; their slots only fire with an active input, and the floor was
    measured clean), or ``spread`` times that many slots. A layer of coincidence pools only
    scales them all."""
    if not any(p.theta == 1 for p in model):
        return [_scaled(plan, scale) for plan in plans]
    out = []
    for plan, pool in zip(plans, model, strict=True):
        if plan.theta == 1:
            least = _slots_at_load(pool.n, q, linear_cap(pool))
            scaled = _scaled(plan, scale)
            out.append(scaled if scaled.slots >= least else dataclasses.replace(plan, slots=least))
        else:
            floor = _slots_at_load(pool.n, q, MAX_COINCIDENCE_LOAD / spread)
            out.append(dataclasses.replace(plan, slots=floor))
    return out


def linear_cap(pool: PoolInputs) -> float:
    """Most items per slot an automatic width gives a linear pool: MAX_LINEAR_LOAD, lowered
    in proportion to the level's input density above LINEAR_LOAD_DENSITY."""
    dense = pool.input_density / LINEAR_LOAD_DENSITY
    return MAX_LINEAR_LOAD / max(1.0, dense)


def _slots_at_load(n: int, q: int, load: float) -> int:
    """Slots for n items of q slots each at ``load`` items per slot (at most one per item)."""
    return min(n, math.ceil(n * q / load))


def _scaled(plan: PoolPlan, scale: float) -> PoolPlan:
    """``plan`` with ``scale`` times its slots (a shared pool that reaches one slot per item
    becomes dedicated)."""
    if scale == 1.0 or plan.slots >= plan.items.size:
        return plan
    return dataclasses.replace(plan, slots=min(plan.items.size, max(1, round(plan.slots * scale))))


def _per_level(errors: np.ndarray) -> list[float]:
    """Per level, the increase of -log(share of samples still right): the levels' figures add
    up to -log(1 - the chain model's sample error), as sample_error expects."""
    if errors.size == 0:
        return []
    cumulative = np.cumsum(errors, axis=1)
    right = np.mean(np.exp(-cumulative), axis=0)
    logs = -np.log(np.maximum(right, 1e-300))
    return np.diff(np.concatenate([[0.0], logs])).tolist()


#: The model's answer that :func:`predicted_neurons` found, kept for the build that follows
#: when the default method chooses deep (the chain-model width search is the costly part of
#: both); taken once, or dropped by :func:`forget_model` when deep is not chosen.
_KEPT: list[tuple[tuple, tuple[list[LevelActivity], list]]] = []


def _model(
    layered: LayeredCircuit, config, options: DeepOptions, keep: bool = False
) -> tuple[list[LevelActivity], list]:
    """(level activities, per layer (items, pool plans, predicted wrong wires)): what the
    pools are sized from and how. Depends on the circuit, options, width, sparsity and seed."""
    key = (layered, options, config.width, config.sparsity, config.seed)
    if _KEPT and _KEPT[0][0][0] is layered and _KEPT[0][0][1:] == key[1:]:
        return _KEPT.pop()[1]
    levels = _levels(layered, config)
    model = levels, _plans(layered, config, options, levels)
    _KEPT[:] = [(key, model)] if keep else []
    return model


def forget_model() -> None:
    """Drop the model :func:`predicted_neurons` kept (the default did not choose deep)."""
    _KEPT.clear()


def predicted_neurons(layered: LayeredCircuit, config) -> int:
    """Neurons the deep method would use at its automatic width (no weights built; the
    model is kept for a build of the same circuit and config that follows)."""
    options = DeepOptions()
    per = 2 if options.ramp else 1
    total = 0
    for _, plans, _ in _model(layered, config, options, keep=True)[1]:
        for plan in plans:
            dedicated = plan.slots >= plan.items.size
            total += per * (plan.items.size if dedicated else plan.slots)
    return total


def layer_blocks(
    layered: LayeredCircuit, config, options: DeepOptions, levels: list, plans_iter=None
) -> Iterator[tuple[LayerBlock, float]]:
    """Per circuit layer, its block and the predicted wrong wires, one layer at a time (a
    caller that runs each block and drops it holds one layer's weights at once). ``levels``
    are the wire activities of :func:`level_activity`; ``plans_iter`` the model's plans for
    them when already made."""
    if plans_iter is None:
        plans_iter = _plans(layered, config, options, levels)
    for i, (gates, (items, plans, wrong)) in enumerate(
        zip(layered.layers, plans_iter, strict=True)
    ):
        rng = np.random.default_rng([config.seed, 3, i])
        block = deep_block(gates, levels[i], levels[i + 1].flip, plans, items, options, rng)
        block.stats["exact_neurons"] = items.exact_neurons
        yield block, wrong


def level_activity(layered: LayeredCircuit, config) -> list:
    """Every level's wire activity under the config's sparsity (what the pools are sized
    from)."""
    return _levels(layered, config)


def build_deep_blocks(
    layered: LayeredCircuit, config, options: DeepOptions | None = None
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed, blocks, wires stored negated) for ``--method deep``."""
    options = options or DeepOptions()
    if not config.error_correction:
        options = dataclasses.replace(options, ramp=False)
    rng = np.random.default_rng(config.seed)
    streams = rng.spawn(2)
    levels, plans = _model(layered, config, options)
    features, embed = input_embedding(layered.inputs, config.input_dim, levels[0].flip, streams[0])
    blocks: list[LayerBlock] = []
    if config.input_dim is not None and config.input_dim < len(layered.inputs):
        blocks.append(decode_block(levels[0]))
    for block, wrong in layer_blocks(layered, config, options, levels, plans):
        block.stats["predicted_errors"] = wrong
        block.stats["predicted_sample_error"] = sample_error([wrong])
        blocks.append(block)
    flipped = frozenset(
        name for level in levels for name, f in zip(level.names, level.flip, strict=True) if f
    )
    return features, embed, blocks, flipped
