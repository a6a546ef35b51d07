"""Generators: U-AND is exactly the pairwise ANDs; random circuits have the promised shape,
are reproducible by seed, and keep their activity small and steady over depth."""

import subprocess
import sys
from math import comb

import numpy as np
import pytest

from circuit2mlp.formats import load_circuit, parse_circuit
from circuit2mlp.generate import (
    activity_profile,
    gate_levels,
    random_circuit,
    uand_circuit,
    uand_text,
)
from circuit2mlp.ir import Circuit
from circuit2mlp.simulate import simulate, sparse_inputs

CLI = [sys.executable, "-m", "circuit2mlp.cli"]


def revalidated(circuit: Circuit) -> Circuit:
    """The generators skip validation for speed; rebuilding through the builder checks it."""
    return Circuit.make(
        circuit.name, circuit.inputs, circuit.outputs, circuit.gates, drivers=circuit.drivers
    )


@pytest.mark.parametrize("m", [2, 3, 17, 60])
def test_uand_gate_count_and_names(m):
    circuit = uand_circuit(m)
    assert revalidated(circuit) == circuit
    assert len(circuit.gates) == len(circuit.outputs) == comb(m, 2)
    assert circuit.inputs == tuple(f"x{i}" for i in range(m))
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    assert circuit.outputs == tuple(f"and_{i}_{j}" for i, j in pairs)
    assert all(g.op == "AND" and len(g.fanin) == 2 for g in circuit.gates)


def test_uand_truth_on_random_inputs():
    m = 40
    circuit = uand_circuit(m)
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.integers(0, 2, size=(300, m)), sparse_inputs(m, 2, 300, rng)], axis=0
    ).astype(np.uint8)
    got = simulate(circuit, x)
    i, j = np.triu_indices(m, k=1)
    want = (x[:, i] & x[:, j]).astype(bool)
    assert np.array_equal(got, want)
    # on a 2-hot input exactly one output is 1: the AND of the two active inputs
    two_hot = got[300:]
    assert (two_hot.sum(axis=1) == 1).all()


@pytest.mark.parametrize("fmt", ["yaml", "bench", "blif"])
def test_uand_text_parses_to_the_circuit(fmt):
    m = 23
    parsed = parse_circuit(uand_text(m, fmt), fmt, path=f"uand{m}.{fmt}")
    circuit = uand_circuit(m)
    assert parsed.inputs == circuit.inputs and parsed.outputs == circuit.outputs
    if fmt == "blif":  # BLIF has no AND: each gate is the one-cube cover 11
        assert all(g.op == "SOP" and g.cover.cubes == ("11",) for g in parsed.gates)
        assert [g.fanin for g in parsed.gates] == [g.fanin for g in circuit.gates]
    else:
        assert parsed == circuit


def test_uand_text_at_a_million_gates():
    text = uand_text(1415, "yaml")
    gate_lines = text.count(": [and, x")
    assert gate_lines == comb(1415, 2) == 1_000_405
    assert text.splitlines()[-1] == "  and_1413_1414: [and, x1413, x1414]"


@pytest.mark.parametrize("fan_in", [2, 3])
@pytest.mark.parametrize("negations", [True, False])
def test_random_shape(fan_in, negations):
    m, width, depth = 70, 60, 5
    circuit = random_circuit(m, width, depth, fan_in, seed=3, negations=negations)
    assert revalidated(circuit) == circuit
    levels = gate_levels(circuit)
    assert [len(level) for level in levels] == [width] * depth
    assert levels[0] == [f"g0_{j}" for j in range(width)]
    level_of = {s: 0 for s in circuit.inputs}
    level_of.update({g: i + 1 for i, level in enumerate(levels) for g in level})
    read = set()
    for gate in circuit.gates:
        assert len(gate.fanin) == len(set(gate.fanin)) == fan_in
        assert {level_of[s] for s in gate.fanin} == {level_of[gate.name] - 1}
        read.update(gate.fanin)
        if not negations:
            assert gate.op in ("AND", "OR", "XOR", "MAJ")
    assert circuit.outputs == tuple(levels[-1])
    # every wire is read by a later gate or is an output
    assert set(circuit.signals) - read == set(circuit.outputs)
    # no dense gate: the all-zero input leaves every gate 0
    zero = simulate(
        Circuit.make("all", circuit.inputs, circuit.signals[m:], circuit.gates),
        np.zeros((1, m), dtype=np.uint8),
    )
    assert not zero.any()


