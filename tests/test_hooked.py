"""``circuit2mlp.load``: the hooked module computes ``Network.forward`` and exposes every
level's activations by name, with read-offs that give the network's own wire values."""

from __future__ import annotations

import numpy as np
import pytest
from compiled import compiled, random_sparse

torch = pytest.importorskip("torch")

import circuit2mlp  # noqa: E402


def levels_of(network, x):
    seen = {}

    def grab(level, h):
        seen[level] = h.T.copy()

    y = network.forward(x, callback=grab)
    return y, seen


@pytest.mark.parametrize("name", ["full_adder", "C432", "uand100_superposed"])
def test_hook_points_equal_network_forward(name):
    circuit, network, weights = compiled(name)
    model = circuit2mlp.load(weights)
    x = random_sparse(len(circuit.inputs), n=300, seed=1)
    want_y, want = levels_of(network, x)
    with torch.no_grad():
        y, cache = model.run_with_cache(torch.from_numpy(x))
    np.testing.assert_allclose(y.numpy(), want_y, atol=1e-5)
    assert len(want) == model.levels
    for level, h in want.items():
        np.testing.assert_allclose(cache[f"hook_level{level}"].numpy(), h, atol=1e-5)
        fmap = network.features[level]
        read = model.read_off(level, torch.from_numpy(h)).numpy()
        np.testing.assert_allclose(read, (fmap.readout @ h.T).T + fmap.bias, atol=1e-4)
        assert model.features[level].names == fmap.names


def test_plain_forward_hooks_work():
    circuit, network, weights = compiled("C432")
    model = circuit2mlp.load(weights)
    got = {}
    handle = model.hook(3).register_forward_hook(lambda _m, _i, out: got.setdefault("h", out))
    x = random_sparse(len(circuit.inputs), n=50, seed=2)
    with torch.no_grad():
        model(torch.from_numpy(x))
    handle.remove()
    np.testing.assert_allclose(got["h"].numpy(), levels_of(network, x)[1][3], atol=1e-5)


def test_safetensors_export_keeps_the_ground_truth(tmp_path):
    st = pytest.importorskip("safetensors")
    _, network, weights = compiled("C432")
    out = tmp_path / "c432.safetensors"
    from circuit2mlp.export import export

    export(weights, "safetensors", out)
    import json

    with st.safe_open(str(out), framework="np") as f:
        meta = f.metadata()
        for level, fmap in enumerate(network.features):
            assert json.loads(meta[f"features{level}.names"]) == list(fmap.names)
            if f"features{level}.readout" in f.keys():  # noqa: SIM118
                stored = f.get_tensor(f"features{level}.readout")
            else:
                import scipy.sparse as sp

                stored = sp.csr_matrix(
                    tuple(
                        f.get_tensor(f"features{level}.readout.{p}")
                        for p in ("data", "indices", "indptr")
                    ),
                    shape=tuple(f.get_tensor(f"features{level}.readout.shape")),
                ).toarray()
            np.testing.assert_array_equal(stored, fmap.readout.toarray())
