"""The ``deep`` method: every level of the circuit in superposition, with thresholds.

Each circuit layer becomes one ReLU layer whose neurons *are* the next level's code. Every
gate (carries included) is written, in its stored polarity, as threshold items
(deep_items.py); items go to a *pool* by threshold theta (1: OR, AND(a, NOT b), carries, the
first step of XOR; 2: AND, MAJ3, the second step of XOR; ...). A pool is a set of *slots*;
each item owns q of them (deep_codes.py) and a slot computes the saturating ramp

    r(z) = clip((z - lo) / (hi - lo), 0, 1),   lo = theta - 1 + LOW,  hi = theta - 1 + HIGH,

of z = the sum of the linear forms of all items it hosts, each reading its inputs through
the previous level's read-offs. A ramp is two ReLUs, relu(a (z - lo)) - relu(a (z - lo) - 1).
Item i reads off as the mean of its slots, a gate as its items' signed sum plus a constant.

Why it works (docs/theory.md section 8): a slot of an inactive item fires only when an active
item shares it (a full unit) or when cross-talk on its inputs adds up to more than LOW; a slot
of an active item saturates at 1 whatever else it hosts. So inactive neurons sit at exactly 0,
every level carries only its own noise and the threshold removes what came in: noise does not
build up with depth. The error model (deep_model.py) sizes the pools.

``error_correction=False`` gives the variant without the threshold margin: one plain ReLU per
slot, relu(z - (theta - 1)), so any cross-talk passes on linearly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.deep_codes import make_code
from circuit2mlp.codegen.deep_items import gate_items
from circuit2mlp.codegen.exact import exact_neurons_of
from circuit2mlp.codegen.gates import gate_arrays
from circuit2mlp.ir import Gate

#: Ramp corners above theta - 1: a slot is 0 up to LOW of cross-talk and 1 from HIGH on.
LOW, HIGH = 0.5, 0.8
#: Slots per item.
Q = 8


@dataclass(frozen=True)
class DeepOptions:
    """Knobs of a deep layer."""

    q: int = Q
    low: float = LOW
    high: float = HIGH
    ramp: bool = True  # False: one plain ReLU per slot, no threshold margin
    code: str = "field"  # or "random"
    center: float = 0.0  # subtracted from every inner read-off (fixed centring)


@dataclass
class LayerItems:
    """A layer's gates as threshold items: flat arrays, one row per item, and per item its
    (input feature, weight) entries."""

    gate: np.ndarray  # (n,) gate of each item
    theta: np.ndarray  # (n,) threshold
    sign: np.ndarray  # (n,) +1 / -1 in the gate's read-off
    entry_item: np.ndarray  # (e,) item of each input entry
    entry_feature: np.ndarray  # (e,) feature it reads
    entry_weight: np.ndarray  # (e,) weight
    consts: np.ndarray  # (G,) read-off constant per gate
    exact_neurons: int  # what the exact gadgets of the layer's gates would take (the report)

    @property
    def n(self) -> int:
        """Number of items."""
        return int(self.gate.size)


def layer_items(gates: Sequence[Gate], level: LevelActivity, out_flip: np.ndarray) -> LayerItems:
    """Threshold items of every gate over the stored features of ``level`` (vectorised per
    class of (op, fan-in, effective input polarities, output polarity))."""
    n_in = len(level.names)
    arrays = gate_arrays(gates, {name: i for i, name in enumerate(level.names)})
    flips = np.asarray(level.flip, dtype=bool)
    out_flip = np.asarray(out_flip, dtype=bool)
    consts = np.zeros(arrays.n_gates)
    exact = exact_neurons_of(arrays)
    parts: list[tuple[np.ndarray, int, int, tuple[int, ...], np.ndarray]] = []
    for a in np.unique(arrays.arity).tolist():
        gi = np.flatnonzero(arrays.arity == a)
        rows = arrays.fanin_rows(gi, a) if a else np.zeros((gi.size, 0), np.int64)
        effective = flips[rows] ^ arrays.literal_rows(gi, a) if a else rows.astype(bool)
        bits = (effective.astype(np.int64) << np.arange(1, a + 1)).sum(axis=1)
        code = (arrays.op_index[gi] << (a + 1)) | bits | out_flip[gi]
        for c in np.unique(code).tolist():
            sel = code == c
            in_flips = tuple(bool(c >> (i + 1) & 1) for i in range(a))
            items = gate_items(arrays.ops[c >> (a + 1)], in_flips, bool(c & 1))
            consts[gi[sel]] = items.const
            for w, theta, sign in zip(items.weights, items.thresholds, items.signs, strict=True):
                parts.append((gi[sel], theta, int(items.sign) * sign, w, rows[sel]))
    if not parts:
        empty = np.zeros(0, np.int64)
        none = empty.astype(float)
        return LayerItems(empty, empty, none, empty, empty, none, consts, exact)
    gate = np.concatenate([p[0] for p in parts])
    order = np.argsort(gate, kind="stable")  # items gate after gate
    theta = np.concatenate([np.full(p[0].size, p[1]) for p in parts])[order]
    sign = np.concatenate([np.full(p[0].size, float(p[2])) for p in parts])[order]
    starts = np.concatenate([[0], np.cumsum([p[0].size for p in parts])])
    rank = np.empty(gate.size, np.int64)
    rank[order] = np.arange(gate.size)
    e_item, e_feat, e_w = [], [], []
    for p, start in zip(parts, starts[:-1].tolist(), strict=True):
        ids = rank[start : start + p[0].size]
        for pos, w in enumerate(p[3]):
            if w:
                e_item.append(ids)
                e_feat.append(p[4][:, pos])
                e_w.append(np.full(ids.size, float(w)))
    item, feat, weight = _combine(
        np.concatenate(e_item), np.concatenate(e_feat), np.concatenate(e_w), n_in
    )
    return LayerItems(gate[order], theta, sign, item, feat, weight, consts, exact)


def _combine(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries with equal (row, col) summed (a gate reading one wire twice), sorted by row
    then col; zero sums dropped."""
    key = rows.astype(np.int64) * n_cols + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    if key.size == 0:
        return rows[:0], cols[:0], vals[:0]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    total = np.add.reduceat(vals[order], starts)
    keep = total != 0
    first = key[starts][keep]
    return first // n_cols, first % n_cols, total[keep]


