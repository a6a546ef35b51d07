"""Export a compiled network to PyTorch, ONNX or safetensors (see docs/interpretability.md).

All three exporters share one *layer plan* (:func:`circuit2mlp.layer_plan.plan_layers`): the
embed as a bias-free linear map, then each hidden layer as linear + ReLU, then the readout as a
linear map, each matrix dense or CSR by size (see :func:`circuit2mlp.layer_plan.layout`).

The heavy packages (torch, onnx, safetensors) are imported only inside the function that needs
them, through :func:`circuit2mlp.optional.require`, so a missing extra is a one-line error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from circuit2mlp.errors import UserError
from circuit2mlp.fileio import atomic_write
from circuit2mlp.layer_plan import (  # noqa: F401  (plan_forward, layout: part of the API)
    DENSE_LIMIT,
    LinearSpec,
    layout,
    plan_forward,
    plan_layers,
)
from circuit2mlp.network import FORMAT, FORMAT_1, Network
from circuit2mlp.optional import require
from circuit2mlp.superposition import superposition

TARGETS = ("torch", "safetensors", "onnx")
ONNX_OPSET = 18  # ScatterND with reduction="add" needs >= 16
ONNX_IR_VERSION = 9  # readable by onnxruntime >= 1.15
ONNX_MAX_BYTES = (2 << 30) - (1 << 20)  # protobuf's 2 GiB message limit, with headroom


# --------------------------------------------------------------------------- torch


def export_torch(network: Network, path: str | os.PathLike, dense_limit: int = DENSE_LIMIT):
    """Write a PyTorch file loadable with :func:`circuit2mlp.torch_module.load`
    (weights_only)."""
    from circuit2mlp import torch_module

    torch_module.save(network, path, dense_limit)


# --------------------------------------------------------------------------- safetensors


def npz_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every array of a (validated) weights file, split into numeric tensors and string
    metadata: 0-d strings as they are, 1-d string arrays as JSON lists; ``superposition``: the
    per-level figures of :func:`circuit2mlp.superposition.superposition` as JSON."""
    network = Network.load(path)  # validate the whole file first: same refusals as verify
    tensors: dict[str, np.ndarray] = {}
    metadata: dict[str, str] = {"superposition": json.dumps(superposition(network))}
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            array = z[name]
            if array.dtype.kind == "U":
                text = str(array) if array.ndim == 0 else json.dumps(array.tolist())
                metadata[name] = text
            else:
                tensors[name] = np.ascontiguousarray(array)
    return tensors, metadata


def export_safetensors(weights: str | os.PathLike, path: str | os.PathLike) -> None:
    """Write every tensor of the weights file under its npz name (CSR parts as they are);
    string arrays (format, meta, circuit, names) become header metadata."""
    st = require("safetensors.numpy", "export --to safetensors")
    tensors, metadata = npz_tensors(weights)
    try:
        data = st.save(tensors, metadata=metadata)
    except Exception as exc:  # e.g. a header over safetensors' 100 MB limit
        raise UserError(f"{weights}: cannot write safetensors ({exc})") from None
    atomic_write(path, lambda handle: handle.write(data))


# --------------------------------------------------------------------------- onnx


