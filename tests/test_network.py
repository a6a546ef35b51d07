"""The weights file: round trips, byte reproducibility, atomic writes, hostile files."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.errors import NetworkFileError
from circuit2mlp.formats import load_circuit
from circuit2mlp.network import Network, write_npz_atomic
from circuit2mlp.simulate import all_inputs


@pytest.fixture
def network(corpus):
    circuit = load_circuit(corpus / "handwritten/ripple_adder4.yaml")
    return compile_circuit(circuit, CompileConfig(method="exact"))[0]


def arrays_of(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_round_trip(tmp_path, network):
    path = tmp_path / "w.npz"
    network.save(path)
    loaded = Network.load(path)
    x = all_inputs(len(network.input_names))
    np.testing.assert_array_equal(loaded.forward(x), network.forward(x))
    assert loaded.meta == network.meta
    assert loaded.circuit_yaml == network.circuit_yaml
    assert [f.names for f in loaded.features] == [f.names for f in network.features]


def test_sparse_matrices_round_trip(tmp_path, network):
    network.layers[0] = (sp.csr_matrix(network.layers[0][0]), network.layers[0][1])
    path = tmp_path / "w.npz"
    network.save(path)
    assert "layer0.weight.indptr" in arrays_of(path)
    x = all_inputs(len(network.input_names))
    np.testing.assert_array_equal(Network.load(path).forward(x), network.forward(x))


def test_save_is_byte_identical(tmp_path, network):
    network.save(tmp_path / "a.npz")
    network.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_failed_write_leaves_old_file(tmp_path, network):
    path = tmp_path / "w.npz"
    network.save(path)
    before = path.read_bytes()

    with pytest.raises(ValueError):
        write_npz_atomic(path, {"x": np.array([object()], dtype=object)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def rewrite(tmp_path, network, change):
    path = tmp_path / "w.npz"
    network.save(path)
    arrays = arrays_of(path)
    change(arrays)
    bad = tmp_path / "bad.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    bad.write_bytes(buffer.getvalue())
    return bad


def set_key(key, value):
    return lambda arrays: arrays.__setitem__(key, value)


HOSTILE = {
    "wrong format tag": (set_key("format", np.array("other/2")), "format"),
    "missing array": (lambda a: a.pop("layer1.bias"), "layer1"),
    "shapes do not chain": (set_key("layer1.weight", np.zeros((3, 2), np.float32)), "shape"),
    "nan weight": (lambda a: a["layer0.weight"].__setitem__((0, 0), np.nan), "NaN"),
    "inf bias": (lambda a: a["layer0.bias"].__setitem__(0, np.inf), "NaN or infinite"),
    "meta not json": (set_key("meta", np.array("{nope")), "JSON"),
    "names not strings": (set_key("input_names", np.arange(3.0)), "string"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_refused(tmp_path, network, case):
    change, phrase = HOSTILE[case]
    with pytest.raises(NetworkFileError, match=phrase):
        Network.load(rewrite(tmp_path, network, change))


def test_csr_parts_that_disagree(tmp_path, network):
    network.layers[0] = (sp.csr_matrix(network.layers[0][0]), network.layers[0][1])

    def corrupt(arrays):
        arrays["layer0.weight.indices"] = arrays["layer0.weight.indices"][:-1]

    with pytest.raises(NetworkFileError, match="CSR"):
        Network.load(rewrite(tmp_path, network, corrupt))


def test_pickled_object_refused(tmp_path):
    path = tmp_path / "evil.npz"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("format.npy", buffer.getvalue())
    with pytest.raises(NetworkFileError, match="object"):
        Network.load(path)
    assert pickle  # the payload above is a real pickle; loading it would need allow_pickle


def test_huge_declared_shape_refused_before_allocation(tmp_path):
    path = tmp_path / "huge.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("format.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(NetworkFileError, match="larger than its data"):
        Network.load(path)


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "w.npz"
    path.write_bytes(content)
    with pytest.raises(NetworkFileError):
        Network.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(NetworkFileError, match="no such file"):
        Network.load(tmp_path / "nope.npz")


def test_meta_records_options(network):
    meta = json.loads(json.dumps(network.meta))
    assert meta["method"] == "exact"
    assert meta["options"]["max_fanin"] == 4
    assert meta["layer_sizes"] == network.widths
