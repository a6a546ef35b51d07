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

from circuit2mlp.codegen.gates import GateArrays
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


#: Dead zone of a clean gadget: every step of its profile is a ramp from t = j + m to
#: t = j + 1 - m (slope 1 / (1 - 2m)), so any input sum within m of an integer gives the
#: exact value and a deviation d < 1/2 leaves at most max(0, (d - m) / (1 - 2m)) < d
#: (docs/theory.md section 7).
CLEAN_MARGIN = 0.25


def _clean_steps(profile: Sequence[int], m: float) -> tuple[list[float], list[float]]:
    """Offsets and coefficients of the two-neuron ramps, one per change of the profile."""
    offsets, coefs = [], []
    slope = 1.0 / (1.0 - 2.0 * m)
    for j in range(len(profile) - 1):
        step = profile[j + 1] - profile[j]
        if step:
            offsets += [-(j + m), -(j + 1 - m)]
            coefs += [step * slope, -step * slope]
    return offsets, coefs


def gadget_neurons(
    gate: Gate,
    stored_negated: Sequence[bool] = (),
    output_negated: bool = False,
    clean: bool = False,
) -> GadgetNeurons:
    """The gadget of ``gate`` reading inputs that may be stored negated, giving its output
    stored negated if asked.

    Two-input XOR/XNOR use the difference form relu(a - b) + relu(b - a) (as many neurons as
    the count form, but each neuron is 0 unless its input pattern is present). An input
    negated by the gate's literal or by its storage, not both, enters as 1 - x: its weight
    flips sign and moves onto the bias. A negated output is 1 - value.

    A ``clean`` gadget is exact on noisy inputs too: each step of the gate's value becomes a
    pair of neurons with a dead zone of :data:`CLEAN_MARGIN` on both sides (so two neurons
    per step instead of one per change of slope). Plain gadgets pass input noise on with
    gain 1; clean ones remove it, which is what error correction needs.
    """
    op, literal = symmetric_form(gate)
    k = len(gate.fanin)
    if op in ("XOR", "XNOR") and k == 2:
        sign = 1.0 if op == "XOR" else -1.0
        const = 0.0 if op == "XOR" else 1.0
        if clean:  # a ramp on each of a - b and b - a
            offsets, coefs = _clean_steps((0, 1), CLEAN_MARGIN)
            weights = ((1.0, -1.0),) * 2 + ((-1.0, 1.0),) * 2
            biases, coefs = tuple(offsets) * 2, tuple(sign * c for c in coefs) * 2
        else:
            weights = ((1.0, -1.0), (-1.0, 1.0))
            biases, coefs = (0.0, 0.0), (sign, sign)
    elif clean:
        profile = op_profile(op, k)
        biases, coefs = _clean_steps(profile, CLEAN_MARGIN)
        weights = ((1.0,) * k,) * len(biases)
        const = float(profile[0])
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
def op_gadget_neurons(op: str, fanin: int, clean: bool = False) -> GadgetNeurons:
    """:func:`gadget_neurons` of a plain ``op`` gate with this fan-in (no negated inputs);
    vectorized codegen applies negations to it in bulk."""
    return gadget_neurons(Gate("g", op, tuple(f"x{i}" for i in range(fanin))), clean=clean)


def exact_neuron_count(layered: LayeredCircuit) -> int:
    """Neurons the exact method spends on a layered circuit (the baseline every report cites)."""
    return sum(gate_gadget(g).neurons for layer in layered.layers for g in layer)


def exact_neurons_of(
    terms: GateArrays, gates: np.ndarray | None = None, clean: np.ndarray | None = None
) -> int:
    """Neurons the exact gadgets of these gates (default: all) take, clean ones where
    ``clean`` (per gate) says."""
    gates = np.arange(terms.n_gates) if gates is None else gates
    cleans = np.zeros(gates.size, np.int64) if clean is None else clean[gates].astype(np.int64)
    triples, counts = np.unique(
        np.stack([terms.op_index[gates], terms.arity[gates], cleans]), axis=1, return_counts=True
    )
    return sum(
        len(op_gadget_neurons(terms.ops[o], a, bool(c)).biases) * int(n)
        for (o, a, c), n in zip(triples.T.tolist(), counts.tolist(), strict=True)
    )

