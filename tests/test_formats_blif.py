"""BLIF reader/writer: every rule of the research note, every error (line + key phrase)."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from circuit2mlp.errors import CircuitError
from circuit2mlp.formats.blif import parse_blif, write_blif
from circuit2mlp.ir import SYMMETRIC_OPS, Circuit, Cover, Gate


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
    return parse_blif(text, path="t.blif", warnings=warnings)


def error(text: str) -> CircuitError:
    with pytest.raises(CircuitError) as info:
        parse(text)
    return info.value


def assert_error(text: str, line: int | None, phrase: str) -> CircuitError:
    err = error(text)
    assert err.loc is not None and err.loc.line == line, str(err)
    assert phrase in err.message, str(err)
    shown = str(err)
    assert "\n" not in shown
    prefix = f"t.blif:{line}: error: " if line is not None else "t.blif: error: "
    assert shown.startswith(prefix), shown
    return err


# ------------------------------------------------------------------------------ basics

AND_OR = """\
.model demo
.inputs a b c
.outputs y
.names a b t
11 1
.names t c y
1- 1
-1 1
.end
"""


def test_basic_model_gates_and_locations() -> None:
    c = parse(AND_OR)
    assert c.name == "demo"
    assert c.inputs == ("a", "b", "c")
    assert c.outputs == ("y",) and c.drivers == ("y",)
    assert c.source == "t.blif"
    t, y = c.gates
    assert t == Gate("t", "SOP", ("a", "b"), Cover(("11",), onset=True))
    assert y.fanin == ("t", "c") and y.cover == Cover(("1-", "-1"))
    assert (t.loc.line, y.loc.line) == (4, 6)
    assert truth(c) == {x: ((x[0] & x[1]) | x[2],) for x in vectors(3)}


def test_default_name_is_file_stem_and_model_name_optional() -> None:
    text = ".inputs a\n.outputs a\n"
    assert parse_blif(text, path="dir/adder4.blif").name == "adder4"
    assert parse_blif(text).name == "circuit"
    assert parse_blif(".model\n" + text).name == "circuit"


def test_end_is_optional() -> None:
    c = parse(AND_OR.replace(".end\n", ""))
    assert len(c.gates) == 2


def test_comments_anywhere() -> None:
    text = """# banner