def slot_weights(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Slot x feature weights from (slot, feature, item weight) entries, one per hosted item:
    items of one slot that read the same wire count it at most as much as the strongest of
    them (the sum clipped to [min(0, least), max(0, largest)]). Without this an active wire
    read by two AND items of one slot would fire the slot alone."""
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.argsort(key, kind="stable")
    key, vals = key[order], vals[order]
    if key.size == 0:
        return sp.csr_matrix(shape, dtype=np.float64)
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    total = np.add.reduceat(vals, starts)
    high = np.maximum(np.maximum.reduceat(vals, starts), 0.0)
    low = np.minimum(np.minimum.reduceat(vals, starts), 0.0)
    coef = np.clip(total, low, high)
    first = key[starts]
    keep = coef != 0
    return sp.csr_matrix(
        (coef[keep], (first[keep] // shape[1], first[keep] % shape[1])), shape=shape
    )


@dataclass
class PoolPlan:
    """One pool of a layer: its threshold, items, slots and slots per item."""

    theta: int
    items: np.ndarray  # item indices
    slots: int
    q: int


def deep_block(
    gates: Sequence[Gate],
    level: LevelActivity,
    out_flip: np.ndarray,
    pools: list[PoolPlan],
    items: LayerItems,
    options: DeepOptions,
    rng: np.random.Generator,
    center_inputs: np.ndarray | None = None,
) -> LayerBlock:
    """The layer block for planned pools (slots as given; a pool with at least as many slots
    as items gets one dedicated slot per item, which is exact)."""
    n_in = len(level.names)
    per = 2 if options.ramp else 1
    w_rows, w_cols, w_vals = [], [], []
    biases = []
    r_rows, r_cols, r_vals = [], [], []
    offset = 0  # first slot of the pool
    pool_stats = []
    item_of_entry = items.entry_item
    entry_order = np.argsort(item_of_entry, kind="stable")
    entry_start = np.searchsorted(item_of_entry[entry_order], np.arange(items.n + 1))
    for pool in pools:
        n = pool.items.size
        if n == 0:
            continue
        if pool.slots >= n or pool.q <= 1:
            code, slots, q = np.arange(n, dtype=np.int64)[:, None], n, 1
        else:
            q = min(pool.q, pool.slots)  # a forced width too small for q slots per item
            code, slots = make_code(n, q, pool.slots, rng, options.code)
        # slot weights: every (item, slot) pair copies the item's input entries
        counts = entry_start[pool.items + 1] - entry_start[pool.items]
        entries = entry_order[np.repeat(entry_start[pool.items], counts) + _ranges(counts)]
        owner = np.repeat(np.arange(n), counts)  # position in pool of each entry
        slot = code[owner]  # (e, q)
        w_rows.append((offset + slot).ravel())
        w_cols.append(np.repeat(items.entry_feature[entries], q))
        w_vals.append(np.repeat(items.entry_weight[entries], q))
        base = pool.theta - 1
        biases.append(np.full(slots, float(base)))
        # read-offs: gate += sign / q * (slot value)
        gate = items.gate[pool.items]
        r_rows.append(np.repeat(gate, q))
        r_cols.append((offset + code).ravel())
        r_vals.append(np.repeat(items.sign[pool.items] / q, q))
        pool_stats.append(
            {
                "theta": int(pool.theta),
                "items": int(n),
                "slots": int(slots),
                "q": int(q),
                "items_per_slot": float(n * q / slots),
            }
        )
        offset += slots
    total_slots = offset
    empty = np.zeros(0, np.int64)
    z = slot_weights(
        np.concatenate(w_rows) if w_rows else empty,
        np.concatenate(w_cols) if w_cols else empty,
        np.concatenate(w_vals) if w_vals else np.zeros(0),
        (total_slots, n_in),
    )
    base = np.concatenate(biases) if biases else np.zeros(0)
    if center_inputs is not None:  # inputs read c too high: the slot's sum is c * sum(w) high
        base = base + z @ center_inputs
    r = sp.csr_matrix(
        (
            np.concatenate(r_vals) if r_vals else np.zeros(0),
            (
                np.concatenate(r_rows) if r_rows else np.zeros(0, np.int64),
                np.concatenate(r_cols) if r_cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(len(gates), total_slots),
    )
    r.sum_duplicates()
    if options.ramp:
        slope = 1.0 / (options.high - options.low)
        lo = base + options.low
        weight = _interleave(z * slope, z * slope)
        bias = np.stack([-slope * lo, -slope * lo - 1.0], axis=1).ravel()
        readout = _interleave_cols(r, -r)
    else:
        weight = z
        bias = -base
        readout = r
    consts = items.consts.copy()
    features = FeatureMap(
        tuple(g.name for g in gates), sp.csr_matrix(readout, dtype=DTYPE), consts.astype(DTYPE)
    )
    carries = sum(1 for g in gates if g.op == "BUF")
    neurons = per * total_slots
    stats = {
        "kind": "deep",
        "gates": len(gates) - carries,
        "carries": carries,
        "superposed_gates": len(gates),
        "exact_gates": 0,
        "superposed_neurons": neurons,
        "dedicated_neurons": 0,
        "wires_per_neuron": len(gates) / max(neurons, 1),
        "pools": pool_stats,
    }
    return LayerBlock(sp.csr_matrix(weight, dtype=DTYPE), bias.astype(DTYPE), features, stats)


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for every c in counts, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _interleave(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """Rows a0, b0, a1, b1, ... (the two ReLUs of each ramp next to each other)."""
    stacked = sp.vstack([a, b], format="csr")
    n = a.shape[0]
    order = np.stack([np.arange(n), n + np.arange(n)], axis=1).ravel()
    return stacked[order]


def _interleave_cols(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """Columns a0, b0, a1, b1, ..."""
    return _interleave(a.T.tocsr(), b.T.tocsr()).T.tocsr()


def pool_items(items: LayerItems) -> dict[int, np.ndarray]:
    """Item indices per threshold."""
    return {int(t): np.flatnonzero(items.theta == t) for t in np.unique(items.theta)}


__all__ = ["DeepOptions", "LayerItems", "PoolPlan", "deep_block", "layer_items", "pool_items"]


def replace(options: DeepOptions, **changes) -> DeepOptions:
    """``dataclasses.replace`` for DeepOptions."""
    return dataclasses.replace(options, **changes)
