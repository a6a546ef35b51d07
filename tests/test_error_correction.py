"""Error correction: clean gadgets remove bounded input noise, and cleaning the gates through
which much noise would pass keeps the noise on the wires of a deep superposed network from
building up with depth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gadget_eval import run_neurons

from circuit2mlp.codegen.exact import CLEAN_MARGIN, gadget_neurons
from circuit2mlp.codegen.gates import gate_arrays
from circuit2mlp.codegen.noise import passed_mass, sensitivity
from circuit2mlp.compiler import CompileConfig, compile_circuit, lower
from circuit2mlp.errors import UserError
from circuit2mlp.generate import random_circuit
from circuit2mlp.interp import wire_noise
from circuit2mlp.ir import Gate
from circuit2mlp.verify import level_inputs

OPS = ("BUF", "NOT", "AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ")


@pytest.mark.parametrize(
    ("op", "k"),
    [("BUF", 1), ("NOT", 1)]
    + [(op, k) for op in ("AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ") for k in (2, 3)],
)
def test_clean_gadgets_are_exact_under_noise(op, k):
    """Every input pattern, stored negation and output polarity: with noise of total size
    just under the margin on the inputs, the clean gadget still gives the exact value; the
    plain gadget passes the same noise on."""
    rng = np.random.default_rng(0)
    gate = Gate("g", op, tuple(f"x{i}" for i in range(k)))
    passed = 0.0
    for stored in itertools.product((False, True), repeat=k):
        for out_neg in (False, True):
            clean = gadget_neurons(gate, stored, out_neg, clean=True)
            plain = gadget_neurons(gate, stored, out_neg)
            for x in itertools.product((0, 1), repeat=k):
                seen = np.array([v ^ s for v, s in zip(x, stored, strict=True)], dtype=float)
                want = gate.evaluate(x) ^ out_neg
                for _ in range(8):
                    noise = rng.uniform(-1, 1, k)
                    noise *= 0.99 * CLEAN_MARGIN / np.abs(noise).sum()
                    assert run_neurons(clean, seen + noise) == pytest.approx(want, abs=1e-12)
                    passed = max(passed, abs(run_neurons(plain, seen + noise) - want))
    assert passed > 0.1  # the test's noise is big enough to matter


@pytest.mark.parametrize(("op", "k", "neurons"), [("AND", 2, 2), ("OR", 3, 2), ("XOR", 2, 4)])
def test_clean_gadgets_cost_two_neurons_per_step(op, k, neurons):
    gate = Gate("g", op, tuple(f"x{i}" for i in range(k)))
    assert len(gadget_neurons(gate, clean=True).biases) == neurons


def test_clean_gadget_shrinks_any_deviation_below_one_half():
    """A clean BUF maps a wire off by d < 1/2 to one off by max(0, (d - m)/(1 - 2m)) < d:
    repeated clean-ups drive such noise to zero; d > 1/2 is a wrong bit either way."""
    buf = gadget_neurons(Gate("g", "BUF", ("a",)), clean=True)
    m = CLEAN_MARGIN
    for d in np.linspace(0, 0.49, 50):
        for value in (0, 1):
            x = value + (d if value == 0 else -d)
            out = abs(run_neurons(buf, [x]) - value)
            assert out == pytest.approx(max(0.0, (d - m) / (1 - 2 * m)), abs=1e-12)
            assert out <= d


@pytest.fixture(scope="module")
def deep_circuit():
    """Twelve layers of 2,000 random fan-in-2 gates: sparse, a quarter of them coincidence
    gates that are superposed at width 320 and add read-off noise."""
    return random_circuit(inputs=2000, width=2000, depth=12, fan_in=2, seed=0)


def _noise(circuit, threshold: float, error_correction: bool = True):
    config = CompileConfig(
        sparsity=3, width=320, clean_threshold=threshold, error_correction=error_correction
    )
    network, report = compile_circuit(circuit, config)
    x = level_inputs(len(circuit.inputs), 3, 1000, np.random.default_rng(0))
    rows = wire_noise(network, circuit, x, layered=lower(circuit, config))
    return report, [r["noisy_wires_per_sample"] for r in rows]


def test_clean_ups_keep_the_noise_from_building_up(deep_circuit):
    """Wires off by more than 0.1 per sample: without clean-ups they pile up level after
    level; cleaning every gadget gate that would pass on 2 units of noise levels them off."""
    report, cleaned = _noise(deep_circuit, threshold=2.0)
    _, piled = _noise(deep_circuit, threshold=0.0)
    clean_gates = [r["clean_gates"] for r in report.layers]
    assert clean_gates[0] == 0 and clean_gates[-1] == 0  # inputs are clean; outputs at 1/2
    assert all(c > 0 for c in clean_gates[1:-1])
    layers = zip(clean_gates, report.layers, strict=True)
    assert all(c <= r["gates"] - r["shared_gates"] for c, r in layers)
    assert cleaned[:2] == piled[:2]  # level 1 is the same network
    inner = slice(1, len(piled) - 1)  # outputs are centred read-offs
    assert all(b > a for a, b in itertools.pairwise(piled[inner]))
    assert piled[-2] > 1.5 * piled[5]
    assert max(cleaned[5:-1]) < 1.1 * cleaned[5]
    assert cleaned[-2] < 0.5 * piled[-2]


def test_no_clean_ups_without_error_correction(deep_circuit):
    report, _ = _noise(deep_circuit, threshold=2.0, error_correction=False)
    assert all(r["clean_gates"] == 0 for r in report.layers)


def test_clean_threshold_must_be_finite_and_not_negative():
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(UserError, match="clean threshold"):
            CompileConfig(clean_threshold=bad).check()


@pytest.mark.parametrize(("op", "k"), [(op, k) for op in OPS for k in (1, 2, 3, 4)])
def test_sensitivity_is_the_chance_of_a_boolean_difference(op, k):
    """Oracle: enumerate the other inputs, weight each pattern by its probability under the
    independent frequencies, and count where flipping input i flips the gate."""
    if op in ("BUF", "NOT") and k != 1:
        return
    rng = np.random.default_rng(k)
    gate = Gate("g", op, tuple(f"x{i}" for i in range(k)))
    for literal in itertools.product((False, True), repeat=k):
        if any(literal) and op not in ("AND", "NAND"):
            continue
        g = gate if not any(literal) else _literal_cube(k, literal, op == "AND")
        freq = rng.uniform(0, 1, k)
        arrays = gate_arrays([g], {f"x{i}": i for i in range(k)})
        sens = sensitivity(arrays, freq)
        for i in range(k):
            want = 0.0
            for bits in itertools.product((0, 1), repeat=k):
                if bits[i]:
                    continue
                p = np.prod([freq[j] if b else 1 - freq[j] for j, b in enumerate(bits) if j != i])
                flipped = list(bits)
                flipped[i] = 1
                want += p * (g.evaluate(bits) != g.evaluate(tuple(flipped)))
            assert sens[i] == pytest.approx(want), (op, literal, i)


def test_passed_mass_sums_sensitive_inputs():
    gates = [
        Gate("a", "AND", ("x", "y")),
        Gate("o", "OR", ("x", "y")),
        Gate("e", "XOR", ("x", "y")),
    ]
    arrays = gate_arrays(gates, {"x": 0, "y": 1})
    freq = np.array([0.1, 0.2])
    mass = np.array([3.0, 5.0])
    passed = passed_mass(arrays, sensitivity(arrays, freq), mass)
    assert passed == pytest.approx([3 * 0.2 + 5 * 0.1, 3 * 0.8 + 5 * 0.9, 8.0])


def _literal_cube(k, literal, onset):
    from circuit2mlp.ir import Cover

    cube = "".join("0" if n else "1" for n in literal)
    return Gate("g", "SOP", tuple(f"x{i}" for i in range(k)), Cover((cube,), onset))


def test_exact_fallback_of_a_clean_up_layer_is_clean():
    """When a layer with clean gates falls back to exact gadgets (automatic widths), it uses
    clean gadgets too, its cost is what the width search compares against, and it reads noisy
    stored features exactly."""
    from circuit2mlp.codegen.activity import level_values, measure_activity
    from circuit2mlp.codegen.emit import emit_level
    from circuit2mlp.codegen.exact import exact_neurons_of
    from circuit2mlp.codegen.planners.superposed import all_gadgets
    from circuit2mlp.codegen.terms import layer_terms
    from circuit2mlp.simulate import unpack_bits

    circuit = random_circuit(inputs=200, width=200, depth=3, fan_in=2, seed=4)
    layered = lower(circuit, CompileConfig(sparsity=3))
    levels = measure_activity(layered, 3, np.random.default_rng(0))
    gates, level, out_flip = layered.layers[1], levels[1], levels[2].flip
    terms = layer_terms(gates, level, out_flip)
    clean = np.ones(len(gates), dtype=bool)
    block = emit_level(all_gadgets(1, gates, level, clean), layered, tuple(levels))
    assert block.neurons == exact_neurons_of(terms, clean=clean) > exact_neurons_of(terms)
    assert block.stats["clean_gates"] == len(gates)

    x = level_inputs(200, 3, 300, np.random.default_rng(1))
    values = level_values(layered, x)
    stored_in = unpack_bits(values[1], 300).T ^ level.flip[:, None]
    stored_out = unpack_bits(values[2], 300).T ^ out_flip[:, None]
    noise = np.random.default_rng(2).uniform(-0.12, 0.12, stored_in.shape)  # two inputs < 0.25
    h = np.maximum(block.weight @ (stored_in + noise) + block.bias[:, None], 0)
    read = block.features.readout @ h + block.features.bias[:, None]
    assert np.abs(read - stored_out).max() < 1e-5


def test_no_clean_gadgets_when_calibration_saw_every_input(corpus):
    """rd73 has 7 inputs: the automatic width calibrates on every <= 2-hot input, which bounds
    every wire on all the inputs the network is built for, so clean gadgets would only cost;
    at a fixed width nothing was checked and the same threshold cleans."""
    from circuit2mlp.formats import load_circuit

    circuit = load_circuit(corpus / "real/lgsynth93_pla/rd73.blif")
    _, auto = compile_circuit(circuit, CompileConfig(sparsity=2, clean_threshold=1e-6))
    assert sum(r.get("shared_gates", 0) for r in auto.layers) > 0
    assert sum(r.get("clean_gates", 0) for r in auto.layers) == 0
    config = CompileConfig(sparsity=2, width=64, clean_threshold=1e-6)
    _, fixed = compile_circuit(circuit, config)
    assert sum(r.get("clean_gates", 0) for r in fixed.layers) > 0


def test_wire_noise_is_the_same_in_chunks():
    """wire_noise runs big batches in chunks of samples; the counts must not depend on it."""
    circuit = random_circuit(inputs=300, width=300, depth=4, fan_in=2, seed=2)
    config = CompileConfig(sparsity=3, width=48)
    network, _ = compile_circuit(circuit, config)
    x = level_inputs(300, 3, 500, np.random.default_rng(3))
    layered = lower(circuit, config)
    whole = wire_noise(network, circuit, x, layered=layered)
    chunked = wire_noise(network, circuit, x, layered=layered, budget=300 * 37)
    assert whole == chunked
    assert max(r["noisy_wires_per_sample"] for r in whole) > 0
