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

Two passes use this. ``pool_errors`` / ``size_pool`` follow the mean noise level by level and
give each pool its share of a layer. ``chain_errors`` follows every simulated exactly-s-hot
sample separately: its own number of active wires sets the hits, and the number of slots that
fire on cross-talk is drawn (Poisson), so a busy sample or an unlucky cluster of fired slots
raises the next level's noise and fires more slots -- the chain reaction that ends a too
narrow network, which the mean-field pass does not see. The automatic width scales every
shared pool by the one factor at which the chain's predicted share of wrong samples meets the
target. Slots are taken as independent; verify is the judge.
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
#: P(excess >= 0.5) matches a share of 0.48. 0.6 keeps a margin for what the model does not
#: count (active wires that lose value to -1 reads); docs/theory.md section 8 has the checks
#: on a second family.
CROSS_TALK_SHARE = 0.6


def _cross_talk(pool: PoolInputs, per_slot: float, q_prev: int, p):
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
    cross = _cross_talk(pool, per_slot, prev.q, prev.p)
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


@dataclass(frozen=True)
class LayerPlanView:
    """One layer as the chain model sees it: its pools with their slots and slots per item,
    and per simulated sample its number of active wires over the layer's mean."""

    pools: list[PoolInputs]
    slots: list[int]
    q: list[int]
    activity: np.ndarray  # (samples,) active wires in this sample / mean


def _slot_dists(
    p_hit: np.ndarray, cross: np.ndarray, q_prev: int, low: float, high: float, exposed
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample (rows): the slot-value distribution on the grid (as slot_distribution), the
    probability that a slot fires partly on cross-talk alone and the mean value it then
    takes."""
    n = cross.size
    top = int(cross.max() + 10 * math.sqrt(cross.max() + 1)) + 6
    cs = np.arange(top)
    pc = poisson.pmf(cs[None, :], cross[:, None])
    value = np.clip((cs / max(q_prev, 1) - low) / (high - low), 0.0, 1.0)
    idx = np.rint(value * GRID).astype(int)
    dist = np.zeros((n, GRID + 1))
    quiet = (1 - p_hit) * exposed
    for c in range(top):
        dist[:, idx[c]] += pc[:, c] * quiet
    dist[:, 0] += (1 - p_hit) * (1 - exposed)
    dist[:, GRID] += p_hit
    dist[:, GRID] += np.maximum(0.0, 1.0 - dist.sum(axis=1))
    fire = (pc * (value > 0)).sum(axis=1) * quiet
    mass = (pc * value).sum(axis=1) * quiet
    return dist, fire, np.divide(mass, fire, out=np.zeros(n), where=fire > 0)


def _wrong_many(dist: np.ndarray, q: int) -> np.ndarray:
    """Per row: P(mean of q independent slot values >= 1/2), by FFT powers."""
    if q == 1:
        return dist[:, GRID // 2 :].sum(axis=1)
    size = GRID * q + 1
    spectrum = np.fft.rfft(dist, n=size, axis=1) ** q
    total = np.clip(np.fft.irfft(spectrum, n=size, axis=1), 0.0, None)
    return total[:, math.ceil(GRID * q / 2 - 1e-9) :].sum(axis=1)


def chain_errors(
    layers: list[LayerPlanView],
    rng: np.random.Generator,
    low: float = LOW,
    high: float = HIGH,
    ramp: bool = True,
) -> np.ndarray:
    """(samples, levels) expected wrong wires, following each simulated sample's noise from
    level to level.

    Per sample the state is the share of a level's shared slots that are on (hit by an active
    item, or fired partly on cross-talk). The next level's cross-talk is Poisson in it (as
    pool_errors), but the number of slots that fire on cross-talk is itself drawn (Poisson),
    and the sample's own number of active wires scales the hits: a busy sample or an unlucky
    cluster of fired slots raises the next level's noise, which fires more slots -- the chain
    reaction that a mean-field pass, level by level, does not see."""
    n = layers[0].activity.size if layers else 0
    p = np.zeros(n)
    q_prev = 1
    out = np.zeros((n, len(layers)))
    for li, layer in enumerate(layers):
        mass_items = np.zeros(n)
        n_items = 0
        for pool, slots, q in zip(layer.pools, layer.slots, layer.q, strict=True):
            if pool.n == 0:
                continue
            n_items += pool.n
            if slots >= pool.n:  # dedicated: exact, hands on no noise of its own
                continue
            active = pool.active * layer.activity
            per_slot = pool.n * q / slots
            p_hit = np.minimum(1.0, active * q / slots)
            exposed = np.ones(n)
            if pool.theta >= 2:
                incid = per_slot * pool.fanin * pool.input_density * layer.activity
                exposed = poisson.sf(pool.theta - 2, incid)
                p_hit = np.minimum(1.0, p_hit + poisson.sf(pool.theta - 1, incid))
            cross = _cross_talk(pool, per_slot, q_prev, p)
            lo, hi = (low, high) if ramp else (1.0 / max(q_prev, 1) - 1e-9, 1.0 / max(q_prev, 1))
            dist, fire, value = _slot_dists(p_hit, cross, q_prev, lo, hi, exposed)
            out[:, li] += np.maximum(pool.n - active, 0.0) * _wrong_many(dist, q)
            fired = rng.poisson(fire * slots)
            on = (p_hit * slots + fired * value) / slots
            mass_items += np.minimum(on, 1.0) * pool.n
        p = mass_items / max(n_items, 1)
        shared = zip(layer.q, layer.slots, layer.pools, strict=True)
        q_prev = max((q for q, s, pl in shared if s < pl.n), default=1)
    return out


def chain_sample_error(per_sample_level: np.ndarray) -> float:
    """Predicted share of samples with a wrong wire somewhere, from chain_errors."""
    if per_sample_level.size == 0:
        return 0.0
    return float(np.mean(1.0 - np.exp(-per_sample_level.sum(axis=1))))
