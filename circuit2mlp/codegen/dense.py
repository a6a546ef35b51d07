"""The ``dense`` method: the universal AND the way a trained network computes it.

A ReLU network trained on U-AND (benchmarks/trained_baseline.py; docs/performance.md) does not
learn the sparse constructions: every hidden neuron reads *every* input at one of two levels,
a positive level on about half of them and a negative one on the rest, and every output reads
every neuron. This method builds that directly, for circuits of one layer of two-input ANDs
of circuit inputs (U-AND and any subset of its pairs, basis-aligned inputs); any other circuit
is compiled as ``superposed`` would compile it (the compile report's layers say which):

* neuron n draws a random half S_n of the inputs and computes
  ``relu(#active in S_n - #active outside S_n - 1)``: it fires (with value c - 1) when c >= 2
  of its inputs are active and none outside;
* the output of gate ``a AND b`` reads every neuron with one of three weights, by the class the
  neuron falls in for that pair: both a, b in S_n (alpha), exactly one (beta), neither
  (gamma), plus a bias (delta). The four numbers are shared by all gates and fitted by
  weighted least squares on seeded s-sparse samples (outputs that touch an active input
  weighted 1, the rest 1/20, the positives at each weight of :data:`POSITIVE_WEIGHTS`, the
  error model choosing), so they are the same whatever the circuit's size.

Its error model is measured, not derived: on the fit's k = s samples, the outputs of each kind
(positives, outputs touching one active input, the rest) have a mean and a spread; a Gaussian
tail per kind, times how many outputs of that kind a k = s sample has, is the predicted number
of wrong outputs per sample. Without a forced width the method widens from 2m (steps of
x1.25) until that prediction is at most the config's ``target_error``; when that takes one
neuron per gate or more, the exact gadgets are built instead.

The default method (``superposed`` without ``--width``) builds a circuit this way when
:func:`dense_is_better`: the dense error model needs fewer neurons than the superposed one's
(design.py) and the dense readout is not too big.
"""

from __future__ import annotations

from math import comb, erfc, sqrt

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen import dense_readout
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.calibration import calibration_samples
from circuit2mlp.ir import LayeredCircuit

#: Whether the default method may build a circuit the dense way (:func:`dense_is_better`);
#: benchmarks/trained_baseline.py turns it off to measure the superposed construction alone.
DEFAULT_MAY_PICK = True
#: Predicted wrong outputs per k = s sample that an automatic width aims at, when the config
#: names no ``target_error`` (the superposed method's default target, so the two compare).
DEFAULT_TARGET = 0.005
#: Ratio of successive widths the automatic width tries.
WIDTH_STEP = 1.25
#: The default method builds dense only when its readout has at most this many weights
#: (gates x neurons, every one non-zero: 32 MiB as float32). The superposed readout holds at
#: most 64 per gate; beyond this the default does not trade neurons for a weights file tens
#: of times bigger (``--method dense`` still builds it).
READOUT_LIMIT = 1 << 23
#: Samples of the least-squares fit (and of the error model).
FIT_SAMPLES = 2000
#: Loss weights of the fit for outputs touching an active input and for the others (the
#: positives' weight is chosen from :data:`POSITIVE_WEIGHTS`).
FIT_WEIGHTS = (None, 1.0, 0.05)
#: Weights of the positive outputs the fit tries (:func:`design` keeps the best by the error
#: model).
POSITIVE_WEIGHTS = (4.0, 10.0, 25.0, 60.0)
#: Pairs sampled per fit sample for the outputs that touch no active input.
FAR_PAIRS = 64


def applies(layered: LayeredCircuit, config) -> bool:
    """Whether the dense construction can build this circuit: one layer of two-input ANDs of
    distinct circuit inputs, inputs not in superposition."""
    if layered.depth != 1 or (
        config.input_dim is not None and config.input_dim < len(layered.inputs)
    ):
        return False
    inputs = set(layered.inputs)
    return all(
        g.op == "AND" and len(g.fanin) == 2 and g.fanin[0] != g.fanin[1] and set(g.fanin) <= inputs
        for g in layered.layers[0]
    )


