"""Choosing a superposed group's parameters from its size and the layer's sparsity.

A neuron reading b features meets up to lam = b * a / F other active features in a busy sample
(a active among the level's F), each adding one unit to it when its monomial is one short
(q-1 of q features on). Averaged over a monomial's k covering neurons the interference is
about Poisson(k lam)/k. How many features are active varies from sample to sample (from none
to a), so the read-off's interference ranges over [0, lam]: the ``superposed`` method centres
it by ``CENTER * lam``, putting the decision threshold in the middle of that range, while the
paper's plain mean leaves it at 1/2. A one-short monomial then reads wrong when
Poisson(k lam) > k (c + 1/2), and an active one cannot fall below 1 - c (> 1/2 needs c < 1/2).

lam grows with the features a neuron reads, which grow with k (gate-centric) or p
(feature-centric), so for a given width there is a best k: this module finds it numerically
and predicts the error, for the compile report and for choosing widths. Read-offs use at most
:data:`MAX_READ` covering neurons, which bounds the read-off matrix at MAX_READ non-zeros per
monomial. Independence of the neurons' interference is an approximation; verify measures the
truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.plan import GroupPlan, ReadOffRule
from circuit2mlp.codegen.terms import LayerTerms
from circuit2mlp.codegen.wiring import feature_centric_fanin, gate_centric_fanin

K_CHOICES = np.arange(6, 97)
#: Covering neurons a read-off averages at most.
MAX_READ = 64
#: Fraction of the busiest-sample interference the superposed read-offs subtract.
CENTER = 0.5
#: Error control: the features a superposed neuron may read -- in gate-centric groups always,
#: in feature-centric ones (the universal AND) when its inputs are read-offs of superposed
#: neurons or its read-offs feed later layers. A neuron sums the read-off noise of its inputs
#: and its bias margin absorbs the sum only while it stays small; a wide neuron also fires
#: more often by accident and spreads 1/k of a unit to every monomial it covers, which later
#: layers carry on (docs/theory.md section 7; design.design_group). 24 measured best of
#: 16/24/32.
NOISE_BUDGET_FANIN = 24


@dataclass(frozen=True)
class GroupDesign:
    """A group's strategy ('gate' or 'feature'), neurons per monomial k, the mean number of
    interfering features per neuron pi, the failure probability of one exposed monomial and the
    expected number of wrong monomials per sample."""

    strategy: str
    k: int
    pi: float
    fail: float
    expected_errors: float


def exposed_per_sample(q: int, n_monomials: int, n_used: int, active: float) -> float:
    """How many monomials of a group are one-short in a typical sample: for q = 1 every
    monomial of an inactive feature; else those containing an active feature."""
    if q == 1:
        return float(n_monomials)
    return min(float(n_monomials), active * q * n_monomials / max(n_used, 1))


def tail(k: np.ndarray, lam: np.ndarray, center: float) -> np.ndarray:
    """Chance a read-off over k neurons, shifted down by ``center * lam``, crosses 1/2 when
    each neuron meets Poisson(lam) interfering features; 1 where the shift itself would push
    an active monomial (read-off >= 1) below 1/2."""
    mean = k * lam
    fail = poisson.sf(np.floor(k * (center * lam + 0.5)), mean)
    return np.where(center * lam >= 0.5, 1.0, fail)


def iid_tail(k: np.ndarray, lam: np.ndarray, center: float) -> np.ndarray:
    """:func:`tail` for i.i.d. wiring (the paper's), where a monomial's cover is not k
    neurons but Poisson(k) of them, read in full: the failure chance averaged over the cover
    size, an empty cover counting as a failure. Small covers dominate: a read-off over few
    neurons is thrown past 1/2 by one or two interfering features."""
    k = np.asarray(k, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    sizes = np.arange(0, int(np.ceil(3 * k.max() + 10)) + 1, dtype=np.float64)
    weights = poisson.pmf(sizes[None, :], k[:, None])  # (len(k), sizes)
    per_size = tail(np.maximum(sizes[None, :], 1), lam[:, None], center)
    per_size[:, 0] = 1.0
    return np.minimum((weights * per_size).sum(axis=1), 1.0)


def design_group(
    q: int,
    n_monomials: int,
    n_used: int,
    n_level: int,
    neurons: int,
    active_other: float,
    strategies: tuple[str, ...] = ("gate", "feature"),
    center: float = CENTER,
    balanced: bool = True,
    fanin_limits: Mapping[str, float] | None = None,
) -> GroupDesign:
    """The (strategy, k) with the fewest expected wrong monomials per sample for this width.

    ``fanin_limits`` bounds, per strategy, the features a neuron reads (the smallest k wins
    when none fits). The model above takes inputs as clean 0/1 values and neurons as
    independent. Neither holds in deep networks: read-offs of an earlier superposed layer each
    carry a little noise and a neuron *sums* its inputs' noise, so a wide neuron that the model
    likes fires on noise alone; and with gate-centric wiring a wide neuron set per feature
    makes two active features meet in many neurons at once (measured: 500 targeted ANDs on
    2,000 features, 320 neurons: the model's k = 54, fan-in 162, predicts 7e-10 wrong
    monomials per sample, verify finds 0.7 % wrong samples; at fan-in <= 24, 0 of 30,001).
    """
    best: GroupDesign | None = None
    exposed = exposed_per_sample(q, n_monomials, n_used, active_other + 1)
    density = active_other / max(n_level, 1)
    for strategy in strategies:
        if strategy == "feature" and q < 2:
            continue
        if strategy == "gate":
            limited = fanin_limits is not None and "gate" in fanin_limits
            choices = np.arange(2, K_CHOICES[-1] + 1) if limited else K_CHOICES
            ks = choices[neurons >= choices]
            if ks.size == 0:
                ks = np.array([max(1, neurons)])
            fanin = np.array([gate_centric_fanin(n_used, q, neurons, k, n_monomials) for k in ks])
        else:
            ks = np.unique(np.geomspace(6, max(6, neurons // 4), 60).astype(int))
            fanin = np.array([feature_centric_fanin(n_used, q, neurons, k) for k in ks])
        limit = (fanin_limits or {}).get(strategy)
        if limit is not None:
            fits = fanin <= limit
            keep = fits if fits.any() else np.arange(ks.size) == 0
            ks, fanin = ks[keep], fanin[keep]
        lam = np.maximum(fanin - q, 0) * density
        if balanced:
            fail = tail(np.minimum(ks, MAX_READ), lam, center)
        else:
            fail = iid_tail(ks, lam, center)
        i = int(np.argmin(fail))
        design = GroupDesign(strategy, int(ks[i]), float(lam[i]), float(fail[i]), 0.0)
        if best is None or design.fail < best.fail:
            best = design
    assert best is not None
    return GroupDesign(best.strategy, best.k, best.pi, best.fail, best.fail * exposed)


def neurons_for(
    q: int,
    n_monomials: int,
    n_used: int,
    n_level: int,
    active_other: float,
    target_errors: float,
    limit: int,
    center: float = CENTER,
) -> int:
    """Smallest width (on a geometric grid, at most ``limit``) whose predicted wrong monomials
    per sample are at most ``target_errors``; ``limit`` when none is."""
    width = max(8, int(math.sqrt(n_monomials)))
    while width < limit:
        design = design_group(q, n_monomials, n_used, n_level, width, active_other, center=center)
        if design.expected_errors <= target_errors:
            return width
        width = int(width * 1.15) + 1
    return limit


def active_other(level: LevelActivity) -> float:
    """Active features a monomial's neurons may meet besides its own, in a busy sample (the
    99th percentile): errors concentrate in the busiest samples."""
    return max(0.5, level.active_p99 - 1)


def plan_groups(
    terms: LayerTerms,
    level: LevelActivity,
    widths: Sequence[int],
    rule: ReadOffRule,
    dedicated_linear: bool,
) -> tuple[GroupPlan, ...]:
    """The groups of shared neurons of a layer, one per monomial degree (ascending), with
    the widths given: each group's (strategy, k) from :func:`design_group`, or one neuron per
    degree-1 term with ``dedicated_linear``; neurons numbered group after group."""
    n_in = len(level.names)
    other = active_other(level)
    groups, first = [], 0
    for q, width in zip(sorted(terms.monomials), widths, strict=True):
        monomials = terms.monomials[q]
        if q == 1 and dedicated_linear:
            design = GroupDesign("dedicated", 1, 0.0, 0.0, 0.0)
        else:
            design = design_group(
                q,
                len(monomials),
                np.unique(monomials).size,
                n_in,
                width,
                other,
                center=rule.center,
                balanced=rule.balanced,
                fanin_limits=dict(rule.fanin_limits),
            )
        groups.append(
            GroupPlan(
                q, monomials, first, int(width), design.strategy, design.k, design.expected_errors
            )
        )
        first += int(width)
    return tuple(groups)


def shared_gates(terms: LayerTerms, groups: Sequence[GroupPlan]) -> np.ndarray:
    """(G,) bool: gates with a monomial on shared (not dedicated degree-1) neurons."""
    shared = np.zeros(terms.n_gates, dtype=bool)
    for group in groups:
        if group.strategy != "dedicated":
            shared[terms.terms[group.degree][0]] = True
    return shared
