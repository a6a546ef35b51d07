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
    result = subprocess.run(
        [sys.executable, "-I", "-c", program],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y.astype(bool), simulate(circuit, x))
