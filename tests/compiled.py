"""Networks shared by the export / interpretability / plot tests, compiled once per session.

The acceptance circuits: the hand-written full adder, a real BLIF (ISCAS C432 from LGSynth93:
36 inputs, 24 layers) and the U-AND task with m = 250 inputs (all 31,125 pairwise ANDs, a
31,125 × 31,125 sparse readout), compiled with the exact method.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from conftest import CORPUS

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit, parse_circuit
from circuit2mlp.ir import Circuit
from circuit2mlp.network import Network
from circuit2mlp.simulate import sparse_inputs

NAMES = ("full_adder", "C432", "uand250")
SUPERPOSED = "uand100_superposed"  # U-AND m = 100 on 1,500 neurons: real interference
_FOLDER = Path(tempfile.mkdtemp(prefix="circuit2mlp-tests-"))
atexit.register(shutil.rmtree, _FOLDER, True)  # the files live as long as the test process


def uand_yaml(m: int) -> str:
    """U-AND: inputs x0..x{m-1}, one output a_i_j = AND(xi, xj) per pair i < j."""
    pairs = list(itertools.combinations(range(m), 2))
    lines = [
        f"name: uand{m}",
        "inputs: [" + ", ".join(f"x{i}" for i in range(m)) + "]",
        "outputs: [" + ", ".join(f"a{i}_{j}" for i, j in pairs) + "]",
        "gates:",
        *(f"  a{i}_{j}: [and, x{i}, x{j}]" for i, j in pairs),
    ]
    return "\n".join(lines) + "\n"


@functools.cache
def compiled(name: str) -> tuple[Circuit, Network, Path]:
    """(circuit, network, weights file) for one of NAMES (exact method) or SUPERPOSED."""
    if name == "full_adder":
        circuit = load_circuit(CORPUS / "handwritten/full_adder.yaml")
    elif name == "C432":
        circuit = load_circuit(CORPUS / "real/lgsynth93/C432.blif")
    elif name == "uand250":
        circuit = parse_circuit(uand_yaml(250), "yaml", "uand250.yaml")
    elif name == SUPERPOSED:
        circuit = parse_circuit(uand_yaml(100), "yaml", "uand100.yaml")
        config = CompileConfig(method="superposed", sparsity=3, width=1500)
    else:
        raise KeyError(name)
    if name != SUPERPOSED:
        config = CompileConfig(method="exact", sparsity=3)
    network, _ = compile_circuit(circuit, config)
    path = _FOLDER / f"{name}.npz"
    network.save(path)
    return circuit, network, path


def random_sparse(m: int, n: int = 1000, s: int = 3, seed: int = 0) -> np.ndarray:
    """n random inputs with 0..s ones, as float32 (repeats only when fewer exist)."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([sparse_inputs(m, k, n, rng) for k in range(min(s, m) + 1)])
    pick = rng.permutation(len(rows))[:n] if len(rows) >= n else rng.integers(0, len(rows), n)
    return rows[pick].astype(np.float32)
