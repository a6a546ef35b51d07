"""Read-offs of shared neurons: which covering neurons a monomial is read from, with what
scale and centring shift, and how the gates' read-off rows are assembled from them.

A monomial is read off as the mean of (at most :data:`~circuit2mlp.codegen.design.MAX_READ`
randomly kept, :func:`limit_cover`) neurons that cover it, scaled by ``1 / (1 - margin)`` and,
when the plan centres, shifted down by a share of its expected interference
(:func:`expected_interference`). A gate's read-off row is its polynomial's combination of its
monomials' read-offs (:func:`gate_readout_part`); the layer's rows are blocks placed side by
side (:func:`side_by_side`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE
from circuit2mlp.codegen.design import active_other


def gate_readout_part(
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


def side_by_side(parts: list[tuple[int, sp.csr_matrix]], rows: int, cols: int) -> sp.csr_matrix:
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


def expected_interference(
    reads: sp.csr_matrix,
    cover: sp.csr_matrix,
    counts: np.ndarray,
    monomials: np.ndarray,
    level: LevelActivity,
) -> np.ndarray:
    """Expected read-off of each monomial when it is one short: the mean, over its covering
    neurons, of how many *other* features of the neuron are on (each adds one full unit)."""
    other = active_other(level)
    freq = level.frequency.astype(np.float64)
    total = max(float(freq.sum()), 1e-12)
    per_active = freq / total  # where the level's active features tend to be
    mass = reads @ per_active  # (D,) chance an active feature is read by neuron n
    own = per_active[monomials].sum(axis=1)
    mean_mass = np.divide(cover @ mass, counts, out=np.zeros_like(counts), where=counts > 0)
    return other * np.maximum(mean_mass - own, 0.0)
