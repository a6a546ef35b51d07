"""Covers recognised as one gate (passes/normalize.recognise_cover) and what that buys.

Oracles, all written here and independent of the pass: a cube-by-cube cover evaluator, the
set of truth tables that one gate of the IR vocabulary can compute (enumerated from
``op_profile`` over every subset of inputs and, for AND/NAND/OR/NOR, every pattern of negated
literals), and a hand writer of BLIF with multi-cube covers (``1- 1`` / ``-1 1`` for OR,
minterms for XOR), the way ABC and yosys write netlists.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.formats import load_circuit, parse_circuit, write_circuit
from circuit2mlp.generate import random_circuit
from circuit2mlp.ir import Circuit, Cover, Gate, op_profile, symmetric_form
from circuit2mlp.passes.normalize import expand_covers, normalize, recognise_cover

ROOT = Path(__file__).resolve().parent.parent
ISCAS = ROOT / "circuits" / "real" / "iscas85"

# ----------------------------------------------------------------------------- oracles


def cover_value(cubes: tuple[str, ...], onset: bool, values: tuple[int, ...]) -> int:
    """The cover on one assignment, cube by cube."""
    hit = False
    for cube in cubes:
        if all(c == "-" or int(c) == v for c, v in zip(cube, values, strict=True)):
            hit = True
    return int(hit == onset)


def table_of(cubes: tuple[str, ...], onset: bool, n: int) -> tuple[int, ...]:
    return tuple(cover_value(cubes, onset, x) for x in itertools.product((0, 1), repeat=n))


def one_gate_tables(n: int) -> set[tuple[int, ...]]:
    """Every truth table over n variables that one vocabulary gate computes: a constant,
    BUF/NOT, a symmetric op over a subset of >= 2 variables, or AND/NAND/OR/NOR over
    literals of such a subset (each variable plain or negated)."""
    rows = list(itertools.product((0, 1), repeat=n))
    tables = {tuple([0] * len(rows)), tuple([1] * len(rows))}
    for v in range(n):
        tables.add(tuple(x[v] for x in rows))
        tables.add(tuple(1 - x[v] for x in rows))
    for size in range(2, n + 1):
        for subset in itertools.combinations(range(n), size):
            for op in ("AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ"):
                profile = op_profile(op, size)
                negations = (
                    itertools.product((0, 1), repeat=size)
                    if op in ("AND", "OR", "NAND", "NOR")
                    else [(0,) * size]
                )
                for neg in negations:
                    tables.add(
                        tuple(
                            profile[sum(x[v] ^ f for v, f in zip(subset, neg, strict=True))]
                            for x in rows
                        )
                    )
    return tables


def minterm_cover(table: tuple[int, ...], n: int, onset: bool) -> tuple[str, ...]:
    rows = itertools.product("01", repeat=n)
    return tuple("".join(r) for r, v in zip(rows, table, strict=True) if v == int(onset))


def prime_cover(table: tuple[int, ...], n: int) -> tuple[str, ...]:
    """An ON-set cover of cubes with don't-cares: each minterm grown greedily (left to right)
    while the cube stays inside the ON-set -- ``1- / -1`` for OR."""
    ones = {r for r, v in zip(itertools.product("01", repeat=n), table, strict=True) if v}
    cubes: list[str] = []
    for minterm in sorted(ones):
        cube = list(minterm)
        for i in range(n):
            trial = [*cube[:i], "-", *cube[i + 1 :]]
            spans = itertools.product(*[("0", "1") if c == "-" else (c,) for c in trial])
            if all(m in ones for m in spans):
                cube = trial
        if "".join(cube) not in cubes:
            cubes.append("".join(cube))
    return tuple(cubes)


def gate_table(g: Gate, fanin_values: dict[str, int]) -> int:
    """Value of a recognised gate (symmetric op or literal cube) from its fan-in values."""
    op, negated = symmetric_form(g)
    ones = sum(fanin_values[s] ^ n for s, n in zip(g.fanin, negated, strict=True))
    return op_profile(op, len(g.fanin))[ones]


# ----------------------------------------------------------------------------- exhaustive


def _check_cover(cubes: tuple[str, ...], onset: bool, n: int, expressible: set) -> None:
    names = [f"x{i}" for i in range(n)]
    table = table_of(cubes, onset, n)
    found = recognise_cover(Cover(cubes, onset), names)
    assert (found is not None) == (table in expressible), (cubes, onset, found)
    if found is None:
        return
    for x in itertools.product((0, 1), repeat=n):
        lits = [x[i] ^ neg for i, neg in zip(found.inputs, found.negated, strict=True)]
        if found.op in ("CONST0", "CONST1"):
            value = int(found.op == "CONST1")
        else:
            value = op_profile(found.op, len(lits))[sum(lits)]
        assert value == cover_value(cubes, onset, x), (cubes, onset, found, x)
    # the whole pass: one gate (the NOTs of negated literals fold away), depth 1
    c = Circuit.make("t", names, ["g"], [Gate("g", "SOP", tuple(names), Cover(cubes, onset))])
    out = normalize(c)
    assert len([g for g in out.gates if g.op not in ("CONST0", "CONST1")]) <= 1
    for x in itertools.product((0, 1), repeat=n):
        assert out.evaluate(x) == (cover_value(cubes, onset, x),)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_every_function_of_up_to_3_inputs(n):
    """All 2^2^n functions, each as a minterm ON-set, a minterm OFF-set and a cover of
    grown cubes: recognised exactly when one gate computes it, and then right on every row."""
    expressible = one_gate_tables(n)
    recognised = 0
    for bits in range(1 << (1 << n)):
        table = tuple(bits >> r & 1 for r in range(1 << n))
        for cubes, onset in (
            (minterm_cover(table, n, True), True),
            (minterm_cover(table, n, False), False),
            (prime_cover(table, n), True),
        ):
            _check_cover(cubes, onset, n, expressible)
        recognised += table in expressible
    if n == 2:
        assert recognised == 16  # every 2-input function is one gate
    if n == 3:
        assert recognised == len(expressible) == 57


def test_sample_of_4_input_functions():
    """Every one-gate function of 4 inputs (written as grown cubes) and 300 random ones."""
    n = 4
    expressible = one_gate_tables(n)
    rng = np.random.default_rng(0)
    randoms = {tuple(int(v) for v in rng.integers(0, 2, 16)) for _ in range(300)}
    for table in sorted(expressible | randoms):
        _check_cover(prime_cover(table, n), True, n, expressible)
        _check_cover(minterm_cover(table, n, False), False, n, expressible)


@pytest.mark.parametrize(
    ("fanin", "cubes", "onset", "op", "inputs", "negated"),
    [
        ("a b", "10 01", True, "XOR", (0, 1), (False, False)),
        ("a b", "00 11", True, "XNOR", (0, 1), (False, False)),
        ("a b", "1- -1", True, "OR", (0, 1), (False, False)),
        ("a b", "0- -0", True, "NAND", (0, 1), (False, False)),
        ("a b", "1- -0", True, "NAND", (0, 1), (True, False)),  # a OR NOT b
        ("a b", "10", True, "AND", (0, 1), (False, True)),
        ("a b", "00", True, "NOR", (0, 1), (False, False)),
        ("a b c", "11- 1-1 -11", True, "MAJ", (0, 1, 2), (False,) * 3),
        ("a b c", "100 010 001 111", True, "XOR", (0, 1, 2), (False,) * 3),
        ("a b c", "1-- -1- --1", False, "NOR", (0, 1, 2), (False,) * 3),
        ("a b c", "-1- -0-", True, "CONST1", (), ()),
        ("a b c", "1-1 1-0", True, "BUF", (0,), (False,)),  # b and c do not matter
        ("a a b", "1-1 -11", True, "AND", (0, 2), (False, False)),  # a repeated signal
        ("a b a", "1-0", True, "CONST0", (), ()),  # a and NOT a
        # wider than a truth table: recognised by shape
        (
            "a b c d e f g",
            "0------ -0----- --0---- ---0--- ----0-- -----0- ------0",
            True,
            "NAND",
            tuple(range(7)),
            (False,) * 7,
        ),
        (
            "a b c d e f g",
            "1------ -1----- --1---- ---1--- ----1-- -----1- ------0",
            True,
            "OR",
            tuple(range(7)),
            (False,) * 6 + (True,),
        ),
        ("a b c d e f g", "0000001", True, "NOR", tuple(range(7)), (False,) * 6 + (True,)),
        ("a b c d e f g", "1111110", False, "NAND", tuple(range(7)), (False,) * 6 + (True,)),
    ],
)
def test_recognised_by_hand(fanin, cubes, onset, op, inputs, negated):
    found = recognise_cover(Cover(tuple(cubes.split()), onset), fanin.split())
    assert found is not None
    assert (found.op, found.inputs, found.negated) == (op, inputs, negated)


def test_not_in_the_vocabulary_keeps_the_expansion():
    # MAJ(NOT a, b, c) is no single gate: cube by cube as before
    cover = Cover(("0-1", "01-", "-11"), True)
    assert recognise_cover(cover, ["a", "b", "c"]) is None
    c = Circuit.make("t", ["a", "b", "c"], ["g"], [Gate("g", "SOP", ("a", "b", "c"), cover)])
    e = expand_covers(c)
    assert [g.op for g in e.gates] == ["NOT", "AND", "AND", "AND", "OR"]
    for x in itertools.product((0, 1), repeat=3):
        assert e.evaluate(x) == (cover_value(cover.cubes, True, x),)


def test_wide_literal_covers_split_like_the_gate_a_netlist_would_write():
    """A 9-input NAND written as nine ``0`` cubes normalizes exactly like NAND(9)."""
    names = [f"x{i}" for i in range(9)]
    cubes = tuple("-" * i + "0" + "-" * (8 - i) for i in range(9))
    as_cover = Circuit.make("t", names, ["g"], [Gate("g", "SOP", tuple(names), Cover(cubes))])
    as_gate = Circuit.make("t", names, ["g"], [Gate("g", "NAND", tuple(names))])
    a, b = normalize(as_cover), normalize(as_gate)
    assert [(g.name, g.op, g.fanin) for g in a.gates] == [(g.name, g.op, g.fanin) for g in b.gates]


# ----------------------------------------------------------------------------- same circuit,
# two formats


def _blif_rows(g: Gate) -> list[str]:
    """Covers as a netlist tool writes them: OR one cube per input, XOR minterms, ..."""
    k = len(g.fanin)
    if g.op == "SOP":
        assert g.cover is not None
        return [f"{c} {int(g.cover.onset)}" for c in g.cover.cubes]
    if g.op in ("CONST0", "CONST1"):
        return ["1"] if g.op == "CONST1" else []
    if g.op == "OR":
        return ["-" * i + "1" + "-" * (k - 1 - i) + " 1" for i in range(k)]
    if g.op == "NAND":
        return ["-" * i + "0" + "-" * (k - 1 - i) + " 1" for i in range(k)]
    if g.op == "MAJ" and k == 3:
        return ["11- 1", "1-1 1", "-11 1"]
    profile = op_profile(g.op, k)
    rows = itertools.product("01", repeat=k)
    return [f"{''.join(r)} 1" for r in rows if profile[r.count("1")]]


def as_blif(c: Circuit) -> str:
    lines = [f".model {c.name}", ".inputs " + " ".join(c.inputs), ".outputs " + " ".join(c.outputs)]
    for g in c.gates:
        lines.append(".names " + " ".join((*g.fanin, g.name)))
        lines.extend(_blif_rows(g))
    lines.append(".end")
    return "\n".join(lines) + "\n"


def as_bench(c: Circuit) -> str:
    """.bench text; a literal cube becomes NOT gates and an AND/NAND (as a netlist has it)."""
    lines = [f"INPUT({s})" for s in c.inputs] + [f"OUTPUT({s})" for s in c.outputs]
    negated: set[str] = set()
    for g in c.gates:
        if g.op == "SOP":
            assert g.cover is not None and len(g.cover.cubes) == 1
            fanin = []
            for s, ch in zip(g.fanin, g.cover.cubes[0], strict=True):
                if ch == "0" and s not in negated:
                    negated.add(s)
                    lines.append(f"{s}_n = NOT({s})")
                fanin.append(f"{s}_n" if ch == "0" else s)
            op = "AND" if g.cover.onset else "NAND"
            lines.append(f"{g.name} = {op}({', '.join(fanin)})")
        else:
            lines.append(f"{g.name} = {g.op}({', '.join(g.fanin)})")
    return "\n".join(lines) + "\n"


def compiled(c: Circuit, method: str) -> tuple[int, int]:
    """(hidden layers, neurons)."""
    _, report = compile_circuit(c, CompileConfig(method=method, sparsity=2, seed=0))
    return len(report.layers), report.neurons


@pytest.mark.parametrize("name", ["c17", "c432", "c499", "c1355"])
def test_iscas_bench_and_blif_compile_alike(name):
    bench = load_circuit(ISCAS / f"{name}.bench")
    blif = parse_circuit(as_blif(bench), "blif", f"{name}.blif")
    assert any(len(g.cover.cubes) > 1 for g in blif.gates if g.cover is not None)
    for method in ("exact", "superposed"):
        assert compiled(blif, method) == compiled(bench, method), method


def test_corpus_c432_covers_blif_is_c432_bench():
    """The corpus copy written with multi-cube covers compiles like the .bench original."""
    bench = load_circuit(ISCAS / "c432.bench")
    blif = load_circuit(ISCAS / "c432_covers.blif")
    assert blif.inputs == bench.inputs and blif.outputs == bench.outputs
    for method in ("exact", "superposed"):
        assert compiled(blif, method) == compiled(bench, method), method


@pytest.mark.parametrize(
    ("fan_in", "mix"),
    [
        (2, None),
        (3, None),
        ((2, 3), "and=1,or=1,xor=1,nand=1,nor=1,xnor=1"),  # every kind .bench has
        ((2, 3), "all"),  # with MAJ and negated literals: YAML against BLIF
    ],
)
def test_random_circuit_as_yaml_blif_and_bench_compiles_alike(fan_in, mix):
    c = random_circuit(64, 64, 8, fan_in=fan_in, seed=3, mix=mix)
    yaml_c = parse_circuit(write_circuit(c, "yaml"), "yaml", "r.yaml")
    blif_c = parse_circuit(as_blif(c), "blif", "r.blif")
    has_maj = any(g.op == "MAJ" for g in c.gates)  # .bench has no MAJ
    bench_c = None if has_maj else parse_circuit(as_bench(c), "bench", "r.bench")
    assert any(len(g.cover.cubes) > 1 for g in blif_c.gates)  # two-cube covers
    for method in ("exact", "superposed"):
        want = compiled(yaml_c, method)
        assert want[0] == 8
        assert compiled(blif_c, method) == want, method
        if bench_c is not None:
            assert compiled(bench_c, method) == want, method


def test_recognition_is_cached_per_cover_shape():
    """10^4 gates sharing a few covers: recognition costs a dict lookup per gate."""
    n = 10_000
    inputs = [f"x{i}" for i in range(n + 1)]
    xor = Cover(("10", "01"))
    gates = [Gate(f"g{i}", "SOP", (inputs[i], inputs[i + 1]), xor) for i in range(n)]
    c = Circuit(
        name="t",
        inputs=tuple(inputs),
        outputs=tuple(g.name for g in gates),
        drivers=tuple(g.name for g in gates),
        gates=tuple(gates),
    )
    e = expand_covers(c)
    assert {g.op for g in e.gates} == {"XOR"} and len(e.gates) == n
