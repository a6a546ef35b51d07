"""The command line, run as a user would (a subprocess for the error paths: no traceback may
reach stderr, exit status 2, one line, no partial output)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuit2mlp.ir import is_literal_cube
from circuit2mlp.network import Network
from circuit2mlp.passes.normalize import NORMAL_OPS

CLI = [sys.executable, "-m", "circuit2mlp.cli"]


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture
def full_adder(corpus):
    return corpus / "handwritten/full_adder.yaml"


def test_compile_and_verify(tmp_path, full_adder):
    out = tmp_path / "fa.npz"
    result = run("compile", full_adder, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "neurons 10 vs exact method 10" in result.stdout
    result = run("verify", out, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["overall"]["bit_errors"] == 0
    assert [s["k"] for s in report["per_k"]] == [0, 1, 2, 3]
    assert report["overall"]["samples"] == 8  # every input of a 3-input circuit
    assert run("verify", full_adder, out).returncode == 0


def test_verify_can_fail(tmp_path, full_adder):
    """Tamper with one weight: verify must notice, report it and exit 1."""
    out = tmp_path / "fa.npz"
    assert run("compile", full_adder, "-o", out).returncode == 0
    network = Network.load(out)
    weight, bias = network.readout
    network.readout = (weight, bias + np.float32(0.7))
    network.save(out)
    result = run("verify", out, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["passed"] and report["overall"]["bit_errors"] > 0
    assert report["overall"]["worst_margin"] < 0


def test_verify_sha_mismatch(tmp_path, full_adder, corpus):
    out = tmp_path / "fa.npz"
    assert run("compile", full_adder, "-o", out).returncode == 0
    result = run("verify", corpus / "handwritten/half_adder.yaml", out)
    assert result.returncode == 2
    assert "sha256" in result.stderr


def test_compile_json_report(tmp_path, corpus):
    out = tmp_path / "c.npz"
    result = run("compile", corpus / "real/lgsynth93/C17.blif", "-o", out, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["neurons"] == report["exact_neurons"] > 0
    assert sum(layer["neurons"] for layer in report["layers"]) == report["neurons"]


BAD_INPUTS = {
    "undefined.yaml": ("inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a, b]\n", ":4:", "undefined"),
    "cycle.yaml": (
        "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a, z]\n  z: [or, y, a]\n",
        ":",
        "cycle",
    ),
    "dup.blif": (
        ".model d\n.inputs a\n.outputs y\n.names a y\n1 1\n.names a y\n0 1\n.end\n",
        ":6:",
        "twice",
    ),
    "latch.blif": (".model s\n.inputs a\n.outputs y\n.latch a y re clk 0\n.end\n", ":4:", "latch"),
    "subckt.blif": (
        ".model s\n.inputs a\n.outputs y\n.subckt foo x=a y=y\n.end\n",
        ":4:",
        "subckt",
    ),
    "cover.blif": (".model c\n.inputs a b\n.outputs y\n.names a b y\n1x 1\n.end\n", ":5:", "cover"),
    "dff.bench": ("INPUT(a)\nOUTPUT(q)\nq = DFF(a)\n", ":3:", "DFF"),
    "syntax.yaml": ("inputs: [a\noutputs: [y]\n", ":", "YAML"),
    "binary.blif": (b"\xff\xfe\x00garbage", ":", "UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_circuit_is_one_line_exit_2(tmp_path, name):
    content, where, phrase = BAD_INPUTS[name]
    src = tmp_path / name
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "w.npz"
    result = run("compile", src, "-o", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(src) + where in lines[0] or (where == ":" and str(src) in lines[0])
    assert phrase.lower() in lines[0].lower()
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp files left behind


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "missing.yaml"],
        ["compile", "{adder}", "--sparsity", "-1"],
        ["compile", "{adder}", "--method", "magic"],
        ["compile", "{adder}", "--clean-threshold", "-1"],
        ["compile", "{adder}", "--clean-threshold", "inf"],
        ["compile", "{adder}", "--stop-after", "nosuchpass"],
        ["verify", "missing.npz"],
        ["verify", "{adder}"],
        ["verify", "a", "b", "c"],
        ["check", "nowhere"],
        ["frobnicate"],
    ],
)
def test_bad_usage_is_one_line_exit_2(tmp_path, full_adder, args):
    args = [a.replace("{adder}", str(full_adder)) for a in args]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_corrupt_weights_exit_2(tmp_path):
    bad = tmp_path / "w.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    result = run("verify", bad)
    assert result.returncode == 2
    assert str(bad) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_passes_and_dump_ir(tmp_path, corpus):
    result = run("passes")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names[:2] == ["normalize", "layer"]
    for stop in names:
        dump = tmp_path / f"{stop}.yaml"
        result = run(
            "compile", corpus / "handwritten/mux4.yaml", "--stop-after", stop, "--dump-ir", dump
        )
        assert result.returncode == 0, result.stderr
        assert dump.read_text().strip()
    assert not list(tmp_path.glob("*.npz"))


def test_normalize_dump_is_a_loadable_circuit(tmp_path, corpus):
    from circuit2mlp.formats import load_circuit
    from circuit2mlp.simulate import all_inputs, simulate

    dump = tmp_path / "n.yaml"
    src = corpus / "handwritten/mux4.yaml"
    assert run("compile", src, "--stop-after", "normalize", "--dump-ir", dump).returncode == 0
    before, after = load_circuit(src), load_circuit(dump)
    x = all_inputs(len(before.inputs))
    np.testing.assert_array_equal(simulate(before, x), simulate(after, x))
    assert {g.op for g in after.gates} <= set(NORMAL_OPS)
    assert all(is_literal_cube(g) for g in after.gates if g.op == "SOP")


def test_default_output_name(tmp_path, full_adder):
    result = run("compile", full_adder, "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "full_adder.npz").exists()


def test_help_explains():
    result = run("--help")
    assert result.returncode == 0
    for command in ("compile", "verify", "check", "passes"):
        assert command in result.stdout
    assert "--sparsity" in run("compile", "--help").stdout
    assert "--clean-threshold" in run("compile", "--help").stdout


def test_noise_reports_wire_noise_per_level(tmp_path, full_adder):
    """`noise` runs k-hot samples and reports every level; inputs read exactly, a narrow
    superposed network's wires stray, and too many ones for the inputs is a clean exit 2."""
    circuit, weights = tmp_path / "r.yaml", tmp_path / "r.npz"
    assert run("generate", "random", "-m", 200, "-G", 200, "-L", 6, "-o", circuit).returncode == 0
    assert run("compile", circuit, "--width", 40, "-o", weights, "-q").returncode == 0
    result = run("noise", weights, "-n", 300, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["k"], data["samples"]) == (3, 300)
    levels = data["levels"]
    assert [r["level"] for r in levels] == list(range(7))
    assert levels[0]["noisy_wires_per_sample"] == 0 and levels[0]["off_by"]["0.1"] == 0
    assert max(r["noisy_wires_per_sample"] for r in levels) > 0
    assert "off >0.25" in run("noise", weights, "-n", 50).stdout
    small = tmp_path / "fa.npz"
    assert run("compile", full_adder, "-o", small, "-q").returncode == 0
    result = run("noise", small, "-k", 4)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_compile_over_max_memory_is_one_line_exit_2_and_writes_nothing(tmp_path, corpus):
    """A compile whose estimate exceeds --max-memory stops before building anything: one line
    saying what it needs and how to lower or raise it, exit 2, no weights file."""
    out = tmp_path / "w.npz"
    src = corpus / "real/iscas85/c432.bench"
    result = run("compile", src, "-o", out, "--max-memory", "50M")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "needs an estimated" in lines[0] and "--max-memory" in lines[0]
    assert "--method exact" in lines[0] or "raise it" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_compile_report_counts_gates_by_emission(tmp_path, corpus):
    """--json carries the per-layer emission counts (shared, dedicated, clean, carries), and
    their sum is the layer's gates plus carries; a fall-back to exact is said in one field."""
    out = tmp_path / "w.npz"
    result = run("compile", corpus / "real/iscas85/c432.bench", "-o", out, "-s", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for row in report["layers"]:
        emitted = row["shared_gates"] + row["dedicated_gates"] + row["clean_gates"]
        assert emitted == row["gates"], row
    assert set(report["emitted"]) == {"shared_gates", "dedicated_gates", "clean_gates", "carries"}
    assert "fallback" in report
