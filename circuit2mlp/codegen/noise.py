"""Where read-off noise goes: a static estimate of how much noise each wire carries.

A superposed read-off is occasionally off (a neuron fired by accident); call that one unit of
noise at its source. A gate passes the noise of input i on to its output when its output is
*sensitive* to input i: for AND(a, b) noise on a passes only when b is 1, for OR only when b
is 0, for XOR always -- exactly when flipping input i would flip the gate (its Boolean
difference). With the activity frequencies of the level (activity.py), the chance of that is
computed per gate and input, and the noise *mass* of a wire -- the expected number of noise
units reaching it -- follows level by level:

    mass(g) = fresh(g) + sum_i P(g sensitive to input i) * mass(input i)

with fresh(g) = 1 for a superposed gate and 0 for an exact gadget; a clean gadget's output has
mass 0 (exact.CLEAN_MARGIN). This is what the compiler uses to decide which gates to clean.
"""

from __future__ import annotations

import numpy as np

from circuit2mlp.codegen.gates import GateArrays
from circuit2mlp.ir import op_profile


def sensitivity(arrays: GateArrays, true_frequency: np.ndarray) -> np.ndarray:
    """Per fan-in slot (flat, as ``arrays.fanin``): the chance that the gate's output flips
    with that input, the other inputs independent with the given frequencies of being 1
    (true polarity, before the gate's negated literals)."""
    sens = np.zeros(arrays.fanin.size)
    starts = np.concatenate([[0], np.cumsum(arrays.arity)])
    for op, a, gates in arrays.op_classes():
        if a == 0:
            continue
        profile = np.asarray(op_profile(op, a))
        changes = (profile[1:] != profile[:-1]).astype(np.float64)  # (a,)
        rows = arrays.fanin_rows(gates, a)
        freq = true_frequency[rows]
        on = np.where(arrays.literal_rows(gates, a), 1.0 - freq, freq)  # literal is true
        for i in range(a):
            count = np.zeros((gates.size, a))  # distribution of the others' true literals
            count[:, 0] = 1.0
            for j in range(a):
                if j != i:
                    count[:, 1:] = (
                        count[:, 1:] * (1 - on[:, j : j + 1]) + count[:, :-1] * on[:, j : j + 1]
                    )
                    count[:, 0] *= 1 - on[:, j]
            sens[starts[gates] + i] = count @ changes
    return sens


def passed_mass(arrays: GateArrays, sens: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Per gate: the noise mass it passes on from its inputs (sum of sensitivity * mass)."""
    gate_of_slot = np.repeat(np.arange(arrays.n_gates), arrays.arity)
    return np.bincount(gate_of_slot, weights=sens * mass[arrays.fanin], minlength=arrays.n_gates)


def gates_to_clean(
    arrays: GateArrays, true_frequency: np.ndarray, mass: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(noise mass each gate would pass on, which gates to clean: those passing ``threshold``
    or more; None when there are none)."""
    passed = passed_mass(arrays, sensitivity(arrays, true_frequency), mass)
    clean = passed >= threshold
    return passed, (clean if clean.any() else None)


def mass_after(passed: np.ndarray, superposed: np.ndarray, clean: np.ndarray | None) -> np.ndarray:
    """The noise mass of a layer's outputs: what its gates pass on, one unit more for each
    superposed read-off, none for a gadget that was cleaned."""
    mass = passed + superposed
    if clean is not None:
        mass[clean & ~superposed] = 0.0
    return mass
