"""Superposed computation layers: a circuit layer's gates as ANDs computed on shared neurons.

Each gate is rewritten as a polynomial over its stored input features (polynomial.py); the
distinct monomials of the layer, grouped by degree q, are computed by *groups* of neurons
(wiring.py): a neuron reads a set of features with weight 1 and bias ``-(q-1) - margin``, and
monomial g is read off the mean of its covering neurons. A gate's feature is then the linear
combination of its monomials' read-offs plus its constant.

Gates that read a *dense* feature (often 1 even in its sparse polarity) or whose polynomial is
too big get dedicated neurons: the exact gadget, reading the stored features. The layer's
report says how many gates went each way.

Two flavours (``method``):

* ``paper`` -- Hänni et al. as published: i.i.d. wiring (Bernoulli(p) features per neuron for
  the universal AND, k uniformly random neurons per gate for the targeted one), bias -(q-1),
  read-off = plain mean of the covering neurons.
* ``superposed`` -- ours: balanced wiring (equal loads, every monomial covered), a neuron margin
  that cuts sub-threshold noise, and read-offs centred by their expected interference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.design import CENTER, MAX_READ, GroupDesign, design_group, neurons_for
from circuit2mlp.codegen.exact import (
    GateArrays,
    gadget_parts,
    gate_arrays,
    op_gadget,
    op_gadget_neurons,
)
from circuit2mlp.codegen.polynomial import gate_polynomial
from circuit2mlp.codegen.wiring import Wiring, dedicated_wiring, feature_centric, gate_centric
from circuit2mlp.ir import Gate

#: Gates whose polynomial has a monomial of higher degree get dedicated neurons.
MAX_DEGREE = 4
#: Predicted wrong monomials per sample that an automatic width aims at, per layer.
TARGET_ERRORS = 1e-3


@dataclass(frozen=True)
class SuperposeOptions:
    """Knobs of a superposed layer; ``paper`` turns every improvement off."""

    method: str = "superposed"
    width: int | None = None  # neurons of the superposed part; None = from the error model
    margin: float = 0.2  # neuron bias margin (superposed only)
    center: bool = True  # subtract expected interference (superposed only)
    balanced: bool = True  # balanced wiring and covers topped up (superposed only)
    dedicated_linear: bool = True  # degree-1 terms on their own neurons (superposed only)
    fanin_limits: tuple[tuple[str, int], ...] = ()  # (strategy, most features per neuron)
    target_errors: float = TARGET_ERRORS  # what the error model's width aims at, per layer

    @property
    def center_fraction(self) -> float:
        """Share of the busiest-sample interference subtracted from read-offs."""
        return CENTER if self.center else 0.0

    @classmethod
    def for_method(cls, method: str, width: int | None) -> SuperposeOptions:
        """Defaults of a method: ``paper`` is the published construction, no improvements."""
        if method == "paper":
            return cls(
                method, width, margin=0.0, center=False, balanced=False, dedicated_linear=False
            )
        return cls(method, width)


@dataclass
class _Group:
    q: int
    monomials: np.ndarray  # (M, q) feature indices
    wiring: Wiring | None = None


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
    prefer_gadgets: bool = False,
    superpose_dense: bool = False,
) -> LayerTerms:
    """Rewrite every gate as its polynomial over stored features; gates reading a dense
    feature (all of them with ``all_dedicated``) or with a monomial of degree above
    :data:`MAX_DEGREE` are marked dedicated, and with ``prefer_gadgets`` so is every gate
    whose exact gadget is no dearer than its degree-1 terms (:func:`_prefer_gadgets`); with
    ``superpose_dense`` (the paper's construction) dense features are superposed too. Gates
    sharing (op, effective input polarities, output polarity) share a polynomial, so the work
    is per such class, not per gate. A literal cube is its symmetric form (AND/NAND) with the
    negated inputs' polarities flipped."""
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
    if prefer_gadgets:
        _prefer_gadgets(terms)
    return terms


def _prefer_gadgets(terms: LayerTerms) -> None:
    """Move to the dedicated gates every gate whose exact gadget costs no more neurons than
    its share of the dedicated degree-1 neurons it would need superposed.

    A degree-1 term (OR = a + b - ab, AND(a, NOT b) = a - ab) fires whenever its one input
    does, so it cannot share neurons without leaking into other read-offs; superposed it costs
    a dedicated neuron, split among the gates of the layer that read the same feature linearly.
    When a gate's gadget is no dearer (one neuron for AND/OR of literals, two for XOR), the
    gadget is also *exact* and needs no AND neurons: only coincidence gates (no degree-1 term)
    stay superposed. Monomials no gate needs any more are dropped; the rest keep their order.
    """
    if 1 not in terms.terms:
        return
    g1, m1, _ = terms.terms[1]
    feature = terms.monomials[1][m1, 0]
    uses = np.bincount(feature)
    share = np.bincount(g1, weights=1.0 / uses[feature], minlength=terms.n_gates)
    cost = np.zeros(terms.n_gates)
    for op, a, gates in terms.op_classes():
        cost[gates] = op_gadget(op, a).neurons
    move = (share > 0) & (cost <= share + 1e-9)
    if not move.any():
        return
    terms.consts[move] = 0.0
    terms.dedicated = np.union1d(terms.dedicated, np.flatnonzero(move))
    for q in list(terms.terms):
        gate, mono, coef = terms.terms[q]
        keep = ~move[gate]
        gate, mono, coef = gate[keep], mono[keep], coef[keep]
        if gate.size == 0:
            del terms.terms[q], terms.monomials[q]
            continue
        used, first, inverse = np.unique(mono, return_index=True, return_inverse=True)
        rank = np.empty(used.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(used.size)
        terms.monomials[q] = terms.monomials[q][used[np.argsort(first, kind="stable")]]
        terms.terms[q] = (gate, rank[inverse.ravel()], coef)


def exact_neurons_of(
    terms: GateArrays, gates: np.ndarray | None = None, clean: np.ndarray | None = None
) -> int:
    """Neurons the exact gadgets of these gates (default: all) take, clean ones where
    ``clean`` (per gate) says."""
    gates = np.arange(terms.n_gates) if gates is None else gates
    cleans = np.zeros(gates.size, np.int64) if clean is None else clean[gates].astype(np.int64)
    triples, counts = np.unique(
        np.stack([terms.op_index[gates], terms.arity[gates], cleans]), axis=1, return_counts=True
    )
    return sum(
        len(op_gadget_neurons(terms.ops[o], a, bool(c)).biases) * int(n)
        for (o, a, c), n in zip(triples.T.tolist(), counts.tolist(), strict=True)
    )


def computation_block(
    gates: Sequence[Gate],
    level: LevelActivity,
    out_flip: np.ndarray,
    options: SuperposeOptions,
    rng: np.random.Generator,
    terms: LayerTerms | None = None,
    clean: np.ndarray | None = None,
) -> LayerBlock:
    """One superposed layer computing ``gates`` from the features of ``level`` (``terms``:
    :func:`layer_terms` of the same, when already worked out). Dedicated gates flagged in
    ``clean`` (per gate) get clean gadgets, which remove their inputs' noise."""
    if terms is None:
        terms = layer_terms(gates, level, out_flip)
    n_in = len(level.names)
    consts = terms.consts.copy()
    dedicated = terms.dedicated
    groups = [_Group(q, terms.monomials[q]) for q in sorted(terms.monomials)]
    widths = _group_widths(groups, level, options)
    active_other = _active_other(level)
    blocks_w, blocks_b, readouts, group_stats = [], [], {}, []
    shared_gates = np.zeros(len(gates), dtype=bool)  # a monomial on shared neurons
    offset = 0
    margin = options.margin
    for group, width in zip(groups, widths, strict=True):
        if group.q == 1 and options.dedicated_linear:
            design = GroupDesign("dedicated", 1, 0.0, 0.0, 0.0)
            group.wiring = dedicated_wiring(group.monomials, n_in)
        else:
            design = design_group(
                group.q,
                len(group.monomials),
                np.unique(group.monomials).size,
                n_in,
                width,
                active_other,
                center=options.center_fraction,
                balanced=options.balanced,
                fanin_limits=dict(options.fanin_limits),
            )
            build = feature_centric if design.strategy == "feature" else gate_centric
            group.wiring = build(group.monomials, n_in, width, design.k, options.balanced, rng)
        reads, cover = group.wiring.reads, group.wiring.cover
        if options.balanced:
            cover = limit_cover(cover, MAX_READ, rng)
        blocks_w.append(reads)
        blocks_b.append(np.full(width, -(group.q - 1) - margin, dtype=np.float64))
        counts = np.diff(cover.indptr).astype(np.float64)
        scale = np.divide(1.0, counts * (1 - margin), out=np.zeros_like(counts), where=counts > 0)
        shift = np.zeros(len(group.monomials))
        if options.center:
            shift = options.center_fraction * _expected_interference(
                reads, cover, counts, group.monomials, level
            )
        # Monomial g is read off as scale[g] * (its covering neurons): the mean.
        readouts[group.q] = (cover, scale, shift, offset)
        if design.strategy != "dedicated":
            shared_gates[terms.terms[group.q][0]] = True
        group.wiring = None
        group_stats.append(
            {
                "degree": group.q,
                "monomials": len(group.monomials),
                "neurons": int(width),
                "strategy": design.strategy,
                "k": design.k,
                "mean_cover": float(counts.mean()) if counts.size else 0.0,
                "uncovered": int((counts == 0).sum()),
                "mean_fanin": float(np.diff(reads.indptr).mean()) if width else 0.0,
                "predicted_errors": design.expected_errors,
            }
        )
        offset += width
    superposed_neurons = offset

    # Dedicated gadgets after the superposed neurons.
    d_weight, d_biases, d_readout, d_consts = gadget_parts(
        terms,
        terms.dedicated,
        np.asarray(level.flip, dtype=bool),
        np.asarray(out_flip, dtype=bool),
        offset,
        clean,
    )
    consts[dedicated] += d_consts
    total = offset + d_biases.size

    weight = sp.vstack([*blocks_w, d_weight], format="csr")
    bias = np.concatenate([*blocks_b, d_biases])

    # Gate read-offs: sum of coef * monomial read-off, plus constants and centring shifts.
    parts = []
    for q, (cover, scale, shift, start) in readouts.items():
        gi, mi, ci = terms.terms[q]
        coef = sp.csr_matrix((ci, (gi, mi)), shape=(len(gates), cover.shape[0]))
        parts.append((start, _gate_readout_part(coef, cover, scale)))
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
    gate_readout = _side_by_side(parts, len(gates), total)
    features = FeatureMap(tuple(g.name for g in gates), gate_readout, consts.astype(DTYPE))
    stats = {
        **emission_counts(terms, shared_gates, clean),
        "superposed_neurons": superposed_neurons,
        "dedicated_neurons": total - superposed_neurons,
        "predicted_errors": float(sum(s["predicted_errors"] for s in group_stats)),
        "groups": group_stats,
    }
    return LayerBlock(weight.astype(DTYPE), bias.astype(DTYPE), features, stats)


def emission_counts(
    arrays: GateArrays, shared: np.ndarray, clean: np.ndarray | None
) -> dict[str, int]:
    """How a layer's gates were actually emitted, for the compile report: ``carries``
    (identity copies of wires skipping levels, however emitted), and of the other gates
    ``shared_gates`` (some monomial read off shared neurons), ``clean_gates`` (a clean gadget)
    and ``dedicated_gates`` (everything else: an exact gadget or dedicated degree-1 neurons
    only). Every gate falls in exactly one."""
    carry = np.zeros(arrays.n_gates, dtype=bool)
    if "BUF" in arrays.ops:
        carry = arrays.op_index == arrays.ops.index("BUF")
    shared = np.asarray(shared, dtype=bool) & ~carry
    cleaned = np.zeros(arrays.n_gates, dtype=bool)
    if clean is not None:
        cleaned = np.asarray(clean, dtype=bool) & ~shared & ~carry
    n_carries = int(carry.sum())
    return {
        "gates": arrays.n_gates - n_carries,
        "carries": n_carries,
        "shared_gates": int(shared.sum()),
        "dedicated_gates": int(arrays.n_gates - n_carries - shared.sum() - cleaned.sum()),
        "clean_gates": int(cleaned.sum()),
    }


def _gate_readout_part(
    coef: sp.csr_matrix, cover: sp.csr_matrix, scale: np.ndarray
) -> sp.csr_matrix:
    """(G, D) float32 ``coef @ diag(scale) @ cover``: each gate's combination of its monomials'
    read-offs. A gate with one monomial of this degree (the usual case) just copies that
    monomial's cover row with value ``coef * scale``, the same number the product gives,
    without building the float64 product of a 10^7-entry matrix."""
    per_gate = np.diff(coef.indptr)
    if per_gate.max(initial=0) > 1:
        readout = (sp.diags(scale) @ cover).tocsr()
        return sp.csr_matrix(coef @ readout, dtype=DTYPE)
    gates = np.flatnonzero(per_gate)
    mono = coef.indices[coef.indptr[gates]]
    value = coef.data[coef.indptr[gates]] * scale[mono]
    rows = cover[mono]
    lengths = np.diff(rows.indptr)
    indptr = np.zeros(coef.shape[0] + 1, dtype=np.int64)
    indptr[gates + 1] = lengths
    np.cumsum(indptr, out=indptr)
    data = np.repeat(value.astype(DTYPE), lengths)
    keep = data != 0  # the product stores no zeros
    part = sp.csr_matrix((data, rows.indices, indptr), shape=(coef.shape[0], cover.shape[1]))
    if not keep.all():
        part.eliminate_zeros()
    return part


def _side_by_side(parts: list[tuple[int, sp.csr_matrix]], rows: int, cols: int) -> sp.csr_matrix:
    """Canonical float32 CSR (rows, cols) of blocks placed at column offsets (ascending,
    abutting)."""
    blocks = [m for _, m in parts if m.shape[1]]
    if not blocks:
        return sp.csr_matrix((rows, cols), dtype=DTYPE)
    out = blocks[0] if len(blocks) == 1 else sp.hstack(blocks, format="csr")
    out = sp.csr_matrix(out, dtype=DTYPE)
    assert out.shape == (rows, cols)
    out.sum_duplicates()
    return out


def limit_cover(cover: sp.csr_matrix, most: int, rng: np.random.Generator) -> sp.csr_matrix:
    """Keep at most ``most`` random covering neurons per monomial: beyond a few dozen, more
    neurons barely reduce the read-off's variance but grow the read-off matrix.

    Each entry gets the key ``row + U(0, 1)`` and a row keeps its ``most`` smallest keys (ties
    by position, as a stable sort of all keys would): rows are partitioned one length at a
    time, never sorted as a whole."""
    counts = np.diff(cover.indptr)
    if counts.size == 0 or counts.max() <= most:
        return cover
    noise = rng.random(cover.nnz)
    keep = np.ones(cover.nnz, dtype=bool)
    over = np.flatnonzero(counts > most)
    for length in np.unique(counts[over]):
        rows = over[counts[over] == length]
        step = max(1, (1 << 22) // int(length))
        for start in range(0, rows.size, step):
            part = rows[start : start + step]
            pos = cover.indptr[part][:, None] + np.arange(length)
            keys = noise[pos] + part[:, None].astype(np.float64)
            cut = np.partition(keys, most - 1, axis=1)[:, most - 1 : most]  # most-th smallest
            below = keys < cut
            tied = keys == cut  # ties (keys are rounded) go by position, as a stable sort's
            room = most - below.sum(axis=1, keepdims=True)
            keep[pos[~(below | (tied & (np.cumsum(tied, axis=1) <= room)))]] = False
    indptr = np.zeros(counts.size + 1, dtype=cover.indptr.dtype)
    np.cumsum(np.minimum(counts, most), out=indptr[1:])
    limited = sp.csr_matrix(
        (cover.data[keep], cover.indices[keep], indptr), shape=cover.shape, dtype=cover.dtype
    )
    limited.sum_duplicates()  # canonical: columns in order
    return limited


def _active_other(level: LevelActivity) -> float:
    """Active features a monomial's neurons may meet besides its own, in a busy sample (the
    99th percentile): errors concentrate in the busiest samples."""
    return max(0.5, level.active_p99 - 1)


def _group_widths(
    groups: list[_Group], level: LevelActivity, options: SuperposeOptions
) -> list[int]:
    """Neurons per group: ``options.width`` shared in proportion to monomial counts, or each
    group's smallest width meeting :data:`TARGET_ERRORS` under the error model."""
    if not groups:
        return []
    fixed = {
        i: len(g.monomials) for i, g in enumerate(groups) if g.q == 1 and options.dedicated_linear
    }
    shared = [i for i in range(len(groups)) if i not in fixed]
    if options.width is not None:
        widths = dict(fixed)
        if shared:
            sizes = np.array([len(groups[i].monomials) for i in shared], dtype=np.float64)
            share = np.maximum(1, np.floor(options.width * sizes / sizes.sum())).astype(int)
            share[np.argmax(sizes)] += max(0, options.width - int(share.sum()))
            widths.update(zip(shared, share.tolist(), strict=True))
        return [widths[i] for i in range(len(groups))]
    n_in = len(level.names)
    other = _active_other(level)
    if options.method == "paper":
        return [
            paper_width(g.q, len(g.monomials), np.unique(g.monomials).size, n_in, other + 1)
            for g in groups
        ]
    return [
        fixed[i]
        if i in fixed
        else neurons_for(
            g.q,
            len(g.monomials),
            np.unique(g.monomials).size,
            n_in,
            other,
            options.target_errors / len(groups),
            limit=max(64, 64 * len(g.monomials)),
        )
        for i, g in enumerate(groups)
    ]


#: The paper's read-off error allowance: a read-off may stray this far before its margin to
#: the 1/2 threshold is in danger.
PAPER_EPSILON = 0.25


def paper_width(q: int, n_monomials: int, n_used: int, n_level: int, active: float) -> int:
    """Neurons for one AND group by the published construction's own rule (docs/theory.md
    section 4), not by our error model: the smaller of

    * universal AND: features join neurons with p = eps / s, so a one-short monomial's
      covering neurons meet another active feature with chance about (s - 1) p < eps; and
      d = ln(F) / (eps p)^2 neurons, so every cover (d p^2 = ln(F) / eps^2 neurons) is
      concentrated within eps of its mean (Chernoff);
    * targeted AND: k = ln(M) / eps^2 neurons per monomial, and enough neurons that one reads
      at most eps * F / a features (fewer than eps active ones in a busy sample, a of the F
      being on): d = q k M a / (eps F).

    eps = :data:`PAPER_EPSILON`, s = ``active`` (active features in a busy sample)."""
    eps = PAPER_EPSILON
    s = max(active, 2.0)
    p = eps / s
    universal = math.log(max(n_used, 2)) / (eps * p) ** 2 if q >= 2 else math.inf
    k = math.log(max(n_monomials, 2)) / eps**2
    targeted = q * k * n_monomials * active / (eps * max(n_level, 1))
    return max(2, math.ceil(min(universal, max(targeted, k))))


def _expected_interference(
    reads: sp.csr_matrix,
    cover: sp.csr_matrix,
    counts: np.ndarray,
    monomials: np.ndarray,
    level: LevelActivity,
) -> np.ndarray:
    """Expected read-off of each monomial when it is one short: the mean, over its covering
    neurons, of how many *other* features of the neuron are on (each adds one full unit)."""
    other = _active_other(level)
    freq = level.frequency.astype(np.float64)
    total = max(float(freq.sum()), 1e-12)
    per_active = freq / total  # where the level's active features tend to be
    mass = reads @ per_active  # (D,) chance an active feature is read by neuron n
    own = per_active[monomials].sum(axis=1)
    mean_mass = np.divide(cover @ mass, counts, out=np.zeros_like(counts), where=counts > 0)
    return other * np.maximum(mean_mass - own, 0.0)
