"""``circuit2mlp disguise``: permuted and distracted networks compute the same outputs and the
same wire read-offs; a noisy one still verifies (with whatever errors the noise causes)."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import SUPERPOSED, compiled, random_sparse
from test_dataset import cli

from circuit2mlp.network import Network
from circuit2mlp.realism import disguise


def run(network, x):
    levels = {}

    def grab(level, h):
        levels[level] = h.T.copy()

    return network.forward(x, callback=grab), levels


def read_offs(network, levels):
    return {
        i: (network.features[i].readout @ h.T).T + network.features[i].bias
        for i, h in levels.items()
        if i < len(network.features)
    }


@pytest.mark.parametrize("name", ["C432", SUPERPOSED])
@pytest.mark.parametrize("permute,distractors", [(True, 0), (False, 16), (True, 16)])
def test_same_outputs_and_read_offs(name, permute, distractors):
    circuit, network, _ = compiled(name)
    other = disguise(network, permute=permute, distractors=distractors, seed=3)
    x = random_sparse(len(circuit.inputs), n=200, seed=4)
    y, levels = run(network, x)
    y2, levels2 = run(other, x)
    np.testing.assert_allclose(y2, y, atol=1e-5)
    assert np.array_equal(y2 > 0.5, y > 0.5)
    want, got = read_offs(network, levels), read_offs(other, levels2)
    for level in want:
        np.testing.assert_allclose(got[level], want[level], atol=1e-5)
    hidden = range(1, len(network.layers) + 1)
    assert other.widths == [w + distractors for w in network.widths]
    if distractors and not permute:  # the distractors (appended last) are often on
        for i in hidden:
            assert np.mean(levels2[i][:, -distractors:] > 0) > 0.2
    if permute and not distractors:  # the same neurons, in another order
        for i in hidden:
            a, b = np.sort(levels[i], axis=1), np.sort(levels2[i], axis=1)
            np.testing.assert_allclose(b, a, atol=1e-5)
            assert not np.array_equal(levels[i], levels2[i])


def test_disguise_cli_round_trip_and_noisy_verify(tmp_path):
    _, _, weights = compiled("full_adder")
    out = tmp_path / "fa2.npz"
    args = ("--permute", "--distractors", 8, "--seed", 1)
    assert cli("disguise", weights, "-o", out, *args) == 0
    loaded = Network.load(out)
    assert loaded.meta["disguise"][0]["distractors"] == 8
    assert cli("verify", out, "-q") == 0
    noisy = tmp_path / "noisy.npz"
    assert cli("disguise", weights, "-o", noisy, "--weight-noise", 0.05, "--seed", 1) == 0
    assert cli("verify", noisy, "-q") in (0, 1)  # runs; errors, if any, are measured
    assert cli("disguise", weights, "-o", tmp_path / "x.npz", "--weight-noise", -1) == 2
    # the same seed gives the same file
    again = tmp_path / "fa3.npz"
    assert cli("disguise", weights, "-o", again, *args) == 0
    assert again.read_bytes() == out.read_bytes()


def test_activations_of_a_disguised_network_keep_exact_truth(tmp_path):
    from test_dataset import and_oracle, uand30

    from circuit2mlp.activations import ActivationDataset

    _, weights = uand30()
    out = tmp_path / "dis.npz"
    assert cli("disguise", weights, "-o", out, "--permute", "--distractors", 32) == 0
    folder = tmp_path / "acts"
    assert cli("activations", out, "-n", 500, "-o", folder, "-q") == 0
    data = ActivationDataset(folder)
    acts, wires = data.shard(0)
    x = data._load(0)["inputs"].toarray().astype(np.uint8)
    np.testing.assert_array_equal(wires.toarray(), and_oracle(x, data.wire_names))
    assert acts.shape[1] == 1032
