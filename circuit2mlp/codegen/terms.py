"""Gate algebra of a layer: every gate as its polynomial over the stored features below it.

Each gate is rewritten as a multilinear polynomial in its stored input features
(polynomial.py); the distinct monomials of the layer, grouped by degree q, are what shared
neurons compute (each monomial of degree q is an AND of q features), and a gate's feature is
the linear combination of its monomials' read-offs plus its constant. Gates that cannot be
written that way here -- reading a *dense* feature (often 1 even in its sparse polarity), or
with a monomial above :data:`MAX_DEGREE` -- are marked for their exact gadget. Which other
gates go to gadgets is policy (assignment.py), how wide the groups are is width.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.gates import GateArrays, gate_arrays
from circuit2mlp.codegen.polynomial import gate_polynomial
from circuit2mlp.ir import Gate

#: Gates whose polynomial has a monomial of higher degree get dedicated neurons.
MAX_DEGREE = 4


@dataclass
class LayerTerms(GateArrays):
    """A layer's gates as polynomials over the stored features of the level below: what every
    width of the layer shares, so it is worked out once (:func:`layer_terms`).

    ``terms[q]`` = (gate, monomial id, coefficient) arrays, in gate order and, within a gate,
    in its polynomial's order; ``monomials[q]`` (M_q, q) sorted feature indices, numbered by
    first appearance in that order. ``dedicated`` lists (ascending) the gates computed by
    their exact gadget; ``consts`` holds the other gates' constant terms."""

    consts: np.ndarray  # (G,) float64
    dedicated: np.ndarray  # int64 gate indices
    monomials: dict[int, np.ndarray]
    terms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def layer_terms(
    gates: Sequence[Gate],
    level: LevelActivity,
    out_flip: np.ndarray,
    all_dedicated: bool = False,
    superpose_dense: bool = False,
) -> LayerTerms:
    """Rewrite every gate as its polynomial over stored features; gates reading a dense
    feature (all of them with ``all_dedicated``) or with a monomial of degree above
    :data:`MAX_DEGREE` are marked dedicated (the superposed planner moves more gates to
    gadgets afterwards: assignment.prefer_gadgets); with ``superpose_dense`` (the paper's
    construction) dense features are superposed too. Gates sharing (op, effective input
    polarities, output polarity) share a polynomial, so the work is per such class, not per
    gate. A literal cube is its symmetric form (AND/NAND) with the negated inputs'
    polarities flipped."""
    n_in = len(level.names)
    n_gates = len(gates)
    base = gate_arrays(gates, {name: i for i, name in enumerate(level.names)})
    terms = LayerTerms(
        **vars(base), consts=np.zeros(n_gates), dedicated=np.zeros(0, int), monomials={}, terms={}
    )
    if all_dedicated:
        dense = np.ones(n_in, dtype=bool)
    elif superpose_dense:
        dense = np.zeros(n_in, dtype=bool)
    else:
        dense = level.dense()
    flips = np.asarray(level.flip, dtype=bool)
    out_flip = np.asarray(out_flip, dtype=bool)
    dedicated = [np.zeros(0, dtype=np.int64)]
    t_gate, t_pos, t_coef, t_feats = [], [], [], []
    arity, op_index = terms.arity, terms.op_index
    for a in np.unique(arity).tolist():
        gi = np.flatnonzero(arity == a)
        rows = terms.fanin_rows(gi, a)
        is_dense = dense[rows].any(axis=1) if a else np.zeros(gi.size, dtype=bool)
        dedicated.append(gi[is_dense])
        gi, rows = gi[~is_dense], rows[~is_dense]
        effective = flips[rows] ^ terms.literal_rows(gi, a)
        bits = effective.astype(np.int64) << np.arange(1, a + 1)
        code = (op_index[gi] << (a + 1)) | bits.sum(axis=1) | out_flip[gi]
        for c in np.unique(code).tolist():
            sel = code == c
            g_sel, r_sel = gi[sel], rows[sel]
            in_flips = tuple(bool(c >> (i + 1) & 1) for i in range(a))
            poly = gate_polynomial(terms.ops[c >> (a + 1)], in_flips, bool(c & 1))
            if any(len(mono) > MAX_DEGREE for mono, _ in poly):
                dedicated.append(g_sel)
                continue
            for j, (mono, coef) in enumerate(poly):
                if not mono:
                    terms.consts[g_sel] += coef
                    continue
                feats = np.full((g_sel.size, MAX_DEGREE), n_in, dtype=np.int64)
                feats[:, : len(mono)] = r_sel[:, list(mono)]
                t_gate.append(g_sel)
                t_pos.append(np.full(g_sel.size, j, dtype=np.int64))
                t_coef.append(np.full(g_sel.size, float(coef)))
                t_feats.append(feats)
    terms.dedicated = np.sort(np.concatenate(dedicated))
    if not t_gate:
        return terms
    gate_of = np.concatenate(t_gate)
    order = np.lexsort((np.concatenate(t_pos), gate_of))  # by gate, then by term
    gate_of = gate_of[order]
    coef = np.concatenate(t_coef)[order]
    feats = np.sort(np.concatenate(t_feats)[order], axis=1)
    # A feature read twice counts once in a monomial (x AND x = x): drop repeats.
    repeat = np.zeros_like(feats, dtype=bool)
    repeat[:, 1:] = feats[:, 1:] == feats[:, :-1]
    if repeat.any():
        feats[repeat] = n_in
        feats.sort(axis=1)
    degree = (feats < n_in).sum(axis=1)
    for q in range(1, MAX_DEGREE + 1):
        at = np.flatnonzero(degree == q)
        if at.size == 0:
            continue
        keys = feats[at, :q]
        if float(n_in + 1) ** q < 2.0**62:
            flat = np.zeros(at.size, dtype=np.int64)
            for column in keys.T:
                flat = flat * (n_in + 1) + column
            _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        by_appearance = np.argsort(first, kind="stable")
        rank[by_appearance] = np.arange(first.size)
        terms.monomials[q] = keys[first[by_appearance]]
        terms.terms[q] = (gate_of[at], rank[inverse.ravel()], coef[at])
    return terms


def gadget_terms(gates: Sequence[Gate], names: Sequence[str]) -> LayerTerms:
    """Terms of a layer whose every gate is its exact gadget (no monomials), reading the
    features ``names``: what the exact method and the toy planners plan with, no activity
    measured."""
    base = gate_arrays(gates, {name: i for i, name in enumerate(names)})
    return LayerTerms(
        **vars(base),
        consts=np.zeros(len(gates)),
        dedicated=np.arange(len(gates), dtype=np.int64),
        monomials={},
        terms={},
    )
