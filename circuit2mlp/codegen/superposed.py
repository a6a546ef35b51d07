"""Emission of a ``compute`` level: shared coincidence neurons, then gadgets, then read-offs.

The level's plan (plan.LevelPlan) fixes everything but the random wiring: the gates'
polynomials (terms.py), the groups of shared neurons with their width, strategy and k, the
gadget gates (clean ones flagged) and the read-off rule. Here each group is wired
(wiring.py: a neuron reads a set of features with weight 1 and bias ``-(q-1) - margin``),
its covers are sampled and read off (readout.py), the exact or clean gadgets follow the
groups (exact.gadget_parts), and every gate's read-off row is its polynomial's combination of
its monomials' read-offs plus its constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.exact import gadget_parts
from circuit2mlp.codegen.plan import LevelPlan
from circuit2mlp.codegen.readout import (
    expected_interference,
    gate_readout_part,
    limit_cover,
    side_by_side,
)
from circuit2mlp.codegen.wiring import dedicated_wiring, feature_centric, gate_centric
from circuit2mlp.ir import Gate

__all__ = ["compute_block"]


def compute_block(
    plan: LevelPlan, gates: Sequence[Gate], level: LevelActivity, out_flip: np.ndarray
) -> LayerBlock:
    """The layer block of a compute level computing ``gates`` from the features of ``level``
    (the wires below, stored as ``level.flip`` says), giving outputs stored as ``out_flip``."""
    terms, rule = plan.terms, plan.readoff
    assert terms is not None
    rng = np.random.default_rng(list(plan.seed))
    n_in = len(level.names)
    consts = terms.consts.copy()
    blocks_w, blocks_b, readouts, group_stats = [], [], {}, []
    margin = rule.margin
    for group in plan.groups:
        q, monomials, width = group.degree, group.monomials, group.neurons
        if group.strategy == "dedicated":
            wiring = dedicated_wiring(monomials, n_in)
        else:
            build = feature_centric if group.strategy == "feature" else gate_centric
            wiring = build(monomials, n_in, width, group.k, rule.balanced, rng)
        reads, cover = wiring.reads, wiring.cover
        if rule.cover_limit is not None:
            cover = limit_cover(cover, rule.cover_limit, rng)
        blocks_w.append(reads)
        blocks_b.append(np.full(width, -(q - 1) - margin, dtype=np.float64))
        counts = np.diff(cover.indptr).astype(np.float64)
        scale = np.divide(1.0, counts * (1 - margin), out=np.zeros_like(counts), where=counts > 0)
        shift = np.zeros(len(monomials))
        if rule.center:
            shift = rule.center * expected_interference(reads, cover, counts, monomials, level)
        # Monomial g is read off as scale[g] * (its covering neurons): the mean.
        readouts[q] = (cover, scale, shift, group.first_neuron)
        group_stats.append(
            {
                "degree": q,
                "monomials": len(monomials),
                "neurons": int(width),
                "strategy": group.strategy,
                "k": group.k,
                "mean_cover": float(counts.mean()) if counts.size else 0.0,
                "uncovered": int((counts == 0).sum()),
                "mean_fanin": float(np.diff(reads.indptr).mean()) if width else 0.0,
                "predicted_errors": group.predicted_errors,
            }
        )
    offset = plan.shared_neurons

    # Dedicated gadgets after the superposed neurons.
    d_weight, d_biases, d_readout, d_consts = gadget_parts(
        terms,
        terms.dedicated,
        np.asarray(level.flip, dtype=bool),
        np.asarray(out_flip, dtype=bool),
        offset,
        plan.clean,
    )
    consts[terms.dedicated] += d_consts
    total = offset + d_biases.size

    weight = sp.vstack([*blocks_w, d_weight], format="csr")
    bias = np.concatenate([*blocks_b, d_biases])

    # Gate read-offs: sum of coef * monomial read-off, plus constants and centring shifts.
    parts = []
    for q, (cover, scale, shift, start) in readouts.items():
        gi, mi, ci = terms.terms[q]
        coef = sp.csr_matrix((ci, (gi, mi)), shape=(len(gates), cover.shape[0]))
        parts.append((start, gate_readout_part(coef, cover, scale)))
        consts -= coef @ shift
    d_gate, d_neuron, d_coef = d_readout
    parts.append(
        (
            offset,
            sp.csr_matrix(
                (d_coef, (d_gate, d_neuron - offset)),
                shape=(len(gates), total - offset),
                dtype=DTYPE,
            ),
        )
    )
    gate_readout = side_by_side(parts, len(gates), total)
    features = FeatureMap(tuple(g.name for g in gates), gate_readout, consts.astype(DTYPE))
    stats = {
        **plan.counts(),
        "superposed_neurons": offset,
        "dedicated_neurons": total - offset,
        "predicted_errors": float(sum(s["predicted_errors"] for s in group_stats)),
        "groups": group_stats,
    }
    return LayerBlock(weight.astype(DTYPE), bias.astype(DTYPE), features, stats)
