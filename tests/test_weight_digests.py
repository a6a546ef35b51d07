"""Weight digests: compiles of a fixed set of circuits, methods, widths and seeds hash to the
digests stored in tests/data/weight_digests.json.

This pins the weights byte for byte across refactors of the codegen: a change that moves code
but is meant to keep the network must keep every digest. A change that *means* to change the
weights regenerates the file (``python tests/test_weight_digests.py --update``) in a commit of
its own that says why.

Each case hashes every array the network holds (embed, every layer's weight and bias, the
readout, every level's feature map), with its storage (dense or CSR), shape and dtype.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.generate import random_circuit, uand_circuit
from circuit2mlp.ir import Circuit

REPO = Path(__file__).resolve().parents[1]
DIGESTS = REPO / "tests" / "data" / "weight_digests.json"


def _file(relative: str) -> Callable[[], Circuit]:
    return lambda: load_circuit(REPO / "circuits" / relative)


#: name -> circuit; small enough that every case compiles in well under a second.
CIRCUITS: dict[str, Callable[[], Circuit]] = {
    "full_adder": _file("handwritten/full_adder.yaml"),
    "decoder3to8": _file("handwritten/decoder3to8.yaml"),
    "parity8": _file("handwritten/parity8.yaml"),
    "ripple_adder4": _file("handwritten/ripple_adder4.yaml"),
    "cm82a": _file("real/lgsynth93/cm82a.blif"),
    "c17": _file("real/iscas85/c17.bench"),
    "uand20": lambda: uand_circuit(20),
    "random64": lambda: random_circuit(inputs=64, width=48, depth=3, seed=1),
    "and200": lambda: random_circuit(inputs=200, width=200, depth=3, seed=1, mix={"and": 1.0}),
}

#: (case name, circuit, config). Fixed widths for every method; the automatic width, inputs
#: in superposition and error correction off for the superposed method too, since those are
#: the planner's other paths.
CASES: list[tuple[str, str, CompileConfig]] = [
    *(
        (f"{c}/{m}/w{w}", c, CompileConfig(method=m, width=w, seed=3))
        for c, w in (
            ("full_adder", 12),
            ("decoder3to8", 16),
            ("parity8", 24),
            ("ripple_adder4", 32),
            ("cm82a", 24),
            ("c17", 8),
            ("uand20", 120),
            ("random64", 96),
        )
        for m in ("exact", "superposed", "paper")
    ),
    ("uand20/superposed/auto", "uand20", CompileConfig(seed=5)),
    ("random64/superposed/auto", "random64", CompileConfig(seed=5)),
    ("cm82a/superposed/auto", "cm82a", CompileConfig(seed=5)),
    ("random64/superposed/d0=40", "random64", CompileConfig(width=96, input_dim=40, seed=2)),
    ("random64/paper/d0=40", "random64", CompileConfig(method="paper", width=96, input_dim=40)),
    ("random64/superposed/noec", "random64", CompileConfig(width=96, error_correction=False)),
    ("random64/superposed/auto-noec", "random64", CompileConfig(error_correction=False)),
    ("parity8/paper/auto", "parity8", CompileConfig(method="paper")),
    ("random64/superposed/clean", "random64", CompileConfig(width=96, clean_threshold=0.3)),
    # the automatic width keeps layers 2 and 3 superposed (calibrated), layer 1 exact
    ("and200/superposed/auto", "and200", CompileConfig(seed=5, clean_threshold=0.5)),
]


def _digest_matrix(h, matrix) -> None:
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix)
        h.update(f"csr{csr.shape}{csr.dtype}".encode())
        for part in (csr.data, csr.indices.astype(np.int64), csr.indptr.astype(np.int64)):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        array = np.ascontiguousarray(matrix)
        h.update(f"dense{array.shape}{array.dtype}".encode())
        h.update(array.tobytes())


def network_digest(network) -> str:
    """sha256 over every weight array of a network, in a fixed order."""
    h = hashlib.sha256()
    _digest_matrix(h, network.embed)
    for weight, bias in network.layers:
        _digest_matrix(h, weight)
        _digest_matrix(h, bias)
    _digest_matrix(h, network.readout[0])
    _digest_matrix(h, network.readout[1])
    for fmap in network.features:
        h.update("\0".join(fmap.names).encode())
        _digest_matrix(h, fmap.readout)
        _digest_matrix(h, fmap.bias)
    return h.hexdigest()


def compute_digests() -> dict[str, str]:
    circuits = {name: make() for name, make in CIRCUITS.items()}
    return {
        name: network_digest(compile_circuit(circuits[circuit], config)[0])
        for name, circuit, config in CASES
    }


@pytest.fixture(scope="module")
def digests() -> dict[str, str]:
    return compute_digests()


@pytest.mark.parametrize("name", [name for name, _, _ in CASES])
def test_weights_match_stored_digest(name: str, digests: dict[str, str]) -> None:
    stored = json.loads(DIGESTS.read_text())
    assert name in stored, f"no stored digest for {name}: regenerate with --update"
    assert digests[name] == stored[name], f"weights of {name} changed"


def test_stored_digests_cover_exactly_the_cases() -> None:
    assert set(json.loads(DIGESTS.read_text())) == {name for name, _, _ in CASES}


def test_digest_sees_a_one_ulp_change() -> None:
    network = compile_circuit(CIRCUITS["full_adder"](), CompileConfig(method="exact"))[0]
    before = network_digest(network)
    weight, bias = network.layers[0]
    bias = bias.copy()
    bias[0] = np.nextafter(bias[0], np.float32(np.inf))
    network.layers[0] = (weight, bias)
    assert network_digest(network) != before


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_weight_digests.py --update")
    DIGESTS.parent.mkdir(parents=True, exist_ok=True)
    DIGESTS.write_text(json.dumps(compute_digests(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {DIGESTS}")
