"""``circuit2mlp activations | score``: the stored activations are the network's, the stored
wires are the circuit's (checked against numpy ANDs of the inputs, an oracle independent of
the simulator), the true dictionary scores 1 and a random one scores near chance."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from compiled import uand_yaml
from inprocess import cli

from circuit2mlp.activations import (
    ActivationDataset,
    InputDistribution,
    Sampler,
    k_hot,
)
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import parse_circuit
from circuit2mlp.network import Network
from circuit2mlp.score import save_dictionary

_FOLDER = Path(tempfile.mkdtemp(prefix="circuit2mlp-dataset-tests-"))
# other test modules use the cached network too: the folder lives as long as the process
atexit.register(shutil.rmtree, _FOLDER, True)
M = 30



@functools.cache
def uand30() -> tuple[Network, Path]:
    """U-AND m = 30 (435 ANDs) on 1,000 superposed neurons: verifies with no error at s = 3."""
    circuit = parse_circuit(uand_yaml(M), "yaml", "uand30.yaml")
    network, _ = compile_circuit(circuit, CompileConfig(method="superposed", width=1000))
    path = _FOLDER / "uand30.npz"
    network.save(path)
    return network, path


@functools.cache
def dataset() -> Path:
    _, weights = uand30()
    out = _FOLDER / "acts"
    assert cli("activations", weights, "-n", 3000, "-o", out, "--shard-rows", 700, "-q") == 0
    return out


def and_oracle(x: np.ndarray, names: list[str]) -> np.ndarray:
    """(N, F) truth of wires named a{i}_{j} = x_i AND x_j, straight from the inputs."""
    pairs = np.array([[int(v) for v in n[1:].split("_")] for n in names])
    return (x[:, pairs[:, 0]] & x[:, pairs[:, 1]]).astype(bool)


# --------------------------------------------------------------------------- sampling


def test_k_hot_rows_have_exactly_k_distinct_ones():
    rng = np.random.default_rng(0)
    ks = rng.integers(0, 6, size=500)
    rows = k_hot(20, ks, rng)
    assert np.array_equal(rows.sum(axis=1), ks)
    assert rows.max() == 1


@pytest.mark.parametrize(
    "dist",
    [
        InputDistribution("khot", 40, k=3),
        InputDistribution("uniform", 40, sparsity=4),
        InputDistribution("bernoulli", 40, rates=np.linspace(0, 0.2, 40)),
        InputDistribution("zipf", 40, exponent=1.0, mean_active=3.0),
    ],
)
def test_distributions_are_seeded_and_have_their_means(dist):
    a = Sampler(dist, 7).draw(20_000)
    b = Sampler(dist, 7).draw(20_000)
    assert np.array_equal(a, b)
    mean = a.sum(axis=1).mean()
    expected = {"khot": 3, "uniform": 2, "bernoulli": np.linspace(0, 0.2, 40).sum(), "zipf": 3}
    assert mean == pytest.approx(expected[dist.kind], rel=0.05)
    if dist.kind == "bernoulli":
        assert a[:, 0].sum() == 0  # rate 0 is never on
        assert a[:, -1].mean() == pytest.approx(0.2, abs=0.02)


# --------------------------------------------------------------------------- dataset


def test_dataset_equals_direct_forward_pass_and_circuit_truth():
    network, _ = uand30()
    data = ActivationDataset(dataset())
    assert len(data) == 3000 and len(data.shards) == 5
    names = data.wire_names
    assert names == list(network.features[1].names)
    for index in (0, 4):  # a full shard and the short last one
        raw = data._load(index)
        x = raw["inputs"].toarray().astype(np.uint8)
        seen: dict[int, np.ndarray] = {}

        def grab(level: int, h: np.ndarray, seen=seen) -> None:
            seen[level] = h.T.copy()

        network.forward(x, callback=grab)
        acts, wires = data.shard(index)
        assert acts.dtype == np.float32
        np.testing.assert_array_equal(acts, seen[1])
        np.testing.assert_array_equal(wires.toarray(), and_oracle(x, names))
    # inputs follow the default distribution: k uniform in 0..3
    ks = np.concatenate([np.diff(data._load(i)["inputs"].indptr) for i in range(5)])
    assert set(np.unique(ks)) == {0, 1, 2, 3}


def test_rows_and_items_match_shards():
    data = ActivationDataset(dataset())
    rows = np.array([2999, 0, 701, 1400, 5])
    got = data.rows(rows)
    for r, row in zip(rows, got, strict=True):
        acts, active = data.item(int(r))
        np.testing.assert_array_equal(row, acts)
        s = int(np.searchsorted(data.starts, r, side="right") - 1)
        wires = data.shard(s)[1]
        local = r - data.starts[s]
        assert list(active) == list(wires.indices[wires.indptr[local] : wires.indptr[local + 1]])


def test_manifest_and_features_describe_the_truth():
    network, _ = uand30()
    folder = dataset()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "circuit2mlp-activations/1"
    assert manifest["distribution"]["kind"] == "uniform"
    assert [e["level"] for e in manifest["levels"]] == [1]
    feats = ActivationDataset(folder).features()
    readout = network.features[1].readout.toarray()
    import scipy.sparse as sp

    stored = sp.csr_matrix(
        (feats["readout.data"], feats["readout.indices"], feats["readout.indptr"]),
        shape=tuple(feats["readout.shape"]),
    ).toarray()
    np.testing.assert_array_equal(stored, readout)
    assert feats["write"].shape == readout.shape
    # the write direction is a difference of conditional means: check one wire by hand
    data = ActivationDataset(folder)
    acts = np.concatenate([data.shard(i)[0] for i in range(5)]).astype(np.float64)
    wires = np.concatenate([data.shard(i)[1].toarray() for i in range(5)])
    f = int(np.argmax(wires.sum(axis=0)))
    want = acts[wires[:, f]].mean(axis=0) - acts[~wires[:, f]].mean(axis=0)
    np.testing.assert_allclose(feats["write"][f], want, atol=1e-5)
    assert feats["active_count"][f] == wires[:, f].sum()


def test_torch_dataset_items():
    torch = pytest.importorskip("torch")
    from circuit2mlp.activations import torch_dataset

    ds = torch_dataset(dataset())
    acts, wires = ds[123]
    want_acts, active = ActivationDataset(dataset()).item(123)
    assert torch.equal(acts, torch.from_numpy(want_acts))
    assert torch.nonzero(wires).ravel().tolist() == list(active)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=16)))
    assert batch[0].shape == (16, 1000)


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys):
    _, weights = uand30()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert cli("activations", weights, "-n", 10, "-o", busy) == 2
    assert cli("activations", tmp_path / "missing.npz", "-n", 10, "-o", tmp_path / "a") == 2
    assert cli("activations", weights, "-n", 10, "-o", tmp_path / "b", "--dist", "khot") == 2
    assert cli("activations", weights, "-n", 10, "-o", tmp_path / "c", "--level", 9) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all("error" in line for line in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


# --------------------------------------------------------------------------- score


@pytest.fixture
def run_score(capsys):
    _, weights = uand30()

    def run(*args) -> dict:
        capsys.readouterr()
        assert cli("score", weights, "--level", 1, "--json", *args) == 0
        return json.loads(capsys.readouterr().out)

    return run


def test_true_dictionary_scores_one(run_score):
    folder = dataset()
    result = run_score(
        "--dictionary", folder / "true_dictionary-level1.safetensors", "--activations", folder
    )
    assert result["wires_seen"] == 435
    assert result["mcc_decoder"] == pytest.approx(1.0, abs=1e-6)
    for key in ("mcc", "mcc_activation", "recovered_fraction"):
        assert result[key] == 1.0, key
    assert result["mean_max_cos"] == pytest.approx(1.0, abs=1e-6)
    assert result["mean_max_cos_latents"] == pytest.approx(1.0, abs=1e-6)
    assert result["dead_latents"] == result["dense_latents"] == 0
    assert result["dead_latents_excess"] == 0
    assert result["split_wires"] == result["absorbed_wires"] == 0
    assert result["l0"] == result["true_l0"]


def test_true_dictionary_dead_latents_are_the_unseen_wires(run_score):
    """On few samples most ANDs never occur: their latents are dead, and none beyond them."""
    folder = dataset()
    result = run_score(
        "--dictionary", folder / "true_dictionary-level1.safetensors", "--activations", folder,
        "-n", 40,
    )
    unseen = result["wires"] - result["wires_seen"]
    assert unseen > 100
    assert result["dead_latents"] == unseen
    assert result["dead_latents_excess"] == 0
    assert result["mcc"] == result["recovered_fraction"] == 1.0


def test_random_dictionary_scores_near_chance(run_score, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "random.safetensors"
    latents = 512
    save_dictionary(
        path,
        {
            "W_enc": rng.normal(size=(1000, latents)) / np.sqrt(1000),
            "W_dec": rng.normal(size=(latents, 1000)),
            "b_enc": np.zeros(latents),
            "b_dec": np.zeros(1000),
        },
    )
    result = run_score("--dictionary", path, "--activations", dataset())
    assert result["mcc"] <= 0.1
    assert result["recovered_fraction"] == 0
    assert result["mean_max_cos"] < 0.3


def test_decoder_only_dictionary_uses_the_pseudo_inverse(run_score, tmp_path):
    from safetensors.numpy import load_file

    true = load_file(str(dataset() / "true_dictionary-level1.safetensors"))
    path = tmp_path / "dec.safetensors"
    save_dictionary(path, {"W_dec": true["W_dec"][:200]})
    result = run_score("--dictionary", path, "-n", 2000)
    assert result["encoder"] == "pinv" and result["latents"] == 200
    assert 0 <= result["mcc"] <= 1


def test_score_refuses_a_dictionary_of_the_wrong_width(tmp_path, capsys):
    _, weights = uand30()
    path = tmp_path / "bad.safetensors"
    save_dictionary(path, {"W_dec": np.zeros((4, 7))})
    assert cli("score", weights, "--level", 1, "--dictionary", path) == 2
    assert cli("score", weights, "--level", 1, "--dictionary", tmp_path / "none") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "W_dec" in err[0]


@pytest.mark.parametrize(
    "args,kind",
    [
        (("--dist", "bernoulli", "--rate", 0.1), "bernoulli"),
        (("--dist", "zipf", "--zipf-exponent", 1.5, "--mean-active", 2), "zipf"),
        (("--dist", "khot", "-k", 2), "khot"),
    ],
)
def test_activations_cli_distributions(tmp_path, args, kind):
    _, weights = uand30()
    out = tmp_path / "acts"
    assert cli("activations", weights, "-n", 300, "-o", out, "-q", "--seed", 5, *args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["distribution"]["kind"] == kind
    data = ActivationDataset(out)
    x = data._load(0)["inputs"].toarray().astype(np.uint8)
    if kind == "khot":
        assert set(x.sum(axis=1)) == {2}
    np.testing.assert_array_equal(data.shard(0)[1].toarray(), and_oracle(x, data.wire_names))
