"""ISCAS .bench reader/writer: syntax variants, gate types, every error with its line."""

from __future__ import annotations

import itertools
import random

import pytest

from circuit2mlp.errors import CircuitError
from circuit2mlp.formats.bench import parse_bench, write_bench
from circuit2mlp.ir import Circuit, Cover, Gate


def vectors(n: int, samples: int = 300, seed: int = 0):
    """All inputs for small circuits, else `samples` random ones."""
    if n <= 10:
        yield from itertools.product((0, 1), repeat=n)
        return
    rng = random.Random(seed)
    for _ in range(samples):
        yield tuple(rng.getrandbits(1) for _ in range(n))


def assert_same_function(a: Circuit, b: Circuit, samples: int = 300) -> None:
    """Inputs and outputs are matched by name, so the two may order them differently."""
    assert sorted(a.inputs) == sorted(b.inputs)
    assert sorted(a.outputs) == sorted(b.outputs)
    for x in vectors(len(a.inputs), samples):
        env = dict(zip(a.inputs, x, strict=True))
        got_a = dict(zip(a.outputs, a.evaluate(x), strict=True))
        got_b = dict(zip(b.outputs, b.evaluate([env[n] for n in b.inputs]), strict=True))
        assert got_a == got_b, x


def truth(circuit: Circuit) -> dict[tuple[int, ...], tuple[int, ...]]:
    return {x: circuit.evaluate(x) for x in vectors(len(circuit.inputs))}


def parse(text: str, warnings: list[str] | None = None) -> Circuit:
    return parse_bench(text, path="t.bench", warnings=warnings)


def assert_error(text: str, line: int | None, phrase: str) -> CircuitError:
    with pytest.raises(CircuitError) as info:
        parse(text)
    err = info.value
    assert err.loc is not None and err.loc.line == line, str(err)
    assert phrase in err.message, str(err)
    assert "\n" not in str(err)
    assert str(err).startswith(f"t.bench:{line}: error: " if line else "t.bench: error: ")
    return err


C17 = """# c17
# 5 inputs
# 2 outputs

INPUT(N1)
INPUT(N2)
INPUT(N3)
INPUT(N6)
INPUT(N7)

OUTPUT(N22)
OUTPUT(N23)

N10 = NAND(N1, N3)
N11 = NAND(N3, N6)
N16 = NAND(N2, N11)
N19 = NAND(N11, N7)
N22 = NAND(N10, N16)
N23 = NAND(N16, N19)
"""


def c17_reference(x: tuple[int, ...]) -> tuple[int, int]:
    n1, n2, n3, n6, n7 = x

    def nand(p: int, q: int) -> int:
        return 1 - (p & q)

    n10, n11 = nand(n1, n3), nand(n3, n6)
    n16, n19 = nand(n2, n11), nand(n11, n7)
    return nand(n10, n16), nand(n16, n19)


def test_c17() -> None:
    c = parse(C17)
    assert c.name == "t"
    assert c.inputs == ("N1", "N2", "N3", "N6", "N7")
    assert c.outputs == ("N22", "N23")
    assert [g.op for g in c.gates] == ["NAND"] * 6
    assert c.gate_map["N16"].fanin == ("N2", "N11")
    assert c.gate_map["N10"].loc.line == 14
    assert truth(c) == {x: c17_reference(x) for x in vectors(5)}


def test_crlf_and_trailing_comments() -> None:
    c = parse(C17.replace("\n", "\r\n").replace("NAND(N1, N3)", "NAND(N1, N3)  # first gate"))
    assert truth(c) == {x: c17_reference(x) for x in vectors(5)}
    assert c.gate_map["N23"].loc.line == 19


def test_arbitrary_order() -> None:
    lines = C17.strip().splitlines()
    shuffled = "\n".join(reversed(lines))
    c = parse(shuffled)
    assert set(c.inputs) == {"N1", "N2", "N3", "N6", "N7"}
    assert_same_function(c, parse(C17))


