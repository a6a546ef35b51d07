"""The superposed and paper constructions themselves, at FIXED widths: no automatic width, so
no calibration and no exact fall-back can hide a broken construction. The circuits are large
enough that the network must share neurons (fewer neurons than gates), and verify (against
the bit-parallel simulator) must find no more errors than the error model predicts, within
a few sampling counts."""

from __future__ import annotations

import pytest

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.generate import random_circuit, uand_circuit
from circuit2mlp.verify import verify

SAMPLES = 1000
#: Measured errors may exceed the model's prediction by this factor (its independence
#: assumption is optimistic by up to about 2x at these sizes; docs/theory.md section 3) ...
MODEL_FACTOR = 3.0
#: ... plus this many wrong bits per sample in sampling noise (5 counts in SAMPLES).
COUNT_SLACK = 5 / SAMPLES


def _compile_and_verify(circuit, method: str, width: int, sparsity: int = 3):
    network, report = compile_circuit(
        circuit, CompileConfig(method=method, width=width, sparsity=sparsity)
    )
    result = verify(circuit, network, samples=SAMPLES, sparsity=sparsity, seed=7)
    return network, report, result


def _hardest(result, sparsity: int):
    return next(level for level in result.per_k if level.k == sparsity)


def _assert_superposed_throughout(report) -> None:
    """No fall-back, no gadgets standing in for shared neurons."""
    assert report.fallback_layers == []
    assert report.fallback_note is None
    assert report.emitted["shared_gates"] > 0
    assert report.neurons < report.gates


@pytest.mark.parametrize(
    ("method", "width"),
    [("superposed", 2500), ("paper", 4000)],
)
def test_uand_at_a_fixed_width_meets_the_error_model(method, width):
    """U-AND m = 250 (31,125 ANDs): every gate on shared neurons, fewer neurons than gates,
    and wrong output bits per 3-hot sample within the model's predicted wrong monomials."""
    circuit = uand_circuit(250)
    network, report, result = _compile_and_verify(circuit, method, width)
    _assert_superposed_throughout(report)
    assert report.emitted == {
        "shared_gates": 31_125,
        "dedicated_gates": 0,
        "clean_gates": 0,
        "carries": 0,
    }
    assert network.neurons == width
    hardest = _hardest(result, 3)
    measured = hardest.bit_errors / hardest.samples
    assert measured <= MODEL_FACTOR * report.predicted_errors + COUNT_SLACK, (
        measured,
        report.predicted_errors,
    )
    # and the network does compute: nearly every 3-hot sample is right
    assert hardest.sample_error_rate < 0.1


def test_superposed_beats_paper_at_the_same_fixed_width():
    circuit = uand_circuit(250)
    _, _, ours = _compile_and_verify(circuit, "superposed", 2500)
    _, _, paper = _compile_and_verify(circuit, "paper", 2500)
    assert _hardest(ours, 3).sample_errors < _hardest(paper, 3).sample_errors


def test_random_layered_circuit_at_a_fixed_width_meets_the_error_model():
    """A random layered circuit (600 inputs, 4 layers of 1,200 gates): the coincidence gates
    share 150 neurons per layer, the others take gadgets; fewer neurons than gates, and the
    hardest level's wrong samples within the model's prediction summed over the layers."""
    circuit = random_circuit(600, 1200, 4, seed=3)
    _, report, result = _compile_and_verify(circuit, "superposed", 150)
    _assert_superposed_throughout(report)
    for row in report.layers:
        assert row["shared_gates"] > 0, row
    assert report.neurons < report.exact_neurons
    hardest = _hardest(result, 3)
    assert hardest.sample_error_rate <= (
        MODEL_FACTOR * report.predicted_errors + COUNT_SLACK
    ), (hardest.sample_error_rate, report.predicted_errors)


def test_paper_without_width_uses_its_own_rule_and_no_gadgets():
    """The published construction alone: its own width rule, every gate superposed (no
    dedicated gadgets, no fall-back), whatever its error -- even on a circuit the hybrid
    would keep exact."""
    circuit = random_circuit(200, 300, 3, seed=1)
    _, report = compile_circuit(circuit, CompileConfig(method="paper", sparsity=3))
    assert report.fallback_layers == []
    assert report.emitted["dedicated_gates"] == 0
    assert report.emitted["clean_gates"] == 0
    assert report.emitted["shared_gates"] == report.gates - report.emitted["carries"]
    assert all("calibration" not in row for row in report.layers)
