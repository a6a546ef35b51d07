"""Input embedding: the m input bits as h0 = E x, basis-aligned or in superposition.

Basis-aligned (default): E = I and input i is read off h0 by e_i. In superposition
(``input_dim`` d0 < m): the columns of E are random unit vectors of R^d0, nearly orthogonal
(|<e_i, e_j>| ~ 1/sqrt(d0)), and input i is read off as e_i . h0 = x_i + sum_{j != i} <e_i,
e_j> x_j: exact up to the interference of the few other active inputs. An input stored in
negated polarity is read as 1 - x_i (row -e_i, bias 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.blocks import DTYPE, FeatureMap

#: Largest identity embedding (entries) stored dense: 4096 inputs, as ``blocks.compact``.
DENSE_EMBED_LIMIT = 1 << 24


def random_frame(d0: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """(d0, m) matrix of random unit columns (Gaussian directions)."""
    frame = rng.standard_normal((d0, m))
    frame /= np.linalg.norm(frame, axis=0, keepdims=True)
    return frame


def input_embedding(
    inputs: Sequence[str], input_dim: int | None, flip: np.ndarray, rng: np.random.Generator
) -> tuple[FeatureMap, np.ndarray | sp.csr_matrix]:
    """(input feature map, embed matrix) for basis-aligned or superposed inputs."""
    m = len(inputs)
    if input_dim is None or input_dim >= m:
        # The identity: dense while small (as every other small matrix), CSR beyond, where a
        # dense one would cost m^2 (40 GB for 10^5 inputs).
        embed = (
            np.eye(m, dtype=DTYPE)
            if m * m <= DENSE_EMBED_LIMIT
            else sp.identity(m, dtype=DTYPE, format="csr")
        )
        readout = sp.identity(m, dtype=np.float64, format="csr")
    else:
        embed = random_frame(input_dim, m, rng).astype(DTYPE)
        readout = sp.csr_matrix(embed.T.astype(np.float64))
    sign = np.where(flip, -1.0, 1.0)
    readout = (sp.diags(sign) @ readout).tocsr().astype(DTYPE)
    bias = np.where(flip, 1.0, 0.0).astype(DTYPE)
    return FeatureMap(tuple(inputs), readout, bias), embed