@pytest.mark.parametrize(
    ("m", "width", "fan_in"), [(15, 6, 4), (8, 3, 3), (4, 4, 4), (2, 2, 2), (14, 4, 4)]
)
@pytest.mark.parametrize("negations", [True, False])
def test_random_tiny_layers_still_valid(m, width, fan_in, negations):
    """Layers barely wider than the fan-in: distinct inputs and every wire read, for every
    seed (the case where swapping duplicates away alone can get stuck)."""
    for seed in range(5):
        circuit = random_circuit(m, width, 3, fan_in, seed, negations=negations)
        assert revalidated(circuit) == circuit
        assert all(len(set(g.fanin)) == fan_in for g in circuit.gates)
        read = {s for g in circuit.gates for s in g.fanin}
        assert set(circuit.signals) - read == set(circuit.outputs)


def test_random_is_deterministic_by_seed():
    a = random_circuit(50, 40, 4, 2, seed=7)
    assert a == random_circuit(50, 40, 4, 2, seed=7)
    assert a != random_circuit(50, 40, 4, 2, seed=8)


def test_random_taps_add_intermediate_outputs():
    circuit = random_circuit(30, 30, 4, 2, seed=0, taps=5)
    assert len(circuit.outputs) == 35
    taps = circuit.outputs[30:]
    assert all(not name.startswith("g3_") for name in taps)
    assert len(set(taps)) == 5


def test_random_rejects_impossible_shapes():
    with pytest.raises(ValueError, match="cannot all be read"):
        random_circuit(100, 10, 2, 2)
    with pytest.raises(ValueError, match="fan-in"):
        random_circuit(10, 10, 2, 1)


@pytest.mark.parametrize(("fan_in", "sparsity"), [(2, 3), (3, 3), (2, 6)])
def test_random_activity_stays_bounded_over_depth(fan_in, sparsity):
    """Under exactly-s-hot inputs the active wires per layer neither die out nor grow: the
    mean stays within 25% of s at every one of 16 layers, and hardly any sample goes dark."""
    circuit = random_circuit(600, 600, 16, fan_in, seed=0)
    profile = activity_profile(circuit, sparsity, samples=1024, seed=0)
    assert len(profile) == 16
    means = np.array([row["mean"] for row in profile])
    assert (means > 0.75 * sparsity).all() and (means < 1.25 * sparsity).all(), means
    assert max(row["all_zero"] for row in profile) < 0.01
    assert max(row["max"] for row in profile) <= 4 * sparsity


def test_cli_generate_writes_parseable_files(tmp_path):
    out = tmp_path / "u.blif"
    result = subprocess.run(
        [*CLI, "generate", "uand", "--inputs", "12", "-o", out], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert len(load_circuit(out).gates) == comb(12, 2)
    out = tmp_path / "r.yaml"
    args = ["generate", "random", "-m", "40", "-G", "30", "-L", "3", "--seed", "2", "-o", out]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "active wires per layer" in result.stderr
    assert load_circuit(out) == random_circuit(40, 30, 3, 2, seed=2, name="r")
    bad = ["generate", "random", "-m", "100", "-G", "10", "-L", "2", "-o", tmp_path / "x.yaml"]
    result = subprocess.run([*CLI, *bad], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot all be read" in result.stderr
    assert not (tmp_path / "x.yaml").exists()
