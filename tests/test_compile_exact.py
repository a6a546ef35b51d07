"""The exact method is right on every input: random circuits, hand-written and real ones.

Oracles: the bit-parallel simulator and the per-sample reference evaluator (Circuit.evaluate),
which share no code with codegen.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import circuits

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.simulate import all_inputs, simulate

SHARED_COMBINATIONAL = ("blif/epfl", "blif/lgsynth93", "blif/lgsynth93_pla", "bench")


def network_bits(network, x):
    return network.forward(x) > 0.5


def check_exact(circuit, x, max_fanin=4):
    network, report = compile_circuit(circuit, CompileConfig(method="exact", max_fanin=max_fanin))
    expected = simulate(circuit, x)
    got = network_bits(network, x)
    assert got.shape == expected.shape
    wrong = np.argwhere(got != expected)
    assert wrong.size == 0, f"{circuit.name}: first wrong (sample, output) {wrong[:3].tolist()}"
    assert report.neurons == report.exact_neurons == network.neurons
    return network


@settings(max_examples=60, deadline=None)
@given(circuits(max_inputs=6, max_gates=14), st.integers(2, 5))
def test_random_circuits_exhaustive(circuit, max_fanin):
    x = all_inputs(len(circuit.inputs))
    network = check_exact(circuit, x, max_fanin)
    for row in x[:8]:  # the reference evaluator agrees too
        assert tuple(network_bits(network, row[None])[0]) == tuple(map(bool, circuit.evaluate(row)))


def test_handwritten_corpus_exhaustive(corpus):
    for path in sorted((corpus / "handwritten").glob("*.yaml")):
        circuit = load_circuit(path)
        check_exact(circuit, all_inputs(len(circuit.inputs)))


def shared_files(root):
    for sub in SHARED_COMBINATIONAL:
        yield from sorted(p for p in (root / sub).glob("*") if p.suffix in (".blif", ".bench"))


def test_shared_circuits_exact(shared_circuits):
    """Every combinational shared file: exhaustive when <= 16 inputs, else 10,000 random inputs
    (dense, not only sparse: the exact method must be right everywhere)."""
    rng = np.random.default_rng(0)
    files = list(shared_files(shared_circuits))
    assert len(files) >= 60
    for path in files:
        circuit = load_circuit(path)
        m = len(circuit.inputs)
        if m <= 16:
            x = all_inputs(m)
        else:
            x = (rng.random((10_000, m)) < rng.uniform(0.05, 0.5)).astype(np.uint8)
        check_exact(circuit, x)


@pytest.mark.parametrize("seed", [0, 7])
def test_exact_is_deterministic(tmp_path, corpus, seed):
    circuit = load_circuit(corpus / "real/lgsynth93/C432.blif")
    paths = []
    for i in range(2):
        network, _ = compile_circuit(circuit, CompileConfig(method="exact", seed=seed))
        paths.append(tmp_path / f"w{i}.npz")
        network.save(paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
