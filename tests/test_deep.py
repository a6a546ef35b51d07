"""The ``deep`` method: every level in superposition, checked against the bit-parallel
simulator (the oracle) and against its own error model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from circuit2mlp.codegen.deep_items import gate_items
from circuit2mlp.codegen.deep_model import sample_error
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.generate import random_circuit
from circuit2mlp.ir import Circuit, Cover, Gate, op_profile
from circuit2mlp.simulate import all_inputs, simulate, sparse_inputs
from tests.strategies import circuits

COMPLEMENT = {"AND": "NAND", "OR": "NOR", "XOR": "XNOR"}


def mixed_circuit(width: int, depth: int, fan_in: int, seed: int) -> Circuit:
    """A random sparse layered circuit with every gate kind: the generator's AND, OR, XOR,
    AND with negated inputs and MAJ3, a quarter of the gates replaced by their complement
    (NAND, NOR, XNOR, OFF-set cubes: dense wires the compiler stores negated) and some ORs
    turned into OR(a, NOT b) (an OFF-set cube)."""
    base = random_circuit(width, width, depth, fan_in=fan_in, seed=seed)
    rng = np.random.default_rng(seed + 1)
    gates = []
    for gate in base.gates:
        roll = rng.random()
        if roll < 0.25 and gate.op in COMPLEMENT:
            gate = Gate(gate.name, COMPLEMENT[gate.op], gate.fanin)
        elif roll < 0.25 and gate.op == "SOP":
            gate = Gate(gate.name, "SOP", gate.fanin, Cover(gate.cover.cubes, onset=False))
        elif roll > 0.9 and gate.op == "OR":
            cube = "0" + "1" * (len(gate.fanin) - 1)
            gate = Gate(gate.name, "SOP", gate.fanin, Cover((cube,), onset=False))
        gates.append(gate)
    return Circuit.make(base.name, base.inputs, base.outputs, gates)


def sample_errors(circuit: Circuit, network, k: int, n: int, seed: int = 5) -> np.ndarray:
    """Per sample: does any output bit differ from the simulator's?"""
    x = sparse_inputs(len(circuit.inputs), k, n, np.random.default_rng(seed))
    want = simulate(circuit, x).astype(bool)
    got = network.forward(x) > 0.5
    return (want != got).any(axis=1)


