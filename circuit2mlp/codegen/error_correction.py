"""Error-correction layers: map noisy features back to clean 0/1 values between computations.

Hänni et al. (2024) prove such layers exist (their Thm 21) but give no weights; this is our
design. Every feature of a level is *carried* by k neurons shared in superposition (gate-centric
wiring of degree-1 monomials, wiring.py), but each logical neuron is a **saturating pair**

    z+ = relu(a (s - lo)),   z- = relu(a (s - lo) - 1),   z+ - z- = clamp(a (s - lo), 0, 1)

with s the sum of the (noisy) features the neuron reads, a = 1 / (hi - lo). The read-off of a
feature is the mean of (z+ - z-) over its neurons. When the neuron's features are all off and
their noise sums to less than ``lo`` the pair gives exactly 0; when its one active feature
arrives as 1 +- delta with |delta| < 1 - hi, exactly 1. Input noise below those margins is
erased, so the error after the layer is the layer's own interference (other active features
sharing a neuron), independent of how much noise came in: error stops compounding with depth.
Tolerated input noise: per neuron, the summed noise of its features must stay inside
(-lo, 1 - hi) on active and (-inf, lo) on inactive neurons; docs/theory.md derives it.

Dense features (often 1) would saturate shared neurons, so each gets its own pair.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.design import design_group, neurons_for
from circuit2mlp.codegen.superposed import (
    TARGET_ERRORS,
    SuperposeOptions,
    _active_other,
    _expected_interference,
)
from circuit2mlp.codegen.wiring import gate_centric

LOW, HIGH = 0.3, 0.7


def correction_block(
    level: LevelActivity,
    options: SuperposeOptions,
    rng: np.random.Generator,
    dedicated: bool = False,
    low: float = LOW,
    high: float = HIGH,
) -> LayerBlock:
    """An error-correction layer carrying every feature of ``level`` unchanged.

    With ``dedicated`` every feature gets its own saturating pair (no superposition): used to
    decode inputs given in superposition, whose noise is Gaussian-like rather than sparse, so
    summing it over a shared neuron's many features would drown the signal.
    """
    n = len(level.names)
    slope = 1.0 / (high - low)
    dense = np.ones(n, dtype=bool) if dedicated else level.dense()
    sparse_ids = np.flatnonzero(~dense)
    dense_ids = np.flatnonzero(dense)
    monomials = sparse_ids.reshape(-1, 1)
    other = _active_other(level)
    pairs = 0
    if sparse_ids.size:
        if options.width is not None:
            pairs = max(1, options.width // 2)
        else:
            pairs = neurons_for(
                1,
                sparse_ids.size,
                sparse_ids.size,
                n,
                other,
                TARGET_ERRORS,
                limit=max(64, 64 * sparse_ids.size),
            )
    weight_parts, bias_parts = [], []
    readout_rows, readout_cols, readout_vals = [], [], []
    consts = np.zeros(n)
    stats: dict = {"gates": 0, "carries": n, "exact_gates": int(dense_ids.size)}
    if pairs:
        design = design_group(
            1,
            sparse_ids.size,
            sparse_ids.size,
            n,
            pairs,
            other,
            ("gate",),
            center=options.center_fraction,
        )
        wiring = gate_centric(monomials, n, pairs, design.k, options.balanced, rng)
        reads, cover = wiring.reads, wiring.cover
        # Neuron 2j is z+ of logical neuron j, neuron 2j+1 its z-.
        weight_parts.append(sp.vstack([reads * slope, reads * slope]).tocsr()[_interleave(pairs)])
        bias_parts.append(np.tile([-slope * low, -slope * low - 1.0], pairs))
        counts = np.diff(cover.indptr).astype(np.float64)
        inv = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
        coo = cover.tocoo()
        for sign, parity in ((1.0, 0), (-1.0, 1)):
            readout_rows.append(sparse_ids[coo.row])
            readout_cols.append(2 * coo.col + parity)
            readout_vals.append(sign * inv[coo.row])
        if options.center:
            consts[sparse_ids] -= options.center_fraction * _expected_interference(
                reads, cover, counts, monomials, level
            )
        stats.update(
            superposed_gates=int(sparse_ids.size),
            superposed_neurons=2 * pairs,
            k=design.k,
            predicted_errors=design.expected_errors,
        )
    # Dedicated clamps for dense features.
    base = 2 * pairs
    if dense_ids.size:
        rows = np.repeat(np.arange(2 * dense_ids.size), 1)
        weight_parts.append(
            sp.csr_matrix(
                (np.full(rows.size, slope), (rows, np.repeat(dense_ids, 2))),
                shape=(2 * dense_ids.size, n),
            )
        )
        bias_parts.append(np.tile([-slope * low, -slope * low - 1.0], dense_ids.size))
        readout_rows += [dense_ids, dense_ids]
        readout_cols += [
            base + 2 * np.arange(dense_ids.size),
            base + 2 * np.arange(dense_ids.size) + 1,
        ]
        readout_vals += [np.ones(dense_ids.size), -np.ones(dense_ids.size)]
    total = base + 2 * dense_ids.size
    stats["dedicated_neurons"] = 2 * int(dense_ids.size)
    weight = sp.vstack(weight_parts, format="csr") if weight_parts else sp.csr_matrix((0, n))
    readout = (
        sp.csr_matrix(
            (
                np.concatenate(readout_vals),
                (np.concatenate(readout_rows), np.concatenate(readout_cols)),
            ),
            shape=(n, total),
            dtype=DTYPE,
        )
        if readout_vals
        else sp.csr_matrix((n, total), dtype=DTYPE)
    )
    features = FeatureMap(level.names, readout, consts.astype(DTYPE))
    bias = np.concatenate(bias_parts) if bias_parts else np.zeros(0)
    stats["kind"] = "decode" if dedicated else "correction"
    return LayerBlock(weight.astype(DTYPE), bias.astype(DTYPE), features, stats)


def _interleave(pairs: int) -> np.ndarray:
    """Row order putting z+ of neuron j at 2j and its z- at 2j+1 after stacking [z+; z-]."""
    order = np.empty(2 * pairs, dtype=np.int64)
    order[0::2] = np.arange(pairs)
    order[1::2] = pairs + np.arange(pairs)
    return order
