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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.design import CENTER, MAX_READ, GroupDesign, design_group, neurons_for
from circuit2mlp.codegen.exact import gate_gadget
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


def _dedicated_rows(
    gate: Gate, col: dict[str, int], flips: np.ndarray, flip_out: bool, first_neuron: int
) -> tuple[list[tuple[int, int, float]], list[float], list[tuple[int, float]], float]:
    """The exact gadget of a gate reading stored features: weight entries (neuron, feature,
    value), neuron biases, read-off entries (neuron, coef) and the read-off constant."""
    gadget = gate_gadget(gate)
    entries, biases, readout = [], [], []
    sign = [(-1.0 if flips[col[s]] else 1.0) for s in gate.fanin]
    negated = sum(1 for s in gate.fanin if flips[col[s]])
    for j, (offset, coef) in enumerate(zip(gadget.offsets, gadget.coefs, strict=True)):
        neuron = first_neuron + j
        for s, sg in zip(gate.fanin, sign, strict=True):
            entries.append((neuron, col[s], gadget.direction * sg))
        biases.append(offset + gadget.direction * negated)
        readout.append((neuron, -coef if flip_out else coef))
    const = 1.0 - gadget.const if flip_out else gadget.const
    return entries, biases, readout, const


def computation_block(
    gates: Sequence[Gate],
    level: LevelActivity,
    out_flip: np.ndarray,
    options: SuperposeOptions,
    rng: np.random.Generator,
) -> LayerBlock:
    """One superposed layer computing ``gates`` from the features of ``level``."""
    col = {name: i for i, name in enumerate(level.names)}
    n_in = len(level.names)
    dense = level.dense()
    monomial_ids: list[dict[tuple[int, ...], int]] = [{} for _ in range(MAX_DEGREE + 1)]
    terms: list[tuple[int, int, int, float]] = []  # (gate, degree, monomial id, coef)
    consts = np.zeros(len(gates), dtype=np.float64)
    dedicated: list[int] = []
    for g, gate in enumerate(gates):
        fanin = [col[s] for s in gate.fanin]
        if any(dense[f] for f in fanin):
            dedicated.append(g)
            continue
        poly = gate_polynomial(
            gate.op, tuple(bool(level.flip[f]) for f in fanin), bool(out_flip[g])
        )
        if any(len(mono) > MAX_DEGREE for mono, _ in poly):
            dedicated.append(g)
            continue
        for mono, c in poly:
            if not mono:
                consts[g] += c
                continue
            key = tuple(sorted({fanin[i] for i in mono}))
            ids = monomial_ids[len(key)]
            terms.append((g, len(key), ids.setdefault(key, len(ids)), float(c)))

    groups = [
        _Group(q, np.array(list(monomial_ids[q]), dtype=np.int64).reshape(-1, q))
        for q in range(1, MAX_DEGREE + 1)
        if monomial_ids[q]
    ]
    widths = _group_widths(groups, level, options)
    active_other = _active_other(level)
    blocks_w, blocks_b, readouts, group_stats = [], [], {}, []
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
        readout = sp.diags(scale) @ cover  # (M, D): mean of covering neurons
        shift = np.zeros(len(group.monomials))
        if options.center:
            shift = options.center_fraction * _expected_interference(
                reads, cover, counts, group.monomials, level
            )
        readouts[group.q] = (readout.tocsr(), shift, offset)
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
    d_entries, d_biases, d_readout = [], [], []
    for g in dedicated:
        e, b, r, c = _dedicated_rows(
            gates[g], col, level.flip, bool(out_flip[g]), offset + len(d_biases)
        )
        d_entries += e
        d_biases += b
        d_readout += [(g, n, v) for n, v in r]
        consts[g] += c
    total = offset + len(d_biases)

    weight = sp.vstack(
        [*blocks_w, _coo((len(d_biases), n_in), [(n - offset, f, v) for n, f, v in d_entries])],
        format="csr",
    )
    bias = np.concatenate([*blocks_b, np.asarray(d_biases, dtype=np.float64)])

    # Gate read-offs: sum of coef * monomial read-off, plus constants and centring shifts.
    rows, cols, vals = [], [], []
    for q, (readout, shift, start) in readouts.items():
        sel = [(g, i, c) for g, qq, i, c in terms if qq == q]
        if not sel:
            continue
        gi, mi, ci = (np.array(x) for x in zip(*sel, strict=True))
        coef = sp.csr_matrix((ci, (gi, mi)), shape=(len(gates), readout.shape[0]))
        part = (coef @ readout).tocoo()
        rows.append(part.row)
        cols.append(part.col + start)
        vals.append(part.data)
        consts -= coef @ shift
    for g, n, v in d_readout:
        rows.append(np.array([g]))
        cols.append(np.array([n]))
        vals.append(np.array([v]))
    gate_readout = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0),
            (
                np.concatenate(rows) if rows else np.zeros(0, int),
                np.concatenate(cols) if cols else np.zeros(0, int),
            ),
        ),
        shape=(len(gates), total),
        dtype=DTYPE,
    )
    features = FeatureMap(tuple(g.name for g in gates), gate_readout, consts.astype(DTYPE))
    carries = sum(1 for g in gates if g.op == "BUF")
    stats = {
        "gates": len(gates) - carries,
        "carries": carries,
        "superposed_gates": len(gates) - len(dedicated),
        "exact_gates": len(dedicated),
        "superposed_neurons": superposed_neurons,
        "dedicated_neurons": total - superposed_neurons,
        "predicted_errors": float(sum(s["predicted_errors"] for s in group_stats)),
        "groups": group_stats,
    }
    return LayerBlock(weight.astype(DTYPE), bias.astype(DTYPE), features, stats)


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


def _coo(shape: tuple[int, int], entries: list[tuple[int, int, float]]) -> sp.csr_matrix:
    if not entries:
        return sp.csr_matrix(shape, dtype=np.float64)
    r, c, v = zip(*entries, strict=True)
    return sp.csr_matrix((v, (r, c)), shape=shape, dtype=np.float64)


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
    return [
        fixed[i]
        if i in fixed
        else neurons_for(
            g.q,
            len(g.monomials),
            np.unique(g.monomials).size,
            n_in,
            other,
            TARGET_ERRORS / len(groups),
            limit=max(64, 64 * len(g.monomials)),
        )
        for i, g in enumerate(groups)
    ]


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
