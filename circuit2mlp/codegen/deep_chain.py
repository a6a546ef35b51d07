"""The chain pass of the ``deep`` method's error model: every simulated sample followed
through all levels.

Per sample the state is the share of a level's shared slots that are on and the distribution
of its active wires' read-offs. The next level's cross-talk is Poisson in the first (as the
level pass of deep_model.py counts it), but the number of slots that fire on cross-talk is
itself drawn, and the sample's own number of active wires scales the hits: a busy sample or
an unlucky cluster of fired slots raises the next level's noise, which fires more slots --
the chain reaction that the mean-field level pass does not see. The second is the *fade*
(deep_model.py's module doc): active read-offs that lose slots to -1 reads of noisy wires,
to kills and to subtracted items one input short of firing, and sink once below about 0.71.
The automatic width scales the linear pools by the one factor at which this pass's share of
wrong samples meets the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from circuit2mlp.codegen.deep import HIGH, LOW
from circuit2mlp.codegen.deep_model import GRID, PoolInputs, cross_talk_units


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


def _fade_transition(
    cross_pos: np.ndarray,
    cross_neg: np.ndarray,
    p_kill: np.ndarray,
    q_prev: int,
    q: int,
    low: float,
    high: float,
) -> np.ndarray:
    """(groups, GRID + 1, GRID + 1) transition of an active item's read-off: from the value v
    of its input (row, on the grid) to the mean of its q slots (column). A slot of the active
    item is at v plus its cross-talk: Poisson(``cross_pos``) units of 1/q_prev up and
    Poisson(``cross_neg``) down (the -1 reads of noisy wires it hosts), or, with probability
    ``p_kill``, a full unit down (a co-hosted item reads an active wire with -1); the ramp
    then maps it to [0, 1]."""
    groups = cross_pos.size
    top_p = int(cross_pos.max() + 8 * math.sqrt(cross_pos.max() + 1)) + 4
    top_n = int(cross_neg.max() + 8 * math.sqrt(cross_neg.max() + 1)) + 4
    pos = poisson.pmf(np.arange(top_p)[None, :], cross_pos[:, None])
    neg = poisson.pmf(np.arange(top_n)[None, :], cross_neg[:, None])
    offsets = np.arange(-(top_n - 1), top_p)  # up minus down, in units of 1/q_prev
    diff = np.zeros((groups, offsets.size))
    for k in range(top_n):
        diff[:, top_n - 1 - k : top_n - 1 - k + top_p] += pos * neg[:, k : k + 1]
    v = np.arange(GRID + 1) / GRID
    unit = 1.0 / max(q_prev, 1)
    slot = np.zeros((groups, GRID + 1, GRID + 1))
    rows = np.arange(GRID + 1)
    for j, d in enumerate(offsets.tolist()):
        idx = _ramp_index(v + d * unit, low, high)
        np.add.at(slot, (slice(None), rows, idx), (diff[:, j] * (1 - p_kill))[:, None])
    np.add.at(slot, (slice(None), rows, _ramp_index(v - 1.0, low, high)), p_kill[:, None])
    size = GRID * q + 1
    total = np.fft.irfft(np.fft.rfft(slot, n=size, axis=2) ** q, n=size, axis=2)
    total = np.clip(total, 0.0, None)
    out = np.zeros((groups, GRID + 1, GRID + 1))
    np.add.at(out, (slice(None), slice(None), np.rint(np.arange(size) / q).astype(int)), total)
    return out / np.maximum(out.sum(axis=2, keepdims=True), 1e-300)


def chain_errors(
    layers: list[LayerPlanView],
    rng: np.random.Generator,
    low: float = LOW,
    high: float = HIGH,
    ramp: bool = True,
    fade: bool = True,
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
    alive = np.zeros((n, GRID + 1))  # per sample: read-off distribution of its active wires
    alive[:, GRID] = 1.0
    for li, layer in enumerate(layers):
        mass_items = np.zeros(n)
        n_items = 0
        alive_next, active_total = np.zeros((n, GRID + 1)), np.zeros(n)
        exposed, exposed_units = np.zeros(n), np.zeros(n)
        for pool, slots, q in zip(layer.pools, layer.slots, layer.q, strict=True):
            if pool.n == 0:
                continue
            n_items += pool.n
            active = pool.active * layer.activity
            if fade:
                faded, lost = _fade(pool, slots, q, q_prev, p, layer.activity, alive, low, high)
                out[:, li] += active * lost
                alive_next += active[:, None] * faded
                active_total += active
            if slots >= pool.n:  # dedicated: exact, hands on no noise of its own
                continue
            per_slot = pool.n * q / slots
            p_hit = np.minimum(1.0, active * q / slots)
            short = np.ones(n)  # share of the inactive items one input short of firing
            if pool.theta >= 2:
                incid = per_slot * pool.fanin * pool.input_density * layer.activity
                short = poisson.sf(pool.theta - 2, incid)
                p_hit = np.minimum(1.0, p_hit + poisson.sf(pool.theta - 1, incid))
                if fade and pool.exposed > 0:  # one more active input on a slot fires it
                    count = pool.exposed * layer.activity
                    exposed += count
                    exposed_units += count * q * np.minimum(1.0, -np.expm1(-incid) + p_hit)
            cross = cross_talk_units(pool, per_slot, q_prev, p)
            lo, hi = (low, high) if ramp else (1.0 / max(q_prev, 1) - 1e-9, 1.0 / max(q_prev, 1))
            dist, fire, value = _slot_dists(p_hit, cross, q_prev, lo, hi, short)
            out[:, li] += np.maximum(pool.n - active, 0.0) * _wrong_many(dist, q)
            fired = rng.poisson(fire * slots)
            on = (p_hit * slots + fired * value) / slots
            mass_items += np.minimum(on, 1.0) * pool.n
        p = mass_items / max(n_items, 1)
        if fade:
            right = np.maximum(active_total, 1e-300)[:, None]
            share = np.minimum(1.0, exposed / right[:, 0])
            units = exposed_units / np.maximum(exposed, 1e-300)
            q_here = max(layer.q, default=1)
            shifted, lost = _sibling_shift(alive_next / right, share, units, q_here)
            out[:, li] += active_total * lost
            alive = np.where(active_total[:, None] > 0, shifted, alive)
        shared = zip(layer.q, layer.slots, layer.pools, strict=True)
        q_prev = max((q for q, s, pl in shared if s < pl.n), default=1)
    return out


def _sibling_shift(
    alive: np.ndarray, share: np.ndarray, units: np.ndarray, q: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: a share ``share`` of the active gates lose Poisson(``units``) slots of 1/q
    of their read-off to a subtracted item of the same gate that is one input short of firing
    (the second step of an XOR with one input on: any other active input on one of its slots
    fires that slot). Returns the read-off distribution of those still right (normalised) and
    the probability that one reads wrong."""
    top = int(units.max() + 6 * math.sqrt(units.max() + 1)) + 2
    k = np.arange(top)
    weights = share[:, None] * poisson.pmf(k[None, :], units[:, None])
    weights[:, 0] += 1.0 - share
    out = np.zeros_like(alive)
    step = GRID // q
    for j in range(top):
        shift = j * step
        if shift == 0:
            out += weights[:, :1] * alive
        elif shift <= GRID:
            out[:, :-shift] += weights[:, j : j + 1] * alive[:, shift:]
    off_grid = np.maximum(0.0, 1.0 - out.sum(axis=1))  # shifted below 0
    kept, lost = _split_wrong(out)
    return kept, lost + off_grid