def pairs_of(layered: LayeredCircuit) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Input indices (a, b) and name of every gate (a circuit :func:`applies` to)."""
    index = {name: i for i, name in enumerate(layered.inputs)}
    gates = layered.layers[0]
    a = np.array([index[g.fanin[0]] for g in gates], dtype=np.int64)
    b = np.array([index[g.fanin[1]] for g in gates], dtype=np.int64)
    return a, b, [g.name for g in gates]


def _samples(m: int, s: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, s) active inputs padded with -1: k = s with probability 3/4, else uniform below."""
    ks = np.where(rng.random(n) < 0.75, s, rng.integers(0, max(s, 1), size=n))
    picks = np.argsort(rng.random((n, m)), axis=1)[:, :s]
    return np.where(np.arange(s)[None, :] < ks[:, None], picks, -1)


def _class_sums(member: np.ndarray, h: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), 3): a sample's activations h summed over the neurons whose subsets hold both
    of a pair's inputs, exactly one, neither. ``member`` is S_n as 0/1 floats (d, m); only the
    neurons that fire count."""
    fire = h > 0
    rows, weights = member[fire], h[fire]
    both = weights @ (rows[:, a] * rows[:, b])
    single = weights @ rows  # (m,): over neurons holding i
    one = single[a] + single[b] - 2 * both
    return np.stack([both, one, weights.sum() - both - one], axis=1)


def design(
    m: int,
    s: int,
    width: int,
    rng: np.random.Generator,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Subsets, fitted readout coefficients and the measured error model at one width.

    The fit is solved once per weight of the positive outputs in :data:`POSITIVE_WEIGHTS`
    and the coefficients with the fewest predicted wrong outputs are kept: how strongly the
    one to three positives of a sample must count against its many negatives depends on m,
    s and the width (a fixed weight misses every positive at s = 2 from m = 128 below about
    1,500 neurons, and a larger fixed one breaks s = 3 at m = 32).

    With the gates' ``pairs`` given and the domain small enough
    (:func:`dense_readout.applies`), every gate's readout row is then fitted on every <= s-hot
    input (codegen/dense_readout.py); its wrong outputs per s-hot input, exact on the whole
    domain, replace the Gaussian prediction."""
    member = rng.random((width, m)) < 0.5  # (d, m): S_n
    weight = np.where(member, 1.0, -1.0)
    member01 = member.astype(np.float64)
    actives = _samples(m, s, FIT_SAMPLES, rng)
    rows, targets, weights, kinds, is_hard = [], [], [], [], []
    for act in actives:
        act = act[act >= 0]
        h = np.maximum(weight[:, act].sum(axis=1) - 1.0, 0.0)
        # pairs: every pair touching an active input, and FAR_PAIRS random others
        touch_a = np.repeat(act, m)
        touch_b = np.tile(np.arange(m), act.size)
        keep = (touch_a != touch_b) & ~(np.isin(touch_b, act) & (touch_b < touch_a))
        pa, pb = touch_a[keep], touch_b[keep]
        far = rng.integers(0, m, size=(FAR_PAIRS, 2))
        far = far[(far[:, 0] != far[:, 1]) & ~np.isin(far, act).any(axis=1)]
        pa, pb = np.concatenate([pa, far[:, 0]]), np.concatenate([pb, far[:, 1]])
        positive = np.isin(pa, act) & np.isin(pb, act)
        touched = np.isin(pa, act) | np.isin(pb, act)
        n_far = comb(m - act.size, 2)
        far_weight = FIT_WEIGHTS[2] * n_far / max(far.shape[0], 1)
        rows.append(_class_sums(member01, h, pa, pb))
        targets.append(positive.astype(float))
        weights.append(np.where(touched, FIT_WEIGHTS[1], far_weight))
        kinds.append(np.where(positive, 0, np.where(touched, 1, 2)))
        is_hard.append(np.full(pa.size, act.size == s))
    x = np.concatenate(rows)
    x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    y, base = np.concatenate(targets), np.concatenate(weights)
    kind, hard = np.concatenate(kinds), np.concatenate(is_hard)
    counts = (comb(s, 2), s * (m - s), comb(m - s, 2))  # outputs of each kind at k = s
    best: dict | None = None
    for positive_weight in POSITIVE_WEIGHTS:
        w = np.sqrt(np.where(kind == 0, positive_weight, base))
        coef = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0]
        predicted, model = _error_model(x @ coef, kind, hard, counts)
        if best is None or predicted < best["predicted_errors"]:
            best = {
                "coef": coef,
                "predicted_errors": predicted,
                "error_model": model,
                "positive_weight": positive_weight,
            }
    assert best is not None
    built = {"member": member, **best}
    if pairs is not None and dense_readout.applies(m, s, pairs[0].size, width):
        shared = _shared_readout(member, best["coef"], *pairs).toarray()
        start = (shared, np.full(pairs[0].size, best["coef"][3]))
        fitted = dense_readout.fit_readout(weight, np.full(width, -1.0), *pairs, s, start)
        built["fitted"] = fitted
        built["predicted_errors"] = fitted.wrong_outputs
    return built


