"""YAML circuit format: schema, every error with its line, exact round trips."""

from __future__ import annotations

import itertools
import random

import pytest

from circuit2mlp.errors import CircuitError
from circuit2mlp.formats.yaml_format import parse_yaml, write_yaml
from circuit2mlp.ir import OPS, Circuit, Cover, Gate


def vectors(n: int, samples: int = 300, seed: int = 0):
    """All inputs for small circuits, else `samples` random ones."""
    if n <= 10:
        yield from itertools.product((0, 1), repeat=n)
        return
    rng = random.Random(seed)
    for _ in range(samples):
        yield tuple(rng.getrandbits(1) for _ in range(n))


def truth(circuit: Circuit) -> dict[tuple[int, ...], tuple[int, ...]]:
    return {x: circuit.evaluate(x) for x in vectors(len(circuit.inputs))}


def parse(text: str, warnings: list[str] | None = None) -> Circuit:
    return parse_yaml(text, path="t.yaml", warnings=warnings)


def assert_error(text: str, line: int | None, phrase: str) -> CircuitError:
    with pytest.raises(CircuitError) as info:
        parse(text)
    err = info.value
    assert err.loc is not None and err.loc.line == line, str(err)
    assert phrase in err.message, str(err)
    assert "\n" not in str(err)
    assert str(err).startswith(f"t.yaml:{line}: error: " if line else "t.yaml: error: ")
    return err


def assert_round_trip(c: Circuit) -> str:
    text = write_yaml(c)
    back = parse_yaml(text)
    assert back == c
    assert write_yaml(back) == text
    return text


FULL_ADDER = """\
name: full_adder          # optional (default: file stem)
inputs: [a, b, cin]
outputs: [sum, cout]
gates:
  t: [xor, a, b]
  sum: [xor, t, cin]
  c1: [and, a, b]
  c2: [and, t, cin]
  cout: [or, c1, c2]
"""


def test_full_adder() -> None:
    c = parse(FULL_ADDER)
    assert c.name == "full_adder" and c.source == "t.yaml"
    assert c.inputs == ("a", "b", "cin") and c.outputs == ("sum", "cout")
    assert c.gates[0] == Gate("t", "XOR", ("a", "b"))
    assert [g.loc.line for g in c.gates] == [5, 6, 7, 8, 9]
    assert c.input_locs[2].line == 2
    expected = {x: (sum(x) % 2, int(sum(x) >= 2)) for x in vectors(3)}
    assert truth(c) == expected


def test_name_defaults_to_the_file_stem() -> None:
    text = "inputs: [a]\noutputs: [a]\n"
    assert parse_yaml(text, path="some/dir/half_adder.yaml").name == "half_adder"
    assert parse_yaml(text).name == "circuit"


def test_block_style_and_case_insensitive_ops() -> None:
    text = """
inputs:
  - a
  - b
outputs:
  - y
gates:
  y:
    - NaNd
    - a
    - b
"""
    c = parse(text)
    assert c.gates[0] == Gate("y", "NAND", ("a", "b"))
    assert c.gates[0].loc.line == 8


@pytest.mark.parametrize("op", [op for op in OPS if op != "SOP"])
def test_every_symmetric_op_is_accepted(op: str) -> None:
    fanin = "" if op.startswith("CONST") else ", a" if op in ("BUF", "NOT") else ", a, b, c"
    c = parse(f"inputs: [a, b, c]\noutputs: [y, a]\ngates:\n  y: [{op.lower()}{fanin}]\n")
    assert c.gates[0].op == op


def test_sop_covers_onset_and_offset() -> None:
    text = """inputs: [a, b, cin]
outputs: [s, n]
gates:
  s: {cover: ["1-0", "011"], inputs: [a, b, cin]}
  n: {cover: ["11"], inputs: [a, b], offset: true}
"""
    c = parse(text)
    s, n = c.gates
    assert s == Gate("s", "SOP", ("a", "b", "cin"), Cover(("1-0", "011"), onset=True))
    assert n == Gate("n", "SOP", ("a", "b"), Cover(("11",), onset=False))
    for x in vectors(3):
        a, b, cin = x
        assert c.evaluate(x) == (int((a and not cin) or (not a and b and cin)), 1 - (a & b))


def test_unquoted_cubes_are_taken_as_written() -> None:
    # 011 would be the integer 9 for safe_load; the composed node keeps the text
    text = "inputs: [a, b, c]\noutputs: [y]\ngates:\n  y: {cover: [011, 1-0], inputs: [a, b, c]}\n"
    assert parse(text).gates[0].cover == Cover(("011", "1-0"))


