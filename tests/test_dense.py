"""The dense method: U-AND built the way a trained network computes it (codegen/dense.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen import dense, dense_readout
from circuit2mlp.compiler import CompileConfig, compile_circuit, lower
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
    """Where the dense network would need one neuron per gate, the exact gadgets are built
    (U-AND(5): the width grid starts at 2m = 10 neurons, one per gate)."""
    circuit = uand_circuit(5)
    network, report = compile_circuit(circuit, CompileConfig(method="dense", sparsity=2))
    assert network.neurons == report.exact_neurons
    assert verify(circuit, network, samples=1000, sparsity=2).overall.bit_errors == 0


def test_dense_error_model_tracks_measured_errors(monkeypatch):
    """Below its automatic width the shared readout's predicted wrong outputs per 2-hot sample
    bound the measured sample error rate and are within a factor of four of it (the per-gate
    fit switched off: on this small domain it reads every input right)."""
    monkeypatch.setattr(dense_readout, "DOMAIN_LIMIT", 0)
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


def two_hot_truth(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Every 2-hot input of U-AND(m) and its outputs by the truth table (an output is 1 when
    both its inputs are), pairs in the circuit's order."""
    a, b = np.triu_indices(m, k=1)
    x = np.zeros((a.size, m), dtype=np.float32)
    x[np.arange(a.size), a] = x[np.arange(a.size), b] = 1
    truth = x[:, a] * x[:, b]
    return x, truth


def test_dense_at_fixed_width_matches_the_truth_table():
    """Forced width, no fall-back: every 2-hot input of U-AND(32) on 200 neurons (0.4 per
    gate) gives the truth table's outputs, and verify agrees."""
    m = 32
    circuit = uand_circuit(m)
    network, report = compile_circuit(circuit, CompileConfig(method="dense", sparsity=2, width=200))
    assert network.neurons == 200 and report.layers[0]["kind"] == "dense"
    x, truth = two_hot_truth(m)
    out = network.forward(x) > 0.5
    assert np.array_equal(out, truth.astype(bool))
    result = verify(circuit, network, samples=1000, sparsity=2, seed=0)
    assert result.overall.bit_errors == 0


def test_dense_positive_weight_follows_the_error_model():
    """U-AND(128) at s = 2 on 378 neurons: a fixed positive weight of 4 missed every positive
    there; the weight the error model picks gets every sampled 2-hot input right."""
    circuit = uand_circuit(128)
    config = CompileConfig(method="dense", sparsity=2, width=378)
    network, report = compile_circuit(circuit, config)
    assert report.layers[0]["positive_weight"] > 4
    result = verify(circuit, network, samples=300, sparsity=2, seed=1)
    assert result.per_k[-1].sample_errors == 0
    assert report.predicted_errors < 0.01


def test_default_picks_dense_where_it_needs_fewer_neurons():
    """U-AND(32), s = 2: the default method builds the dense network (fewer neurons than the
    superposed one), and it meets the default target on every 2-hot input."""
    circuit = uand_circuit(32)
    network, report = compile_circuit(circuit, CompileConfig(sparsity=2))
    assert report.layers[0]["kind"] == "dense"
    dense.DEFAULT_MAY_PICK = False
    try:
        superposed, alone = compile_circuit(circuit, CompileConfig(sparsity=2))
    finally:
        dense.DEFAULT_MAY_PICK = True
    assert alone.layers[0].get("kind") != "dense"
    assert network.neurons < superposed.neurons
    x, truth = two_hot_truth(32)
    wrong = ((network.forward(x) > 0.5) != truth.astype(bool)).any(axis=1).mean()
    assert wrong <= 0.005


