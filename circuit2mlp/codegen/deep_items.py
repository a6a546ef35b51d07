"""A gate as a sum of *threshold items*: the building block of the ``deep`` method.

In the deep construction every neuron slot computes a saturating ramp of a linear form of its
inputs' read-offs, so what a slot can host is a *threshold function* ``[w . x >= theta]`` with
small integer weights. Each gate, over its inputs' stored values and in its own stored
polarity, is written as

    g(x) = c + sign * sum_j [w_j . x >= theta_j]

with items whose ON-sets are disjoint (so the sum is 0 or 1 and a slot never needs to count
past one). Most gates of sparse circuits are a single item: OR is ``[a + b >= 1]``, AND(a, NOT
b) is ``[a - b >= 1]``, AND is ``[a + b >= 2]``, MAJ3 ``[a + b + c >= 2]``, a carry ``[a >= 1]``;
NOR and NAND are OR and AND stored negated. A function of the number of its stored inputs that
are on (XOR, XNOR and other symmetric gates over their stored values) is written by its steps
instead, ``sum_t (f(t) - f(t - 1)) [x_1 + .. + x_k >= t]``, items with signs +-1 and nested
ON-sets: XOR is ``[a + b >= 1] - [a + b >= 2]`` and XOR3 three items, where a disjoint cover
takes four. Steps read every input with weight +1, so they put no *negative* cross-talk on the
slots they share (a -1 read of a noisy wire pulls an active co-hosted item's slot down); and
the steps past the first land in coincidence pools, which only fire with an active input.
Anything else is covered greedily by threshold items (single minterms always are one). A gate
that is 1 on the all-zero input (only possible for a dense wire) is read as ``1 - items`` of
its complement. The items depend only on (op, fan-in, input polarities, output polarity), so
they are computed once per such class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from circuit2mlp.ir import op_profile

#: Weights tried for an item's inputs, smallest total first.
WEIGHTS = (0, 1, -1)


@dataclass(frozen=True)
class Items:
    """A boolean function of k stored inputs as ``const + sign * sum_j signs[j] * item_j``;
    item j is ``[weights[j] . x >= thresholds[j]]``."""

    const: float
    sign: float
    weights: tuple[tuple[int, ...], ...]
    thresholds: tuple[int, ...]
    signs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.signs:
            object.__setattr__(self, "signs", (1,) * len(self.thresholds))


def _table(op: str, in_flips: tuple[bool, ...], out_flip: bool) -> np.ndarray:
    """Truth table over the k stored inputs (index = sum of x_i << i) in stored polarity."""
    k = len(in_flips)
    profile = op_profile(op, k)
    table = np.zeros(1 << k, dtype=bool)
    for index in range(1 << k):
        bits = [(index >> i) & 1 for i in range(k)]
        true = [b ^ int(f) for b, f in zip(bits, in_flips, strict=True)]
        table[index] = bool(profile[sum(true)]) ^ out_flip
    return table


def _points(k: int) -> np.ndarray:
    return np.array([[(i >> j) & 1 for j in range(k)] for i in range(1 << k)], dtype=np.int64)


def _candidates(k: int) -> list[tuple[tuple[int, ...], int, np.ndarray]]:
    """Every threshold function over k inputs with weights in {-1, 0, 1} and threshold >= 1,
    as (weights, theta, ON-set), fewest non-zero weights first."""
    x = _points(k)
    out = []
    for w in itertools.product(WEIGHTS, repeat=k):
        if not any(w):
            continue
        for theta in range(1, sum(v > 0 for v in w) + 1):
            out.append((w, theta, (x @ np.array(w)) >= theta))
    out.sort(key=lambda c: (sum(map(abs, c[0])), c[1]))
    return out


@cache
def gate_items(op: str, in_flips: tuple[bool, ...], out_flip: bool) -> Items:
    """The threshold items of a gate class (see module doc): one item when the function is a
    threshold function, else a greedy disjoint cover of its ON-set."""
    table = _table(op, in_flips, out_flip)
    const, sign = 0.0, 1.0
    if table[0]:  # 1 on the all-zero input: read 1 - (its complement)
        table, const, sign = ~table, 1.0, -1.0
    k = len(in_flips)
    if not table.any():
        return Items(const, sign, (), ())
    candidates = _candidates(k)
    for w, theta, on in candidates:
        if np.array_equal(on, table):
            return Items(const, sign, (w,), (theta,))
    steps = _steps(table, k)
    left = table.copy()
    weights, thresholds = [], []
    while left.any():
        best = max(
            (c for c in candidates if not (c[2] & ~left).any()),
            key=lambda c: int((c[2] & left).sum()),
        )
        weights.append(best[0])
        thresholds.append(best[1])
        left &= ~best[2]
    if steps is not None and len(steps[0]) <= len(weights):
        return Items(const, sign, (((1,) * k),) * len(steps[0]), steps[0], steps[1])
    return Items(const, sign, tuple(weights), tuple(thresholds))


def _steps(table: np.ndarray, k: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(thresholds, signs) of the step form when the table (0 on the all-zero input) depends
    only on how many inputs are on; None otherwise."""
    count = _points(k).sum(axis=1)
    profile = np.zeros(k + 1, dtype=np.int64)
    for c in range(k + 1):
        values = table[count == c]
        if values.min() != values.max():
            return None
        profile[c] = int(values[0])
    jumps = np.diff(profile)
    ts = np.flatnonzero(jumps) + 1
    return tuple(ts.tolist()), tuple(jumps[ts - 1].tolist())