def test_constant_covers() -> None:
    text = """inputs: [a]
outputs: [zero, one, also_one]
gates:
  zero: {cover: []}
  one: {cover: [""]}
  also_one: {cover: [], offset: true, inputs: []}
"""
    c = parse(text)
    assert c.gate_map["also_one"].cover == Cover((), onset=False)
    assert truth(c) == {(0,): (0, 1, 1), (1,): (0, 1, 1)}


def test_mux_cover_in_block_style() -> None:
    text = """name: mux2
inputs: [s, d0, d1]
outputs: [y]
gates:
  y:
    inputs: [s, d0, d1]
    cover:
      - "01-"
      - "1-1"
"""
    c = parse(text)
    assert truth(c) == {x: (x[2] if x[0] else x[1],) for x in vectors(3)}


def test_aliased_outputs() -> None:
    text = """inputs: [a, b]
outputs: [y, {a_copy: a}, {y_again: y}]
gates:
  y: [and, a, b]
"""
    c = parse(text)
    assert c.outputs == ("y", "a_copy", "y_again")
    assert c.drivers == ("y", "a", "y")
    assert c.evaluate((1, 0)) == (0, 1, 0)


def test_gates_may_be_omitted_or_empty() -> None:
    assert parse("inputs: [a]\noutputs: [a]\n").gates == ()
    assert parse("inputs: [a]\noutputs: [a]\ngates: {}\n").gates == ()
    assert parse("inputs: [a]\noutputs: [a]\ngates:\n").gates == ()


def test_quoted_numeric_names_and_repeated_fanin() -> None:
    c = parse("inputs: ['1', \"2\"]\noutputs: ['499']\ngates:\n  '499': [and, '1', '1']\n")
    assert c.inputs == ("1", "2") and c.gates[0].fanin == ("1", "1")


def test_unused_input_warning() -> None:
    warnings: list[str] = []
    parse("inputs: [a, b]\noutputs: [a]\n", warnings)
    assert warnings == ["t.yaml:1: warning: input 'b' is never used"]


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("inputs: [a, b\noutputs: [y]\n", 2, "YAML syntax error"),
        ("inputs: [a]\n  outputs: [y]\n", 2, "YAML syntax error"),
        ("inputs: [a]\noutputs: [a]\n---\nx: 1\n", 3, "YAML syntax error"),
        ("inputs: [a]\noutputs: [\x01]\n", 2, "not allowed in YAML text"),
        ("inputs: [a]\noutputs: *nothing\n", 2, "YAML syntax error"),
        ("inputs: " + "[" * 100 + "]" * 100 + "\noutputs: [a]\n", 1, "nesting deeper"),
    ],
)
def test_syntax_errors(text: str, line: int, phrase: str) -> None:
    assert_error(text, line, phrase)


DEEP = "inputs: " + "[" * 100_000 + "]" * 100_000 + "\noutputs: [a]\n"


def test_deep_nesting_does_not_crash() -> None:
    """10^5 nested flow lists: one CircuitError line at t.yaml:1, whichever layer refuses it
    (our depth check, or the nesting limit newer libyaml releases have of their own; the
    wording is theirs then, so only the behaviour is asserted)."""
    with pytest.raises(CircuitError) as info:
        parse(DEEP)
    err = info.value
    assert err.loc is not None and err.loc.line == 1, str(err)
    assert "\n" not in str(err)
    assert str(err).startswith("t.yaml:1: error: YAML ")


def test_own_depth_check_names_file_and_line(monkeypatch) -> None:
    """Our own depth check, on the same 10^5 levels, with the pure-Python loader (which has no
    nesting limit of its own): it is the check that answers, at the file and line."""
    import yaml

    from circuit2mlp.formats import yaml_format

    monkeypatch.setattr(yaml_format, "_LOADER", yaml.SafeLoader)
    assert_error(DEEP, 1, "nesting deeper than 64 levels")
    text = "inputs: [a]\noutputs: [a]\ngates:\n  y: " + "[" * 1000 + "]" * 1000 + "\n"
    assert_error(text, 4, "nesting deeper than 64 levels")


