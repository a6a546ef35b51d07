"""Error model of the ``deep`` method: how many wires of a level read wrong, and pool sizes.

A pool of D slots hosts n items of q slots each, h = n q / D per slot. In a busy sample
(the level's 99th-percentile number of active wires) about A of the pool's items are active,
so a slot is *hit* -- shared with an active item, and fully on -- with probability
p = A q / D. A slot of an inactive item is also pushed up by *cross-talk*: its items read
K = h f inputs with positive weight (f per item), and each inactive input's read-off is
off by (its own slots that were hit) / q' (q' and p' of the previous level), so the slot's
excess is c / q' with c ~ Poisson(K q' p'); the ramp turns it into
v(c) = clip((c / q' - LOW) / (HIGH - LOW), 0, 1). In a pool of threshold theta >= 2 an item
also fires by coincidence when theta of its slot's input incidences are active at once
(Poisson with mean h f a / F for a active among the F wires of the level below).

An inactive item's read-off is the mean of its q slot values; it reads wrong when that mean is
at least 1/2. The model convolves the slot-value distribution q times (on a grid of 1/64) and
predicts, per level, the expected number of wrong wires per sample; a sample is predicted
wrong with probability 1 - exp(-sum over levels). Slots are taken as independent; verify is
the judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from circuit2mlp.codegen.deep import HIGH, LOW

GRID = 64


@dataclass(frozen=True)
class LevelNoise:
    """What a level hands the next: probability that a slot of an inactive wire is on, and
    the wires' slots per item."""

    p: float
    q: int


CLEAN = LevelNoise(0.0, 1)


@dataclass(frozen=True)
class PoolInputs:
    """What the model needs to know about one pool."""

    theta: int
    n: int  # items
    active: float  # active items in a busy sample
    fanin: float  # mean positive-weight inputs per item
    input_density: float  # active wires / wires in the level below, busy sample


def slot_distribution(
    p_hit: float, cross: float, q_prev: int, low: float, high: float, exposed: float = 1.0
) -> np.ndarray:
    """Distribution of one inactive item's slot value on the grid 0, 1/GRID, .., 1: on with
    probability ``p_hit``; else, with probability ``exposed`` (the slot sits one unit short of
    its threshold; always in a pool of threshold 1), the ramp of Poisson(``cross``) cross-talk
    units of 1/``q_prev``."""
    dist = np.zeros(GRID + 1)
    dist[0] += (1 - p_hit) * (1 - exposed)
    cs = np.arange(0, max(4, int(cross + 10 * math.sqrt(cross + 1)) + 4))
    pc = poisson.pmf(cs, cross) if cross > 0 else (cs == 0).astype(float)
    if q_prev > 0:
        value = np.clip((cs / q_prev - low) / (high - low), 0.0, 1.0)
    else:
        value = np.zeros(cs.size)
    idx = np.rint(value * GRID).astype(int)
    np.add.at(dist, idx, pc * (1 - p_hit) * exposed)
    dist[GRID] += p_hit
    dist[GRID] += max(0.0, 1.0 - dist.sum())  # tail beyond the cs range: on
    return dist


def wrong_probability(dist: np.ndarray, q: int) -> float:
    """P(mean of q independent slot values >= 1/2)."""
    total = np.array([1.0])
    for _ in range(q):
        total = np.convolve(total, dist)
    threshold = GRID * q / 2
    return float(total[math.ceil(threshold - 1e-9) :].sum())


def pool_errors(
    pool: PoolInputs,
    slots: int,
    q: int,
    prev: LevelNoise,
    low: float = LOW,
    high: float = HIGH,
    ramp: bool = True,
) -> tuple[float, float]:
    """(expected wrong items per busy sample, probability a slot of an inactive item is on)
    for a pool of ``slots`` slots and q slots per item (q = 1 with slots >= n: dedicated)."""
    if pool.n == 0:
        return 0.0, 0.0
    if slots >= pool.n:
        q, slots = 1, pool.n
    per_slot = pool.n * q / slots
    p_hit = min(1.0, pool.active * q / slots) if q > 1 else 0.0
    exposed = 1.0
    if pool.theta >= 2:
        incidences = per_slot * pool.fanin * pool.input_density
        exposed = float(poisson.sf(pool.theta - 2, incidences))  # theta - 1 inputs active
        if q > 1:
            p_hit = min(1.0, p_hit + float(poisson.sf(pool.theta - 1, incidences)))
    cross = per_slot * pool.fanin * prev.q * prev.p
    if not ramp:  # no margin: any cross-talk passes on; count it as on
        low = 1.0 / max(prev.q, 1) - 1e-9
        high = low + 1e-9
    dist = slot_distribution(p_hit, cross, prev.q, low, high, exposed)
    inactive = max(pool.n - pool.active, 0.0)
    wrong = inactive * wrong_probability(dist, q)
    on = float((dist * np.arange(GRID + 1) / GRID).sum())
    return wrong, on


def sample_error(per_level: list[float]) -> float:
    """Predicted share of samples with a wrong wire somewhere."""
    return float(1.0 - math.exp(-sum(per_level)))


def size_pool(
    pool: PoolInputs,
    q: int,
    prev: LevelNoise,
    target: float,
    low: float = LOW,
    high: float = HIGH,
) -> int:
    """Fewest slots (geometric grid) whose predicted wrong items per sample are <= target;
    n (dedicated, exact) when nothing smaller is."""
    if pool.n == 0:
        return 0
    # at least q * sqrt(n): room for a field code, so two items share at most one slot
    slots = max(4 * q, int(q * math.sqrt(pool.n)))
    while slots < pool.n:
        wrong, _ = pool_errors(pool, slots, q, prev, low, high)
        if wrong <= target:
            return slots
        slots = int(slots * 1.08) + 1
    return pool.n
