"""The bit-parallel simulator against the reference per-sample evaluator (the oracle)."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from strategies import circuits, covers

from circuit2mlp.ir import SYMMETRIC_OPS, Circuit, Cover, Gate, LayeredCircuit, op_arity, op_profile
from circuit2mlp.simulate import (
    all_inputs,
    eval_gate_packed,
    mask_padding,
    pack_bits,
    simulate,
    simulate_layered,
    simulate_packed,
    sparse_inputs,
    symmetric_packed,
    unpack_bits,
)

FAST = settings(max_examples=60, deadline=None)


def reference(circuit: Circuit, inputs: np.ndarray) -> np.ndarray:
    """Circuit.evaluate sample by sample, as an (N, n_outputs) bool array."""
    rows = [circuit.evaluate(x) for x in inputs]
    return np.array(rows, dtype=bool).reshape(len(inputs), len(circuit.outputs))


def reference_signals(circuit: Circuit, x: np.ndarray) -> dict[str, int]:
    """Every signal's value on one sample."""
    values = {s: int(v) for s, v in zip(circuit.inputs, x, strict=True)}
    for gate in circuit.topological_gates:
        values[gate.name] = gate.evaluate([values[s] for s in gate.fanin])
    return values


def gate_truth(gate: Gate, rows: np.ndarray) -> np.ndarray:
    """eval_gate_packed on (N, k) sample rows, unpacked to (N,) bool."""
    packed = pack_bits(rows)
    out = eval_gate_packed(gate, list(packed), packed.shape[1])
    return unpack_bits(out[None, :], len(rows))[:, 0]


# --------------------------------------------------------------------------- whole circuits


@settings(max_examples=150, deadline=None)
@given(circuits())
def test_simulate_matches_reference_exhaustively(circuit: Circuit) -> None:
    inputs = all_inputs(len(circuit.inputs))
    np.testing.assert_array_equal(simulate(circuit, inputs), reference(circuit, inputs))


@FAST
@given(
    circuits(max_inputs=10, max_gates=20),
    st.sampled_from([0, 1, 63, 64, 65, 127, 128, 129, 200]),
    st.integers(0, 2**32 - 1),
)
def test_simulate_any_sample_count(circuit: Circuit, n: int, seed: int) -> None:
    inputs = np.random.default_rng(seed).integers(0, 2, size=(n, len(circuit.inputs)))
    np.testing.assert_array_equal(simulate(circuit, inputs), reference(circuit, inputs))


@FAST
@given(circuits(min_inputs=0, max_inputs=3, ops=("CONST0", "CONST1", "AND", "NOT")))
def test_simulate_circuits_without_inputs(circuit: Circuit) -> None:
    inputs = all_inputs(len(circuit.inputs))
    np.testing.assert_array_equal(simulate(circuit, inputs), reference(circuit, inputs))


@FAST
@given(circuits(max_inputs=5, max_gates=15), st.data())
def test_simulate_packed_named_signals(circuit: Circuit, data: st.DataObject) -> None:
    signals = data.draw(st.lists(st.sampled_from(circuit.signals), min_size=1, max_size=6))
    inputs = all_inputs(len(circuit.inputs))
    rows = simulate_packed(circuit, pack_bits(inputs), signals)
    got = unpack_bits(rows, len(inputs))
    want = [[reference_signals(circuit, x)[s] for s in signals] for x in inputs]
    np.testing.assert_array_equal(got, np.array(want, dtype=bool))


