"""The layer plan every exporter shares: a network as a chain of linear maps (the embed
without bias, each hidden layer with bias and ReLU, the readout with bias), each matrix laid
out dense or CSR for export.

A weight matrix that the weights file stores in CSR form is densified when it is small (at most
``dense_limit`` elements, 4 Mi by default = 16 MiB of float32) or not very sparse (see
:func:`layout`), and kept sparse otherwise, so a 31,125 x 31,125 U-AND readout never becomes a
3.9 GB dense array. Matrices the file stores dense stay dense. Kept apart from
:mod:`circuit2mlp.export` so the PyTorch module (:mod:`circuit2mlp.torch_module`) and the
exporters both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuit2mlp.forward import Linear, forward
from circuit2mlp.network import Network

DENSE_LIMIT = 1 << 22  # CSR matrices with at most this many elements are densified ...
DENSE_RATIO = 64  # ... and so are those with at most this many elements per non-zero ...
DENSE_MAX = 1 << 28  # ... up to this many elements (1 GiB of float32)


@dataclass
class LinearSpec:
    """One linear map ``y = x @ matrix.T + bias`` (then ReLU if ``relu``) of the layer plan."""

    name: str  # the npz name of the matrix: "embed", "layer0.weight", ..., "readout.weight"
    matrix: np.ndarray | sp.csr_matrix  # (out, in), float32; CSR only when large
    bias: np.ndarray | None  # (out,) float32, None for the embed
    relu: bool

    @property
    def sparse(self) -> bool:
        """Whether this map is exported as a sparse matrix."""
        return sp.issparse(self.matrix)

    @property
    def shape(self) -> tuple[int, int]:
        """(out_features, in_features)."""
        rows, cols = self.matrix.shape
        return int(rows), int(cols)


def layout(matrix: np.ndarray | sp.spmatrix, dense_limit: int = DENSE_LIMIT):
    """The matrix as exported: dense float32 if it is dense already, small (at most
    ``dense_limit`` elements) or not very sparse (at most DENSE_RATIO elements per non-zero,
    up to DENSE_MAX elements); else float32 CSR with sorted indices and no explicit zeros.
    ``dense_limit`` 0 keeps every CSR matrix sparse.

    Why the ratio: a sparse product in ONNX (Gather/ScatterND) moves every non-zero once per
    sample, which beats a dense MatMul only when the matrix is really sparse; a readout with
    4 % non-zeros runs some 30 times faster dense, for a file a few MB larger.
    """
    if not sp.issparse(matrix):
        return np.ascontiguousarray(matrix, dtype=np.float32)
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    size = csr.shape[0] * csr.shape[1]
    small = size <= dense_limit
    dense_enough = dense_limit > 0 and size <= min(DENSE_MAX, DENSE_RATIO * csr.nnz)
    if small or dense_enough:
        return np.ascontiguousarray(csr.toarray(), dtype=np.float32)
    csr.sort_indices()
    return csr


def plan_layers(network: Network, dense_limit: int = DENSE_LIMIT) -> list[LinearSpec]:
    """The network as a chain of linear maps: embed (no bias, no ReLU), the hidden layers (with
    bias and ReLU), the readout (with bias, no ReLU). Exactly ``Network.forward``."""
    plan = [LinearSpec("embed", layout(network.embed, dense_limit), None, relu=False)]
    for i, (weight, bias) in enumerate(network.layers):
        plan.append(
            LinearSpec(f"layer{i}.weight", layout(weight, dense_limit), _vector(bias), relu=True)
        )
    weight, bias = network.readout
    plan.append(LinearSpec("readout.weight", layout(weight, dense_limit), _vector(bias), False))
    return plan


def _vector(bias: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bias, dtype=np.float32)


def plan_forward(plan: list[LinearSpec], x: np.ndarray) -> np.ndarray:
    """Run a layer plan in numpy (batch, features) through the one forward pass
    (:func:`circuit2mlp.forward.forward`): the reference the exporters are tested against, and
    a check that the plan itself equals ``Network.forward``."""
    chain = [Linear(spec.matrix, spec.bias, spec.relu) for spec in plan]
    return forward(chain, x)
