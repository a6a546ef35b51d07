"""The forward pass: a chain of linear maps (each with an optional bias and ReLU) run on a
batch, with a tap after every map, and the feature read-offs taken at a level.

Everything that runs a network or a network under construction goes through :func:`run`:

- a compiled :class:`~circuit2mlp.network.Network` is the chain *embed, layer 1 (ReLU), ...,
  layer L (ReLU), readout* (:meth:`Network.chain`); ``verify``, ``trace``, ``noise`` and the
  exporters' numpy reference (:func:`circuit2mlp.layer_plan.plan_forward`) all run it;
- the held-out calibration of an automatic width (codegen/calibration.py) runs the layer
  blocks built so far in feature space: the chain *block weight (ReLU), block read-off, next
  block weight (ReLU), ...* (:func:`block_chain`).

Two kernels do the arithmetic, because the two callers need different memory shapes, not
different maths:

- :class:`ColumnMajor`: activations (d, batch) float32, so sparse weights multiply directly
  (threaded row blocks for big CSR matrices, sparse activations when nearly all are 0);
- :class:`SampleMajor`: a value is a sparse (batch, d) float64 part plus one bias per row
  (``value = part + bias``), so a read-off bias never densifies a level: the next map folds
  ``W @ bias`` into its own bias, and a read-off from a ReLU level is expanded entry by entry
  (:func:`spread`), never as a samples x wires product of two sparse matrices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

DTYPE = np.float32
Matrix = np.ndarray | sp.csr_matrix

# sparse products with more stored weights than this run as row blocks on all cores
SPLIT_NNZ = 1 << 22
#: Activations with at most this share of non-zeros multiply as a sparse matrix: networks
#: whose inactive neurons sit at exactly 0 (``--method deep``) then cost what their active
#: neurons cost. The float32 sums are the same terms in the same order, zeros left out.
SPARSE_ACTIVATIONS = 0.02


@dataclass
class Linear:
    """One map of a chain: ``out = matrix @ value + bias``, then ReLU if ``relu``."""

    matrix: Matrix  # (out, in)
    bias: np.ndarray | None  # (out,), None: no bias
    relu: bool


class Kernel(Protocol):
    """How a chain's values are held and one map applied."""

    def apply(self, step: Linear, value: Any) -> Any: ...


def run(
    chain: Sequence[Linear],
    value: Any,
    kernel: Kernel,
    tap: Callable[[int, Any], None] | None = None,
) -> Any:
    """Apply the maps of ``chain`` in order to ``value`` (in ``kernel``'s form); ``tap(i,
    value)`` sees the value after map i (not after the last). Returns the last value."""
    last = len(chain) - 1
    for i, step in enumerate(chain):
        value = kernel.apply(step, value)
        if tap is not None and i < last:
            tap(i, value)
    return value


# --------------------------------------------------------------------------- column-major


class ColumnMajor:
    """Values are float32 (d, batch) arrays."""

    def apply(self, step: Linear, h: np.ndarray) -> np.ndarray:
        h = matmul(step.matrix, h)
        if step.bias is not None:
            h += step.bias[:, None]
        if step.relu:
            np.maximum(h, 0, out=h)
        return h


COLUMN_MAJOR = ColumnMajor()


def forward(
    chain: Sequence[Linear],
    x: np.ndarray,
    tap: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Run ``chain`` on a batch x (batch, m) column-major; returns (batch, n) float32."""
    h = np.asarray(x, dtype=DTYPE).T
    return run(chain, h, COLUMN_MAJOR, tap).T


def read_off(fmap: Any, h: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
    """Wire values ``readout @ h + bias`` (F, batch) of a level's feature map (all wires, or
    ``rows``) from its column-major activations."""
    if rows is None:
        return np.asarray(fmap.readout @ h) + fmap.bias[:, None]
    return np.asarray(fmap.readout[rows] @ h) + fmap.bias[rows][:, None]


def matmul(matrix: Matrix, h: np.ndarray) -> np.ndarray:
    """``matrix @ h`` as float32, for column-major activations h (d, batch)."""
    sparse = sp.issparse(matrix) and h.ndim == 2 and h.size >= 1 << 20
    if sparse and np.count_nonzero(h) <= SPARSE_ACTIVATIONS * h.size:
        return np.asarray((matrix @ sp.csr_matrix(h)).toarray(), dtype=DTYPE)
    threads = min(os.cpu_count() or 1, 8)
    if threads > 1 and sp.issparse(matrix) and matrix.format == "csr" and matrix.nnz > SPLIT_NNZ:
        return matmul_rows(matrix, h, threads)
    out = matrix @ h
    return np.asarray(out, dtype=DTYPE)


def matmul_rows(matrix: sp.csr_matrix, h: np.ndarray, parts: int) -> np.ndarray:
    """``matrix @ h`` as ``parts`` blocks of rows (equal shares of the stored weights) in
    threads: scipy's kernel releases the GIL, and each row is summed exactly as in one
    product, so the result is identical. Blocks are views of the CSR arrays, not copies."""
    indptr, rows = matrix.indptr, matrix.shape[0]
    cuts = np.searchsorted(indptr, np.linspace(0, matrix.nnz, parts + 1)[1:-1])
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < rows}), rows]
    out = np.empty((rows, *h.shape[1:]), dtype=DTYPE)

    def block(start: int, stop: int) -> None:
        lo, hi = indptr[start], indptr[stop]
        part = sp.csr_matrix(
            (matrix.data[lo:hi], matrix.indices[lo:hi], indptr[start : stop + 1] - lo),
            shape=(stop - start, matrix.shape[1]),
        )
        out[start:stop] = part @ h

    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        list(pool.map(block, bounds[:-1], bounds[1:]))
    return out


# --------------------------------------------------------------------------- sample-major


def block_chain(blocks: Sequence[Any]) -> list[Linear]:
    """Layer blocks (codegen.blocks.LayerBlock) as a feature-space chain: each block's
    neurons read the previous level's wires (ReLU), then its read-off gives its level's
    wires."""
    chain: list[Linear] = []
    for block in blocks:
        chain.append(Linear(block.weight, block.bias, relu=True))
        chain.append(Linear(block.features.readout, block.features.bias, relu=False))
    return chain


class Transposes:
    """Sample-major copies (``matrix.T`` as float64 CSR) of a chain's matrices, made once
    each and kept while their matrix lives."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, sp.csr_matrix]] = {}

    def of(self, matrix: Any) -> sp.csr_matrix:
        hit = self._cache.get(id(matrix))
        if hit is None or hit[0] is not matrix:
            hit = (matrix, sp.csr_matrix(matrix, dtype=np.float64).T.tocsr())
            self._cache[id(matrix)] = hit
        return hit[1]

    def forget(self) -> None:
        self._cache.clear()

    def keep_only(self, matrices: Sequence[Any]) -> None:
        """Drop the copies of matrices other than these."""
        wanted = {id(m) for m in matrices}
        for key in [k for k in self._cache if k not in wanted]:
            del self._cache[key]


