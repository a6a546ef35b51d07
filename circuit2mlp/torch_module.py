"""PyTorch form of a compiled network: an ``nn.Sequential`` of linear maps and ReLUs.

Layout (exactly :meth:`circuit2mlp.network.Network.forward`, row-major)::

    Linear(m, d0, bias=False)            # the embed, no ReLU after it
    Linear(d0, d1), ReLU(), ...          # one Linear + ReLU per hidden layer
    Linear(dL, n)                        # the readout; output bit j is y[:, j] > 0.5

A weight matrix that is large and stored sparse in the weights file (more than
``circuit2mlp.layer_plan.DENSE_LIMIT`` elements) becomes a :class:`SparseLinear` instead of an
``nn.Linear``: the same map with the weight in CSR form (``crow_indices``, ``col_indices``
buffers, ``values`` parameter), so a U-AND readout with 10^9 entries costs only its non-zeros.

The file is ``torch.save`` of a plain dict: ``format`` (``circuit2mlp-torch/1``), ``modules``
(the architecture: type and shapes of each module), ``state_dict``, ``input_names``,
``output_names``, ``meta`` (the weights file's meta JSON) and ``superposition`` (JSON: per
level, neurons, wires, wires per neuron and the wires a neuron serves; also
``model.superposition``). :func:`load` reads it with ``weights_only=True`` (no pickled code
runs) and rebuilds the modules.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from circuit2mlp.errors import UserError
from circuit2mlp.fileio import atomic_write
from circuit2mlp.layer_plan import DENSE_LIMIT, plan_layers
from circuit2mlp.network import Network
from circuit2mlp.optional import require
from circuit2mlp.superposition import superposition

torch = require("torch", "circuit2mlp.torch_module (PyTorch export)")
nn = torch.nn

TORCH_FORMAT = "circuit2mlp-torch/1"


class SparseLinear(nn.Module):
    """``y = x @ W.T + bias`` with ``W`` (out, in) held in CSR form.

    ``values`` is a parameter (so the weights can be fine-tuned or ablated like a dense
    layer's); the index arrays are buffers. The CSR tensor is assembled on every call, which
    costs no copy.
    """

    def __init__(self, in_features: int, out_features: int, nnz: int, bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.register_buffer("crow_indices", torch.zeros(out_features + 1, dtype=torch.int64))
        self.register_buffer("col_indices", torch.zeros(nnz, dtype=torch.int64))
        self.values = nn.Parameter(torch.zeros(nnz, dtype=torch.float32))
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features, dtype=torch.float32))
        else:
            self.register_parameter("bias", None)

    @property
    def weight(self) -> torch.Tensor:
        """The weight as a sparse CSR tensor (out, in)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.crow_indices,
                self.col_indices,
                self.values,
                (self.out_features, self.in_features),
                check_invariants=False,
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) → (batch, out)."""
        return nn.functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nnz={self.values.numel()}, bias={self.bias is not None}"
        )


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def to_module(network: Network, dense_limit: int = DENSE_LIMIT) -> nn.Sequential:
    """The network as an ``nn.Sequential`` in float32 (see the module docstring)."""
    modules: list[nn.Module] = []
    for spec in plan_layers(network, dense_limit):
        out_f, in_f = spec.shape
        has_bias = spec.bias is not None
        if spec.sparse:
            csr = spec.matrix
            module = SparseLinear(in_f, out_f, int(csr.nnz), bias=has_bias)
            module.crow_indices.copy_(_tensor(csr.indptr.astype(np.int64)))
            module.col_indices.copy_(_tensor(csr.indices.astype(np.int64)))
            with torch.no_grad():
                module.values.copy_(_tensor(csr.data.astype(np.float32)))
        else:
            module = nn.Linear(in_f, out_f, bias=has_bias)
            with torch.no_grad():
                module.weight.copy_(_tensor(spec.matrix))
        if has_bias:
            with torch.no_grad():
                module.bias.copy_(_tensor(spec.bias))
        modules.append(module)
        if spec.relu:
            modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    model.input_names = tuple(network.input_names)
    model.output_names = tuple(network.output_names)
    model.superposition = superposition(network)
    return model


def _describe(model: nn.Sequential) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for module in model:
        if isinstance(module, nn.ReLU):
            out.append({"type": "ReLU"})
        elif isinstance(module, SparseLinear):
            out.append(
                {
                    "type": "SparseLinear",
                    "in_features": module.in_features,
                    "out_features": module.out_features,
                    "nnz": int(module.values.numel()),
                    "bias": module.bias is not None,
                }
            )
        else:
            out.append(
                {
                    "type": "Linear",
                    "in_features": module.in_features,
                    "out_features": module.out_features,
                    "bias": module.bias is not None,
                }
            )
    return out


def save(network: Network, path: str | os.PathLike, dense_limit: int = DENSE_LIMIT) -> None:
    """Write the network as a ``circuit2mlp-torch/1`` file (architecture + state_dict)."""
    model = to_module(network, dense_limit)
    payload = {
        "format": TORCH_FORMAT,
        "modules": _describe(model),
        "state_dict": model.state_dict(),
        "input_names": list(network.input_names),
        "output_names": list(network.output_names),
        "meta": json.dumps(network.meta, sort_keys=True),
        "superposition": json.dumps(superposition(network)),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))


def _build(description: list[dict[str, Any]]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for item in description:
        kind = item.get("type")
        if kind == "ReLU":
            modules.append(nn.ReLU())
        elif kind == "Linear":
            modules.append(
                nn.Linear(int(item["in_features"]), int(item["out_features"]), bool(item["bias"]))
            )
        elif kind == "SparseLinear":
            modules.append(
                SparseLinear(
                    int(item["in_features"]),
                    int(item["out_features"]),
                    int(item["nnz"]),
                    bool(item["bias"]),
                )
            )
        else:
            raise ValueError(f"unknown module type {kind!r}")
    return nn.Sequential(*modules)


def load(path: str | os.PathLike) -> nn.Sequential:
    """Read a file written by :func:`save` (with ``weights_only=True``) into an
    ``nn.Sequential`` in eval mode, carrying ``input_names``, ``output_names`` and ``meta``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except Exception as exc:  # torch raises many kinds for a foreign or corrupt file
        raise UserError(f"{path}: not a circuit2mlp torch file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != TORCH_FORMAT:
        raise UserError(f"{path}: not a circuit2mlp torch file (format is not {TORCH_FORMAT})")
    try:
        model = _build(payload["modules"])
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise UserError(f"{path}: corrupt circuit2mlp torch file ({exc})") from None
    model.input_names = tuple(payload.get("input_names", ()))
    model.output_names = tuple(payload.get("output_names", ()))
    model.meta = json.loads(payload.get("meta", "{}"))
    model.superposition = json.loads(payload.get("superposition", "[]"))
    return model.eval()