#: Share of the Poisson count of -1 reads of noisy wires that reaches an active item's slot
#: (the count takes each as independent; positive reads hosted in the same slot cancel part of
#: it, as -1 reads cancel part of the positive count, CROSS_TALK_SHARE). Fitted on the
#: all-kinds circuit of 10^5 gates per level, depth 8, at its automatic width (2,000 3-hot
#: samples, the share of samples wrong by levels 5-8: 0.10, 0.20, 0.40, 0.60 % measured,
#: 0.13, 0.22, 0.31, 0.41 % with 0.8; 0.6 gives 0.08-0.21 %, 1.0 0.23-0.83 %); docs/theory.md
#: section 8 has the checks on the other families.
FADE_SHARE = 0.8
#: Sample groups of the fade pass (by their cross-talk; one transition per group).
FADE_GROUPS = 16


def _fade(
    pool: PoolInputs,
    slots: int,
    q: int,
    q_prev: int,
    p: np.ndarray,
    activity: np.ndarray,
    alive: np.ndarray,
    low: float,
    high: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the read-off distribution of the pool's active items that still read right
    (>= 1/2; normalised) and the probability that one reads wrong, from the distribution
    ``alive`` of their inputs' read-offs. Samples are grouped by their cross-talk."""
    n = p.size
    if slots >= pool.n:  # dedicated: each slot is its item's ramp of its input, no noise
        ramp = _ramp_index(np.arange(GRID + 1) / GRID, low, high)
        moved = np.zeros_like(alive)
        np.add.at(moved, (slice(None), ramp), alive)
        return _split_wrong(moved)
    per_slot = pool.n * q / slots
    kill = np.minimum(1.0, pool.killers * activity * q / slots)
    up = cross_talk_units(pool, per_slot, q_prev, p)
    down = FADE_SHARE * per_slot * pool.negative * q_prev * p
    key = down + up + kill
    order = np.argsort(key, kind="stable")
    group = np.empty(n, np.int64)
    group[order] = np.arange(n) * FADE_GROUPS // max(n, 1)
    counts = np.maximum(np.bincount(group, minlength=FADE_GROUPS), 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=x, minlength=FADE_GROUPS) / counts

    step = _fade_transition(mean(up), mean(down), mean(kill), q_prev, q, low, high)
    return _split_wrong(np.einsum("sv,svw->sw", alive, step[group]))


def _ramp_index(z: np.ndarray, low: float, high: float) -> np.ndarray:
    """Grid index of the ramp's value at slot sums ``z`` (relative to theta - 1)."""
    return np.rint(np.clip((z - low) / (high - low), 0.0, 1.0) * GRID).astype(int)


def _split_wrong(moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distribution of the read-offs still >= 1/2, normalised; the mass below 1/2)."""
    lost = moved[:, : GRID // 2].sum(axis=1)
    kept = moved.copy()
    kept[:, : GRID // 2] = 0.0
    kept /= np.maximum(kept.sum(axis=1, keepdims=True), 1e-300)
    return kept, lost


def chain_sample_error(per_sample_level: np.ndarray) -> float:
    """Predicted share of samples with a wrong wire somewhere, from chain_errors."""
    if per_sample_level.size == 0:
        return 0.0
    return float(np.mean(1.0 - np.exp(-per_sample_level.sum(axis=1))))
