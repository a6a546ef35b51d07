"""The compiler's fast paths give exactly what the straightforward computations give: covers by
enumeration against the sparse product, the row-wise cover limit against a global stable sort,
vectorized layer terms against the per-gate loop, sparse calibration passes against the dense
float64 pass. (Speed itself is measured in benchmarks/compile_scaling.py, never here.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.codegen import wiring
from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.embedding import DENSE_EMBED_LIMIT, input_embedding
from circuit2mlp.codegen.exact import exact_neurons_of, gate_gadget, op_gadget
from circuit2mlp.codegen.polynomial import gate_polynomial
from circuit2mlp.codegen.readout import limit_cover
from circuit2mlp.codegen.sparse_forward import affine, positives
from circuit2mlp.codegen.terms import MAX_DEGREE, layer_terms
from circuit2mlp.ir import Gate
from circuit2mlp.network import write_npz_atomic


def _product_cover(reads, monomials):
    """The cover by the sparse product alone."""
    saved = wiring._enumeration_cheaper
    wiring._enumeration_cheaper = lambda *_: False
    try:
        return wiring.covering(reads, monomials)
    finally:
        wiring._enumeration_cheaper = saved


@pytest.mark.parametrize("seed", range(12))
def test_covering_by_enumeration_matches_product(seed):
    """Same rows, same neurons in the same (descending) order, same data."""
    rng = np.random.default_rng(seed)
    q = int(rng.integers(2, 5))
    n_features = int(rng.integers(q + 1, 30))
    pool = np.array(list(itertools.combinations(range(n_features), q)))
    monomials = pool[rng.choice(len(pool), int(rng.integers(1, min(len(pool), 200) + 1)), False)]
    monomials = rng.permuted(monomials, axis=1)  # unsorted rows are allowed
    reads = sp.csr_matrix(
        (rng.random((int(rng.integers(1, 50)), n_features)) < rng.random()).astype(np.float32)
    )
    fast = wiring._covering_by_neuron(reads, monomials)
    slow = _product_cover(reads, monomials)
    assert fast.shape == slow.shape
    assert np.array_equal(fast.indptr, slow.indptr)
    assert np.array_equal(fast.indices, slow.indices)
    assert np.array_equal(fast.data, slow.data) and fast.data.dtype == slow.data.dtype
    counts, _ = wiring.cover_counts(reads, monomials)
    assert np.array_equal(counts, np.diff(slow.indptr))


def test_covering_leaves_repeated_monomials_to_the_product():
    reads = sp.csr_matrix(np.ones((3, 4), dtype=np.float32))
    monomials = np.array([[0, 1], [1, 0], [2, 3]])
    assert wiring._covering_by_neuron(reads, monomials) is None
    assert np.array_equal(np.diff(wiring.covering(reads, monomials).indptr), [3, 3, 3])


def test_monomial_keys_ignore_order():
    keys = wiring.monomial_keys(np.array([[3, 1], [1, 3], [0, 2]]), 10)
    assert keys.tolist() == [13, 13, 2]


def _limit_by_global_sort(cover, most, rng):
    """The original construction: one stable argsort of row + U(0, 1) over all entries."""
    counts = np.diff(cover.indptr)
    if counts.size == 0 or counts.max() <= most:
        return cover
    keys = rng.random(cover.nnz) + np.repeat(np.arange(counts.size), counts)
    order = np.argsort(keys, kind="stable")
    rank = np.arange(cover.nnz) - np.repeat(cover.indptr[:-1], counts)
    keep = order[rank < most]
    rows = np.repeat(np.arange(counts.size), counts)[keep]
    return sp.csr_matrix(
        (cover.data[keep], (rows, cover.indices[keep])), shape=cover.shape, dtype=cover.dtype
    )


@pytest.mark.parametrize("seed", range(8))
def test_limit_cover_matches_global_stable_sort(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 400)), int(rng.integers(1, 120))
    cover = sp.random(rows, cols, density=rng.random(), format="csr", rng=seed, dtype=np.float32)
    cover.data[:] = 1
    most = int(rng.integers(1, 30))
    fast = limit_cover(cover, most, np.random.default_rng(seed))
    slow = _limit_by_global_sort(cover, most, np.random.default_rng(seed))
    assert np.array_equal(fast.indptr, slow.indptr)
    assert np.array_equal(fast.indices, slow.indices)
    assert np.array_equal(fast.data, slow.data)


def test_limit_cover_breaks_ties_by_position():
    class Ties:
        def random(self, n):
            noise = np.full(n, 0.5)
            noise[::3] = 0.25
            return noise

    cover = sp.csr_matrix(np.ones((2, 10), dtype=np.float32))
    kept = limit_cover(cover, 5, Ties()).toarray()
    # row 0: the 0.25s at 0, 3, 6, 9, then the first 0.5 (position 1)
    assert np.flatnonzero(kept[0]).tolist() == [0, 1, 3, 6, 9]
    # row 1 (positions 10..19): 0.25s at 12, 15, 18, then positions 10, 11
    assert np.flatnonzero(kept[1]).tolist() == [0, 1, 2, 5, 8]


def _terms_by_loop(gates, level, out_flip):
    """The per-gate loop layer_terms replaces."""
    col = {name: i for i, name in enumerate(level.names)}
    dense = level.dense()
    ids = [{} for _ in range(MAX_DEGREE + 1)]
    terms, consts, dedicated = [], np.zeros(len(gates)), []
    for g, gate in enumerate(gates):
        fanin = [col[s] for s in gate.fanin]
        if any(dense[f] for f in fanin):
            dedicated.append(g)
            continue
        poly = gate_polynomial(
            gate.op, tuple(bool(level.flip[f]) for f in fanin), bool(out_flip[g])
        )
        if any(len(mono) > MAX_DEGREE for mono, _ in poly):
            dedicated.append(g)
            continue
        for mono, c in poly:
            if not mono:
                consts[g] += c
                continue
            key = tuple(sorted({fanin[i] for i in mono}))
            terms.append((g, len(key), ids[len(key)].setdefault(key, len(ids[len(key)])), float(c)))
    return terms, consts, dedicated, ids


@pytest.mark.parametrize("seed", range(6))
def test_layer_terms_match_per_gate_loop(seed):
    rng = np.random.default_rng(seed)
    names = tuple(f"s{i}" for i in range(12))
    level = LevelActivity(
        names,
        flip=rng.random(12) < 0.3,
        frequency=np.where(rng.random(12) < 0.15, 0.5, 0.01),
        active_mean=1.0,
        active_max=3,
    )
    ops = ("AND", "OR", "XOR", "NAND", "NOR", "XNOR", "MAJ", "NOT", "BUF", "CONST0", "CONST1")
    gates = []
    for g in range(300):
        op = ops[rng.integers(len(ops))]
        arity = {"NOT": 1, "BUF": 1, "CONST0": 0, "CONST1": 0}.get(op, int(rng.integers(2, 7)))
        fanin = tuple(names[i] for i in rng.integers(0, 12, arity))  # repeats allowed
        gates.append(Gate(f"g{g}", op, fanin))
    out_flip = rng.random(len(gates)) < 0.3
    fast = layer_terms(gates, level, out_flip)
    terms, consts, dedicated, ids = _terms_by_loop(gates, level, out_flip)
    assert fast.dedicated.tolist() == dedicated
    assert np.array_equal(fast.consts, consts)
    for q in range(1, MAX_DEGREE + 1):
        expected = [t for t in terms if t[1] == q]
        if not expected:
            assert q not in fast.terms
            continue
        gi, mi, ci = fast.terms[q]
        assert gi.tolist() == [t[0] for t in expected]
        assert mi.tolist() == [t[2] for t in expected]
        assert ci.tolist() == [t[3] for t in expected]
        assert fast.monomials[q].tolist() == [list(k) for k in ids[q]]
    assert exact_neurons_of(fast) == sum(gate_gadget(g).neurons for g in gates)


def test_op_gadget_is_cached_and_matches():
    assert op_gadget("AND", 3) is op_gadget("AND", 3)
    assert gate_gadget(Gate("g", "AND", ("a", "b", "c"))) == op_gadget("AND", 3)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("density", [0.02, 0.6])
def test_sparse_affine_is_the_dense_pass_bit_for_bit(relu, density):
    rng = np.random.default_rng(7)
    matrix = sp.random(60, 40, density=0.2, format="csr", rng=1, dtype=np.float32)
    matrix.data = rng.standard_normal(matrix.nnz).astype(np.float32)
    x = sp.random(40, 33, density=density, format="csr", rng=2, dtype=np.float64)
    x.data = rng.standard_normal(x.nnz)
    bias = rng.standard_normal(60).astype(np.float32)
    bias[rng.random(60) < 0.5] = 0
    dense = matrix.astype(np.float64) @ x.toarray() + bias[:, None]
    if relu:
        dense = np.maximum(dense, 0)
    fast = affine(matrix, bias, x, relu=relu)
    assert np.array_equal(fast.toarray(), dense)
    assert np.all(fast.data != 0)
    assert np.array_equal(positives(fast), np.flatnonzero(dense > 0.5))


def test_identity_embedding_is_sparse_when_large():
    _, small = input_embedding([f"x{i}" for i in range(10)], None, np.zeros(10, bool), None)
    assert isinstance(small, np.ndarray)
    m = int(np.sqrt(DENSE_EMBED_LIMIT)) + 1
    _, large = input_embedding([f"x{i}" for i in range(m)], None, np.zeros(m, bool), None)
    assert sp.issparse(large) and large.nnz == m
    assert np.array_equal(large.diagonal(), np.ones(m, np.float32))


def test_npz_members_may_be_made_while_writing(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return np.arange(5, dtype=np.int64)

    write_npz_atomic(tmp_path / "a.npz", {"x": make})
    write_npz_atomic(tmp_path / "b.npz", {"x": np.arange(5, dtype=np.int64)})
    assert calls == [1]
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert np.load(tmp_path / "a.npz", allow_pickle=False)["x"].tolist() == [0, 1, 2, 3, 4]
