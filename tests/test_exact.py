"""The exact gadgets: right on every count of ones, and as small as claimed."""

import itertools

import numpy as np
import pytest

from circuit2mlp.codegen.exact import gadget_for_profile
from circuit2mlp.ir import SYMMETRIC_OPS, op_profile


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
