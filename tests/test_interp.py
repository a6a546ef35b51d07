"""``circuit2mlp features | inspect | trace``: the feature dictionary describes every wire,
its read-offs reproduce every wire's simulated value through ``trace``, and interference is
measured exactly (sparse R Rᵀ) or, over budget, as a sampled lower bound."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from compiled import NAMES, SUPERPOSED, compiled, random_sparse
from inprocess import cli

from circuit2mlp.interp import (
    feature_dictionary,
    interference,
    level_readouts,
    lowered_circuit,
    trace,
)
from circuit2mlp.simulate import pack_bits, simulate_packed, unpack_bits

# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("name", NAMES)
def test_feature_dictionary_lists_every_wire(name):
    circuit, network, _ = compiled(name)
    data = feature_dictionary(network, circuit=circuit)
    assert len(data["levels"]) == len(network.features)
    for level, fmap in zip(data["levels"], network.features, strict=True):
        assert [w["name"] for w in level["wires"]] == list(fmap.names)
        r = sp.csr_matrix(fmap.readout)
        norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=1)).ravel())
        assert np.allclose([w["norm"] for w in level["wires"]], norms, atol=1e-5)
        for f, wire in enumerate(level["wires"]):
            ids = sorted(r.indices[r.indptr[f] : r.indptr[f + 1]].tolist())
            assert wire["neurons"] == len(ids) and sorted(wire["neuron_ids"]) == ids
        # the exact method gives every wire neurons of its own: no interference at all
        assert level["interference"]["method"] == "exact"
        assert level["interference"]["max"] == 0 and not level["interference"]["top_pairs"]
    kinds = {w["kind"] for level in data["levels"] for w in level["wires"]}
    assert "input" in kinds and "signal" in kinds


def test_features_json_file(tmp_path):
    _, network, weights = compiled("C432")
    out = tmp_path / "features.json"
    assert cli("features", weights, "-o", out) == 0
    data = json.loads(out.read_text())
    assert [len(lvl["wires"]) for lvl in data["levels"]] == [len(f.names) for f in network.features]
    assert data["method"] == "exact"


def test_features_text(capsys):
    _, _, weights = compiled("full_adder")
    assert cli("features", weights, "--verbose", "--layer", 1) == 0
    text = capsys.readouterr().out
    assert text.startswith("superposition (a neuron serves the wires")
    table, rest = text.split("\n\n", 1)
    assert table.splitlines()[2].split() == ["1", "4", "3", "0.750", "1.00", "1"]
    assert rest.startswith("level 1: 4 neurons, 3 wires")
    assert "cin@1" in text and "carry" in text and "neuron ids" in text
    assert "level 2" not in text
    assert cli("features", weights, "--layer", 9) == 2


def brute_force(readout: sp.csr_matrix) -> np.ndarray:
    dense = readout.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=1)
    unit = dense / np.where(norms > 0, norms, 1)[:, None]
    cos = np.abs(unit @ unit.T)
    np.fill_diagonal(cos, 0)
    return cos


def test_interference_exact_and_sampled():
    """Overlapping read-offs (as in superposition): the sparse computation equals the dense
    one; over budget, sampling gives a lower bound and says so."""
    rng = np.random.default_rng(3)
    readout = sp.random(400, 120, density=0.04, format="csr", random_state=rng)
    readout = sp.csr_matrix(readout.toarray() * (np.arange(400) % 50 != 7)[:, None])  # 0 rows
    cos = brute_force(readout)
    exact = interference(readout, top=5)
    assert exact.method == "exact"
    assert np.allclose(exact.max_cos, cos.max(axis=1), atol=1e-9)
    has = exact.partner >= 0
    assert np.allclose(cos[np.flatnonzero(has), exact.partner[has]], exact.max_cos[has])
    assert exact.overlapping == int((np.triu(cos, 1) > 1e-7).sum())
    best = np.sort(np.triu(cos, 1).ravel())[::-1][:5]
    assert np.allclose([c for _, _, c in exact.top_pairs], best)
    sampled = interference(readout, budget=10, sample=64, top=5)
    assert sampled.method == "sampled" and sampled.sample == 64
    assert np.all(sampled.max_cos <= cos.max(axis=1) + 1e-9)
    assert sampled.max_cos.max() > 0


def test_superposed_features_interfere():
    """In superposition wires share neurons: the dictionary measures their overlap, and
    matches a dense computation on the same read-offs."""
    circuit, network, _ = compiled(SUPERPOSED)
    data = feature_dictionary(network, [1], circuit=circuit, sample=4950)
    level = data["levels"][0]
    assert level["features"] == 4950 and level["width"] == 1500
    inter = level["interference"]
    assert 0.05 < inter["max"] < 1 and inter["overlapping_pairs"] > 0
    cos = brute_force(sp.csr_matrix(network.features[1].readout))
    got = np.array([w["max_interference"] for w in level["wires"]])
    assert np.allclose(got, cos.max(axis=1), atol=1e-5)
    assert all(w["neurons"] > 1 for w in level["wires"])


def test_feature_dictionary_reports_sampling():
    _, network, _ = compiled("C432")
    data = feature_dictionary(network, [3], budget=0, sample=8)
    assert [lvl["level"] for lvl in data["levels"]] == [3]
    assert data["levels"][0]["interference"]["method"] == "sampled"


# --------------------------------------------------------------------------- trace


@pytest.mark.parametrize("name", NAMES)
def test_trace_reproduces_every_wire(name):
    """For random sparse inputs, every wire of every level is read off (features{i}.readout @
    h_i + bias) as its simulated value, and the simulated values of the source circuit's own
    signals agree with an independent simulation of the source circuit."""
    circuit, network, _ = compiled(name)
    signals = set(circuit.inputs) | set(circuit.gate_map)
    layered = lowered_circuit(network, circuit)
    for row in random_sparse(len(circuit.inputs), 4, seed=7):
        ones = [n for n, v in zip(circuit.inputs, row, strict=True) if v]
        result = trace(network, ones, circuit, layered)
        assert len(result.levels) == len(network.features)
        for level, rows in zip(result.levels, network.features, strict=True):
            assert [r.name for r in level] == list(rows.names)
            assert all(r.truth is not None for r in level)
            assert max(r.error for r in level) <= 1e-4
        own = [r for level in result.levels for r in level if r.name in signals]
        packed = simulate_packed(
            circuit, pack_bits(row[None, :].astype(np.uint8)), [r.name for r in own]
        )
        truth = unpack_bits(packed, 1)[0]
        assert [r.truth for r in own] == truth.astype(int).tolist()
        assert all(abs(r.readout - r.truth) <= 1e-4 for r in result.outputs)


def test_level_readouts_batch():
    circuit, network, _ = compiled("C432")
    x = random_sparse(len(circuit.inputs), 50)
    readouts = level_readouts(network, x)
    assert [r.shape[0] for r in readouts[:-1]] == [len(f.names) for f in network.features]
    assert np.allclose(readouts[-1].T, network.forward(x))


def test_trace_cli(capsys):
    _, _, weights = compiled("full_adder")
    assert cli("trace", weights, "--input", "a,cin") == 0
    text = capsys.readouterr().out
    assert "input: a, cin" in text
    for wire in ("t", "c1", "cin@1", "sum", "c2", "c1@2", "cout", "sum@3"):
        assert wire in text
    assert "0 wires read off wrong" in text
    assert cli("trace", weights, "--input", "a,nope") == 2
    assert "unknown input(s) nope" in capsys.readouterr().err


def test_trace_cli_json_and_limit(capsys):
    _, network, weights = compiled("C432")
    ones = network.input_names[:2]
    assert cli("trace", weights, "--input", ",".join(ones), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ones"] == list(ones) and data["wrong"] == 0 and data["max_error"] <= 1e-4
    assert len(data["levels"]) == len(network.features)
    assert cli("trace", weights, "--input", ones[0], "--limit", 5) == 0
    assert "more wires" in capsys.readouterr().out


def test_trace_flags_wrong_wires():
    """A tampered readout bias shows up as a wrong wire with its error."""
    circuit, network, _ = compiled("full_adder")
    fmap = network.features[1]
    fmap.bias = fmap.bias + np.float32([0.0, 0.75, 0.0])
    try:
        result = trace(network, [], circuit)
        rows = {r.name: r for r in result.levels[1]}
        assert rows["c1"].wrong and rows["c1"].error == pytest.approx(0.75)
        assert result.to_dict()["wrong"] == 1
    finally:
        fmap.bias = fmap.bias - np.float32([0.0, 0.75, 0.0])


# --------------------------------------------------------------------------- inspect


def test_inspect(capsys):
    circuit, network, weights = compiled("C432")
    assert cli("inspect", weights, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "exact" and data["options"]["method"] == "exact"
    assert data["inputs"] == len(circuit.inputs) and data["depth"] == len(network.layers)
    assert data["neurons"] == network.neurons == data["exact_neurons"]
    names = [m["name"] for m in data["matrices"]]
    assert names[0] == "embed" and names[-1] == "readout.weight"
    assert len(names) == len(network.layers) + 2
    assert all(0 <= m["density"] <= 1 for m in data["matrices"])
    assert data["parameters"]["nonzero"] <= data["parameters"]["dense"]
    for row, fmap in zip(data["layers"], network.features[1:], strict=True):
        assert row["gates"] + row["carries"] == len(fmap.names)
    assert sum(op["neurons"] for op in data["by_op"]) == network.neurons
    assert sum(op["gates"] for op in data["by_op"]) == sum(
        len(f.names) for f in network.features[1:]
    )
    assert cli("inspect", weights) == 0
    text = capsys.readouterr().out
    for word in ("matrices", "layers", "neurons per gate", "parameters", "carry"):
        assert word in text


def test_bad_weights_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    for command in ("inspect", "features", "trace"):
        assert cli(command, bad) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bad.npz" in err


# --------------------------------------------------------------------------- API


def test_readme_api_example(tmp_path, monkeypatch):
    """The README's Python API section runs as written."""
    import re

    from conftest import REPO

    text = (REPO / "README.md").read_text()
    block = text.split("<!-- api-example -->", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "circuits").symlink_to(REPO / "circuits")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "full_adder.npz").exists()