def onnx_model(network: Network, dense_limit: int = DENSE_LIMIT):
    """The forward pass as an ONNX model: input ``x`` (batch, m) float32 → output ``y``
    (batch, n) float32; output bit j is ``y[:, j] > 0.5``.

    Dense maps are MatMul (+ Add, Relu). A sparse map is computed without ever densifying it:
    ``Gather`` the input columns of every non-zero, ``Mul`` by the values, and ``ScatterND``
    (reduction add) them into their rows — standard ops that any ONNX runtime has.
    """
    onnx = require("onnx", "export --to onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    nodes.append(helper.make_node("Shape", ["x"], ["x.shape"]))
    const("axis0.start", np.array([0], np.int64))
    const("axis0.end", np.array([1], np.int64))
    nodes.append(helper.make_node("Slice", ["x.shape", "axis0.start", "axis0.end"], ["batch"]))

    current = "x"
    for spec in plan_layers(network, dense_limit):
        out = spec.name
        if spec.sparse:
            current = _onnx_sparse(spec, current, nodes, const)
        else:
            w_t = const(f"{out}.T", spec.matrix.T)
            nodes.append(helper.make_node("MatMul", [current, w_t], [f"{out}.matmul"]))
            current = f"{out}.matmul"
        if spec.bias is not None:
            b = const(spec.name.replace(".weight", ".bias"), spec.bias)
            nodes.append(helper.make_node("Add", [current, b], [f"{out}.add"]))
            current = f"{out}.add"
        if spec.relu:
            nodes.append(helper.make_node("Relu", [current], [f"{out}.relu"]))
            current = f"{out}.relu"
    nodes.append(helper.make_node("Identity", [current], ["y"]))

    m, n = len(network.input_names), len(network.output_names)
    graph = helper.make_graph(
        nodes,
        "circuit2mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", m])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="circuit2mlp",
    )
    model.ir_version = ONNX_IR_VERSION
    meta = {
        "format": FORMAT if network.circuit_map is not None else FORMAT_1,
        "meta": json.dumps(network.meta, sort_keys=True),
        "input_names": json.dumps(list(network.input_names)),
        "output_names": json.dumps(list(network.output_names)),
        "superposition": json.dumps(superposition(network)),
    }
    helper.set_model_props(model, meta)
    if model.ByteSize() < ONNX_MAX_BYTES:  # the checker cannot take larger protos in memory
        onnx.checker.check_model(model)
    return model


def _onnx_sparse(spec: LinearSpec, current: str, nodes: list, const) -> str:
    """Nodes computing ``current @ W.T`` for CSR ``W`` (out, in); returns the output name."""
    from onnx import TensorProto, helper

    csr: sp.csr_matrix = spec.matrix
    rows_out = spec.shape[0]
    name = spec.name
    rows = np.repeat(np.arange(rows_out, dtype=np.int64), np.diff(csr.indptr))
    cols = const(f"{name}.indices", csr.indices.astype(np.int64))
    vals = const(f"{name}.data", csr.data.astype(np.float32))
    rows_name = const(f"{name}.rows", rows.reshape(-1, 1))
    const(f"{name}.out", np.array([rows_out], np.int64))
    nodes += [
        helper.make_node("Gather", [current, cols], [f"{name}.gather"], axis=1),  # (b, nnz)
        helper.make_node("Mul", [f"{name}.gather", vals], [f"{name}.products"]),
        helper.make_node("Transpose", [f"{name}.products"], [f"{name}.products.T"], perm=[1, 0]),
        helper.make_node("Concat", [f"{name}.out", "batch"], [f"{name}.zshape"], axis=0),
        helper.make_node(
            "ConstantOfShape",
            [f"{name}.zshape"],
            [f"{name}.zeros"],
            value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
        ),
        helper.make_node(
            "ScatterND",
            [f"{name}.zeros", rows_name, f"{name}.products.T"],
            [f"{name}.sum.T"],
            reduction="add",
        ),
        helper.make_node("Transpose", [f"{name}.sum.T"], [f"{name}.sum"], perm=[1, 0]),
    ]
    return f"{name}.sum"


def export_onnx(network: Network, path: str | os.PathLike, dense_limit: int = DENSE_LIMIT):
    """Write the ONNX model of :func:`onnx_model`; refuses models over protobuf's 2 GiB."""
    model = onnx_model(network, dense_limit)
    size = model.ByteSize()
    if size >= ONNX_MAX_BYTES:
        raise UserError(
            f"the ONNX model would be {size / 2**30:.1f} GiB, over protobuf's 2 GiB limit; "
            "lower --dense-limit so that more matrices stay sparse"
        )
    data = model.SerializeToString()
    atomic_write(path, lambda handle: handle.write(data))


def export(
    weights: str | os.PathLike,
    target: str,
    output: str | os.PathLike,
    dense_limit: int = DENSE_LIMIT,
) -> None:
    """Export the weights file ``weights`` to ``output`` in format ``target`` (see TARGETS)."""
    if target not in TARGETS:
        raise UserError(f"unknown export target '{target}' (choose from {', '.join(TARGETS)})")
    if Path(output).resolve() == Path(weights).resolve():
        raise UserError(f"{output}: refusing to overwrite the weights file being exported")
    if target == "safetensors":
        export_safetensors(weights, output)
        return
    network = Network.load(weights)
    if target == "torch":
        export_torch(network, output, dense_limit)
    else:
        export_onnx(network, output, dense_limit)
