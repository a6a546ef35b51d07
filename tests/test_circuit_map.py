"""``circuit2mlp/2`` files carry their layered circuit and wire map: ``trace``, ``features``
and ``noise`` read them without lowering the circuit again (the passes are never imported),
and give what the ``/1`` route (lowering the embedded circuit) gives."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from inprocess import cli

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit

PROBE = """
import atexit, sys
def report():
    bad = sorted(m for m in sys.modules if m.startswith(("circuit2mlp.passes",
                                                          "circuit2mlp.formats")))
    print("IMPORTED:" + ",".join(bad), file=sys.stderr)
atexit.register(report)
from circuit2mlp.cli import main
main(sys.argv[1:])
"""


@pytest.fixture(params=[None, 7], ids=["basis", "input-dim-7"])
def files(tmp_path, corpus, request):
    """The ripple adder compiled superposed at a fixed width, as /2 and as /1 (no map); with
    its 9 inputs embedded in 7 dimensions the network has a decode level more than its
    circuit."""
    circuit = load_circuit(corpus / "handwritten/ripple_adder4.yaml")
    config = CompileConfig(width=24, sparsity=2, input_dim=request.param)
    network, _ = compile_circuit(circuit, config)
    assert len(network.features) == network.circuit_map.depth + 1 + (request.param is not None)
    v2, v1 = tmp_path / "v2.npz", tmp_path / "v1.npz"
    network.save(v2)
    dataclasses.replace(network, circuit_map=None).save(v1)
    return v2, v1


def test_format_tags(files):
    v2, v1 = files
    for path, tag in ((v2, "circuit2mlp/2"), (v1, "circuit2mlp/1")):
        with np.load(path, allow_pickle=False) as z:
            assert str(z["format"]) == tag
            assert ("layered.names" in z.files) == (tag == "circuit2mlp/2")


@pytest.mark.parametrize(
    "args",
    [["trace", "--input", "a0,b1,cin", "--json"], ["features", "--json"], ["noise", "-n", "50"]],
    ids=["trace", "features", "noise"],
)
def test_views_of_a_v2_file_never_import_the_passes(files, args):
    v2, v1 = files
    for path, lowered in ((v2, False), (v1, True)):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, args[0], str(path), *args[1:]],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        imported = result.stderr.rsplit("IMPORTED:", 1)[1].strip()
        # the /1 file shows the probe works: it has to lower the circuit again
        assert ("circuit2mlp.passes" in imported) == lowered, imported


def _json(capsys, *args) -> dict:
    capsys.readouterr()
    assert cli(*args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "args",
    [["trace", "--input", "a0,b1,cin", "--json"], ["features", "--json"], ["noise", "--json"]],
    ids=["trace", "features", "noise"],
)
def test_v2_and_v1_views_agree(files, capsys, args):
    """Equal, but for one thing the map knows better: a decode level's inputs are inputs
    (``/1`` files guess them from names as source signals)."""
    v2, v1 = files
    new = _json(capsys, args[0], v2, *args[1:])
    old = _json(capsys, args[0], v1, *args[1:])
    inputs = set(load_circuit(REPO / "circuits/handwritten/ripple_adder4.yaml").inputs)
    for level in old.get("levels", []):
        for wire in level["wires"] if isinstance(level["wires"], list) else []:
            if wire["name"] in inputs:
                wire["kind"] = "input"
    assert new == old
