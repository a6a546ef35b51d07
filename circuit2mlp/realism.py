"""Make a compiled network look less hand-built, keeping its ground truth exact.

A compiled network is easy to read for the wrong reasons: neurons of a gate sit side by side,
every neuron means something, and weights take a handful of values. A dictionary-learning
method should not get credit for exploiting that, so :func:`disguise` applies, in this order:

1. **distractors**: D extra neurons per hidden level with dense random weights from the
   previous level and random biases, so they fire often and look busy; the next layer (and
   every read-off) gives them weight 0, so outputs and wire values are untouched.
2. **permute**: a random permutation of every level's neurons (level 0 too), applied to the
   rows of the producing matrix and bias, the columns of the consuming matrix and of the
   level's read-offs. Outputs and wire values are unchanged (up to float summation order).
3. **weight noise**: every non-zero weight and bias of the hidden layers is multiplied by
   (1 + σ·ε), ε standard normal. The read-offs are kept, so the ground truth is still the
   circuit's; the network may now misread wires, and ``verify`` measures how often.

All random choices come from one ``numpy.random.Generator`` seeded by ``seed``. The weights
file's meta records what was done under ``disguise``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.blocks import DTYPE, FeatureMap
from circuit2mlp.errors import UserError
from circuit2mlp.network import Matrix, Network


def _rows(matrix: Matrix, order: np.ndarray) -> Matrix:
    return sp.csr_matrix(matrix)[order] if sp.issparse(matrix) else matrix[order]


def _cols(matrix: Matrix, order: np.ndarray) -> Matrix:
    return (
        sp.csr_matrix(sp.csr_matrix(matrix)[:, order]) if sp.issparse(matrix) else matrix[:, order]
    )


def _add_rows(matrix: Matrix, extra: np.ndarray) -> Matrix:
    if sp.issparse(matrix):
        return sp.csr_matrix(sp.vstack([matrix, sp.csr_matrix(extra)]), dtype=DTYPE)
    return np.vstack([matrix, extra]).astype(DTYPE)


def _add_zero_cols(matrix: Matrix, count: int) -> Matrix:
    rows = matrix.shape[0]
    if sp.issparse(matrix):
        return sp.csr_matrix(sp.hstack([matrix, sp.csr_matrix((rows, count))]), dtype=DTYPE)
    return np.hstack([matrix, np.zeros((rows, count), dtype=DTYPE)])


def _noisy(matrix: Matrix, sigma: float, rng: np.random.Generator) -> Matrix:
    if sp.issparse(matrix):
        out = sp.csr_matrix(matrix, dtype=DTYPE, copy=True)
        out.data *= (1 + sigma * rng.standard_normal(out.data.size)).astype(DTYPE)
        return out
    out = np.array(matrix, dtype=DTYPE, copy=True)
    nz = out != 0
    out[nz] *= (1 + sigma * rng.standard_normal(int(nz.sum()))).astype(DTYPE)
    return out


@dataclasses.dataclass
class _Parts:
    """The network's maps as a chain: ``producers[i]`` makes level i (0 = embed),
    ``biases[i]`` its bias (None for the embed); the consumer of level i is producers[i + 1],
    or the readout for the last level."""

    producers: list[Matrix]
    biases: list[np.ndarray | None]
    readout: Matrix
    readout_bias: np.ndarray
    features: list[FeatureMap]

    def consumer(self, level: int) -> Matrix:
        return self.producers[level + 1] if level + 1 < len(self.producers) else self.readout

    def set_consumer(self, level: int, matrix: Matrix) -> None:
        if level + 1 < len(self.producers):
            self.producers[level + 1] = matrix
        else:
            self.readout = matrix


def disguise(
    network: Network,
    permute: bool = False,
    distractors: int = 0,
    weight_noise: float = 0.0,
    seed: int = 0,
) -> Network:
    """A copy of ``network`` with distractor neurons, permuted neurons and weight noise (see
    the module docstring); its feature read-offs follow every change."""
    if distractors < 0 or weight_noise < 0:
        raise UserError("--distractors and --weight-noise must be >= 0")
    rng = np.random.default_rng(seed)
    parts = _Parts(
        [network.embed, *(w for w, _ in network.layers)],
        [None, *(np.asarray(b, dtype=DTYPE) for _, b in network.layers)],
        network.readout[0],
        np.asarray(network.readout[1], dtype=DTYPE),
        list(network.features),
    )
    levels = len(parts.producers)
    if distractors:
        for level in range(1, levels):
            prev = parts.producers[level - 1].shape[0]
            weights = (rng.standard_normal((distractors, prev)) * 2 / np.sqrt(prev)).astype(DTYPE)
            parts.producers[level] = _add_rows(parts.producers[level], weights)
            bias = rng.uniform(0, 0.5, distractors).astype(DTYPE)
            parts.biases[level] = np.concatenate([parts.biases[level], bias])
            parts.set_consumer(level, _add_zero_cols(parts.consumer(level), distractors))
            _extend_features(parts, level, distractors)
    if permute:
        for level in range(levels):
            order = rng.permutation(parts.producers[level].shape[0])
            parts.producers[level] = _rows(parts.producers[level], order)
            if parts.biases[level] is not None:
                parts.biases[level] = parts.biases[level][order]
            parts.set_consumer(level, _cols(parts.consumer(level), order))
            if level < len(parts.features):
                f = parts.features[level]
                parts.features[level] = FeatureMap(f.names, _cols(f.readout, order), f.bias)
    if weight_noise:
        for level in range(1, levels):
            parts.producers[level] = _noisy(parts.producers[level], weight_noise, rng)
            bias = parts.biases[level]
            parts.biases[level] = bias * (1 + weight_noise * rng.standard_normal(bias.size))
            parts.biases[level] = parts.biases[level].astype(DTYPE)
    record: dict[str, Any] = {
        "permute": permute,
        "distractors": distractors,
        "weight_noise": weight_noise,
        "seed": seed,
    }
    previous = network.meta.get("disguise")
    history = [*previous] if isinstance(previous, list) else []
    meta = {
        **network.meta,
        "disguise": [*history, record],
        "layer_sizes": [int(w.shape[0]) for w in parts.producers[1:]],
    }
    return Network(
        network.input_names,
        network.output_names,
        parts.producers[0],
        [(w, b) for w, b in zip(parts.producers[1:], parts.biases[1:], strict=True)],
        (parts.readout, parts.readout_bias),
        parts.features,
        meta,
        network.circuit_yaml,
    )


def _extend_features(parts: _Parts, level: int, count: int) -> None:
    if level < len(parts.features):
        f = parts.features[level]
        readout = sp.csr_matrix(_add_zero_cols(sp.csr_matrix(f.readout), count))
        parts.features[level] = FeatureMap(f.names, readout, f.bias)
