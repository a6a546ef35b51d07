"""Evaluate a gadget's neurons on one input by hand, as the oracle for the gadget tests."""

from __future__ import annotations


def run_neurons(neurons, x) -> float:
    """``const + sum_n coefs[n] * relu(weights[n] . x + biases[n])`` in plain Python floats."""
    pre = [
        sum(w * v for w, v in zip(row, x, strict=True)) + b
        for row, b in zip(neurons.weights, neurons.biases, strict=True)
    ]
    return neurons.const + sum(c * max(0.0, p) for c, p in zip(neurons.coefs, pre, strict=True))
