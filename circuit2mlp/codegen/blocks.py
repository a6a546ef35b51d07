"""Layer blocks: the codegen IR between a layered circuit and the final weight matrices.

A :class:`LayerBlock` describes one ReLU layer *in terms of features* rather than neurons of
the previous layer: its neurons read the previous level's features (``weight``, ``bias``) and
its own features are read off its neurons linearly (``readout``, ``readout_bias``). Every
construction (exact gadgets, superposed U-AND, error correction) emits blocks; one function,
:func:`assemble`, composes them into weights, so the algebra ``W_{l+1} = Ŵ_{l+1} R_l`` is written
down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

DTYPE = np.float32


@dataclass
class FeatureMap:
    """How the features of one level are read from that level's activations h:
    ``feature = readout @ h + bias``."""

    names: tuple[str, ...]
    readout: sp.csr_matrix  # (F, d)
    bias: np.ndarray  # (F,)

    def index(self) -> dict[str, int]:
        """Row of each feature name."""
        return {n: i for i, n in enumerate(self.names)}


@dataclass
class LayerBlock:
    """One ReLU layer over features: ``h' = relu(weight @ f + bias)`` where f are the previous
    level's features, and ``features' = readout @ h' + readout_bias``."""

    weight: sp.csr_matrix  # (neurons, F_in) on the previous level's features
    bias: np.ndarray  # (neurons,)
    features: FeatureMap  # the new level's features, read from this layer's neurons
    stats: dict = field(default_factory=dict)  # per-layer figures for the compile report

    @property
    def neurons(self) -> int:
        """Width of this layer."""
        return int(self.weight.shape[0])


@dataclass
class Assembled:
    """Neuron-level weights: embed, per-layer (weight, bias), readout, features per level."""

    embed: np.ndarray | sp.csr_matrix
    layers: list[tuple[np.ndarray | sp.csr_matrix, np.ndarray]]
    readout: tuple[np.ndarray | sp.csr_matrix, np.ndarray]
    features: list[FeatureMap]


def compact(matrix: sp.spmatrix, dense_limit: int = 1 << 24) -> np.ndarray | sp.csr_matrix:
    """Store a matrix dense when it is small or mostly non-zero, else as float32 CSR."""
    matrix = sp.csr_matrix(matrix, dtype=DTYPE)
    rows, cols = matrix.shape
    if rows * cols <= dense_limit and (matrix.nnz * 3 >= rows * cols or rows * cols <= 4096):
        return matrix.toarray()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def assemble(
    input_features: FeatureMap,
    embed: np.ndarray | sp.csr_matrix,
    blocks: list[LayerBlock],
    output_signals: tuple[str, ...],
) -> Assembled:
    """Compose feature-level blocks into neuron-level weights.

    Layer l's neurons read features f_l = R_l h_l + c_l, so their weights on h_l are
    ``Ŵ R_l`` and their bias ``Ŵ c_l + b``. The final readout picks the output signals' rows of
    the last level's feature map.
    """
    level = input_features
    layers = []
    features = [input_features]
    for block in blocks:
        weight = sp.csr_matrix(block.weight, dtype=np.float64) @ level.readout.astype(np.float64)
        bias = block.weight.astype(np.float64) @ level.bias.astype(np.float64) + block.bias
        layers.append((compact(weight), bias.astype(DTYPE)))
        level = block.features
        features.append(level)
    index = level.index()
    rows = [index[s] for s in output_signals]
    readout = compact(level.readout[rows])
    return Assembled(
        embed=embed,
        layers=layers,
        readout=(readout, level.bias[rows].astype(DTYPE)),
        features=features,
    )


def true_polarity(features: FeatureMap, flipped: frozenset[str]) -> FeatureMap:
    """The same read-offs for wires stored negated turned back to the wire's value
    (row -> -row, bias -> 1 - bias): what the weights file documents as ground truth."""
    rows = np.array([name in flipped for name in features.names], dtype=bool)
    if not rows.any():
        return features
    sign = np.where(rows, -1.0, 1.0).astype(DTYPE)
    readout = (sp.diags(sign) @ features.readout).tocsr().astype(DTYPE)
    bias = np.where(rows, 1.0 - features.bias, features.bias).astype(DTYPE)
    return FeatureMap(features.names, readout, bias)