@pytest.mark.parametrize(
    ("spelling", "op"),
    [
        ("AND", "AND"),
        ("and", "AND"),
        ("Or", "OR"),
        ("NAND", "NAND"),
        ("nor", "NOR"),
        ("XOR", "XOR"),
        ("XNOR", "XNOR"),
        ("NXOR", "XNOR"),
        ("nxor", "XNOR"),
    ],
)
def test_two_input_gate_types(spelling: str, op: str) -> None:
    c = parse(f"INPUT(a)\nINPUT(b)\nOUTPUT(y)\ny = {spelling}(a, b)\n")
    assert c.gates[0] == Gate("y", op, ("a", "b"))


@pytest.mark.parametrize(("spelling", "op"), [("NOT", "NOT"), ("BUFF", "BUF"), ("buf", "BUF")])
def test_one_input_gate_types(spelling: str, op: str) -> None:
    c = parse(f"INPUT(a)\nOUTPUT(y)\ny = {spelling}(a)\n")
    assert c.gates[0].op == op


def test_lower_case_declarations_and_free_spacing() -> None:
    c = parse("input( a )\noutput(y)\n  y=and(  a ,a )  \n")
    assert c.inputs == ("a",) and c.gates[0].fanin == ("a", "a")


def test_wide_gates_and_numeric_names() -> None:
    c = parse("INPUT(1)\nINPUT(2)\nINPUT(3)\nOUTPUT(223)\n223 = NOR(1, 2, 3)\n")
    assert c.gates[0] == Gate("223", "NOR", ("1", "2", "3"))
    assert truth(c)[(0, 0, 0)] == (1,)


def test_repeated_fanin() -> None:
    c = parse("INPUT(37)\nOUTPUT(499)\n499 = AND(37, 37)\n")
    assert c.gates[0].fanin == ("37", "37")
    assert truth(c) == {(0,): (0,), (1,): (1,)}


def test_output_of_an_input() -> None:
    c = parse("INPUT(a)\nINPUT(b)\nOUTPUT(a)\nOUTPUT(y)\ny = NOT(b)\n")
    assert c.outputs == ("a", "y") and c.evaluate((1, 1)) == (1, 0)


def test_vdd_and_gnd_are_constants_when_undefined() -> None:
    c = parse("INPUT(a)\nOUTPUT(y)\nOUTPUT(z)\ny = AND(a, vdd)\nz = OR(a, gnd)\nOUTPUT(gnd)\n")
    assert c.gate_map["vdd"].op == "CONST1" and c.gate_map["gnd"].op == "CONST0"
    assert c.gate_map["vdd"].loc.line == 4
    assert truth(c) == {(0,): (0, 0, 0), (1,): (1, 1, 0)}


def test_vdd_defined_by_the_file_is_an_ordinary_signal() -> None:
    c = parse("INPUT(vdd)\nOUTPUT(y)\ny = NOT(vdd)\n")
    assert c.inputs == ("vdd",) and [g.name for g in c.gates] == ["y"]


def test_dff_is_refused_with_its_line() -> None:
    text = "INPUT(G0)\nOUTPUT(G17)\nG5 = DFF(G10)\nG10 = NOT(G0)\nG17 = NOT(G5)\n"
    err = assert_error(text, 3, "sequential element DFF not supported")
    assert "combinational" in err.message


def test_dff_is_reported_before_earlier_problems() -> None:
    text = "INPUT(G0)\nOUTPUT(G17)\nG17 = NOT(G11)\nG5 = dff(G10)\n"
    assert_error(text, 4, "sequential element dff")


def test_unknown_gate_type() -> None:
    err = assert_error("INPUT(a)\nOUTPUT(y)\n\ny = MUX(a, a, a)\n", 4, "unknown gate type 'MUX'")
    assert "NAND" in err.message  # the known types are listed


@pytest.mark.parametrize(
    "bad",
    [
        "INPUT a",
        "INPUT(a b)",
        "INPUT()",
        "y = AND(a, b",
        "y AND(a, b)",
        "y = AND(a,, b)",
        "y = AND(a b)",
        "y = (a)",
        "= AND(a)",
        "y = AND(a)(b)",
        "y = AND a",
        "WIRE(a)",
    ],
)
def test_malformed_lines(bad: str) -> None:
    assert_error(f"INPUT(a)\nINPUT(b)\n{bad}\nOUTPUT(a)\n", 3, "malformed")