def test_deep_nesting_cli_exit_2(tmp_path) -> None:
    """From the command line: exit status 2, one stderr line naming file and line, no
    traceback, no weights file."""
    from refusals import assert_compile_refused

    src = tmp_path / "deep.yaml"
    src.write_text(DEEP)
    line = assert_compile_refused(src, tmp_path / "deep.npz")
    assert line.startswith(f"{src}:1: error: "), line


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("", 1, "empty YAML document"),
        ("# just a comment\n", 1, "empty YAML document"),
        ("\n- a\n- b\n", 2, "top level must be a mapping"),
        ("42\n", 1, "top level must be a mapping"),
        ("outputs: [y]\n", 1, "missing required key 'inputs'"),
        ("inputs: [a]\n", 1, "missing required key 'outputs'"),
        ("inputs: [a]\noutputs: [a]\nwires: []\n", 3, "unknown key 'wires'"),
        ("inputs: [a]\noutputs: [a]\ninputs: [b]\n", 3, "duplicate key 'inputs'"),
        ("inputs: a\noutputs: [a]\n", 1, "inputs must be a list"),
        ("inputs: [a, 1]\noutputs: [a]\n", 1, "input name must be a string, got 1"),
        ("inputs: [a, true]\noutputs: [a]\n", 1, "quote it"),
        ("inputs: [a, '']\noutputs: [a]\n", 1, "must not be empty"),
        ("inputs: [a, [b]]\noutputs: [a]\n", 1, "must be a string, got a list"),
        ("inputs: [a]\noutputs:\n  - a\n  - [a]\n", 4, "each output must be a signal name"),
        ("inputs: [a]\noutputs:\n  - {x: a, y: a}\n", 3, "one-entry mapping"),
        ("inputs: [a]\noutputs: [{x: 1}]\n", 2, "output signal must be a string"),
        ("inputs: [a]\noutputs: [a, a]\n", 2, "output 'a' is declared twice"),
        ("inputs: [a]\noutputs: [a]\nname: 7\n", 3, "name must be a string"),
        ("inputs: [a]\noutputs: [a]\ngates: [x]\n", 3, "gates must be a mapping"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: and\n", 4, "must be [op, inputs...]"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: []\n", 4, "empty list"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [nandd, a]\n", 4, "unknown op 'nandd'"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [sop, a]\n", 4, "write SOP gates as"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [1, a]\n", 4, "op of gate 'y' must be"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  1: [not, a]\n", 4, "gate name must be a string"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [not, yes]\n", 4, "input of gate 'y'"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a, a]\n", 4, "NOT takes exactly 1"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [const1, a]\n", 4, "CONST1 takes exactly 0"),
        ("inputs: [a]\noutputs: [y]\ngates:\n  y: [and, q]\n", 4, "undefined signal 'q'"),
        ("inputs: [a]\noutputs: [z]\n", 2, "output 'z' has no driver"),
        ("inputs: [a]\noutputs: []\n", None, "no outputs"),
        ("inputs: [a, a]\noutputs: [a]\n", 1, "defined twice"),
        ("inputs: [a]\noutputs: [a]\ngates:\n  a: [not, a]\n", 4, "defined twice"),
        (
            "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a, z]\n  z: [not, y]\n",
            4,
            "combinational cycle",
        ),
    ],
)
def test_schema_errors(text: str, line: int | None, phrase: str) -> None:
    assert_error(text, line, phrase)


def test_duplicate_gate_keys_are_caught() -> None:
    """safe_load would silently keep the second definition."""
    text = "inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a]\n\n  y: [buf, a]\n"
    assert_error(text, 6, "signal 'y' is defined twice (first defined at line 4)")


@pytest.mark.parametrize(
    ("gate", "line", "phrase"),
    [
        ("{inputs: [a]}", 4, "needs a 'cover' list"),
        ("{cover: ['1'], inputs: [a], phase: 1}", 4, "unknown key 'phase'"),
        ("{cover: ['1'], cover: ['0'], inputs: [a]}", 4, "duplicate key 'cover'"),
        ("{cover: ['1'], inputs: [a], offset: 1}", 4, "offset must be true or false"),
        ("{cover: '1', inputs: [a]}", 4, "cover of gate 'y' must be a list"),
        ("{cover: ['1'], inputs: a}", 4, "inputs of gate 'y' must be a list"),
        ("{cover: [[1]], inputs: [a]}", 4, "cube of gate 'y' must be a string"),
        ("\n    cover:\n      - '1'\n      - '1x'\n    inputs: [a]", 7, "malformed cube '1x'"),
        ("{cover: ['11'], inputs: [a]}", 4, "need 1 character(s)"),
    ],
)
def test_cover_errors(gate: str, line: int, phrase: str) -> None:
    assert_error(f"inputs: [a]\noutputs: [y]\ngates:\n  y: {gate}\n", line, phrase)


