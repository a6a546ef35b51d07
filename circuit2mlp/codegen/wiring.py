"""Which neurons read which features: the wiring of one superposed AND group.

A group computes many monomials (ANDs of q features) on D shared neurons. Neuron n reads a set
A_n of features with weight 1 and bias -(q-1) (minus an optional margin), so it is positive
only when at least q of its features are on. Monomial g is read off every neuron whose A_n
contains all of g (its *cover* N_g). Two ways to choose the sets (Hänni et al. 2024):

* **feature-centric** (their universal U-AND): every feature joins each neuron independently
  with probability p; a pair is covered by about D p^2 neurons. Best when the group needs a
  large share of all pairs of its features (the U-AND).
* **gate-centric** (their *targeted* U-AND): every monomial picks k neurons; a neuron reads the
  union of its monomials' features. Best when the monomials are few per feature (circuits).

Each comes in two flavours: the paper's i.i.d. version, and a *balanced* one (ours), where
every feature joins exactly r neurons / every neuron gets the same number of monomials, so no
neuron is overloaded and no monomial is left with a tiny cover. :func:`choose_strategy` picks
the strategy giving each neuron fewer features, since a neuron's interference grows with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

MIN_COVER = 1


@dataclass
class Wiring:
    """Incidence of a group: ``reads`` (D, F) 0/1 CSR, neuron n reads feature f; ``cover``
    (M, D) 0/1 CSR, monomial g is read off neuron n."""

    reads: sp.csr_matrix
    cover: sp.csr_matrix
    strategy: str
    neurons_per_monomial: float  # the design's k (gate-centric) or D p^q (feature-centric)

    @property
    def neurons(self) -> int:
        """D."""
        return int(self.reads.shape[0])


def monomial_matrix(monomials: np.ndarray, n_features: int) -> sp.csr_matrix:
    """(M, F) 0/1 incidence of monomials given as an (M, q) array of feature indices."""
    m, q = monomials.shape
    indptr = np.arange(0, m * q + 1, q)
    data = np.ones(m * q, dtype=np.float32)
    return sp.csr_matrix((data, monomials.ravel(), indptr), shape=(m, n_features))


def feature_centric_fanin(n_used: int, q: int, neurons: int, k: float) -> float:
    """Features per neuron for a feature-centric group aiming at k covering neurons."""
    return n_used * (k / neurons) ** (1 / q)


def gate_centric_fanin(n_used: int, q: int, neurons: int, k: float, n_monomials: int) -> float:
    """Expected distinct features per neuron for a gate-centric group with k neurons each."""
    per_neuron = q * k * n_monomials / neurons
    return n_used * -math.expm1(-per_neuron / max(n_used, 1))


def choose_strategy(n_used: int, q: int, neurons: int, k: float, n_monomials: int) -> str:
    """'feature' or 'gate', whichever gives neurons fewer features to read."""
    if q < 2:
        return "gate"
    fc = feature_centric_fanin(n_used, q, neurons, k)
    gc = gate_centric_fanin(n_used, q, neurons, k, n_monomials)
    return "feature" if fc < gc else "gate"


def _balanced_slots(
    count: int, per_item: int, neurons: int, rng: np.random.Generator
) -> np.ndarray:
    """(count, per_item) neuron ids, every neuron used floor or ceil of count*per_item/D times,
    no neuron twice within a row (when per_item <= D)."""
    per_item = min(per_item, neurons)
    total = count * per_item
    rounds = -(-total // neurons)
    stream = np.concatenate([rng.permutation(neurons) for _ in range(rounds)])[:total]
    rows = stream.reshape(count, per_item)
    # Repair rows with a repeated neuron by swapping with random other rows' entries.
    for _ in range(20):
        srt = np.sort(rows, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if bad.size == 0:
            break
        for r in bad:
            row = rows[r]
            _, first = np.unique(row, return_index=True)
            dup = np.setdiff1d(np.arange(per_item), first)
            for j in dup:
                other = rng.integers(count)
                col = rng.integers(per_item)
                v = rows[other, col]
                if v not in row and row[j] not in rows[other]:
                    rows[other, col], row[j] = row[j], v
    return rows


def _distinct_uniform(
    count: int, per_item: int, neurons: int, rng: np.random.Generator
) -> np.ndarray:
    """(count, per_item) uniform random k-subsets of range(neurons), i.i.d. across rows:
    draw with replacement and redraw the repeats, O(count * k) rather than O(count * D)."""
    rows = rng.integers(0, neurons, size=(count, per_item))
    if per_item > 1:
        for _ in range(1000):
            srt = np.sort(rows, axis=1)
            bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
            if bad.size == 0:
                break
            rows[bad] = rng.integers(0, neurons, size=(bad.size, per_item))
    return rows


def _csr_from_rows(rows: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """0/1 CSR with row i having ones at the (distinct) columns rows[i]."""
    n, k = rows.shape
    data = np.ones(n * k, dtype=np.float32)
    matrix = sp.csr_matrix((data, rows.ravel(), np.arange(0, n * k + 1, k)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def gate_centric(
    monomials: np.ndarray,
    n_features: int,
    neurons: int,
    k: int,
    balanced: bool,
    rng: np.random.Generator,
) -> Wiring:
    """Targeted U-AND: each monomial gets k neurons (i.i.d. uniform, or load-balanced)."""
    m = monomials.shape[0]
    k = min(k, neurons)
    if balanced:
        assigned = _balanced_slots(m, k, neurons, rng)
    else:
        assigned = _distinct_uniform(m, k, neurons, rng)
    assigned = assigned.astype(np.int64)
    slots = _csr_from_rows(assigned, (m, neurons))  # (M, D)
    g = monomial_matrix(monomials, n_features)  # (M, F)
    reads = (slots.T @ g).tocsr()
    reads.data[:] = 1
    return Wiring(reads.astype(np.float32), covering(reads, monomials), "gate", float(k))


def feature_centric(
    monomials: np.ndarray,
    n_features: int,
    neurons: int,
    k: float,
    balanced: bool,
    rng: np.random.Generator,
) -> Wiring:
    """Universal U-AND: features join neurons with probability p = (k/D)^(1/q) (or exactly
    r = round(pD) neurons each, load-balanced), monomials are read off their common neurons.
    The balanced flavour then tops up monomials covered by fewer than k/2 neurons."""
    q = monomials.shape[1]
    used = np.unique(monomials)
    p = min(1.0, (k / neurons) ** (1 / q))
    if balanced:
        r = max(1, round(p * neurons))
        rows = _balanced_slots(used.size, r, neurons, rng)  # (F_used, r) neurons per feature
        reads = _csr_from_rows(rows, (used.size, neurons)).T.tocsr()
    else:
        mask = rng.random((neurons, used.size)) < p
        reads = sp.csr_matrix(mask.astype(np.float32))
    # Re-index columns from used features to all features.
    reads = sp.csr_matrix(
        (reads.data, used[reads.indices], reads.indptr), shape=(neurons, n_features)
    )
    cover = covering(reads, monomials)
    if balanced:
        need = max(MIN_COVER, math.ceil(k / 2))
        counts = np.diff(cover.indptr)
        short = np.flatnonzero(counts < need)
        if short.size:
            reads = _top_up(reads, monomials[short], need - counts[short], cover[short], rng)
            cover = covering(reads, monomials)
    return Wiring(reads.astype(np.float32), cover, "feature", float(neurons * p**q))


def _top_up(
    reads: sp.csr_matrix,
    short: np.ndarray,
    missing: np.ndarray,
    have: sp.csr_matrix,
    rng: np.random.Generator,
) -> sp.csr_matrix:
    """Add the features of under-covered monomials to extra random neurons."""
    neurons = reads.shape[0]
    rows, cols = [], []
    for g, extra in enumerate(missing):
        taken = set(have[g].indices.tolist())
        chosen = [n for n in rng.permutation(neurons)[: extra + len(taken)] if n not in taken]
        for n in chosen[:extra]:
            rows.extend([n] * short.shape[1])
            cols.extend(short[g].tolist())
    add = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=reads.shape, dtype=np.float32
    )
    out = (reads + add).tocsr()
    out.data[:] = 1
    return out


def dedicated_wiring(monomials: np.ndarray, n_features: int) -> Wiring:
    """One neuron per monomial, reading only its own features: no sharing, no interference.
    Used for degree-1 terms, whose shared neurons would fire for *any* active input and
    spread that unit over every feature sharing them."""
    m = monomials.shape[0]
    reads = monomial_matrix(monomials, n_features)
    cover = sp.identity(m, dtype=np.float32, format="csr")
    return Wiring(reads, cover, "dedicated", 1.0)


def covering(reads: sp.csr_matrix, monomials: np.ndarray, chunk: int = 65536) -> sp.csr_matrix:
    """(M, D) 0/1: neuron n covers monomial g when it reads all of g's features."""
    m, q = monomials.shape
    n_features = reads.shape[1]
    by_feature = reads.T.tocsr().astype(np.float32)  # (F, D)
    parts = []
    for start in range(0, m, chunk):
        g = monomial_matrix(monomials[start : start + chunk], n_features)
        hits = (g @ by_feature).tocsr()
        hits.data = (hits.data >= q - 0.5).astype(np.float32)
        hits.eliminate_zeros()
        parts.append(hits)
    if not parts:
        return sp.csr_matrix((0, reads.shape[0]), dtype=np.float32)
    return sp.vstack(parts, format="csr")
