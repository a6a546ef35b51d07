"""Bounded-memory paths give exactly what the whole-network paths give: a layer composed in
row pieces, npz members written piece by piece, a compile that composes and writes one layer
at a time, and verify over a network read from its file one layer at a time (in groups of
batches, activations held sparse between layers)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from compiled import SUPERPOSED, compiled
from test_deep import mixed_circuit

import circuit2mlp.network as network_module
import circuit2mlp.verify as verify_module
from circuit2mlp.codegen import blocks as blocks_module
from circuit2mlp.codegen.blocks import FeatureMap, LayerBlock, compact, compose
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.network import Network, write_npz_atomic
from circuit2mlp.verify import verify


def test_composed_in_row_pieces_is_the_product(monkeypatch) -> None:
    """Row pieces of Ŵ R stacked: the same float32 CSR arrays as the product in one go
    (rows of nothing included), big enough (rows x cols > 2^24) to take the piece path."""
    rng = np.random.default_rng(3)
    weight = sp.random(5000, 300, density=0.01, format="csr", dtype=np.float32, random_state=rng)
    weight = sp.vstack([sp.csr_matrix((7, 300), dtype=np.float32), weight]).tocsr()
    readout = sp.random(300, 4000, density=0.02, format="csr", dtype=np.float32, random_state=rng)
    level = FeatureMap(tuple(f"f{i}" for i in range(300)), readout, rng.random(300, np.float32))
    block = LayerBlock(weight, rng.random(5007).astype(np.float32), level)
    whole = compact(sp.csr_matrix(weight, dtype=np.float64) @ readout.astype(np.float64))
    monkeypatch.setattr(blocks_module, "COMPOSE_ENTRIES", 5000)
    pieced, bias = compose(block, level)
    assert pieced.shape == whole.shape
    for part in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(pieced, part), getattr(whole, part)), part
    expected = weight.astype(np.float64) @ level.bias.astype(np.float64) + block.bias
    assert np.array_equal(bias, expected.astype(np.float32))


def test_members_written_in_pieces_are_the_same_bytes(tmp_path, monkeypatch) -> None:
    """An int32 array written as int64 piece by piece: the bytes of the whole int64 array
    written at once (header, zip sizes and deflate stream)."""
    values = np.random.default_rng(0).integers(0, 10**6, 100_003).astype(np.int32)
    write_npz_atomic(tmp_path / "whole.npz", {"x": values.astype(np.int64)})
    monkeypatch.setattr(network_module, "WRITE_CHUNK", 777)
    pieces = network_module._Pieces(values, np.dtype(np.int64))
    write_npz_atomic(tmp_path / "pieces.npz", {"x": pieces})
    assert (tmp_path / "whole.npz").read_bytes() == (tmp_path / "pieces.npz").read_bytes()


@pytest.fixture(scope="module")
def deep_circuit():
    return mixed_circuit(400, 3, 2, 7)


def test_streamed_compile_writes_the_same_file(deep_circuit, tmp_path) -> None:
    """compile's streamed assembly (one layer composed at a time, its block dropped) writes
    the eager network's bytes; a streamed layer is read once."""
    config = CompileConfig(method="deep", sparsity=3, width=900, seed=2)
    eager, _ = compile_circuit(deep_circuit, config)
    eager.save(tmp_path / "eager.npz")
    streamed, report = compile_circuit(deep_circuit, config, stream=True)
    assert streamed.widths == eager.widths and report.neurons == eager.neurons
    streamed.save(tmp_path / "streamed.npz")
    assert (tmp_path / "eager.npz").read_bytes() == (tmp_path / "streamed.npz").read_bytes()
    with pytest.raises(RuntimeError, match="composed already"):
        streamed.layers[0]


def test_verify_of_a_streamed_file_is_the_same(monkeypatch) -> None:
    """verify on the file read layer by layer, in groups of one batch or of all of them,
    gives the figures of verify on the network in memory."""
    circuit, network, path = compiled(SUPERPOSED)
    expected = verify(circuit, network, samples=300, sparsity=3, seed=1).to_dict()
    streamed = Network.load(path, stream=True)
    assert streamed.widths == network.widths
    assert verify(circuit, streamed, samples=300, sparsity=3, seed=1).to_dict() == expected
    monkeypatch.setattr(verify_module, "BATCH_BYTES", 64 * 4 * max(network.widths))
    monkeypatch.setattr(verify_module, "GROUP_BYTES", 1)
    assert verify(circuit, streamed, samples=300, sparsity=3, seed=1).to_dict() == expected