.model m   # trailing comment
.inputs a b # more
.outputs y
# instance g_g9
.names a b y  # comment after names
# comment between rows
11 1 # comment after a row
.end # bye
"""
    c = parse(text)
    assert c.gates[0].cover == Cover(("11",))
    assert c.gates[0].loc.line == 6


def test_continuations_crlf_and_blank_lines() -> None:
    text = (
        ".model m\r\n"
        ".inputs a b \\\r\n"
        "  c\\\r\n"
        "  d \\   \r\n"  # blanks after the backslash
        "\r\n"
        ".outputs y \\ # comment is stripped before the continuation check\r\n"
        " z\r\n"
        ".names a b c \\\r\n"
        " d y\r\n"
        "1111 1\r\n"
        ".names a z\r\n"
        "0 1\r\n"
    )
    c = parse(text)
    assert c.inputs == ("a", "b", "c", "d")
    assert c.outputs == ("y", "z")
    assert c.gates[0].fanin == ("a", "b", "c", "d")
    assert c.gates[0].loc.line == 8


def test_continuation_error_reports_first_physical_line() -> None:
    text = ".inputs a\n.outputs y\n.names a \\\n  y \\\n  z\n11 1\n"
    # .names a y z: 2 inputs (a, y) reading the undefined 'y'... the cover row is fine,
    # the definition is reported at the line where .names starts
    assert_error(text, 3, "undefined signal 'y'")


def test_continuation_at_end_of_file() -> None:
    c = parse(".inputs a\n.outputs a \\\n")
    assert c.outputs == ("a",)


def test_repeated_inputs_and_outputs_are_concatenated() -> None:
    text = ".inputs a\n.outputs y\n.inputs b\n.outputs z\n.names a b y\n11 1\n.names a z\n1 1\n"
    c = parse(text)
    assert c.inputs == ("a", "b")
    assert c.outputs == ("y", "z")


def test_covers_in_any_order() -> None:
    text = ".inputs a b\n.outputs y\n.names n y\n0 1\n.names a b n\n11 1\n"
    c = parse(text)
    assert truth(c) == {x: (1 - (x[0] & x[1]),) for x in vectors(2)}


def test_names_with_unusual_characters() -> None:
    text = ".inputs 1GAT(0) a[3] $abc$1$n4 x.y:z/w\n.outputs o=1\n.names 1GAT(0) a[3] o=1\n11 1\n"
    c = parse(text)
    assert c.inputs == ("1GAT(0)", "a[3]", "$abc$1$n4", "x.y:z/w")
    assert c.outputs == ("o=1",)


def test_tabs_and_multiple_spaces() -> None:
    c = parse(".inputs\ta   b\n.outputs\ty\n.names a  b\t y\n11\t  1\n")
    assert c.gates[0].cover == Cover(("11",))


# ------------------------------------------------------------------------------ covers


def test_offset_cover_is_complemented() -> None:
    c = parse(".inputs a b\n.outputs y\n.names a b y\n00 0\n")
    assert c.gates[0].cover == Cover(("00",), onset=False)
    assert truth(c) == {x: (x[0] | x[1],) for x in vectors(2)}


def test_offset_nand_and_dont_cares() -> None:
    c = parse(".inputs a b c\n.outputs y\n.names a b c y\n11- 0\n")
    assert truth(c) == {x: (1 - (x[0] & x[1]),) for x in vectors(3)}


def test_overlapping_cubes_are_or_not_sum() -> None:
    c = parse(".inputs a b\n.outputs y\n.names a b y\n1- 1\n-1 1\n11 1\n")
    assert truth(c)[(1, 1)] == (1,)


@pytest.mark.parametrize(
    ("rows", "value"),
    [("", 0), ("1\n", 1), ("0\n", 0), (" 1\n", 1), (" 0\n", 0)],
)
def test_constant_names(rows: str, value: int) -> None:
    c = parse(".inputs a\n.outputs a k\n.names k\n" + rows)
    gate = c.gate_map["k"]
    assert gate.op == "SOP" and gate.fanin == ()
    assert c.evaluate((0,)) == (0, value) and c.evaluate((1,)) == (1, value)


def test_constant_cover_with_inputs() -> None:
    c = parse(".inputs a b\n.outputs y\n.names a b y\n-- 1\n")
    assert set(truth(c).values()) == {(1,)}


def test_empty_cover_with_inputs_is_zero_with_warning() -> None:
    warnings: list[str] = []
    c = parse(".inputs a b\n.outputs y\n.names a b y\n.end\n", warnings)
    assert set(truth(c).values()) == {(0,)}
    assert warnings == ["t.blif:3: warning: cover for 'y' has no rows: treated as constant 0"]


def test_buffers_and_inverters() -> None:
    text = ".inputs a\n.outputs p q r s\n.names a p\n1 1\n.names a q\n0 1\n"
    text += ".names a r\n1 0\n.names a s\n0 0\n"
    c = parse(text)
    assert c.evaluate((0,)) == (0, 1, 1, 0)
    assert c.evaluate((1,)) == (1, 0, 0, 1)


def test_repeated_fanin_in_names() -> None:
    c = parse(".inputs a\n.outputs y\n.names a a y\n10 1\n")
    assert set(truth(c).values()) == {(0,)}


def test_mixed_phases_are_rejected_at_the_offending_row() -> None:
    text = ".inputs a b\n.outputs y\n.names a b y\n11 1\n00 0\n"
    assert_error(text, 5, "mixes output bits 0 and 1")


@pytest.mark.parametrize(
    ("row", "names"),
    [
        ("1 1", ".names a b y"),  # too narrow
        ("111 1", ".names a b y"),  # too wide
        ("1x 1", ".names a b y"),  # bad plane char
        ("11 x", ".names a b y"),  # bad output bit
        ("11 2", ".names a b y"),
        ("11", ".names a b y"),  # missing output bit
        ("11 1 1", ".names a b y"),  # three tokens
        ("1 1", ".names y"),  # constant takes one token
        ("-", ".names y"),  # e2fmt's don't-care constant is not standard BLIF
        ("11 -", ".names a b y"),
    ],
)
def test_malformed_cover_rows(row: str, names: str) -> None:
    text = f".inputs a b\n.outputs y\n{names}\n{row}\n"
    assert_error(text, 4, "malformed cover")


def test_row_outside_a_cover() -> None:
    assert_error(".inputs a\n11 1\n.outputs a\n", 2, "outside a .names cover")


def test_names_without_signals() -> None:
    assert_error(".inputs a\n.outputs a\n.names\n", 3, ".names needs at least an output")


# ------------------------------------------------------------------------------ directives


def test_exdc_section_is_skipped_with_a_warning() -> None:
    text = """.model inc
