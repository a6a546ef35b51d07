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


def _independent_subsets(
    count: int, per_item: int, neurons: int, rng: np.random.Generator
) -> np.ndarray:
    """(count, per_item) independent uniform random per_item-subsets of range(neurons), one
    per row: every neuron's load is balanced in expectation, and -- unlike consecutive slices
    of permutations, where the rows that share a permutation are pairwise disjoint -- two rows
    share about per_item^2 / neurons neurons, the cover the feature-centric design counts on
    (disjoint pairs had to be topped up, which inflated every feature's neuron set and made
    a one-short monomial's covering neurons meet the other active features far more often
    than the error model assumes). Chunked: at most 2^23 keys at a time."""
    per_item = min(per_item, neurons)
    rows = np.empty((count, per_item), dtype=np.int64)
    step = max(1, (1 << 23) // max(neurons, 1))
    for start in range(0, count, step):
        stop = min(count, start + step)
        keys = rng.random((stop - start, neurons))
        rows[start:stop] = np.argpartition(keys, per_item - 1, axis=1)[:, :per_item]
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
        rows = _independent_subsets(used.size, r, neurons, rng)  # (F_used, r) per feature
        reads = _csr_from_rows(rows, (used.size, neurons)).T.tocsr()
    else:
        mask = rng.random((neurons, used.size)) < p
        reads = sp.csr_matrix(mask.astype(np.float32))
    # Re-index columns from used features to all features.
    reads = sp.csr_matrix(
        (reads.data, used[reads.indices], reads.indptr), shape=(neurons, n_features)
    )
    cover = None
    if balanced:
        need = max(MIN_COVER, math.ceil(k / 2))
        counts, cover = cover_counts(reads, monomials)
        short = np.flatnonzero(counts < need)
        if short.size:
            have = covering(reads, monomials[short]) if cover is None else cover[short]
            reads = _top_up(reads, monomials[short], need - counts[short], have, rng)
            cover = None
    if cover is None:
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
    """(M, D) 0/1: neuron n covers monomial g when it reads all of g's features.

    Each row lists its neurons in *descending* order (the order scipy's sparse product gives,
    which later random choices depend on). Two equivalent ways, whichever touches fewer
    entries: the sparse product monomials x features x neurons (work ~ sum over monomials of
    the neurons reading each of its features), or enumerating every q-subset of every
    neuron's features and keeping those that are monomials (work ~ sum_n C(b_n, q)): the
    latter wins by far for dense groups such as the U-AND, where a neuron's q-subsets are
    nearly all monomials while the product visits every neuron of every feature."""
    m, q = monomials.shape
    n_features = reads.shape[1]
    if m == 0:
        return sp.csr_matrix((0, reads.shape[0]), dtype=np.float32)
    if _enumeration_cheaper(reads, monomials):
        cover = _covering_by_neuron(reads, monomials)
        if cover is not None:
            return cover
    by_feature = reads.T.tocsr().astype(np.float32)  # (F, D)
    parts = []
    for start in range(0, m, chunk):
        g = monomial_matrix(monomials[start : start + chunk], n_features)
        hits = (g @ by_feature).tocsr()
        hits.data = (hits.data >= q - 0.5).astype(np.float32)
        hits.eliminate_zeros()
        parts.append(hits)
    return sp.vstack(parts, format="csr")


#: Monomial keys (mixed-radix numbers of their features) must fit in an int64.
_KEY_LIMIT = 1 << 62
#: A dense key -> monomial table is used up to this many keys (int32 each).
_TABLE_LIMIT = 1 << 25


def _subset_count(sizes: np.ndarray, q: int) -> int:
    """sum_n C(sizes_n, q), exactly."""
    values, counts = np.unique(sizes, return_counts=True)
    return sum(math.comb(int(v), q) * int(c) for v, c in zip(values, counts, strict=True))


def _enumeration_cheaper(reads: sp.csr_matrix, monomials: np.ndarray) -> bool:
    """Whether enumerating the neurons' q-subsets touches fewer entries than the product."""
    q = monomials.shape[1]
    n_features = reads.shape[1]
    if q < 2 or float(n_features) ** q >= _KEY_LIMIT:
        return False
    per_feature = np.bincount(reads.indices, minlength=n_features)  # neurons reading f
    product = int(per_feature[monomials].sum())
    return _subset_count(np.diff(reads.indptr), q) < product


def monomial_keys(monomials: np.ndarray, n_features: int) -> np.ndarray:
    """int64 key of each monomial (its sorted features as digits in base ``n_features``)."""
    keys = np.zeros(monomials.shape[0], dtype=np.int64)
    for column in np.sort(monomials, axis=1).T:
        keys = keys * n_features + column
    return keys


def _subsets(size: int, q: int, cache: dict) -> np.ndarray:
    """(C(size, q), q) positions of all q-subsets of range(size), in lexicographic order."""
    if (size, q) not in cache:
        import itertools

        flat = np.fromiter(
            itertools.chain.from_iterable(itertools.combinations(range(size), q)),
            dtype=np.int32,
            count=math.comb(size, q) * q,
        )
        cache[size, q] = flat.reshape(-1, q)
    return cache[size, q]


def _neuron_monomials(reads: sp.csr_matrix, monomials: np.ndarray):
    """For every neuron, from the last to the first, the ids of the monomials it covers,
    found by enumerating its q-subsets of features; None when a monomial is repeated."""
    m, q = monomials.shape
    n_features = reads.shape[1]
    keys = monomial_keys(monomials, n_features)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        return None  # a repeated monomial needs a row of its own: left to the product
    table = None
    if n_features**q <= _TABLE_LIMIT:
        table = np.full(n_features**q, -1, dtype=np.int32)
        table[keys] = np.arange(m, dtype=np.int32)
    if not reads.has_canonical_format:
        reads = reads.copy()
        reads.sum_duplicates()

    def ids_per_neuron():
        cache: dict = {}
        empty = np.zeros(0, dtype=np.int32)
        for n in range(reads.shape[0] - 1, -1, -1):
            feats = reads.indices[reads.indptr[n] : reads.indptr[n + 1]]
            if feats.size < q:
                yield n, empty
                continue
            subsets = feats[_subsets(feats.size, q, cache)].astype(np.int64)
            key = subsets[:, 0]
            for j in range(1, q):
                key = key * n_features + subsets[:, j]
            if table is not None:
                ids = table[key]
                ids = ids[ids >= 0]
            else:
                pos = np.minimum(np.searchsorted(sorted_keys, key), m - 1)
                ids = order[pos[sorted_keys[pos] == key]]
            yield n, ids.astype(np.int32, copy=False)

    return ids_per_neuron()


def _covering_by_neuron(reads: sp.csr_matrix, monomials: np.ndarray) -> sp.csr_matrix | None:
    """:func:`covering` by enumerating each neuron's q-subsets of features (None when a
    monomial is repeated)."""
    m = monomials.shape[0]
    neurons = reads.shape[0]
    per_neuron = _neuron_monomials(reads, monomials)
    if per_neuron is None:
        return None
    rows, counts = [], np.zeros(neurons, dtype=np.int64)
    for n, ids in per_neuron:  # descending, so each monomial's list is too
        rows.append(ids)
        counts[neurons - 1 - n] = ids.size
    # Neuron-major incidence (neurons reversed); its transpose lists every monomial's neurons
    # in descending order.
    flipped = sp.csr_matrix(
        (
            np.ones(int(counts.sum()), dtype=np.float32),
            np.concatenate(rows),
            np.concatenate([[0], np.cumsum(counts)]),
        ),
        shape=(neurons, m),
    )
    del rows
    by_monomial = flipped.tocsc()
    del flipped
    indices = (neurons - 1 - by_monomial.indices).astype(by_monomial.indices.dtype)
    return sp.csr_matrix(
        (by_monomial.data, indices, by_monomial.indptr), shape=(m, neurons), dtype=np.float32
    )


def cover_counts(
    reads: sp.csr_matrix, monomials: np.ndarray
) -> tuple[np.ndarray, sp.csr_matrix | None]:
    """How many neurons cover each monomial, and the cover itself when it had to be built
    to count (None when counting by enumeration, which never materializes it)."""
    m = monomials.shape[0]
    per_neuron = None
    if _enumeration_cheaper(reads, monomials):
        per_neuron = _neuron_monomials(reads, monomials)
    if per_neuron is None:
        cover = covering(reads, monomials)
        return np.diff(cover.indptr), cover
    counts = np.zeros(m, dtype=np.int64)
    batch: list[np.ndarray] = []
    size = 0
    for _, ids in per_neuron:
        batch.append(ids)
        size += ids.size
        if size >= 1 << 24:
            counts += np.bincount(np.concatenate(batch), minlength=m)
            batch, size = [], 0
    if batch:
        counts += np.bincount(np.concatenate(batch), minlength=m)
    return counts, None
