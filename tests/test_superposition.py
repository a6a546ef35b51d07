"""The superposition views: per level the wires per neuron and the wires a neuron serves, in
``features`` (``--level i --neuron j``), ``trace``, ``noise``, ``inspect`` and the exports,
on a small deep network compiled at a fixed width below one neuron per wire, checked against
counts taken independently from the dense read-off matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inprocess import cli

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.superposition import served_wires, superposition
from tests.test_deep import mixed_circuit


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    """600 gates per level, fan-in 2, every kind, ``--method deep`` at width 450."""
    circuit = mixed_circuit(600, 2, 2, seed=2)
    network, report = compile_circuit(
        circuit, CompileConfig(method="deep", sparsity=3, width=450, seed=4)
    )
    assert all(row["kind"] == "deep" for row in report.layers)
    path = tmp_path_factory.mktemp("deep") / "deep.npz"
    network.save(path)
    return circuit, network, path


def dense_counts(network, level):
    """(wires, neurons, per-neuron served counts) from the dense read-off."""
    dense = np.asarray(network.features[level].readout.toarray())
    return dense.shape[0], dense.shape[1], (dense != 0).sum(axis=0)


def test_levels_superpose(deep):
    """Every computed level holds more wires than neurons, and its neurons serve many wires
    each; the figures equal the dense counts."""
    _, network, _ = deep
    rows = superposition(network)
    assert [r["level"] for r in rows] == list(range(len(network.features)))
    for row in rows:
        wires, neurons, served = dense_counts(network, row["level"])
        assert (row["wires"], row["neurons"]) == (wires, neurons)
        assert row["wires_per_neuron"] == pytest.approx(wires / neurons, abs=1e-6)
        assert row["wires_served_max"] == served.max()
        assert row["wires_served_mean"] == pytest.approx(served[served > 0].mean(), abs=1e-5)
    for row in rows[1:]:
        assert row["wires_per_neuron"] > 1.2 and row["wires_served_max"] > 1


def test_exact_method_does_not_superpose(corpus):
    """The contrast: exact gadgets give every wire neurons of its own."""
    circuit = load_circuit(corpus / "handwritten/ripple_adder4.yaml")
    network, _ = compile_circuit(circuit, CompileConfig(method="exact"))
    assert all(row["wires_served_max"] == 1 for row in superposition(network))


def test_features_neuron_view(deep, capsys):
    _, network, path = deep
    level = 2
    _, _, served = dense_counts(network, level)
    neuron = int(np.argmax(served))
    dense = np.asarray(network.features[level].readout.toarray())
    want = {network.features[level].names[r] for r in np.flatnonzero(dense[:, neuron])}
    assert {w.name for w in served_wires(network, level, neuron)} == want
    capsys.readouterr()
    assert cli("features", path, "--level", level, "--neuron", neuron, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["serves"] == len(want) == served.max() > 1
    assert {w["name"] for w in data["wires"]} == want
    assert all(w["kind"] in ("signal", "internal", "carry") for w in data["wires"])
    assert cli("features", path, "--level", level, "--neuron", neuron) == 0
    assert f"neuron {neuron}: serves {len(want)} wires" in capsys.readouterr().out
    assert cli("features", path, "--neuron", 0) == 2  # needs one level
    assert cli("features", path, "--level", level, "--neuron", 10**6) == 2


def test_features_table_and_json(deep, capsys):
    _, network, path = deep
    capsys.readouterr()
    assert cli("features", path) == 0
    text = capsys.readouterr().out
    assert "wires/neuron" in text and "served max" in text
    assert cli("features", path, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    rows = superposition(network)
    assert [lvl["superposition"] for lvl in data["levels"]] == [
        {k: v for k, v in r.items() if k != "level"} for r in rows
    ]


def test_trace_and_noise_show_wires_per_neuron(deep, capsys):
    circuit, network, path = deep
    rows = superposition(network)
    ones = list(circuit.inputs[:3])
    capsys.readouterr()
    assert cli("trace", path, "--input", ",".join(ones), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    counts: dict[int, int] = {}
    x = np.zeros((1, len(circuit.inputs)), np.uint8)
    x[0, :3] = 1
    network.forward(x, lambda i, h: counts.__setitem__(i, int((h > 0).sum())))
    for lvl, row in zip(data["levels"], rows, strict=True):
        assert lvl["neurons"] == row["neurons"]
        assert lvl["wires_per_neuron"] == row["wires_per_neuron"]
        assert lvl["active_neurons"] == counts[lvl["level"]]
    assert cli("trace", path, "--input", ",".join(ones)) == 0
    assert f"on {rows[1]['neurons']} neurons" in capsys.readouterr().out
    assert cli("noise", path, "-n", 50, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    for lvl, row in zip(data["levels"], rows, strict=True):
        assert lvl["neurons"] == row["neurons"]
        assert lvl["wires_per_neuron"] == row["wires_per_neuron"]
    assert cli("noise", path, "-n", 50) == 0
    assert "wires/neuron" in capsys.readouterr().out
    assert cli("inspect", path, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["superposition"] == rows
    assert [r["wires_per_neuron"] for r in data["layers"]] == pytest.approx(
        [r["wires_per_neuron"] for r in rows[1:]]
    )


def test_exports_carry_the_figures(deep, tmp_path, monkeypatch):
    _, network, path = deep
    rows = superposition(network)
    pytest.importorskip("safetensors")
    st = tmp_path / "w.safetensors"
    assert cli("export", path, "--to", "safetensors", "-o", st, "-q") == 0
    from safetensors import safe_open

    with safe_open(str(st), "np") as handle:
        assert json.loads(handle.metadata()["superposition"]) == rows
    torch = pytest.importorskip("torch")
    from circuit2mlp import torch_module
    from circuit2mlp.hooked import load

    pt = tmp_path / "w.pt"
    assert cli("export", path, "--to", "torch", "-o", pt, "-q") == 0
    assert torch_module.load(pt).superposition == rows
    assert json.loads(torch.load(pt, weights_only=True)["superposition"]) == rows
    hooked = load(path)
    assert hooked.superposition == rows
    neuron = int(np.argmax(dense_counts(network, 1)[2]))
    want = sorted((w.name, round(w.weight, 5)) for w in served_wires(network, 1, neuron))
    got = sorted((n, round(w, 5)) for n, w in hooked.served_wires(1, neuron))
    assert got == want and len(want) > 1
    import circuit2mlp.hooked as hooked_module

    monkeypatch.setattr(hooked_module, "DENSE_LIMIT", 0)  # read-offs kept sparse (COO)
    sparse = load(path)
    assert sparse.features[1].readout.is_sparse
    assert sorted((n, round(w, 5)) for n, w in sparse.served_wires(1, neuron)) == want
    pytest.importorskip("onnx")
    import onnx

    onnx_file = tmp_path / "w.onnx"
    assert cli("export", path, "--to", "onnx", "-o", onnx_file, "-q") == 0
    props = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert json.loads(props["superposition"]) == rows
    assert props["format"] == "circuit2mlp/2"
