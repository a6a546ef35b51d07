"""The decode layer for inputs in superposition: each input back to a clean 0/1 value.

With h0 = E x and random unit columns e_i, input i reads x_i plus Gaussian-like noise of
standard deviation about sqrt(s / d0) (docs/theory.md section 6). A superposed neuron would
sum that noise over all its inputs, so the superposed method first cleans every input with a
*saturating pair* of its own,

    z+ = relu(a (y - lo)),   z- = relu(a (y - lo) - 1),   z+ - z- = clamp(a (y - lo), 0, 1),

a = 1 / (hi - lo): exactly 0 while the noise stays below lo and exactly 1 while it stays
above hi - 1. Two neurons per input; the noise is dense, so sharing neurons would not pay.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock

LOW, HIGH = 0.4, 0.6


def decode_block(level: LevelActivity, low: float = LOW, high: float = HIGH) -> LayerBlock:
    """A layer of saturating pairs carrying every feature of ``level`` unchanged."""
    n = len(level.names)
    slope = 1.0 / (high - low)
    rows = np.arange(2 * n)
    weight = sp.csr_matrix(
        (np.full(2 * n, slope), (rows, np.repeat(np.arange(n), 2))), shape=(2 * n, n)
    )
    bias = np.tile([-slope * low, -slope * low - 1.0], n)
    readout = sp.csr_matrix(
        (np.tile([1.0, -1.0], n), (np.repeat(np.arange(n), 2), rows)), shape=(n, 2 * n)
    )
    features = FeatureMap(level.names, readout.astype(DTYPE), np.zeros(n, dtype=DTYPE))
    stats = {
        "kind": "decode",
        "gates": 0,
        "carries": n,
        "shared_gates": 0,
        "dedicated_gates": 0,
        "clean_gates": 0,
        "dedicated_neurons": 2 * n,
    }
    return LayerBlock(weight.astype(DTYPE), bias.astype(DTYPE), features, stats)
