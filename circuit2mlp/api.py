"""The Python API in one import: ``from circuit2mlp.api import *``.

The CLI is a thin layer over these functions; scripts and notebooks (sweeps, SAE experiments
on the compiled networks) should use them directly rather than shell out::

    from circuit2mlp.api import CompileConfig, compile_circuit, load_circuit, verify

    circuit = load_circuit("circuits/handwritten/full_adder.yaml")
    network, report = compile_circuit(circuit, CompileConfig(method="exact", sparsity=3))
    network.save("fa.npz")
    print(verify(circuit, network, samples=1000).passed)

Heavier helpers (PyTorch, ONNX, plots) stay in their own modules so importing this one never
pulls in an optional dependency: :func:`circuit2mlp.torch_module.load`, :mod:`circuit2mlp.export`,
:mod:`circuit2mlp.plots`.
"""

from __future__ import annotations

from circuit2mlp.compiler import CompileConfig, CompileReport, compile_circuit
from circuit2mlp.errors import CircuitError, NetworkFileError, UserError
from circuit2mlp.export import export
from circuit2mlp.formats import load_circuit, parse_circuit, write_circuit
from circuit2mlp.interp import feature_dictionary, summary, trace
from circuit2mlp.ir import Circuit
from circuit2mlp.network import Network
from circuit2mlp.simulate import simulate, sparse_inputs
from circuit2mlp.verify import VerifyReport, verify

__all__ = [
    "Circuit",
    "CircuitError",
    "CompileConfig",
    "CompileReport",
    "Network",
    "NetworkFileError",
    "UserError",
    "VerifyReport",
    "compile_circuit",
    "export",
    "feature_dictionary",
    "load_circuit",
    "parse_circuit",
    "simulate",
    "sparse_inputs",
    "summary",
    "trace",
    "verify",
    "write_circuit",
]