# ------------------------------------------------------------------------------ writer


def test_writer_layout() -> None:
    text = write_yaml(parse(FULL_ADDER))
    assert text.splitlines()[1:] == [
        "name: full_adder",
        "inputs: [a, b, cin]",
        "outputs: [sum, cout]",
        "gates:",
        "  t: [xor, a, b]",
        "  sum: [xor, t, cin]",
        "  c1: [and, a, b]",
        "  c2: [and, t, cin]",
        "  cout: [or, c1, c2]",
    ]


def test_round_trip_every_op_cover_and_alias() -> None:
    gates = [
        Gate(f"g_{op.lower()}", op, ("a", "b", "c"))
        for op in OPS
        if op not in ("CONST0", "CONST1", "BUF", "NOT", "SOP")
    ]
    gates += [
        Gate("k0", "CONST0"),
        Gate("k1", "CONST1"),
        Gate("buf", "BUF", ("a",)),
        Gate("inv", "NOT", ("buf",)),
        Gate("sop", "SOP", ("a", "b", "c"), Cover(("1-0", "011"))),
        Gate("off", "SOP", ("a", "a"), Cover(("11",), onset=False)),
        Gate("empty_on", "SOP", ("a",), Cover(())),
        Gate("empty_off", "SOP", ("a",), Cover((), onset=False)),
        Gate("const_cube", "SOP", (), Cover(("",))),
    ]
    names = [g.name for g in gates]
    c = Circuit.make(
        "everything",
        ["a", "b", "c", "unused"],
        [*names, "a_copy", "again"],
        gates,
        drivers=[*names, "a", "sop"],
    )
    text = assert_round_trip(c)
    # "off" would read back as the boolean false unless quoted
    assert '  "off": {cover: ["11"], inputs: [a, a], offset: true}' in text
    assert "{a_copy: a}" in text and "{again: sop}" in text


def test_round_trip_of_awkward_names() -> None:
    names = [
        "1", "007", "1.5", "0x1F", "1:20", "1e3", ".inf", "2001-01-01", "true", "No", "yes",
        "null", "~", "=", "<<", "-", "--", "---", "...", "-x", "?a", "a:b", "a: b", "a,b",
        "a[0]", "{a}", "*a", "&a", "!a", "%a", "|a", ">a", "@x", "x@3", "#x", "a#b", "a #b",
        "a b", " lead", "trail ", "tab\there", "quote\"s", "apos'", "back\\slash", "é", "😀",
        "ctl\x00\x07", "del\x7f", "line\u2028sep", "nbsp\xa0", "$abc$1$n4", "1GAT(0)",
    ]  # fmt: skip
    gates = [Gate("y", "XOR", tuple(names)), Gate("s p", "SOP", tuple(names[:3]), Cover(("1-0",)))]
    c = Circuit.make("odd: name #1", names, ["y", "z"], gates, drivers=["y", "s p"])
    assert_round_trip(c)


def test_round_trip_of_wide_lists_wraps_lines() -> None:
    inputs = [f"in_{i:03d}" for i in range(200)]
    c = Circuit.make("wide", inputs, inputs[::-1], [])
    text = assert_round_trip(c)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_round_trip_random_circuits() -> None:
    rng = random.Random(7)
    symmetric = [op for op in OPS if op not in ("SOP", "CONST0", "CONST1", "BUF", "NOT")]
    for trial in range(20):
        signals = [f"x{i}" for i in range(rng.randint(1, 6))]
        inputs = list(signals)
        gates = []
        for g in range(rng.randint(1, 12)):
            k = rng.randint(1, 4)
            fanin = tuple(rng.choice(signals) for _ in range(k))
            if rng.random() < 0.4:
                cubes = tuple("".join(rng.choice("01-") for _ in range(k)) for _ in range(3))
                gate = Gate(f"g{g}", "SOP", fanin, Cover(cubes, onset=rng.random() < 0.5))
            else:
                gate = Gate(f"g{g}", rng.choice(symmetric), fanin)
            gates.append(gate)
            signals.append(gate.name)
        outputs = rng.sample(signals, k=min(3, len(signals)))
        c = Circuit.make(f"r{trial}", inputs, outputs, gates)
        assert_round_trip(c)
        assert truth(parse_yaml(write_yaml(c))) == truth(c)