@pytest.mark.parametrize("op", ["AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ", "BUF"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_items_are_the_gate(op: str, k: int) -> None:
    """For every polarity of inputs and output, const + sign * (signed sum of items) equals
    the gate on every input; a cover has disjoint supports (at most one item on), a step form
    nested ones read with weight +1."""
    if op == "BUF" and k != 1:
        return
    profile = op_profile(op, k)
    for flips in itertools.product([False, True], repeat=k):
        for out_flip in (False, True):
            items = gate_items(op, flips, out_flip)
            for x in itertools.product([0, 1], repeat=k):
                true = [a ^ int(f) for a, f in zip(x, flips, strict=True)]
                want = profile[sum(true)] ^ int(out_flip)
                on = [
                    int(np.dot(w, x) >= t)
                    for w, t in zip(items.weights, items.thresholds, strict=True)
                ]
                if min(items.signs, default=1) > 0:
                    assert sum(on) <= 1  # a cover: disjoint supports
                else:  # steps: nested supports, every partial sum 0 or 1
                    assert all(w == (1,) * k for w in items.weights)
                    assert sorted(items.thresholds) == list(items.thresholds)
                    partial = np.cumsum([o * g for o, g in zip(on, items.signs, strict=True)])
                    assert set(partial.tolist()) <= {0, 1}
                value = sum(o * g for o, g in zip(on, items.signs, strict=True))
                assert items.const + items.sign * value == want


def test_common_gates_are_one_item() -> None:
    """The kinds of sparse circuits take one slot item each (XOR two)."""
    assert gate_items("OR", (False, False), False).thresholds == (1,)
    assert gate_items("AND", (False, False), False).thresholds == (2,)
    assert gate_items("AND", (False, True), False).weights == ((1, -1),)
    assert gate_items("NAND", (False, False), True).thresholds == (2,)
    assert gate_items("MAJ", (False,) * 3, False).thresholds == (2,)
    xor = gate_items("XOR", (False, False), False)
    assert (xor.thresholds, xor.signs) == ((1, 2), (1, -1))  # OR minus AND: no -1 reads
    xor3 = gate_items("XOR", (False,) * 3, False)
    assert (xor3.thresholds, xor3.signs) == ((1, 2, 3), (1, -1, 1))  # a cover takes four
    assert gate_items("XNOR", (False, True), False).thresholds == (1, 2)


@pytest.fixture(scope="module")
def wide() -> tuple[Circuit, object, object]:
    """32,000 gates per level, fan-in 3, every kind, compiled at a fixed width below one
    neuron per gate."""
    circuit = mixed_circuit(32_000, 2, 3, seed=3)
    network, report = compile_circuit(
        circuit, CompileConfig(method="deep", sparsity=3, width=29_000, seed=0)
    )
    return circuit, network, report


def test_fixed_width_superposes_every_level(wide) -> None:
    """Fewer neurons than gates on every level (no fall-back to gadgets), and the outputs
    agree with the simulator on 3-hot inputs."""
    circuit, network, report = wide
    for row in report.layers:
        assert row["kind"] == "deep"
        assert row["neurons"] < 0.95 * row["features"]
        assert row["wires_per_neuron"] > 1.0
    wrong = sample_errors(circuit, network, 3, 400)
    assert wrong.mean() <= 0.01


def test_error_within_model(wide) -> None:
    """The measured share of wrong 3-hot samples is within the error model's prediction (with
    room for sampling noise: at most predicted + 1 % on 400 samples)."""
    circuit, network, report = wide
    predicted = sample_error([r["predicted_errors"] for r in report.layers])
    wrong = sample_errors(circuit, network, 3, 400, seed=9)
    assert wrong.mean() <= 2 * predicted + 0.01


def test_fan_in_two_kinds() -> None:
    """Fan-in 2 mix (AND, OR, XOR, AND(a, NOT b), complements) at a fixed width."""
    circuit = mixed_circuit(24_000, 2, 2, seed=4)
    network, report = compile_circuit(
        circuit, CompileConfig(method="deep", sparsity=3, width=22_000, seed=1)
    )
    assert all(r["neurons"] < r["features"] for r in report.layers)
    assert sample_errors(circuit, network, 3, 300).mean() <= 0.01
    assert sample_errors(circuit, network, 1, 200).mean() == 0.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(max_inputs=5, max_gates=10))
def test_exact_with_enough_width(circuit: Circuit) -> None:
    """Given enough width every pool is dedicated (one slot per item) and the network is
    exact on every <= s-hot input."""
    s = 3
    network, _ = compile_circuit(circuit, CompileConfig(method="deep", sparsity=s, width=10**6))
    x = all_inputs(len(circuit.inputs))
    x = x[x.sum(axis=1) <= s]
    want = simulate(circuit, x).astype(bool)
    got = network.forward(x)
    assert np.array_equal(got > 0.5, want)
    assert np.abs(got - want).max() < 1e-4


def test_same_seed_same_weights() -> None:
    circuit = mixed_circuit(2_000, 2, 2, seed=2)
    config = CompileConfig(method="deep", sparsity=3, width=1_500, seed=4)
    a, _ = compile_circuit(circuit, config)
    b, _ = compile_circuit(circuit, config)
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers, strict=True):
        assert (wa != wb).nnz == 0 if hasattr(wa, "nnz") else np.array_equal(wa, wb)
        assert np.array_equal(ba, bb)


def test_default_takes_deep_only_where_superposed_cannot_share() -> None:
    """The default's switch: wide levels of plain ANDs (coincidence gates, cheap on the
    superposed method's shared neurons, as in U-AND) stay superposed even though the deep
    model needs fewer neurons than their exact gadgets; a wide sparse random circuit of
    mostly linear gates (OR, XOR, AND with a negated input) goes deep at 30,000 gates per
    level; at 20,000 the model's fade (an XOR's second step fires on any other active input
    sharing its slot, likelier the denser the level) asks for more than the gadgets."""
    from circuit2mlp.codegen.planners.deep import DEEP_MIN_WIRES, _deep_is_cheaper
    from circuit2mlp.compiler import lower

    config = CompileConfig(sparsity=3, seed=0)
    n = DEEP_MIN_WIRES
    ands = lower(random_circuit(n, n, 3, seed=0, mix={"and": 1.0}, negations=False), config)
    assert not _deep_is_cheaper(ands, config)
    assert not _deep_is_cheaper(lower(random_circuit(n, n, 3, seed=0), config), config)
    wide = lower(random_circuit(30_000, 30_000, 3, seed=0), config)
    assert _deep_is_cheaper(wide, config)