def gadget_sizes(
    arrays: GateArrays, gates: np.ndarray, clean: np.ndarray | None = None
) -> np.ndarray:
    """Neurons of each of these gates' exact gadget (clean ones where ``clean``, per gate of
    ``arrays``, says), in the order given."""
    cleans = np.zeros(gates.size, bool) if clean is None else np.asarray(clean, bool)[gates]
    ops, arity = arrays.op_index[gates], arrays.arity[gates]
    sizes = np.zeros(gates.size, dtype=np.int64)
    for o, a, c in set(zip(ops.tolist(), arity.tolist(), cleans.tolist(), strict=True)):
        at = (ops == o) & (arity == a) & (cleans == c)
        sizes[at] = len(op_gadget_neurons(arrays.ops[o], a, c).biases)
    return sizes


def gadget_parts(
    arrays: GateArrays,
    gates: np.ndarray,
    flips: np.ndarray,
    out_flip: np.ndarray,
    first_neuron: int,
    clean: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The exact gadgets of ``gates`` (indices into ``arrays``), reading features stored
    negated where ``flips`` says and giving outputs stored negated where ``out_flip`` (per
    gate) says, on neurons from ``first_neuron`` on, gate after gate: weight (neurons, F),
    biases, read-off entries (gate, neuron, coef) and read-off constants per gate. Gates
    flagged in ``clean`` (per gate of ``arrays``) get the clean gadget.

    Vectorized per (op, fan-in, clean): the plain gadget (:func:`op_gadget_neurons`) with every
    input negated by its storage or by the gate's literal (not both) entering as 1 - x."""
    n_in = flips.shape[0]
    ops, arity = arrays.op_index[gates], arrays.arity[gates]
    cleans = np.zeros(gates.size, bool) if clean is None else np.asarray(clean, bool)[gates]
    per_gate = np.zeros(gates.size, dtype=np.int64)
    gadgets = {}
    for o, a, c in set(zip(ops.tolist(), arity.tolist(), cleans.tolist(), strict=True)):
        gadgets[o, a, c] = op_gadget_neurons(arrays.ops[o], a, c)
        per_gate[(ops == o) & (arity == a) & (cleans == c)] = len(gadgets[o, a, c].biases)
    start = np.concatenate([[0], np.cumsum(per_gate)])
    biases = np.zeros(int(start[-1]))
    consts = np.zeros(gates.size)
    w_rows, w_cols, w_vals, r_gate, r_neuron, r_coef = [], [], [], [], [], []
    for (o, a, c), gadget in sorted(gadgets.items()):
        at = np.flatnonzero((ops == o) & (arity == a) & (cleans == c))
        n_j = len(gadget.biases)  # 0 for a constant
        base = np.asarray(gadget.weights, dtype=np.float64).reshape(n_j, a)
        rows = arrays.fanin_rows(gates[at], a)
        negated = flips[rows] ^ arrays.literal_rows(gates[at], a)
        weights = base[None] * np.where(negated, -1.0, 1.0)[:, None, :]  # (n, n_j, a)
        neuron = start[at][:, None] + np.arange(n_j)  # (n, n_j), local numbering
        biases[neuron] = np.asarray(gadget.biases) + negated.astype(np.float64) @ base.T
        w_rows.append(np.repeat(neuron.ravel(), a))
        w_cols.append(np.broadcast_to(rows[:, None, :], weights.shape).ravel())
        w_vals.append(weights.ravel())
        flip = out_flip[gates[at]]
        coefs = np.asarray(gadget.coefs)
        r_gate.append(np.repeat(gates[at], n_j))
        r_neuron.append((neuron + first_neuron).ravel())
        r_coef.append(np.where(flip[:, None], -coefs, coefs).ravel())
        consts[at] = np.where(flip, 1.0 - gadget.const, gadget.const)
    n_ded = int(start[-1])
    if w_rows:
        weight = sp.csr_matrix(
            (np.concatenate(w_vals), (np.concatenate(w_rows), np.concatenate(w_cols))),
            shape=(n_ded, n_in),
            dtype=np.float64,
        )
        readout = (np.concatenate(r_gate), np.concatenate(r_neuron), np.concatenate(r_coef))
    else:
        weight = sp.csr_matrix((n_ded, n_in), dtype=np.float64)
        readout = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return weight, biases, readout, consts
