"""Error correction: clean gadgets remove bounded input noise, and clean-up layers keep the
noise on the wires of a deep superposed network from building up with depth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from circuit2mlp.codegen.exact import CLEAN_MARGIN, gadget_neurons
from circuit2mlp.compiler import CompileConfig, compile_circuit, lower
from circuit2mlp.errors import UserError
from circuit2mlp.generate import random_circuit
from circuit2mlp.interp import wire_noise
from circuit2mlp.ir import Gate
from circuit2mlp.verify import level_inputs


def _run(neurons, x) -> float:
    pre = np.asarray(neurons.weights, dtype=float) @ np.asarray(x, dtype=float)
    pre += np.asarray(neurons.biases)
    return float(neurons.const + np.asarray(neurons.coefs) @ np.maximum(pre, 0.0))


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
                    assert _run(clean, seen + noise) == pytest.approx(want, abs=1e-12)
                    passed = max(passed, abs(_run(plain, seen + noise) - want))
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
            out = abs(_run(buf, [x]) - value)
            assert out == pytest.approx(max(0.0, (d - m) / (1 - 2 * m)), abs=1e-12)
            assert out <= d


@pytest.fixture(scope="module")
def deep_circuit():
    """Nine layers of 2,000 random fan-in-2 gates: sparse, a quarter of them coincidence
    gates that are superposed at width 320 and add read-off noise."""
    return random_circuit(inputs=2000, width=2000, depth=9, fan_in=2, seed=0)


def _noise(circuit, clean_every: int, error_correction: bool = True):
    config = CompileConfig(
        sparsity=3, width=320, clean_every=clean_every, error_correction=error_correction
    )
    network, report = compile_circuit(circuit, config)
    x = level_inputs(len(circuit.inputs), 3, 1000, np.random.default_rng(0))
    rows = wire_noise(network, circuit, x, layered=lower(circuit, config))
    return report, [r["noisy_wires_per_sample"] for r in rows]


def test_clean_up_layer_resets_the_noise(deep_circuit):
    """After four layers with superposed neurons, layer 4 cleans every gadget gate reading a
    noisy wire: the wires off by more than 0.1 drop to the level of one layer's fresh noise,
    while without clean-ups they keep piling up."""
    report, cleaned = _noise(deep_circuit, clean_every=4)
    clean_gates = [r["clean_gates"] for r in report.layers]
    assert clean_gates[4] > 0
    assert clean_gates[:4] == [0] * 4 and clean_gates[5:] == [0] * 4  # 8 is the last
    assert clean_gates[4] <= report.layers[4]["exact_gates"]
    _, piled = _noise(deep_circuit, clean_every=0)
    assert cleaned[:5] == piled[:5]  # the same network up to the clean-up
    assert piled[5] > piled[4] > piled[1] > 0
    assert cleaned[5] < 0.5 * cleaned[4]
    assert cleaned[5] < 1.5 * cleaned[1]  # back to about one layer's fresh noise
    assert max(cleaned) < max(piled)


def test_clean_ups_only_where_noise_is():
    """Inputs are clean, so a clean-up scheduled first changes nothing; with error
    correction off there are no clean-ups at all."""
    config = CompileConfig(sparsity=3, width=320, clean_every=1)
    _, report = compile_circuit(random_circuit(2000, 2000, 3, fan_in=2, seed=1), config)
    assert report.layers[0]["clean_gates"] == 0
    assert report.layers[1]["clean_gates"] > 0
    off = CompileConfig(sparsity=3, width=320, clean_every=1, error_correction=False)
    _, report = compile_circuit(random_circuit(2000, 2000, 3, fan_in=2, seed=1), off)
    assert all(r["clean_gates"] == 0 for r in report.layers)


def test_clean_every_must_not_be_negative():
    with pytest.raises(UserError, match="clean-every"):
        CompileConfig(clean_every=-1).check()


def test_exact_fallback_of_a_clean_up_layer_is_clean():
    """When a clean-up layer falls back to exact gadgets (automatic widths), the fallback uses
    clean gadgets too, its cost is what the width search compares against, and it reads noisy
    stored features exactly."""
    from circuit2mlp.codegen.activity import level_values, measure_activity
    from circuit2mlp.codegen.pipeline import _all_dedicated, _reads
    from circuit2mlp.codegen.superposed import SuperposeOptions, exact_neurons_of, layer_terms
    from circuit2mlp.simulate import unpack_bits

    circuit = random_circuit(inputs=200, width=200, depth=3, fan_in=2, seed=4)
    layered = lower(circuit, CompileConfig(sparsity=3))
    levels = measure_activity(layered, 3, np.random.default_rng(0))
    gates, level, out_flip = layered.layers[1], levels[1], levels[2].flip
    terms = layer_terms(gates, level, out_flip)
    clean = _reads(terms, np.ones(len(level.names), dtype=bool))
    assert clean.all()
    block = _all_dedicated(gates, level, out_flip, SuperposeOptions(), clean)
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
