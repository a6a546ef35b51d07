"""Feature-space forward passes on sparse activations, for the automatic width's calibration.

The calibration runs the blocks built so far on a few hundred held-out sparse samples. Its
activations are mostly exact zeros: a level's features are 0/1 wires that are rarely 1 in
their stored polarity, and a superposed neuron fires only when its features meet. Stored as
CSR (signals x samples), a layer costs what its non-zeros cost instead of weights x samples.

The numbers are those of the dense float64 computation ``matrix @ x + bias``, bit for bit:
scipy's sparse product adds, for each output, the same terms in the same order (the matrix
row's order) as its dense product does, leaving out only terms that are exactly zero, and a
missing entry is the dense result's 0 (so ``0 + bias``). Rows with a non-zero bias (with a
ReLU: a positive one) are non-zero on every sample and handled as dense rows. Inputs that
are not sparse after all (superposed read-offs leave small values on many features) go through
the dense product, which is the reference computation itself.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Inputs with more non-zeros than this share go through the dense product.
DENSE_FRACTION = 0.3


def affine(
    matrix: sp.spmatrix | np.ndarray, bias: np.ndarray, x: sp.csr_matrix, relu: bool = False
) -> sp.csr_matrix:
    """``matrix @ x + bias[:, None]`` (then ``max(., 0)`` with ``relu``) in float64, as a CSR
    matrix of its non-zeros; the same values the dense computation gives."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    bias = np.asarray(bias).astype(np.float64)
    x = sp.csr_matrix(x, dtype=np.float64)
    if x.nnz > DENSE_FRACTION * x.shape[0] * x.shape[1]:
        # Mostly non-zero (superposed read-offs leave small values everywhere): the dense
        # product streams, the sparse one would hash every entry.
        y = matrix @ x.toarray() + bias[:, None]
        if relu:
            np.maximum(y, 0, out=y)
        return sp.csr_matrix(y)
    out = sp.csr_matrix(matrix @ x)
    dense_rows = np.flatnonzero(bias > 0 if relu else bias != 0)
    block = None
    if dense_rows.size:
        block = out[dense_rows].toarray() + bias[dense_rows][:, None]
        if relu:
            np.maximum(block, 0, out=block)
    if bias.any():
        out.data += np.repeat(bias, np.diff(out.indptr))
    if relu:
        np.maximum(out.data, 0, out=out.data)
    if dense_rows.size:  # their stored entries give way to the full rows
        out.data[np.repeat(np.isin(np.arange(out.shape[0]), dense_rows), np.diff(out.indptr))] = 0
    out.eliminate_zeros()
    if block is not None:
        r, c = np.nonzero(block)
        full = sp.csr_matrix((block[r, c], (dense_rows[r], c)), shape=out.shape)
        out = sp.csr_matrix(out + full)  # disjoint entries: the sum is exact
    return out


def positives(x: sp.csr_matrix, threshold: float = 0.5) -> np.ndarray:
    """Sorted flat positions (row * columns + column) of the entries above ``threshold``."""
    row = np.repeat(np.arange(x.shape[0], dtype=np.int64), np.diff(x.indptr))
    above = x.data > threshold
    return np.sort(row[above] * x.shape[1] + x.indices[above])


def within(x: sp.csr_matrix, ones: np.ndarray, slack: float) -> bool:
    """Whether ``x`` is within ``slack`` of 1 at the sorted flat positions ``ones`` and within
    ``slack`` of 0 everywhere else (``slack`` < 1; missing entries are 0)."""
    x = sp.csr_matrix(x)
    x.sum_duplicates()
    row = np.repeat(np.arange(x.shape[0], dtype=np.int64), np.diff(x.indptr))
    flat = row * x.shape[1] + x.indices
    at = np.searchsorted(ones, flat)
    is_one = (at < ones.size) & (ones[np.minimum(at, max(ones.size - 1, 0))] == flat)
    if ones.size == 0:
        is_one = np.zeros(flat.size, dtype=bool)
    if np.any(np.abs(x.data[~is_one]) > slack):
        return False
    hit = np.abs(x.data[is_one] - 1.0) <= slack
    return bool(hit.all() and hit.size == ones.size)
