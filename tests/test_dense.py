"""The dense method: U-AND built the way a trained network computes it (codegen/dense.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.generate import uand_circuit
from circuit2mlp.verify import verify

REPO = Path(__file__).resolve().parents[1]


def dense_arrays(network) -> list[np.ndarray]:
    matrices = [network.embed, *(m for layer in network.layers for m in layer)]
    return [m.toarray() if sp.issparse(m) else np.asarray(m) for m in [*matrices, *network.readout]]


def test_dense_uand_is_dense_and_correct():
    """At its automatic width the dense network gets every 2-hot input of U-AND(32) right,
    reads every input in every neuron and every neuron in every output."""
    circuit = uand_circuit(32)
    network, report = compile_circuit(circuit, CompileConfig(method="dense", sparsity=2))
    result = verify(circuit, network, samples=1000, sparsity=2, seed=3)
    assert result.overall.bit_errors == 0
    assert network.neurons < len(circuit.gates)  # fewer neurons than one per gate
    weight, bias = network.layers[0]
    weight = weight.toarray() if sp.issparse(weight) else weight
    assert set(np.unique(weight)) == {-1.0, 1.0} and np.all(bias == -1.0)
    readout = network.readout[0]
    readout = readout.toarray() if sp.issparse(readout) else readout
    assert np.count_nonzero(readout) == readout.size
    assert report.layers[0]["kind"] == "dense"
    assert report.predicted_errors <= 0.01


def test_dense_small_circuit_takes_exact_gadgets():
    """Where the dense network would need one neuron per gate, the exact gadgets are built."""
    circuit = uand_circuit(16)
    network, report = compile_circuit(circuit, CompileConfig(method="dense", sparsity=2))
    assert network.neurons == report.exact_neurons
    assert verify(circuit, network, samples=1000, sparsity=2).overall.bit_errors == 0


def test_dense_error_model_tracks_measured_errors():
    """Below its automatic width the predicted wrong outputs per 2-hot sample bound the
    measured sample error rate and are within a factor of four of it."""
    circuit = uand_circuit(24)
    network, report = compile_circuit(circuit, CompileConfig(method="dense", sparsity=2, width=60))
    measured = verify(circuit, network, samples=2000, sparsity=2, seed=0).per_k[-1]
    assert 0.02 < measured.sample_error_rate <= 1.5 * report.predicted_errors
    assert report.predicted_errors < 4 * measured.sample_error_rate


def test_dense_falls_back_to_superposed_elsewhere():
    """A circuit that is not one layer of two-input ANDs compiles as superposed would."""
    circuit = load_circuit(REPO / "circuits/handwritten/full_adder.yaml")
    dense, _ = compile_circuit(circuit, CompileConfig(method="dense"))
    superposed, _ = compile_circuit(circuit, CompileConfig(method="superposed"))
    pairs = zip(dense_arrays(dense), dense_arrays(superposed), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    assert dense.meta["method"] == "dense"