def _error_model(
    out: np.ndarray, kind: np.ndarray, hard: np.ndarray, counts: tuple[int, int, int]
) -> tuple[float, list[dict]]:
    """Predicted wrong outputs per k = s sample, and the per-kind Gaussians behind it: the
    fit's outputs of each kind on k = s samples have a mean and a spread; a Gaussian tail
    per kind times how many outputs of that kind a k = s sample has."""
    predicted, model = 0.0, []
    for k, count in enumerate(counts):
        values = out[(kind == k) & hard]
        if not values.size or not count:
            continue
        mean, spread = float(values.mean()), float(values.std()) + 1e-12
        gap = mean - 0.5 if k == 0 else 0.5 - mean
        predicted += count * 0.5 * erfc(gap / (spread * sqrt(2)))
        model.append({"kind": ("one", "touched", "far")[k], "mean": mean, "std": spread})
    return predicted, model


def automatic_width(
    m: int,
    s: int,
    limit: int,
    seed: int,
    target: float,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict | None:
    """The dense design at the smallest width on a geometric grid (from 2m, steps of
    :data:`WIDTH_STEP`, below ``limit``) whose predicted wrong outputs per k = s sample are
    at most ``target``; None when none is (at one neuron per gate exact gadgets are
    cheaper). The prediction falls with the width, so the grid's widest point is tried
    first (no smaller one can pass when it fails) and the smallest passing one is found by
    bisection. The last design found is kept: the default method asks before it builds.
    ``pairs``: the gates' inputs, for the per-gate readout (:func:`design`)."""
    pairs_key = None if pairs is None else (pairs[0].tobytes(), pairs[1].tobytes())
    key = (m, s, seed, target, pairs_key)
    if _LAST_AUTOMATIC and _LAST_AUTOMATIC[0] == key:
        found = _LAST_AUTOMATIC[1]
        if found["member"].shape[0] < limit:
            return found
    grid = [max(2 * m, 8)]
    while max(grid[-1] + 1, int(grid[-1] * WIDTH_STEP)) < limit:
        grid.append(max(grid[-1] + 1, int(grid[-1] * WIDTH_STEP)))
    if grid[0] >= limit:
        return None

    def trial(width: int) -> dict:
        return design(m, s, width, np.random.default_rng([seed, 7, width]), pairs)

    low, high = -1, len(grid) - 1  # grid[high] passes, grid[low] fails (-1: none tried)
    best = trial(grid[high])
    if best["predicted_errors"] > target:
        return None
    while high - low > 1:
        mid = (low + high) // 2
        tried = trial(grid[mid])
        if tried["predicted_errors"] <= target:
            high, best = mid, tried
        else:
            low = mid
    # the model's width, checked on held-out inputs the way the superposed calibration checks
    # its own (every input when they are few, and then no error allowed); widened until it
    # passes
    x, exhaustive = calibration_samples(m, s, np.random.default_rng([seed, 8]))
    allowed = 0.0 if exhaustive else target
    while not _passes(best, x, s, allowed):
        high += 1
        if high >= len(grid):
            return None
        best = trial(grid[high])
    _LAST_AUTOMATIC[:] = [key, best]
    return best


def _passes(built: dict, x: np.ndarray, s: int, allowed: float) -> bool:
    """Whether the dense design misreads at most ``floor(allowed * n)`` of the n inputs of
    each level k <= s in ``x`` (0/1 rows), every pair's output read off the firing neurons.
    A design with per-gate readouts already knows its wrong inputs on the whole domain, of
    which ``x`` is a part: the same share is asked of those."""
    if "fitted" in built:
        fitted = built["fitted"]
        return bool(np.all(fitted.wrong <= np.floor(allowed * fitted.inputs)))
    member, coef = built["member"], built["coef"]
    weight = np.where(member, 1.0, -1.0)
    m = member.shape[1]
    iu = np.triu_indices(m, k=1)
    levels = x.sum(axis=1).astype(int)
    wrong = np.zeros(s + 1, dtype=np.int64)
    for row, k in zip(x, levels, strict=True):
        h = np.maximum(weight @ row - 1.0, 0.0)
        fire = h > 0
        rows, hv = member[fire].astype(np.float64), h[fire]
        both = (rows.T * hv) @ rows  # (m, m)
        single = hv @ rows
        one = single[:, None] + single[None, :] - 2 * both
        neither = hv.sum() - both - one
        out = coef[0] * both + coef[1] * one + coef[2] * neither + coef[3]
        truth = np.outer(row, row) > 0
        wrong[k] += bool(((out > 0.5) != truth)[iu].any())
    counts = np.bincount(levels, minlength=s + 1)
    return all(wrong[k] <= int(allowed * counts[k]) for k in range(s + 1))


_LAST_AUTOMATIC: list = []


def superposed_predicted(layered: LayeredCircuit, config, width: int | None) -> float:
    """What the superposed method's error model (codegen/design.py) predicts for this circuit
    of two-input ANDs: wrong outputs per k = s sample at ``width``; with ``width`` None, the
    neurons its automatic width starts from (its calibration only ever widens that)."""
    from circuit2mlp.codegen.design import NOISE_BUDGET_FANIN, design_group, neurons_for

    a, b, names = pairs_of(layered)
    m, s = len(layered.inputs), max(int(config.sparsity), 1)
    used = np.unique(np.concatenate([a, b])).size
    other = max(0.5, s - 1.0)  # active inputs a busy sample adds besides the pair's own
    if width is None:
        target = float(getattr(config, "target_error", DEFAULT_TARGET))
        return float(neurons_for(2, len(names), used, m, other, target, limit=len(names)))
    limits = {"gate": NOISE_BUDGET_FANIN}
    return design_group(2, len(names), used, m, width, other, fanin_limits=limits).expected_errors


def dense_wins_at(layered: LayeredCircuit, config, width: int) -> bool:
    """Whether, at ``width`` neurons, the dense error model predicts fewer wrong outputs per
    k = s sample than the superposed one (for a circuit :func:`applies` to)."""
    m, s = len(layered.inputs), max(int(config.sparsity), 2)
    rng = np.random.default_rng([config.seed, 7])
    a, b, _ = pairs_of(layered)
    dense_errors = design(m, s, width, rng, (a, b))["predicted_errors"]
    return dense_errors < superposed_predicted(layered, config, width)


def dense_is_better(layered: LayeredCircuit, config) -> bool:
    """Whether the default method (``superposed`` at its automatic width; its planner asks)
    should build this circuit the dense way: it :func:`applies`, its dense readout (every gate
    reads every neuron) stays within :data:`READOUT_LIMIT` weights, and the dense error model
    reaches the target on fewer neurons than the superposed error model's width (which the
    superposed calibration only ever widens). A forced ``width`` keeps the superposed
    construction: the user asked for that construction's network at that size
    (:func:`dense_wins_at` says whether dense would do better there)."""
    if not DEFAULT_MAY_PICK or layered.depth != 1:
        return False
    if config.width is not None:
        return False
    m, s, gates = len(layered.inputs), max(int(config.sparsity), 2), len(layered.layers[0])
    if gates * max(2 * m, 8) > READOUT_LIMIT or not applies(layered, config):
        return False
    target = float(getattr(config, "target_error", DEFAULT_TARGET))
    superposed = min(superposed_predicted(layered, config, None), gates)
    a, b, _ = pairs_of(layered)
    built = automatic_width(m, s, int(superposed), config.seed, target, (a, b))
    return built is not None and gates * built["member"].shape[0] <= READOUT_LIMIT


def dense_block(layered: LayeredCircuit, config) -> LayerBlock | None:
    """The one layer block of the dense construction, on the input features; None when no
    automatic width below one neuron per gate meets the target (:func:`automatic_width`)."""
    a, b, names = pairs_of(layered)
    m, s = len(layered.inputs), max(int(config.sparsity), 2)
    if config.width is not None:
        rng = np.random.default_rng([config.seed, 7])
        built = design(m, s, config.width, rng, (a, b))
    else:
        target = float(getattr(config, "target_error", DEFAULT_TARGET))
        built = automatic_width(m, s, len(names), config.seed, target, (a, b))
        if built is None:  # one neuron per gate is cheaper: the caller builds exact gadgets
            return None
    member, coef = built["member"], built["coef"]
    weight = sp.csr_matrix(np.where(member, 1.0, -1.0).astype(DTYPE))  # on the input features
    fitted = built.get("fitted")
    stats = {
        "kind": "dense",
        "predicted_errors": float(built["predicted_errors"]),
        "readout_coefficients": [float(c) for c in coef],
        "positive_weight": float(built["positive_weight"]),
        "error_model": built["error_model"],
    }
    if fitted is not None:
        readout = sp.csr_matrix(fitted.rows.astype(DTYPE))
        readout_bias = fitted.bias.astype(DTYPE)
        stats["readout"] = "per gate, fitted on every input with at most s active"
        stats["domain_wrong_inputs"] = fitted.wrong.tolist()
        stats["domain_inputs"] = fitted.inputs.tolist()
        stats["domain_worst_margin"] = fitted.worst_margin
    else:
        readout, readout_bias = (
            _shared_readout(member, coef, a, b),
            np.full(len(names), coef[3], dtype=DTYPE),
        )
        stats["readout"] = "four coefficients shared by every gate"
    return LayerBlock(
        weight=weight,
        bias=np.full(member.shape[0], -1.0, dtype=DTYPE),
        features=FeatureMap(tuple(names), readout, readout_bias),
        stats=stats,
    )


def _shared_readout(
    member: np.ndarray, coef: np.ndarray, a: np.ndarray, b: np.ndarray
) -> sp.csr_matrix:
    """Readout rows of the shared coefficients: gate (a, b) reads each neuron with alpha, beta
    or gamma by its class for the pair; built in row chunks as float32 (a dense
    (gates, width) matrix is the whole readout)."""
    levels = np.array([coef[2], coef[1], coef[0]], dtype=DTYPE)  # by |{a, b} & S_n|
    chunk = max(1, (1 << 24) // max(member.shape[0], 1))
    parts = []
    for start in range(0, a.size, chunk):
        stop = start + chunk
        count = member[:, a[start:stop]].T.astype(np.int8) + member[:, b[start:stop]].T
        parts.append(sp.csr_matrix(levels[count]))
    return sp.vstack(parts, format="csr")