@pytest.mark.parametrize(
    "fanin", [("x0", "x1", "x2", "x3"), ("x0", "x0", "x0", "x1")], ids=["xor4", "repeated"]
)
def test_many_item_gate_exact_with_enough_width(fanin: tuple[str, ...]) -> None:
    """XOR4 is eight items, four of them at threshold 3: with width to spare each gets its own
    slot (two of them sharing one slot once read 2 on 3-hot inputs)."""
    inputs = tuple(dict.fromkeys(fanin))
    circuit = Circuit(
        name="xor4",
        inputs=inputs,
        outputs=("y0",),
        drivers=("g0",),
        gates=(Gate(name="g0", op="XOR", fanin=fanin),),
    )
    network, _ = compile_circuit(circuit, CompileConfig(method="deep", sparsity=3, width=10**6))
    x = all_inputs(len(inputs))
    x = x[x.sum(axis=1) <= 3]
    assert np.array_equal(network.forward(x) > 0.5, simulate(circuit, x).astype(bool))


def test_chain_model_sees_the_chain_reaction() -> None:
    """The per-sample chain pass: no error with every pool dedicated; at a narrow width the
    noise of one level fires slots at the next and the predicted share of wrong samples climbs
    with depth towards 1, while at a wide one it stays small."""
    from circuit2mlp.codegen.deep_chain import LayerPlanView, chain_errors, chain_sample_error
    from circuit2mlp.codegen.deep_model import PoolInputs

    pool = PoolInputs(theta=1, n=100_000, active=4.0, fanin=1.1, input_density=4e-5, reach=1.4)
    activity = np.ones(512)

    def predicted(slots: int, depth: int) -> float:
        views = [LayerPlanView([pool], [slots], [8], activity) for _ in range(depth)]
        return chain_sample_error(chain_errors(views, np.random.default_rng(0)))

    assert predicted(100_000, 4) == 0.0
    narrow = [predicted(14_000, d) for d in (1, 2, 8)]
    assert narrow[0] < narrow[1] < narrow[2] and narrow[2] > 0.5
    assert predicted(40_000, 24) < 0.01