def test_default_keeps_superposed_where_dense_does_not_win():
    """Not dense: a U-AND whose dense network would need one neuron per gate (m = 5), one at
    s = 6 (a neuron fires for 1 in 64 6-hot inputs), inputs in superposition, a circuit that
    is not one layer of ANDs, and a forced width (where dense would predict fewer errors)."""
    cases = [
        (uand_circuit(5), CompileConfig(sparsity=2)),
        (uand_circuit(32), CompileConfig(sparsity=6)),
        (uand_circuit(32), CompileConfig(sparsity=2, input_dim=24)),
        (uand_circuit(32), CompileConfig(sparsity=3, width=124)),
        (load_circuit(REPO / "circuits/handwritten/full_adder.yaml"), CompileConfig()),
    ]
    for circuit, config in cases:
        layered = lower(circuit, config)
        assert not dense.dense_is_better(layered, config)
        _, report = compile_circuit(circuit, config)
        assert all(layer.get("kind") != "dense" for layer in report.layers)


def test_dense_wins_at_a_width_where_it_measures_better():
    """U-AND(32), s = 3, 124 neurons: the dense error model predicts fewer wrong outputs than
    the superposed one, and the dense network misreads fewer 3-hot samples than the
    superposed one at that width."""
    circuit = uand_circuit(32)
    config = CompileConfig(sparsity=3, width=124)
    assert dense.dense_wins_at(lower(circuit, config), config, 124)
    ours, _ = compile_circuit(circuit, dataclasses.replace(config, method="dense"))
    theirs, _ = compile_circuit(circuit, config)
    ours_k = verify(circuit, ours, samples=500, sparsity=3, seed=0).per_k[-1]
    theirs_k = verify(circuit, theirs, samples=500, sparsity=3, seed=0).per_k[-1]
    assert ours_k.sample_error_rate < theirs_k.sample_error_rate


def test_default_dense_is_exact_where_every_input_is_checked():
    """U-AND(60), s = 2 (every <= 2-hot input, 1,831, is few enough to check them all): the
    default builds dense on fewer neurons than the superposed method's 563, and like the
    superposed calibration it allows no error there (the error model's own width misread
    one of the 1,770 2-hot inputs; the held-out check widens it)."""
    circuit = load_circuit(REPO / "circuits/generated/uand60.yaml")
    network, report = compile_circuit(circuit, CompileConfig(sparsity=2))
    assert report.layers[0]["kind"] == "dense" and network.neurons < 563
    result = verify(circuit, network, samples=5000, sparsity=2, seed=0)
    assert result.overall.exhaustive and result.overall.bit_errors == 0


def test_fitted_readout_reports_what_the_network_gets_wrong_on_every_input(monkeypatch):
    """U-AND(32), s = 3 on 124 neurons (where networks trained on the task misread 11 % of
    3-hot inputs): the per-gate readout's wrong inputs per k, which the fit reports as exact,
    are what the compiled network's forward pass gets wrong against the truth table on every
    <= 3-hot input; and they are a small fraction of the shared readout's."""
    circuit = uand_circuit(32)
    config = CompileConfig(method="dense", sparsity=3, width=124)
    x = dense_readout.domain_inputs(32, 3).astype(np.float64)
    a, b, _ = dense.pairs_of(lower(circuit, config))
    truth = (x[:, a] * x[:, b]) > 0
    levels = x.sum(axis=1).astype(int)

    def wrong_per_k(network) -> np.ndarray:
        wrong = ((network.forward(x) > 0.5) != truth).any(axis=1)
        return np.bincount(levels[wrong], minlength=4)

    network, report = compile_circuit(circuit, config)
    assert report.layers[0]["readout"].startswith("per gate")
    fitted = wrong_per_k(network)
    assert fitted.tolist() == report.layers[0]["domain_wrong_inputs"]
    assert fitted[3] <= 0.01 * 4960 and fitted[:3].sum() == 0

    monkeypatch.setattr(dense_readout, "DOMAIN_LIMIT", 0)
    shared_network, shared_report = compile_circuit(circuit, config)
    assert shared_report.layers[0]["readout"].startswith("four")
    assert wrong_per_k(shared_network)[3] > 10 * max(fitted[3], 1)
