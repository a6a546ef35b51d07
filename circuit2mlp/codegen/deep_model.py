"""Error model of the ``deep`` method: how many wires of a level read wrong, and pool sizes.

A pool of D slots hosts n items of q slots each, h = n q / D per slot. With A of the pool's
items active, a slot is *hit* -- shared with an active item, and fully on -- with probability
p = A q / D. A slot of an inactive item is also pushed up by *cross-talk*: its items read
K = h f inputs with positive weight (f per item), and each inactive input's read-off is off
by the sum over the input's r items (a gate of several items, such as XOR, carries the noise
of all of them) of (its slots that are on) / q', so the slot's excess is c / q' with
c ~ Poisson(S K r q' p') (q' and p' of the previous level; S = CROSS_TALK_SHARE, the
measured share of that count that reaches a slot, below); the ramp turns it into
v(c) = clip((c / q' - LOW) / (HIGH - LOW), 0, 1). In a pool of threshold theta >= 2 an item
also fires by coincidence when theta of its slot's input incidences are active at once
(Poisson with mean h f a / F for a active among the F wires of the level below).

An inactive item's read-off is the mean of its q slot values; it reads wrong when that mean is
at least 1/2 (the q-fold convolution of the slot-value distribution on a grid of 1/64).

An *active* item can read wrong too: the *fade*. Its slot sits at its input's read-off v plus
the slot's cross-talk, Poisson up and Poisson down (the -1 reads, AND(a, NOT b) style, of
noisy wires that co-hosted items make), or a full unit down when a co-hosted item reads an
active wire with -1; and a gate whose read-off subtracts a second item (XOR is
[a + b >= 1] - [a + b >= 2]) loses a slot's 1/q whenever that item, one input short of
firing while the gate is on, shares a slot with any other active input. The ramp restores a
read-off above about 0.71 and sinks one below, so deficits that meet can carry an active wire
down over a few levels. The chain pass follows, per sample, the distribution of its active
wires' read-offs through the levels and counts the mass that falls below 1/2.

Two passes use this. ``pool_errors`` / ``size_pool`` follow the mean noise level by level and
give each pool its share of a layer. ``chain_errors`` (deep_chain.py) follows every simulated
exactly-s-hot sample separately, with the fade, and sets the automatic width. Slots are taken
as independent; verify is the judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from circuit2mlp.codegen.deep import HIGH, LOW

GRID = 64
#: Share of the Poisson count's cross-talk that reaches a slot. The count takes every noisy
#: positive read as independent and ignores the -1 reads hosted in the same slot. Measured on
#: the slots of a 10^5-gate all-kinds circuit at 50,000 neurons per layer (levels 2-4): the
#: mean positive excess of slots without an active item is 0.4 of the count's, the tail
#: P(excess >= 0.5) matches a share of 0.48. 0.6 keeps a margin above that;
#: docs/theory.md section 8 has the checks on a second family. The fade pass takes the same
#: share of its count of -1 reads.
CROSS_TALK_SHARE = 0.6


def cross_talk_units(pool: PoolInputs, per_slot: float, q_prev: int, p):
    """Mean cross-talk units (of 1/q_prev) on a slot of ``pool`` hosting ``per_slot`` items
    when a share ``p`` of the level below's slots is on (scalar or per-sample array): the
    level pass and the chain pass count it the same way."""
    return CROSS_TALK_SHARE * per_slot * pool.fanin * pool.reach * q_prev * p


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
    reach: float = 1.0  # mean items of a wire read with positive weight (its noise adds up)
    negative: float = 0.0  # mean items per item behind its -1 reads (noise that pulls down)
    killers: float = 0.0  # items per busy sample that read an active wire with -1
    exposed: float = 0.0  # items per busy sample one input short, subtracted from an active gate


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
    cross = cross_talk_units(pool, per_slot, prev.q, prev.p)
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
