"""docs/format.md's numpy snippet, run as an independent reader (it imports no circuit2mlp)."""

import re
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit
from circuit2mlp.simulate import all_inputs, simulate


def snippet() -> str:
    text = (REPO / "docs/format.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 25
    return code


def assert_reader_computes(tmp_path, circuit, x, program: str, *args) -> None:
    """Run ``program`` in an isolated interpreter (no circuit2mlp on its path) in
    ``tmp_path``; the y.npy it writes must be the circuit's outputs on ``x``."""
    import numpy as np

    result = subprocess.run(
        [sys.executable, "-I", "-c", program, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y.astype(bool), simulate(circuit, x))


@pytest.mark.parametrize(
    ("path", "sparse"),
    [("handwritten/ripple_adder4.yaml", False), ("real/lgsynth93/C432.blif", True)],
)
def test_snippet_runs_network(tmp_path, corpus, path, sparse):
    import numpy as np

    circuit = load_circuit(corpus / path)
    network, _ = compile_circuit(circuit, CompileConfig())
    if sparse:  # exercise the CSR branch of the snippet too
        import scipy.sparse as sp

        network.readout = (sp.csr_matrix(network.readout[0]), network.readout[1])
    weights = tmp_path / "w.npz"
    network.save(weights)
    m = len(circuit.inputs)
    x = all_inputs(m) if m <= 12 else (np.random.default_rng(1).random((3000, m)) < 0.3)
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    program = snippet() + textwrap.dedent(f"""
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "y.npy")!r}, run({str(weights)!r}, x))
    """)
    assert_reader_computes(tmp_path, circuit, x, program)


LAYERED_READER = """
import json, sys
import numpy as np

RULES = {
    "CONST0": lambda t, k: 0 * t, "CONST1": lambda t, k: 0 * t + 1, "BUF": lambda t, k: t,
    "NOT": lambda t, k: 1 - t, "AND": lambda t, k: t == k, "OR": lambda t, k: t > 0,
    "NAND": lambda t, k: t < k, "NOR": lambda t, k: t == 0, "XOR": lambda t, k: t % 2,
    "XNOR": lambda t, k: 1 - t % 2, "MAJ": lambda t, k: 2 * t > k,
}
z = np.load(sys.argv[1], allow_pickle=False)
x = np.load(sys.argv[2]).astype(np.int64)
level = x.T  # (wires, samples)
ptr, fanin, neg = z["layered.fanin_ptr"], z["layered.fanin"], z["layered.negated"]
ops, names = z["layered.ops"], z["layered.names"]
g = 0
for i, width in enumerate(z["layered.widths"]):
    rows = []
    for _ in range(width):
        sel = slice(ptr[g], ptr[g + 1])
        ins = level[fanin[sel]] ^ neg[sel][:, None]
        rows.append(RULES[str(ops[g])](ins.sum(axis=0), ins.shape[0]).astype(np.int64))
        g += 1
    level = np.array(rows).reshape(width, x.shape[0])
    net = int(np.flatnonzero(z["wires.circuit_level"] == i + 1)[0])
    feats = z[f"features{net}.names"][z[f"wires{net}.feature"]]
    assert list(feats) == list(names[g - width:g])
np.save(sys.argv[3], level[z["layered.outputs"]].T.astype(np.uint8))
"""


@pytest.mark.parametrize("method", ["superposed", "deep"])
def test_layered_circuit_read_by_numpy_alone(tmp_path, corpus, method):
    """The documented layered-circuit arrays, evaluated by a reader that imports no
    circuit2mlp, compute the source circuit (all inputs), and the wire map names each gate's
    read-off row."""
    import numpy as np

    circuit = load_circuit(corpus / "handwritten/comparator4.yaml")
    network, _ = compile_circuit(circuit, CompileConfig(method=method))
    weights = tmp_path / "w.npz"
    network.save(weights)
    x = all_inputs(len(circuit.inputs))
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    assert_reader_computes(
        tmp_path, circuit, x, LAYERED_READER, weights, tmp_path / "x.npy", "y.npy"
    )