def test_simulate_rejects_bad_shapes_and_signals() -> None:
    circuit = Circuit.make("c", ["a", "b"], ["y"], [Gate("y", "AND", ("a", "b"))])
    with pytest.raises(ValueError):
        simulate(circuit, np.zeros((4, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        simulate_packed(circuit, np.zeros((1, 2), dtype=np.uint64))
    with pytest.raises(ValueError, match="nope"):
        simulate_packed(circuit, np.zeros((2, 1), dtype=np.uint64), ["nope"])
    with pytest.raises(ValueError):
        pack_bits(np.full((3, 2), 2))


def test_dead_rows_are_freed() -> None:
    """A 3000-gate chain on 512 words holds only a few rows at a time, not 3000 (12 MB)."""
    gates = [Gate("g0", "NOT", ("a",))]
    gates += [Gate(f"g{i}", "XOR" if i % 2 else "NOT", (f"g{i - 1}",)) for i in range(1, 3000)]
    circuit = Circuit.make("chain", ["a"], ["y"], gates, drivers=["g2999"])
    circuit.topological_gates  # noqa: B018 - build the (cached) order outside the measurement
    packed = np.zeros((1, 512), dtype=np.uint64)
    tracemalloc.start()
    out = simulate_packed(circuit, packed)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 3_000_000  # bookkeeping included; keeping every row would need 12 MB
    assert not out.any()  # an even number (1500) of NOTs of zeros


# --------------------------------------------------------------------------- single ops


@pytest.mark.parametrize("op", SYMMETRIC_OPS)
def test_every_symmetric_op_matches_profile(op: str) -> None:
    lo, hi = op_arity(op)
    for k in range(lo, min(9, 9 if hi is None else hi) + 1):
        rows = all_inputs(k)
        want = np.array(op_profile(op, k), dtype=bool)[rows.sum(axis=1)]
        if k == 0:  # no fan-in rows to pack: evaluate on a 3-sample batch
            got = unpack_bits(eval_gate_packed(Gate("g", op), [], 1)[None, :], 3)[:, 0]
            np.testing.assert_array_equal(got, np.repeat(want, 3), err_msg=f"{op}/{k}")
            continue
        got = gate_truth(Gate("g", op, tuple(f"x{i}" for i in range(k))), rows)
        np.testing.assert_array_equal(got, want, err_msg=f"{op}/{k}")


@FAST
@given(
    st.integers(1, 9).flatmap(lambda k: st.lists(st.integers(0, 1), min_size=k + 1, max_size=k + 1))
)
def test_any_symmetric_profile(profile: list[int]) -> None:
    k = len(profile) - 1
    rows = all_inputs(k)
    packed = pack_bits(rows)
    out = symmetric_packed(profile, list(packed))
    got = unpack_bits(out[None, :], len(rows))[:, 0]
    np.testing.assert_array_equal(got, np.array(profile, dtype=bool)[rows.sum(axis=1)])


def test_wide_majority() -> None:
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 2, size=(300, 101))
    gate = Gate("m", "MAJ", tuple(f"x{i}" for i in range(101)))
    np.testing.assert_array_equal(gate_truth(gate, rows), 2 * rows.sum(axis=1) > 101)


@FAST
@given(st.integers(0, 6).flatmap(lambda k: st.tuples(st.just(k), covers(k, max_cubes=6))))
def test_sop_matches_cover(case: tuple[int, Cover]) -> None:
    k, cover = case
    rows = all_inputs(k)
    gate = Gate("s", "SOP", tuple(f"x{i}" for i in range(k)), cover)
    if k == 0:
        got = unpack_bits(eval_gate_packed(gate, [], 1)[None, :], 1)[:, 0]
    else:
        got = gate_truth(gate, rows)
    np.testing.assert_array_equal(got, [cover.evaluate(x) for x in rows])


@pytest.mark.parametrize(
    ("cubes", "onset", "want"),
    [
        ((), True, [0, 0, 0, 0]),
        ((), False, [1, 1, 1, 1]),
        (("--",), True, [1, 1, 1, 1]),
        (("1-", "01"), True, [0, 1, 1, 1]),  # rows 00 01 10 11 -> OR
        (("1-", "01"), False, [1, 0, 0, 0]),  # same cubes as an OFF-set -> NOR
        (("10",), False, [1, 1, 0, 1]),
    ],
)
def test_sop_onset_offset(cubes: tuple[str, ...], onset: bool, want: list[int]) -> None:
    gate = Gate("s", "SOP", ("a", "b"), Cover(cubes, onset))
    np.testing.assert_array_equal(gate_truth(gate, all_inputs(2)), np.array(want, dtype=bool))


# --------------------------------------------------------------------------- packing


@FAST
@given(arrays(np.bool_, st.tuples(st.integers(0, 300), st.integers(0, 5))))
def test_pack_unpack_round_trip(bits: np.ndarray) -> None:
    n, m = bits.shape
    packed = pack_bits(bits)
    assert packed.shape == (m, max(1, math.ceil(n / 64)))
    assert packed.dtype == np.uint64
    np.testing.assert_array_equal(unpack_bits(packed, n), bits)
    np.testing.assert_array_equal(mask_padding(packed, n), packed)  # padding written as 0


def test_pack_layout() -> None:
    bits = np.zeros((130, 2), dtype=np.uint8)
    bits[[0, 5, 64, 129], 0] = 1
    bits[63, 1] = 1
    packed = pack_bits(bits)
    assert packed[0].tolist() == [1 | 1 << 5, 1, 1 << 1]
    assert packed[1].tolist() == [1 << 63, 0, 0]


def test_mask_padding() -> None:
    ones = np.full((2, 2), 2**64 - 1, dtype=np.uint64)
    assert mask_padding(ones, 70)[0].tolist() == [2**64 - 1, 0b111111]
    assert mask_padding(ones, 64)[1].tolist() == [2**64 - 1, 0]
    assert mask_padding(ones, 128).tolist() == ones.tolist()


# --------------------------------------------------------------------------- layered circuits


def test_simulate_layered_by_hand() -> None:
    """y = (a AND b) XOR c and z = NOT c, with c carried to level 1 by a BUF."""
    layers = (
        (Gate("ab", "AND", ("a", "b")), Gate("c@1", "BUF", ("c",))),
        (Gate("y", "XOR", ("ab", "c@1")), Gate("nc", "NOT", ("c@1",))),
    )
    layered = LayeredCircuit("h", ("a", "b", "c"), ("y", "z"), layers, ("y", "nc"))
    flat = Circuit.make(
        "h",
        ["a", "b", "c"],
        ["y", "z"],
        [g for layer in layers for g in layer],
        drivers=["y", "nc"],
    )
    inputs = all_inputs(3)
    want = reference(flat, inputs)
    np.testing.assert_array_equal(simulate_layered(layered, inputs), want)
    np.testing.assert_array_equal(want[:, 0], (inputs[:, 0] & inputs[:, 1]) ^ inputs[:, 2])


def test_simulate_layered_depth_zero_and_level_check() -> None:
    identity = LayeredCircuit("id", ("a", "b"), ("p", "q"), (), ("b", "a"))
    inputs = all_inputs(2)
    np.testing.assert_array_equal(simulate_layered(identity, inputs), inputs[:, ::-1].astype(bool))
    skipping = LayeredCircuit(
        "bad",
        ("a", "b"),
        ("y",),
        ((Gate("g", "AND", ("a", "b")),), (Gate("y", "OR", ("g", "a")),)),
        ("y",),
    )
    with pytest.raises(ValueError, match="level 1"):
        simulate_layered(skipping, inputs)


# --------------------------------------------------------------------------- input sets


@pytest.mark.parametrize("m", [0, 1, 3, 7])
def test_all_inputs(m: int) -> None:
    rows = all_inputs(m)
    assert rows.shape == (2**m, m)
    assert rows.dtype == np.uint8
    assert rows.tolist() == [list(t) for t in itertools.product((0, 1), repeat=m)]


def test_all_inputs_limit() -> None:
    assert all_inputs(20).shape == (2**20, 20)
    with pytest.raises(ValueError):
        all_inputs(21)


@FAST
@given(st.integers(0, 9), st.integers(0, 9), st.integers(0, 150), st.integers(0, 2**32 - 1))
def test_sparse_inputs_small(m: int, k: int, n: int, seed: int) -> None:
    rows = sparse_inputs(m, k, n, np.random.default_rng(seed))
    total = math.comb(m, k)
    assert rows.dtype == np.uint8
    assert rows.shape == (min(total, n), m)
    assert np.all(rows.sum(axis=1) == k)
    assert len({r.tobytes() for r in rows}) == len(rows)  # distinct
    if total <= n:  # all of them, lexicographic by support
        supports = [tuple(np.flatnonzero(r)) for r in rows]
        assert supports == list(itertools.combinations(range(m), k))


@pytest.mark.parametrize(("m", "k", "n"), [(2000, 3, 10_000), (2000, 1500, 10_000), (60, 2, 1000)])
def test_sparse_inputs_large_and_deterministic(m: int, k: int, n: int) -> None:
    rows = sparse_inputs(m, k, n, np.random.default_rng(1))
    assert rows.shape == (n, m)
    assert np.all(rows.sum(axis=1) == k)
    assert len({r.tobytes() for r in rows}) == n
    np.testing.assert_array_equal(rows, sparse_inputs(m, k, n, np.random.default_rng(1)))
    assert not np.array_equal(rows, sparse_inputs(m, k, n, np.random.default_rng(2)))


def test_sparse_inputs_support_is_uniform() -> None:
    rows = sparse_inputs(50, 5, 20_000, np.random.default_rng(3))
    per_column = rows.sum(axis=0)  # expected 2000 each, sd ~ 42
    assert per_column.min() > 1800 and per_column.max() < 2200


def test_sparse_inputs_rejects_negative() -> None:
    with pytest.raises(ValueError):
        sparse_inputs(5, -1, 3, np.random.default_rng(0))
