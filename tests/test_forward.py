"""The one forward pass: the column-major kernel (networks) and the sample-major kernel (the
calibration's feature-space pass) compute the same chain."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.forward import SampleMajor, forward, read_off, run
from circuit2mlp.simulate import simulate, sparse_inputs


@pytest.fixture
def network(corpus):
    circuit = load_circuit(corpus / "handwritten/ripple_adder4.yaml")
    config = CompileConfig(method="superposed", width=64, sparsity=2)
    return circuit, compile_circuit(circuit, config)[0]


def test_kernels_agree_on_a_network(network):
    """The same chain in both kernels: float32 column-major against float64 sample-major with
    folded biases and entry-by-entry read-offs."""
    circuit, net = network
    x = sparse_inputs(len(net.input_names), 2, 64, np.random.default_rng(0))
    y = net.forward(x)
    part, bias = run(net.chain(), (sp.csr_matrix(x, dtype=np.float64), None), SampleMajor())
    assert np.abs((part + bias) - y).max() < 1e-4
    # and the outputs are the circuit's (independent oracle: the simulator)
    assert np.array_equal(y > 0.5, simulate(circuit, x).astype(bool))


def test_taps_are_the_levels(network):
    """``forward``'s taps are the activations the read-offs are taken from: level 0 after the
    embed, level i after hidden layer i; reading the inputs off level 0 gives x."""
    _, net = network
    x = sparse_inputs(len(net.input_names), 2, 16, np.random.default_rng(1))
    seen: dict[int, np.ndarray] = {}
    forward(net.chain(), x, lambda i, h: seen.__setitem__(i, h.copy()))
    assert sorted(seen) == list(range(len(net.layers) + 1))
    assert [h.shape[0] for h in seen.values()] == [net.embed.shape[0], *net.widths]
    inputs = read_off(net.features[0], seen[0])
    assert np.abs(inputs - x.T).max() < 1e-5