class SampleMajor:
    """Values are ``(part, bias)``: part a (batch, d) float64 matrix (sparse after a ReLU,
    dense after a read-off), bias (d,) float64 or None; the value is ``part + bias``.
    ``entries`` is the most products one read-off expanded (for chunk sizing)."""

    def __init__(self, transposes: Transposes | None = None) -> None:
        self.transposes = transposes or Transposes()
        self.entries = 0

    def apply(self, step: Linear, value: tuple[Any, np.ndarray | None]):
        part, bias = value
        if not sp.issparse(part):
            part = sp.csr_matrix(part)
        matrix_t = self.transposes.of(step.matrix)
        if step.relu:
            return self._relu(step, matrix_t, part, bias), None
        out = spread(part, matrix_t)
        self.entries = max(self.entries, expanded_entries(part, matrix_t))
        out_bias = np.zeros(out.shape[1]) if step.bias is None else step.bias
        out_bias = np.asarray(out_bias, dtype=np.float64)
        if bias is not None:
            out_bias = out_bias + np.asarray(step.matrix @ bias, dtype=np.float64).ravel()
        return out, out_bias

    @staticmethod
    def _relu(step: Linear, weight_t: sp.csr_matrix, part, bias) -> sp.csr_matrix:
        """ReLU neurons of ``weight @ (part + bias) + step.bias``, sparse: a neuron whose
        folded bias is positive is on without any input, so its column is computed dense."""
        folded = np.zeros(step.matrix.shape[0]) if bias is None else step.matrix @ bias
        neuron_bias = np.asarray(folded, dtype=np.float64).ravel()
        if step.bias is not None:
            neuron_bias = neuron_bias + step.bias
        pre = sp.csr_matrix(part @ weight_t)
        pre.data += neuron_bias[pre.indices]
        always = np.flatnonzero(neuron_bias > 0)  # on without any input: dense columns
        if always.size:
            pre.data[np.isin(pre.indices, always)] = 0.0
        np.maximum(pre.data, 0.0, out=pre.data)
        pre.eliminate_zeros()
        if always.size:
            cols = sp.csr_matrix(step.matrix[always], dtype=np.float64).T.tocsc()
            dense = np.asarray((part @ cols).toarray()) + neuron_bias[always]
            np.maximum(dense, 0.0, out=dense)
            r, c = np.nonzero(dense)
            pre = sp.csr_matrix(
                pre + sp.csr_matrix((dense[r, c], (r, always[c])), shape=pre.shape)
            )
        return pre


def spread(h: sp.csr_matrix, matrix_t: sp.csr_matrix) -> np.ndarray:
    """Dense (samples, columns) ``h @ matrix_t`` for a chunk of samples: every stored entry
    of h is expanded into its row of ``matrix_t`` and the products are summed by
    ``np.bincount``. Far quicker than a sparse-sparse product when each of h's entries meets
    thousands of columns (a U-AND neuron covers thousands of monomials): no hashing, only
    gathers and one histogram."""
    n, cols = h.shape[0], matrix_t.shape[1]
    h = sp.csr_matrix(h)
    if h.nnz == 0:
        return np.zeros((n, cols))
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(h.indptr))
    first = matrix_t.indptr[h.indices].astype(np.int64)
    lengths = matrix_t.indptr[h.indices + 1].astype(np.int64) - first
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    at = np.repeat(first - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
    keys = np.repeat(rows * cols, lengths) + matrix_t.indices[at]
    weights = matrix_t.data[at] * np.repeat(h.data, lengths)
    return np.bincount(keys, weights=weights, minlength=n * cols).reshape(n, cols)


def expanded_entries(h: sp.csr_matrix, matrix_t: sp.csr_matrix) -> int:
    """How many products :func:`spread` forms for this chunk."""
    h = sp.csr_matrix(h)
    return int((matrix_t.indptr[h.indices + 1] - matrix_t.indptr[h.indices]).sum())
