"""Layer blocks: the codegen IR between a layered circuit and the final weight matrices.

A :class:`LayerBlock` describes one ReLU layer *in terms of features* rather than neurons of
the previous layer: its neurons read the previous level's features (``weight``, ``bias``) and
its own features are read off its neurons linearly (``readout``, ``readout_bias``). Every
construction (exact gadgets, superposed U-AND, error correction) emits blocks; one function,
:func:`assemble`, composes them into weights, so the algebra ``W_{l+1} = Ŵ_{l+1} R_l`` is written
down once.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        """Width of this layer (its bias's length once a streamed assembly dropped the
        weight)."""
        return int(self.weight.shape[0] if self.weight is not None else self.bias.shape[0])


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
    stream: bool = False,
) -> Assembled:
    """Compose feature-level blocks into neuron-level weights.

    Layer l's neurons read features f_l = R_l h_l + c_l, so their weights on h_l are
    ``Ŵ R_l`` and their bias ``Ŵ c_l + b``. The final readout picks the output signals' rows of
    the last level's feature map. ``stream``: the layers are a :class:`StreamedLayers`, each
    composed when asked for and its block's weight dropped after (a writer that takes them
    in order holds one neuron-level layer at a time, not all of them).
    """
    features = [input_features, *(block.features for block in blocks)]
    if stream:
        layers: list | StreamedLayers = StreamedLayers(features[:-1], blocks)
    else:  # the blocks keep their weights
        layers = [compose(b, level) for b, level in zip(blocks, features[:-1], strict=True)]
    level = features[-1]
    index = level.index()
    rows = [index[s] for s in output_signals]
    readout = compact(level.readout[rows])
    return Assembled(
        embed=embed,
        layers=layers,
        readout=(readout, level.bias[rows].astype(DTYPE)),
        features=features,
    )


#: Neuron-level entries per piece of a composed layer: the float64 product is formed this
#: many entries (about) at a time and each piece shrunk to float32 before the next.
COMPOSE_ENTRIES = 1 << 24


def compose(block: LayerBlock, level: FeatureMap) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """One layer's neuron-level (weight, bias): ``Ŵ R`` and ``Ŵ c + b`` (see :func:`assemble`).
    A large product is formed in row pieces (each row of a product depends only on its own
    row of Ŵ, so the pieces stacked are the same matrix as the product in one go)."""
    wide = sp.csr_matrix(block.weight, dtype=np.float64)
    readout = level.readout.astype(np.float64)
    bias = block.weight.astype(np.float64) @ level.bias.astype(np.float64) + block.bias
    rows, cols = wide.shape[0], readout.shape[1]
    if rows * cols <= COMPOSE_ENTRIES:  # small enough that compact may keep it dense: in one go
        return compact(wide @ readout), bias.astype(DTYPE)
    # entries of the product per row of Ŵ, bounded by the read-off entries it reaches
    reach = np.concatenate([[0], np.cumsum(np.diff(readout.indptr)[wide.indices])])
    per_row = np.cumsum(reach[wide.indptr[1:]] - reach[wide.indptr[:-1]])
    marks = np.arange(1, int(per_row[-1]) // COMPOSE_ENTRIES + 1) * COMPOSE_ENTRIES
    cuts = np.unique(np.concatenate([[0], np.searchsorted(per_row, marks), [rows]]))
    pieces = [
        compact(wide[a:b] @ readout, dense_limit=0)
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)
    ]
    del wide, readout
    # stacked part by part (the pieces' arrays go as each whole one is made)
    indptr = np.concatenate(
        [[0], *(p.indptr[1:].astype(np.int64) + start for p, start in _starts(pieces))]
    )
    data = np.concatenate([p.data for p in pieces])
    indices = [p.indices for p in pieces]
    del pieces
    indices = np.concatenate(indices)
    return sp.csr_matrix((data, indices, indptr), shape=(rows, cols)), bias.astype(DTYPE)


def _starts(pieces: list[sp.csr_matrix]):
    """(piece, entries before it) for row pieces of a matrix."""
    start = 0
    for piece in pieces:
        yield piece, start
        start += int(piece.nnz)


class LazyLayers(Sequence):
    """Hidden layers made or read only when asked for, one at a time: ``shapes`` gives each
    layer's (rows, cols) without making it; a subclass makes layer i in :meth:`_layer`."""

    shapes: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._layer(range(len(self))[i])

    def _layer(self, i: int) -> tuple:
        raise NotImplementedError


class StreamedLayers(LazyLayers):
    """The neuron-level layers of :func:`assemble` with ``stream``, composed one at a time:
    the last one asked for is kept (its weight and bias are asked for in turn), and once
    layer i has been composed, block i's weight is dropped. Read them once, in order."""

    def __init__(self, levels: list[FeatureMap], blocks: list[LayerBlock]) -> None:
        self.levels = levels
        self.blocks = blocks
        pairs = zip(blocks, levels, strict=True)
        self.shapes = [(b.neurons, int(lv.readout.shape[1])) for b, lv in pairs]
        self._last: tuple[int, tuple] | None = None

    def _layer(self, i: int) -> tuple:
        if self._last is not None and self._last[0] == i:
            return self._last[1]
        self._last = None  # the previous layer goes before the next is composed
        block = self.blocks[i]
        if block.weight is None:
            raise RuntimeError(f"layer {i} was composed already and its block dropped")
        layer = compose(block, self.levels[i])
        block.weight = None
        self._last = (i, layer)
        return layer


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
