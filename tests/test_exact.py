"""The exact gadgets: right on every count of ones, and as small as claimed."""

import itertools

import numpy as np
import pytest
from gadget_eval import run_neurons

from circuit2mlp.codegen.exact import gadget_for_profile, gadget_neurons
from circuit2mlp.ir import SYMMETRIC_OPS, Cover, Gate, op_profile


def run_gadget(gadget, t: int) -> float:
    pre = [gadget.direction * t + off for off in gadget.offsets]
    return gadget.const + sum(c * max(0.0, p) for c, p in zip(gadget.coefs, pre, strict=True))


@pytest.mark.parametrize("k", range(1, 8))
def test_every_profile_is_exact(k):
    """All 2^(k+1) symmetric functions of k inputs, not only the named ops."""
    for profile in itertools.product((0, 1), repeat=k + 1):
        gadget = gadget_for_profile(profile)
        assert [run_gadget(gadget, t) for t in range(k + 1)] == list(profile)


@pytest.mark.parametrize("op", [op for op in SYMMETRIC_OPS if not op.startswith("CONST")])
@pytest.mark.parametrize("k", range(1, 7))
def test_named_ops_exact(op, k):
    if op in ("BUF", "NOT") and k != 1:
        return
    gadget = gadget_for_profile(op_profile(op, k))
    assert [run_gadget(gadget, t) for t in range(k + 1)] == list(op_profile(op, k))


@pytest.mark.parametrize(
    ("op", "k", "neurons"),
    [
        ("AND", 5, 1),
        ("NOR", 5, 1),
        ("NOT", 1, 1),
        ("BUF", 1, 1),
        ("NAND", 3, 1),
        ("OR", 3, 1),
        ("XOR", 2, 2),
        ("XNOR", 2, 2),
        ("XOR", 4, 4),
        ("MAJ", 3, 2),
    ],
)
def test_gadget_sizes(op, k, neurons):
    assert gadget_for_profile(op_profile(op, k)).neurons == neurons


def test_constant_needs_no_neuron():
    assert gadget_for_profile((1,)).neurons == 0
    assert run_gadget(gadget_for_profile((1,)), 0) == 1
    assert np.isclose(run_gadget(gadget_for_profile((0, 0, 0)), 1), 0)


@pytest.mark.parametrize("k", range(1, 4))
def test_literal_cubes_with_stored_negations_are_exact(k):
    """Every cube of 0/1 literals, ON- and OFF-set, every pattern of inputs stored negated and
    both output polarities: the gadget equals the cover's truth table on all inputs."""
    for cube in itertools.product("01", repeat=k):
        for onset in (True, False):
            gate = Gate(
                "g", "SOP", tuple(f"x{i}" for i in range(k)), Cover(("".join(cube),), onset)
            )
            assert gadget_neurons(gate).biases and len(gadget_neurons(gate).biases) == 1
            for stored in itertools.product((False, True), repeat=k):
                for out_neg in (False, True):
                    neurons = gadget_neurons(gate, stored, out_neg)
                    for x in itertools.product((0, 1), repeat=k):
                        seen = [v ^ s for v, s in zip(x, stored, strict=True)]
                        want = gate.evaluate(x) ^ out_neg
                        assert run_neurons(neurons, seen) == want, (cube, onset, stored, x)


def test_covers_with_dont_cares_are_refused():
    gate = Gate("g", "SOP", ("a", "b"), Cover(("1-",)))
    with pytest.raises(ValueError, match="expanded by normalize"):
        gadget_neurons(gate)


@pytest.mark.parametrize("op", ["AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ"])
@pytest.mark.parametrize("k", [2, 3])
def test_gadget_neurons_exact_with_stored_negations(op, k):
    gate = Gate("g", op, tuple(f"x{i}" for i in range(k)))
    for stored in itertools.product((False, True), repeat=k):
        for out_neg in (False, True):
            neurons = gadget_neurons(gate, stored, out_neg)
            assert len(neurons.biases) == gadget_for_profile(op_profile(op, k)).neurons
            for x in itertools.product((0, 1), repeat=k):
                seen = [v ^ s for v, s in zip(x, stored, strict=True)]
                assert np.isclose(run_neurons(neurons, seen), gate.evaluate(x) ^ out_neg)