def test_arity_errors_point_at_the_gate() -> None:
    assert_error("INPUT(a)\nOUTPUT(y)\ny = NOT(a, a)\n", 3, "NOT takes exactly 1 input(s), got 2")
    assert_error("INPUT(a)\nOUTPUT(y)\ny = AND()\n", 3, "AND takes at least 1 input(s), got 0")


def test_undefined_duplicate_and_cycle_errors() -> None:
    assert_error("INPUT(a)\nOUTPUT(y)\ny = AND(a, q)\n", 3, "undefined signal 'q'")
    assert_error("INPUT(a)\nOUTPUT(z)\n", 2, "output 'z' has no driver")
    assert_error("INPUT(a)\nOUTPUT(a)\na = NOT(a)\n", 3, "defined twice (first defined at line 1)")
    assert_error("INPUT(a)\nOUTPUT(a)\nOUTPUT(a)\n", 3, "output 'a' is declared twice")
    assert_error(
        "INPUT(a)\nOUTPUT(y)\ny = AND(a, z)\nz = NOT(y)\n", 3, "combinational cycle: y -> z -> y"
    )
    assert_error("INPUT(a)\n", None, "no outputs")


def test_unused_input_warning() -> None:
    warnings: list[str] = []
    parse("INPUT(a)\nINPUT(b)\nOUTPUT(y)\ny = NOT(a)\n", warnings)
    assert warnings == ["t.bench:2: warning: input 'b' is never used"]


# ------------------------------------------------------------------------------ writer


def test_writer_round_trip_and_buff_spelling() -> None:
    text = "INPUT(a)\nINPUT(b)\nINPUT(c)\nOUTPUT(y)\nOUTPUT(z)\n"
    text += "t = XNOR(a, b, c)\ny = BUF(t)\nz = NOR(a, t)\nw = XOR(a)\n"
    c = parse(text)
    written = write_bench(c)
    assert "y = BUFF(t)\n" in written and "t = XNOR(a, b, c)\n" in written
    back = parse(written)
    assert back.gates == c.gates
    assert_same_function(c, back)
    assert write_bench(back) == written  # deterministic and stable


def test_writer_c17_round_trip() -> None:
    c = parse(C17)
    back = parse(write_bench(c))
    assert (back.inputs, back.outputs, back.gates) == (c.inputs, c.outputs, c.gates)


def test_writer_refuses_sop_and_maj() -> None:
    sop = Circuit.make("s", ["a"], ["y"], [Gate("y", "SOP", ("a",), Cover(("1",)))])
    with pytest.raises(CircuitError, match="normalize first"):
        write_bench(sop)
    maj = Circuit.make("m", ["a", "b", "c"], ["y"], [Gate("y", "MAJ", ("a", "b", "c"))])
    with pytest.raises(CircuitError, match="normalize first"):
        write_bench(maj)


def test_writer_constants_use_vdd_and_gnd() -> None:
    c = Circuit.make(
        "k",
        ["a"],
        ["one", "zero", "y"],
        [Gate("one", "CONST1"), Gate("zero", "CONST0"), Gate("y", "AND", ("a", "one"))],
    )
    written = write_bench(c)
    assert "one = BUFF(vdd)\n" in written and "zero = BUFF(gnd)\n" in written
    assert_same_function(c, parse(written))
    again = parse(written)
    assert_same_function(again, parse(write_bench(again)))  # vdd/gnd gates stay implicit


def test_writer_constant_net_name_taken() -> None:
    c = Circuit.make("k", ["vdd"], ["one"], [Gate("one", "CONST1")])
    with pytest.raises(CircuitError, match="net 'vdd'"):
        write_bench(c)


def test_writer_aliased_outputs() -> None:
    c = Circuit.make("alias", ["a"], ["y", "copy"], [Gate("y", "NOT", ("a",))], drivers=["y", "a"])
    written = write_bench(c)
    assert "copy = BUFF(a)\n" in written
    assert_same_function(c, parse(written))
    clash = Circuit.make("c", ["a", "b"], ["b"], [Gate("y", "NOT", ("a",))], drivers=["y"])
    with pytest.raises(CircuitError, match="rename the output"):
        write_bench(clash)


def test_writer_refuses_names_bench_cannot_hold() -> None:
    c = Circuit.make("n", ["a(1)"], ["a(1)"], [])
    with pytest.raises(CircuitError, match=r"cannot write \.bench"):
        write_bench(c)