.inputs a b
.outputs y
.names a b y
11 1
.exdc
.inputs a b
.outputs y
.names y
.names a b y
10 1
.end
"""
    warnings: list[str] = []
    c = parse(text, warnings)
    assert [g.name for g in c.gates] == ["y"]  # the .exdc network is not merged
    assert truth(c) == {x: (x[0] & x[1],) for x in vectors(2)}
    assert len(warnings) == 1
    assert warnings[0].startswith("t.blif:6: warning: ")
    assert ".exdc" in warnings[0] and "ignored" in warnings[0]


def test_timing_directives_are_ignored_with_one_warning_per_kind() -> None:
    text = """.model m
.inputs a
.outputs y
.default_input_arrival 0 0
.input_arrival a 1.0 1.0
.input_arrival a 2.0 2.0
.output_required y 3 3
.area 10
.delay a NINV 1 999 1 0 1 0
.wire_load_slope 0.1
.clock clk
.names a y
1 1
"""
    warnings: list[str] = []
    c = parse(text, warnings)
    assert len(c.gates) == 1
    kinds = [w.split("warning: ")[1].split()[2] for w in warnings if "timing" in w]
    assert kinds == [
        ".default_input_arrival",
        ".input_arrival",
        ".output_required",
        ".area",
        ".delay",
        ".wire_load_slope",
    ]
    assert warnings[1].startswith("t.blif:5: warning: timing directive .input_arrival ignored")
    assert any(".clock" in w for w in warnings)


def test_yosys_annotations_are_ignored() -> None:
    text = '.inputs a\n.outputs y\n.names a y\n1 1\n.cname g1\n.attr src "x.v:1"\n'
    assert len(parse(text).gates) == 1


def test_yosys_conn_is_a_buffer_from_first_to_second() -> None:
    c = parse(".inputs a\n.outputs y\n.conn a y\n")
    assert c.gate_map["y"].fanin == ("a",)
    assert truth(c) == {(0,): (0,), (1,): (1,)}
    assert_error(".inputs a\n.outputs y\n.conn a\n", 3, ".conn needs exactly two signals")


@pytest.mark.parametrize(
    ("line", "phrase"),
    [
        (".latch a y re clk 2", "sequential element .latch not supported"),
        (".mlatch DFF D=a Q=y clk", "sequential element .mlatch not supported"),
        (".subckt adder a=a y=y", "hierarchical .subckt not supported"),
        (".gate nand2 A=a B=a Y=y", "library gate .gate not supported"),
        (".search lib.blif", ".search not supported"),
        (".start_kiss", ".start_kiss not supported"),
        (".blackbox", ".blackbox not supported"),
    ],
)
def test_unsupported_constructs_are_refused_with_their_line(line: str, phrase: str) -> None:
    text = f".model m\n.inputs a\n.outputs y\n{line}\n.names a y\n1 1\n.end\n"
    err = assert_error(text, 4, phrase)
    assert "not supported (circuit must be combinational" in err.message


def test_latch_is_reported_even_after_an_earlier_problem() -> None:
    text = ".inputs a\n.outputs y\n.names y\n-\n.latch a y re clk 2\n"
    assert_error(text, 5, "sequential element .latch")


def test_second_model_is_refused() -> None:
    text = AND_OR + ".model sub\n.inputs p\n.outputs q\n.names p q\n1 1\n.end\n"
    assert_error(text, 10, "multiple models not supported")


def test_second_model_without_end_is_refused() -> None:
    text = ".model a\n.inputs x\n.outputs x\n.model b\n"
    assert_error(text, 4, "multiple models not supported")


def test_model_after_content_is_a_second_model() -> None:
    assert_error(".inputs x\n.outputs x\n.model late\n", 3, "multiple models")


def test_content_after_end_is_refused() -> None:
    assert_error(AND_OR + ".names a y2\n", 10, "unexpected .names after .end")
    assert_error(AND_OR + "11 1\n", 10, "after .end")


def test_unknown_directive() -> None:
    assert_error(".inputs a\n.outputs a\n.frobnicate 3\n", 3, "unknown BLIF directive .frobnicate")


# ------------------------------------------------------------------------------ semantics


def test_output_that_is_also_an_input() -> None:
    c = parse(".inputs a b\n.outputs a y\n.names b y\n0 1\n")
    assert c.outputs == ("a", "y") and c.drivers == ("a", "y")
    assert c.evaluate((1, 1)) == (1, 0)


def test_undefined_signal_points_at_the_names_line() -> None:
    assert_error(".inputs a\n.outputs y\n\n.names a q y\n11 1\n", 4, "undefined signal 'q'")


def test_output_without_driver() -> None:
    assert_error(".inputs a\n.outputs y\n", 2, "output 'y' has no driver")


def test_double_definition() -> None:
    text = ".inputs a\n.outputs y\n.names a y\n1 1\n.names a y\n0 1\n"
    assert_error(text, 5, "defined twice (first defined at line 3)")
    assert_error(".inputs a\n.outputs a\n.names a\n1\n", 3, "signal 'a' is defined twice")
    assert_error(".inputs a a\n.outputs a\n", 1, "defined twice")


def test_duplicate_output() -> None:
    assert_error(".inputs a\n.outputs a\n.outputs a\n", 3, "output 'a' is declared twice")


def test_combinational_cycle() -> None:
    text = ".inputs a\n.outputs y\n.names a z y\n11 1\n.names y z\n1 1\n"
    assert_error(text, 3, "combinational cycle")


def test_no_outputs() -> None:
    assert_error(".model m\n.inputs a\n.end\n", None, "no outputs")
    assert_error("", None, "no outputs")


def test_unused_input_warning_and_dangling_gate() -> None:
    warnings: list[str] = []
    c = parse(".inputs a b\n.outputs y\n.names a y\n1 1\n.names a d\n0 1\n", warnings)
    assert len(c.gates) == 2
    assert warnings == ["t.blif:1: warning: input 'b' is never used"]


def test_warnings_are_optional() -> None:
    parse(".inputs a b\n.outputs a\n.exdc\n.end\n")  # no list: nothing breaks


# ------------------------------------------------------------------------------ writer


def single_gate_circuit(op: str, k: int) -> Circuit:
    inputs = [f"x{i}" for i in range(k)]
    return Circuit.make("g", inputs or ["u"], ["y"], [Gate("y", op, tuple(inputs))])


@pytest.mark.parametrize("op", SYMMETRIC_OPS)
def test_every_symmetric_op_round_trips(op: str) -> None:
    for k in (0, 1, 2, 3, 5):
        try:
            c = single_gate_circuit(op, k)
        except CircuitError:
            continue  # arity not allowed for this op
        back = parse(write_blif(c))
        assert truth(back) == truth(c), (op, k)
        assert all(g.op == "SOP" for g in back.gates)


def test_symmetric_op_covers_are_single_cubes() -> None:
    text = write_blif(
        Circuit.make(
            "g",
            ["a", "b"],
            ["p", "q", "r", "s"],
            [
                Gate("p", "AND", ("a", "b")),
                Gate("q", "OR", ("a", "b")),
                Gate("r", "NAND", ("a", "b")),
                Gate("s", "NOR", ("a", "b")),
            ],
        )
    )
    assert ".names a b p\n11 1\n" in text
    assert ".names a b q\n00 0\n" in text
    assert ".names a b r\n11 0\n" in text
    assert ".names a b s\n00 1\n" in text


def test_constants_are_written_as_blif_constants() -> None:
    c = Circuit.make(
        "k", ["a"], ["z", "o"], [Gate("z", "CONST0"), Gate("o", "CONST1")], drivers=["z", "o"]
    )
    text = write_blif(c)
    assert ".names z\n.names o\n1\n" in text
    assert truth(parse(text)) == truth(c)


def test_wide_xor_needs_normalizing() -> None:
    c = single_gate_circuit("XOR", 11)
    with pytest.raises(CircuitError, match="normalize first"):
        write_blif(c)
    assert truth(parse(write_blif(single_gate_circuit("XOR", 10)))) == truth(
        single_gate_circuit("XOR", 10)
    )


@pytest.mark.parametrize(
    ("cover", "k"),
    [
        (Cover((), onset=True), 0),
        (Cover((), onset=False), 0),
        (Cover((), onset=True), 2),
        (Cover((), onset=False), 2),
        (Cover(("",), onset=True), 0),
        (Cover(("",), onset=False), 0),
        (Cover(("1-", "01"), onset=False), 2),
    ],
)
def test_sop_edge_covers_round_trip_without_warnings(cover: Cover, k: int) -> None:
    fanin = ("a", "b")[:k]
    c = Circuit.make("s", ["a", "b"], ["y"], [Gate("y", "SOP", fanin, cover)])
    warnings: list[str] = []
    back = parse_blif(write_blif(c), warnings=warnings)
    assert truth(back) == truth(c)
    assert not [w for w in warnings if "no rows" in w]


def test_aliased_outputs_get_buffers() -> None:
    c = Circuit.make(
        "alias",
        ["a", "b"],
        ["y", "a_copy", "y_again"],
        [Gate("y", "AND", ("a", "b"))],
        drivers=["y", "a", "y"],
    )
    text = write_blif(c)
    assert ".names a a_copy\n1 1\n" in text and ".names y y_again\n1 1\n" in text
    assert_same_function(c, parse(text))


def test_output_name_colliding_with_a_signal_is_an_error() -> None:
    c = Circuit.make("bad", ["a", "b"], ["b"], [Gate("y", "NOT", ("a",))], drivers=["y"])
    with pytest.raises(CircuitError, match="output 'b' reads signal 'y'"):
        write_blif(c)


def test_unwritable_names_are_refused() -> None:
    c = Circuit.make("bad", ["a b"], ["a b"], [])
    with pytest.raises(CircuitError, match="cannot write BLIF"):
        write_blif(c)


def test_long_lists_are_continued_and_read_back() -> None:
    inputs = [f"input_signal_{i}" for i in range(60)]
    c = Circuit.make("wide", inputs, ["y"], [Gate("y", "OR", tuple(inputs))])
    text = write_blif(c)
    assert "\\\n" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    back = parse(text)
    assert back.inputs == c.inputs and back.gates[0].fanin == c.gates[0].fanin
    assert_same_function(c, back)


def test_writer_is_deterministic_and_stable() -> None:
    c = parse(AND_OR)
    text = write_blif(c)
    assert write_blif(parse(text)) == text
    assert text.startswith(".model demo\n.inputs a b c\n.outputs y\n")
    assert text.endswith(".end\n")


def test_round_trip_of_a_mixed_circuit() -> None:
    text = """.model mix
.inputs a b c d
.outputs s co k a
.names a b c s
100 1
010 1
001 1
111 1
.names a b t
00 0
.names t c d co
1-0 0
.names k
1
"""
    c = parse(text)
    back = parse(write_blif(c))
    assert_same_function(c, back)
    assert back.gates == c.gates


# ------------------------------------------------------------------------------ performance


def test_a_long_continued_line_parses_in_linear_time() -> None:
    """100k continuation lines: joining by repeated concatenation would take minutes."""
    n = 100_000
    names = [f"i{k}" for k in range(n)]
    text = ".inputs " + " \\\n".join(names) + "\n.outputs i0\n.end\n"
    start = time.process_time()
    c = parse_blif(text)
    assert len(c.inputs) == n
    assert time.process_time() - start < 10
