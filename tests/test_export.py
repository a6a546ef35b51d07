"""``circuit2mlp export``: the PyTorch, ONNX and numpy forward passes agree (to 1e-5 on 1,000
random sparse inputs, for a hand-written circuit, a real BLIF and U-AND with m = 250), and the
safetensors file holds every array of the npz."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compiled import NAMES, SUPERPOSED, compiled, random_sparse
from inprocess import cli

from circuit2mlp.errors import UserError
from circuit2mlp.export import plan_forward, plan_layers
from circuit2mlp.simulate import simulate

torch = pytest.importorskip("torch", reason="the torch extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

TOL = 1e-5



@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Per circuit: (circuit, network, inputs, numpy outputs, torch file, onnx file)."""
    folder = tmp_path_factory.mktemp("export")
    out = {}
    for name in NAMES:
        circuit, network, weights = compiled(name)
        pt, onnx_file = folder / f"{name}.pt", folder / f"{name}.onnx"
        assert cli("export", weights, "--to", "torch", "-o", pt, "-q") == 0
        assert cli("export", weights, "--to", "onnx", "-o", onnx_file, "-q") == 0
        x = random_sparse(len(circuit.inputs), 1000)
        out[name] = (circuit, network, x, network.forward(x), pt, onnx_file)
    return out


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.mark.parametrize("name", NAMES)
def test_torch_onnx_numpy_agree(exported, name):
    from circuit2mlp import torch_module as c2m_torch

    circuit, _, x, y_numpy, pt, onnx_file = exported[name]
    assert x.shape == (1000, len(circuit.inputs))
    model = c2m_torch.load(pt)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    y_onnx = run_onnx(onnx_file, x)
    assert y_torch.shape == y_onnx.shape == y_numpy.shape == (1000, len(circuit.outputs))
    assert np.abs(y_torch - y_numpy).max() <= TOL
    assert np.abs(y_onnx - y_numpy).max() <= TOL
    # and all three compute the circuit (the exact method is right on every input)
    truth = simulate(circuit, x.astype(np.uint8))
    assert np.array_equal(y_torch > 0.5, truth)
    assert np.array_equal(y_onnx > 0.5, truth)


def test_torch_architecture(exported):
    """embed Linear (no bias, no ReLU), then Linear+ReLU per layer, then the readout; the
    31,125 × 31,125 U-AND readout stays sparse."""
    from circuit2mlp import torch_module as c2m_torch

    for name in NAMES:
        circuit, network, *_, pt, _ = exported[name]
        model = c2m_torch.load(pt)
        kinds = [type(m).__name__ for m in model]
        shape = ["R" if k == "ReLU" else "L" for k in kinds]
        assert shape == ["L", *["L", "R"] * len(network.layers), "L"]
        assert kinds[0] == "Linear" and model[0].bias is None
        assert model.input_names == circuit.inputs and model.output_names == circuit.outputs
        assert model.meta["method"] == "exact"
    uand = c2m_torch.load(exported["uand250"][4])
    assert type(uand[-1]).__name__ == "SparseLinear"
    assert tuple(uand[-1].weight.shape) == (31125, 31125)
    fa = c2m_torch.load(exported["full_adder"][4])
    assert all(type(m).__name__ in ("Linear", "ReLU") for m in fa)


def test_torch_file_is_weights_only(exported):
    """The file is a plain dict of tensors and descriptions: weights_only loading works."""
    payload = torch.load(exported["C432"][4], weights_only=True)
    assert payload["format"] == "circuit2mlp-torch/1"
    assert {m["type"] for m in payload["modules"]} <= {"Linear", "SparseLinear", "ReLU"}


def test_sparse_export_paths(tmp_path):
    """--dense-limit 0 keeps every CSR matrix sparse: SparseLinear in torch, Gather/ScatterND
    in ONNX, on a multi-layer circuit; still equal to numpy."""
    from circuit2mlp import torch_module as c2m_torch

    circuit, network, weights = compiled("C432")
    pt, onnx_file = tmp_path / "c.pt", tmp_path / "c.onnx"
    assert cli("export", weights, "--to", "torch", "-o", pt, "--dense-limit", 0, "-q") == 0
    assert cli("export", weights, "--to", "onnx", "-o", onnx_file, "--dense-limit", 0, "-q") == 0
    plan = plan_layers(network, dense_limit=0)
    sparse = sum(spec.sparse for spec in plan)
    assert sparse >= 4
    x = random_sparse(len(circuit.inputs), 300, seed=1)
    y = network.forward(x)
    assert np.abs(plan_forward(plan, x) - y).max() <= TOL
    model = c2m_torch.load(pt)
    assert sum(type(m).__name__ == "SparseLinear" for m in model) == sparse
    with torch.no_grad():
        assert np.abs(model(torch.from_numpy(x)).numpy() - y).max() <= TOL
    assert np.abs(run_onnx(onnx_file, x) - y).max() <= TOL


def test_onnx_signature(exported):
    import onnx

    model = onnx.load(str(exported["full_adder"][5]))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "x" and out.name == "y"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 3]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["input_names"]) == ["a", "b", "cin"]


def test_safetensors_has_every_array(tmp_path):
    from safetensors import safe_open

    _, network, weights = compiled("C432")
    out = tmp_path / "c.safetensors"
    assert cli("export", weights, "--to", "safetensors", "-o", out, "-q") == 0
    with np.load(weights, allow_pickle=False) as z, safe_open(str(out), "np") as f:
        metadata = f.metadata()
        keys = set(f.keys())
        for name in z.files:
            array = z[name]
            if array.dtype.kind == "U":
                text = metadata[name]
                assert (str(array) if array.ndim == 0 else json.loads(text)) == (
                    text if array.ndim == 0 else array.tolist()
                )
            else:
                assert name in keys
                assert np.array_equal(f.get_tensor(name), array)
    assert json.loads(metadata["meta"]) == network.meta
    assert any(k.endswith(".indptr") for k in keys)  # CSR parts kept as they are


def test_export_errors(tmp_path, capsys):
    _, _, weights = compiled("full_adder")
    assert cli("export", tmp_path / "missing.npz", "--to", "onnx", "-o", tmp_path / "x") == 2
    assert "no such file" in capsys.readouterr().err
    assert cli("export", weights, "--to", "tensorflow") == 2
    assert cli("export", weights, "--to", "torch", "-o", weights) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_missing_extra_is_one_line(monkeypatch):
    import importlib

    from circuit2mlp import optional

    real = importlib.import_module

    def fake(name, *args):
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real(name, *args)

    monkeypatch.setattr(optional.importlib, "import_module", fake)
    with pytest.raises(UserError, match=r"pip install 'circuit2mlp\[onnx\]'") as info:
        optional.require("onnx", "export --to onnx")
    assert "\n" not in str(info.value)


def test_superposed_network_exports(tmp_path):
    """A network in superposition (non-integer weights, shared neurons): same agreement."""
    from circuit2mlp import torch_module as c2m_torch

    circuit, network, weights = compiled(SUPERPOSED)
    pt, onnx_file = tmp_path / "s.pt", tmp_path / "s.onnx"
    assert cli("export", weights, "--to", "torch", "-o", pt, "-q") == 0
    assert cli("export", weights, "--to", "onnx", "-o", onnx_file, "-q") == 0
    x = random_sparse(len(circuit.inputs), 1000, seed=2)
    y = network.forward(x)
    with torch.no_grad():
        assert np.abs(c2m_torch.load(pt)(torch.from_numpy(x)).numpy() - y).max() <= TOL
    assert np.abs(run_onnx(onnx_file, x) - y).max() <= TOL
