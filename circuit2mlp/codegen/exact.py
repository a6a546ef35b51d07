"""The exact method: a small dedicated ReLU gadget per gate, no superposition.

Every symmetric gate with fan-in k is a function g(t) of t = number of ones among its inputs,
t in 0..k. A piecewise-linear interpolation of g through those integer points is exact on
them, and it is a sum of ReLUs at the breakpoints where the slope changes:

    g(t) = g(0) + sum_j (s_j - s_{j-1}) relu(t - j),   s_j = g(j+1) - g(j)

or, running from the other end with u = k - t, the mirror image. We take whichever needs fewer
neurons (ties: the one without a constant, then the forward one). AND_k is then the single
neuron relu(t - k + 1), NOR_k is relu(1 - t), NOT is relu(1 - a), BUF is relu(a). The gadget is
right on *every* 0/1 input, which makes this method the yardstick and the fallback for dense
parts of a circuit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.ir import Gate, LayeredCircuit, op_profile, symmetric_form


@dataclass(frozen=True)
class Gadget:
    """Neurons ``relu(direction * t + offset_n)`` read off as ``sum coef_n * neuron + const``."""

    direction: int  # +1: neurons read +t; -1: neurons read -t
    offsets: tuple[float, ...]
    coefs: tuple[float, ...]
    const: float

    @property
    def neurons(self) -> int:
        """Neurons this gadget uses."""
        return len(self.offsets)


def _ramp(profile: Sequence[int]) -> tuple[list[float], list[float]]:
    """Breakpoint offsets and coefficients of the forward interpolation of a profile."""
    offsets, coefs, prev_slope = [], [], 0
    for j in range(len(profile) - 1):
        slope = profile[j + 1] - profile[j]
        if slope != prev_slope:
            offsets.append(float(-j))
            coefs.append(float(slope - prev_slope))
        prev_slope = slope
    return offsets, coefs


def gadget_for_profile(profile: Sequence[int]) -> Gadget:
    """The cheapest exact gadget for a symmetric profile (see module docstring)."""
    k = len(profile) - 1
    fwd = Gadget(1, *map(tuple, _ramp(profile)), float(profile[0]))
    off, coef = _ramp(profile[::-1])
    bwd = Gadget(-1, tuple(o + k for o in off), tuple(coef), float(profile[-1]))
    return min((fwd, bwd), key=lambda g: (g.neurons, g.const != 0, g.direction == -1))


def gate_gadget(gate: Gate) -> Gadget:
    """Exact gadget for one normalized gate (a literal cube counts as AND/NAND of literals)."""
    op, _ = symmetric_form(gate)
    return op_gadget(op, len(gate.fanin))


@lru_cache(maxsize=1024)
def op_gadget(op: str, fanin: int) -> Gadget:
    """Exact gadget of a symmetric op with this fan-in (computed once per pair: circuits
    repeat a handful of them millions of times)."""
    return gadget_for_profile(op_profile(op, fanin))


@dataclass(frozen=True)
class GadgetNeurons:
    """A gate's gadget as weights on its fan-in: neuron n is relu(sum_i weights[n][i] x_i +
    biases[n]); the gate is ``sum_n coefs[n] * neuron_n + const``."""

    weights: tuple[tuple[float, ...], ...]
    biases: tuple[float, ...]
    coefs: tuple[float, ...]
    const: float


def gadget_neurons(
    gate: Gate,
    stored_negated: Sequence[bool] = (),
    output_negated: bool = False,
) -> GadgetNeurons:
    """The gadget of ``gate`` reading inputs that may be stored negated, giving its output
    stored negated if asked.

    Two-input XOR/XNOR use the difference form relu(a - b) + relu(b - a) (as many neurons as
    the count form, but each neuron is 0 unless its input pattern is present). An input
    negated by the gate's literal or by its storage, not both, enters as 1 - x: its weight
    flips sign and moves onto the bias. A negated output is 1 - value.
    """
    op, literal = symmetric_form(gate)
    k = len(gate.fanin)
    if op in ("XOR", "XNOR") and k == 2:
        weights = ((1.0, -1.0), (-1.0, 1.0))
        biases, coefs = (0.0, 0.0), (1.0, 1.0)
        const = 0.0
        if op == "XNOR":
            coefs, const = (-1.0, -1.0), 1.0
    else:
        gadget = gate_gadget(gate)
        weights = ((float(gadget.direction),) * k,) * gadget.neurons
        biases, coefs, const = gadget.offsets, gadget.coefs, gadget.const
    stored = tuple(stored_negated) or (False,) * k
    negated = [a != b for a, b in zip(literal, stored, strict=True)]
    biases = tuple(
        b + sum(w for w, n in zip(row, negated, strict=True) if n)
        for row, b in zip(weights, biases, strict=True)
    )
    weights = tuple(
        tuple(-w if n else w for w, n in zip(row, negated, strict=True)) for row in weights
    )
    if output_negated:
        coefs, const = tuple(-c for c in coefs), 1.0 - const
    return GadgetNeurons(weights, biases, tuple(coefs), float(const))


@lru_cache(maxsize=1024)
def op_gadget_neurons(op: str, fanin: int) -> GadgetNeurons:
    """:func:`gadget_neurons` of a plain ``op`` gate with this fan-in (no negated inputs);
    vectorized codegen applies negations to it in bulk."""
    return gadget_neurons(Gate("g", op, tuple(f"x{i}" for i in range(fanin))))


def exact_neuron_count(layered: LayeredCircuit) -> int:
    """Neurons the exact method spends on a layered circuit (the baseline every report cites)."""
    return sum(gate_gadget(g).neurons for layer in layered.layers for g in layer)


def exact_block(gates: Sequence[Gate], in_names: Sequence[str]) -> LayerBlock:
    """One layer of dedicated gadgets, reading the previous level's features ``in_names``."""
    col = {n: i for i, n in enumerate(in_names)}
    w_rows, w_cols, w_vals, bias = [], [], [], []
    r_rows, r_cols, r_vals, consts = [], [], [], []
    neuron = 0
    for f, gate in enumerate(gates):
        gadget = gadget_neurons(gate)
        for row, offset, coef in zip(gadget.weights, gadget.biases, gadget.coefs, strict=True):
            for src, w in zip(gate.fanin, row, strict=True):
                w_rows.append(neuron)
                w_cols.append(col[src])
                w_vals.append(w)
            bias.append(offset)
            r_rows.append(f)
            r_cols.append(neuron)
            r_vals.append(coef)
            neuron += 1
        consts.append(gadget.const)
    weight = sp.csr_matrix((w_vals, (w_rows, w_cols)), shape=(neuron, len(in_names)), dtype=DTYPE)
    readout = sp.csr_matrix((r_vals, (r_rows, r_cols)), shape=(len(gates), neuron), dtype=DTYPE)
    features = FeatureMap(tuple(g.name for g in gates), readout, np.asarray(consts, dtype=DTYPE))
    stats = {"gates": len(gates), "exact_gates": len(gates), "superposed_gates": 0}
    return LayerBlock(weight, np.asarray(bias, dtype=DTYPE), features, stats)


def compile_exact_blocks(layered: LayeredCircuit) -> list[LayerBlock]:
    """Blocks for every layer of the layered circuit, exact gadgets throughout."""
    return [exact_block(layer, layered.level_signals(i)) for i, layer in enumerate(layered.layers)]
