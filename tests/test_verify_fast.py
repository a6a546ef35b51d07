"""The fast verification path gives exactly the figures of the straightforward one: packed
targets against dense boolean targets, and one simulation for all levels against one per
batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled import SUPERPOSED, compiled
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import circuits

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.simulate import pack_bits, simulate_packed, unpack_bits
from circuit2mlp.verify import (
    LevelStats,
    batch_size,
    compare,
    compare_packed,
    level_inputs,
    verify,
)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def same(a: LevelStats, b: LevelStats) -> bool:
    """Field by field, NaN equal to NaN."""
    for key, x in a.to_dict().items():
        y = b.to_dict()[key]
        if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    batch=st.integers(1, 130),
    n=st.integers(1, 40),
    density=st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]),
    specials=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_compare_packed_equals_compare(batch, n, density, specials, seed):
    rng = np.random.default_rng(seed)
    target = rng.random((batch, n)) < density
    y = np.where(target, 1.0, 0.0) + rng.normal(0, 0.3, (batch, n))
    y = y.astype(np.float32)
    if specials:
        spots = rng.integers(0, y.size, size=3)
        y.flat[spots] = rng.choice([np.nan, np.inf, -np.inf, 0.5], size=3)
    expected = compare(y.copy(), target, 3)
    packed = pack_bits(target)
    packed[:, -1] |= ~np.uint64(0) << np.uint64(batch % 64) if batch % 64 else np.uint64(0)
    got = compare_packed(np.ascontiguousarray(y.T).T, packed, 3)  # as forward lays it out
    assert same(got, expected), (got, expected)


def reference_verify(circuit, network, samples, sparsity, seed):
    """verify as it was: level by level, batch by batch, one simulation per batch."""
    rng = np.random.default_rng(seed)
    per_k = []
    for k in range(min(sparsity, len(circuit.inputs)) + 1):
        x = level_inputs(len(circuit.inputs), k, samples, rng)
        stats = LevelStats(k=k)
        step = batch_size(network)
        for start in range(0, x.shape[0], step):
            chunk = x[start : start + step]
            expected = unpack_bits(simulate_packed(circuit, pack_bits(chunk)), chunk.shape[0])
            stats.merge(compare(network.forward(chunk), expected, k))
        stats.exhaustive = math.comb(len(circuit.inputs), k) <= samples
        per_k.append(stats)
    return per_k


@pytest.mark.parametrize("samples", [50, 1000])
def test_verify_equals_the_batchwise_reference(samples):
    circuit, network, _ = compiled(SUPERPOSED)
    report = verify(circuit, network, samples=samples, sparsity=3, seed=5)
    expected = reference_verify(circuit, network, samples, 3, 5)
    assert all(same(a, b) for a, b in zip(report.per_k, expected, strict=True))
    assert report.overall.bit_errors == sum(s.bit_errors for s in expected)


@settings(max_examples=25, deadline=None)
@given(circuit=circuits(max_inputs=6, max_gates=10), seed=st.integers(0, 100))
def test_verify_equals_the_reference_on_random_circuits(circuit, seed):
    network, _ = compile_circuit(circuit, CompileConfig(method="exact", sparsity=2))
    report = verify(circuit, network, samples=40, sparsity=2, seed=seed)
    expected = reference_verify(circuit, network, 40, 2, seed)
    assert all(same(a, b) for a, b in zip(report.per_k, expected, strict=True))


@settings(max_examples=150, deadline=None)
@given(
    circuit=circuits(max_inputs=6, max_gates=16),
    samples=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
    some=st.booleans(),
)
def test_wide_simulation_equals_gate_by_gate(circuit, samples, seed, some, monkeypatch_module):
    """The grouped evaluation (all signals in one array) gives the rows of the gate-by-gate
    one, for the outputs or for any signals."""
    import circuit2mlp.simulate as simulate

    rng = np.random.default_rng(seed)
    packed = pack_bits(rng.integers(0, 2, size=(samples, len(circuit.inputs))))
    signals = None
    if some:
        pool = list(circuit.signals)
        signals = [pool[i] for i in rng.integers(0, len(pool), size=3)]
    monkeypatch_module.setattr(simulate, "WIDE_RATIO", 10**9)
    wide = simulate.simulate_packed(circuit, packed, signals)
    monkeypatch_module.setattr(simulate, "WIDE_BYTES", 0)
    narrow = simulate.simulate_packed(circuit, packed, signals)
    monkeypatch_module.undo()
    assert np.array_equal(unpack_bits(wide, samples), unpack_bits(narrow, samples))


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_row_block_products_are_identical(parts):
    """A big sparse product split over threads by rows gives exactly the one-piece product
    (the same sums in the same order), including empty and uneven blocks."""
    import scipy.sparse as sp

    from circuit2mlp.forward import matmul_rows

    rng = np.random.default_rng(parts)
    matrix = sp.random(500, 80, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    matrix = sp.vstack([sp.csr_matrix((40, 80), dtype=np.float32), matrix]).tocsr()
    h = rng.random((80, 33)).astype(np.float32)
    assert np.array_equal(matmul_rows(matrix, h, parts), matrix @ h)


def test_verify_in_rounds_equals_one_round(monkeypatch):
    """With room for only 64 or 128 samples of targets at a time, verify simulates in many
    rounds (pieces of levels) and still reports exactly the same."""
    import circuit2mlp.verify as verify_module

    circuit, network, _ = compiled(SUPERPOSED)
    expected = verify(circuit, network, samples=300, sparsity=3, seed=2)
    for words in (1, 2):
        monkeypatch.setattr(verify_module, "TARGET_BYTES", 8 * len(circuit.outputs) * words)
        sizes = (1, 100, 300, 300)
        rounds = verify_module._rounds([np.zeros((n, 1)) for n in sizes], len(circuit.outputs))
        assert len(rounds) > 1
        pieces = [piece for round_ in rounds for piece in round_]
        assert [sum(len(x) for k2, x in pieces if k2 == k) for k in range(4)] == list(sizes)
        assert [k for k, _ in pieces] == sorted(k for k, _ in pieces)
        got = verify(circuit, network, samples=300, sparsity=3, seed=2)
        assert got.to_dict() == expected.to_dict()
