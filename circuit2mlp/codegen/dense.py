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
  weighted least squares on seeded s-sparse samples (positives weighted 4, outputs that touch
  an active input 1, the rest 1/20), so they are the same whatever the circuit's size.

Its error model is measured, not derived: on the fit's k = s samples, the outputs of each kind
(positives, outputs touching one active input, the rest) have a mean and a spread; a Gaussian
tail per kind, times how many outputs of that kind a k = s sample has, is the predicted number
of wrong outputs per sample. Without a forced width the method doubles the width from 2m
until that prediction is below :data:`TARGET_ERRORS`; when that takes one neuron per gate or
more, the exact gadgets are built instead.
"""

from __future__ import annotations

from math import comb, erfc, sqrt

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.ir import LayeredCircuit

#: Predicted wrong outputs per k = s sample that an automatic width aims below.
TARGET_ERRORS = 0.01
#: Samples of the least-squares fit (and of the error model).
FIT_SAMPLES = 2000
#: Loss weights of the fit: positive outputs, outputs touching an active input, the others.
FIT_WEIGHTS = (4.0, 1.0, 0.05)
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
    neurons that fire count, through the (m, m) matrix of their co-memberships."""
    fire = h > 0
    rows, weights = member[fire], h[fire]
    both_all = (rows.T * weights) @ rows  # (m, m): sum of h over neurons holding i and j
    single = weights @ rows  # (m,): over neurons holding i
    both = both_all[a, b]
    one = single[a] + single[b] - 2 * both
    return np.stack([both, one, weights.sum() - both - one], axis=1)


def design(m: int, s: int, width: int, rng: np.random.Generator) -> dict:
    """Subsets, fitted readout coefficients and the measured error model at one width."""
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
        weights.append(
            np.where(positive, FIT_WEIGHTS[0], np.where(touched, FIT_WEIGHTS[1], far_weight))
        )
        kinds.append(np.where(positive, 0, np.where(touched, 1, 2)))
        is_hard.append(np.full(pa.size, act.size == s))
    x = np.concatenate(rows)
    x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    y, w = np.concatenate(targets), np.sqrt(np.concatenate(weights))
    coef = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0]
    out = x @ coef
    kind, hard = np.concatenate(kinds), np.concatenate(is_hard)
    counts = (comb(s, 2), s * (m - s), comb(m - s, 2))  # outputs of each kind at k = s
    predicted, model = 0.0, []
    for k, count in enumerate(counts):
        values = out[(kind == k) & hard]
        if not values.size or not count:
            continue
        mean, spread = float(values.mean()), float(values.std()) + 1e-12
        gap = mean - 0.5 if k == 0 else 0.5 - mean
        tail = 0.5 * erfc(gap / (spread * sqrt(2)))
        predicted += count * tail
        model.append({"kind": ("one", "touched", "far")[k], "mean": mean, "std": spread})
    return {
        "member": member,
        "coef": coef,
        "predicted_errors": predicted,
        "error_model": model,
    }


def dense_block(layered: LayeredCircuit, config) -> LayerBlock | None:
    """The one layer block of the dense construction, on the input features; None when no
    automatic width below one neuron per gate meets :data:`TARGET_ERRORS`."""
    a, b, names = pairs_of(layered)
    m, s = len(layered.inputs), max(int(config.sparsity), 2)
    exact = len(names)
    rng = np.random.default_rng([config.seed, 7])
    if config.width is not None:
        built = design(m, s, config.width, rng)
    else:
        width, built = max(2 * m, 8), None
        while width < exact:
            trial = design(m, s, width, np.random.default_rng([config.seed, 7, width]))
            if trial["predicted_errors"] <= TARGET_ERRORS:
                built = trial
                break
            width *= 2
        if built is None:  # one neuron per gate is cheaper: the caller builds exact gadgets
            return None
    member, coef = built["member"], built["coef"]
    weight = sp.csr_matrix(np.where(member, 1.0, -1.0).astype(DTYPE))  # on the input features
    # readout row of gate (a, b): alpha, beta or gamma per neuron by its class for the pair;
    # built in row chunks as float32 (a dense (gates, width) matrix is the whole readout)
    levels = np.array([coef[2], coef[1], coef[0]], dtype=DTYPE)  # by |{a, b} & S_n|
    chunk = max(1, (1 << 24) // max(member.shape[0], 1))
    parts = []
    for start in range(0, len(names), chunk):
        stop = start + chunk
        count = member[:, a[start:stop]].T.astype(np.int8) + member[:, b[start:stop]].T
        parts.append(sp.csr_matrix(levels[count]))
    readout = sp.vstack(parts, format="csr")
    return LayerBlock(
        weight=weight,
        bias=np.full(member.shape[0], -1.0, dtype=DTYPE),
        features=FeatureMap(
            tuple(names),
            readout,
            np.full(len(names), coef[3], dtype=DTYPE),
        ),
        stats={
            "kind": "dense",
            "predicted_errors": float(built["predicted_errors"]),
            "readout_coefficients": [float(c) for c in coef],
            "error_model": built["error_model"],
        },
    )