def test_automatic_width_scales_linear_pools_only() -> None:
    """At the automatic width the chain scale moves the linear pool down to MAX_LINEAR_LOAD
    items per slot; a coincidence pool sits at MAX_COINCIDENCE_LOAD items per slot whatever
    the scale, and a layer without a linear pool scales its coincidence pools instead."""
    from circuit2mlp.codegen.deep import PoolPlan
    from circuit2mlp.codegen.deep_model import PoolInputs
    from circuit2mlp.codegen.deep_pipeline import (
        MAX_COINCIDENCE_LOAD,
        MAX_LINEAR_LOAD,
        _scaled_layer,
    )

    def pool(theta: int, n: int) -> PoolInputs:
        return PoolInputs(theta=theta, n=n, active=4.0, fanin=2.0, input_density=4e-5)

    model = [pool(1, 60_000), pool(2, 50_000)]
    plans = [
        PoolPlan(1, np.arange(60_000), 20_000, 8),
        PoolPlan(2, np.arange(50_000), 13_000, 8),
    ]
    floor = -(-50_000 * 8 // MAX_COINCIDENCE_LOAD)
    least = -(-60_000 * 8 // MAX_LINEAR_LOAD)
    for scale in (0.5, 1.0, 2.0):
        linear, coincidence = _scaled_layer(plans, model, scale, 8)
        assert linear.slots == max(round(20_000 * scale), least)
        assert coincidence.slots == floor
    assert _scaled_layer(plans, model, 0.1, 8)[0].slots == least
    spread = _scaled_layer(plans, model, 1.0, 8, spread=2.0)[1]
    assert spread.slots == -(-50_000 * 8 * 2 // MAX_COINCIDENCE_LOAD)
    only = _scaled_layer(plans[1:], model[1:], 0.5, 8)
    assert only[0].slots == 6_500


def test_automatic_width_evens_the_linear_load() -> None:
    """Before the chain scale, every layer's shared linear pool is set to the pools' common
    mean load, whatever slots the level pass gave each; coincidence pools and dedicated
    pools keep theirs."""
    from circuit2mlp.codegen.deep import PoolPlan
    from circuit2mlp.codegen.deep_model import PoolInputs
    from circuit2mlp.codegen.deep_pipeline import _even_linear_load

    def pool(theta: int, n: int) -> PoolInputs:
        return PoolInputs(theta=theta, n=n, active=4.0, fanin=2.0, input_density=4e-5)

    layers = [
        (
            None,
            [pool(1, 60_000), pool(2, 50_000)],
            [PoolPlan(1, np.arange(60_000), 16_000, 8), PoolPlan(2, np.arange(50_000), 5_000, 8)],
        ),
        (None, [pool(1, 40_000)], [PoolPlan(1, np.arange(40_000), 14_000, 8)]),
        (None, [pool(1, 500)], [PoolPlan(1, np.arange(500), 500, 8)]),
    ]
    even = _even_linear_load(layers, 8)
    load = (60_000 + 40_000) * 8 / (16_000 + 14_000)
    assert [p.slots for p in even[0][2]] == [math.ceil(60_000 * 8 / load), 5_000]
    assert even[1][2][0].slots == math.ceil(40_000 * 8 / load)
    assert even[2][2][0].slots == 500
    first, second = even[0][2][0], even[1][2][0]
    assert abs(60_000 / first.slots - 40_000 / second.slots) < 1e-3 * 60_000 / first.slots


def test_fade_transition_matches_a_simulation_of_its_slots() -> None:
    """The fade pass's transition of an active read-off (grid distribution of the mean of q
    ramped slots, each at v plus Poisson cross-talk up and down, or killed) against drawing
    those slots directly."""
    from circuit2mlp.codegen.deep import HIGH, LOW
    from circuit2mlp.codegen.deep_chain import GRID, _fade_transition

    up, down, kill, q_prev, q = 0.4, 1.5, 0.03, 8, 8
    step = _fade_transition(
        np.array([up]), np.array([down]), np.array([kill]), q_prev, q, LOW, HIGH
    )[0]
    rng = np.random.default_rng(0)
    for v_index in (GRID, 56, 48):
        v = v_index / GRID
        draws = 400_000
        z = v + (rng.poisson(up, (draws, q)) - rng.poisson(down, (draws, q))) / q_prev
        z = np.where(rng.random((draws, q)) < kill, v - 1.0, z)
        read = np.clip((z - LOW) / (HIGH - LOW), 0.0, 1.0).mean(axis=1)
        for cut in (0.5, 0.7, 0.9):
            simulated = float((read < cut).mean())
            modelled = float(step[v_index, np.arange(GRID + 1) / GRID < cut - 1e-9].sum())
            assert abs(modelled - simulated) < 0.01 + 0.1 * simulated, (v, cut)


def test_sibling_shift_takes_slots_off_active_gates() -> None:
    """A share of the active gates loses Poisson(units) slots of 1/q: none at share 0; at
    share 1 the mass moves down by multiples of 1/q and what falls below 1/2 is lost."""
    from circuit2mlp.codegen.deep_chain import GRID, _sibling_shift

    alive = np.zeros((2, GRID + 1))
    alive[:, GRID] = 1.0
    kept, lost = _sibling_shift(alive, np.array([0.0, 1.0]), np.array([2.0, 2.0]), 8)
    assert np.allclose(kept[0], alive[0]) and lost[0] == 0.0
    from scipy.stats import poisson

    assert abs(lost[1] - poisson.sf(4, 2.0)) < 1e-9  # 5 or more slots of 8 off
    expected = poisson.pmf(1, 2.0) / poisson.cdf(4, 2.0)
    assert abs(kept[1][GRID - GRID // 8] - expected) < 1e-9


def test_chain_model_counts_the_fade_of_active_gates() -> None:
    """Subtracted items one input short of firing (the second step of an XOR) and -1 reads
    of noisy wires take value off active gates: the fade pass predicts more wrong samples
    with them, more the fuller the coincidence pool, and nothing of it when turned off."""
    from circuit2mlp.codegen.deep_chain import LayerPlanView, chain_errors, chain_sample_error
    from circuit2mlp.codegen.deep_model import PoolInputs

    linear = PoolInputs(
        theta=1,
        n=60_000,
        active=2.6,
        fanin=1.6,
        input_density=4e-5,
        reach=1.3,
        negative=1.3,
        killers=1.5,
    )
    steps = PoolInputs(theta=2, n=50_000, active=0.9, fanin=2.4, input_density=4e-5, exposed=1.3)
    activity = np.ones(512)

    def predicted(coincidence_slots: int, fade: bool = True) -> float:
        view = LayerPlanView([linear, steps], [18_000, coincidence_slots], [8, 8], activity)
        errors = chain_errors([view] * 8, np.random.default_rng(0), fade=fade)
        return chain_sample_error(errors)

    full, roomy = predicted(4_000), predicted(7_000)
    assert full > 2 * roomy and roomy > 2 * predicted(7_000, fade=False)
    assert predicted(4_000, fade=False) < full / 4
