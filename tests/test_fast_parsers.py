"""The fast readers (regular YAML, plain BLIF) and the linear-time IR checks agree exactly with
the full readers and networkx: equal circuits with equal source lines and warnings on random
circuits, the same verdict and message on fuzzed text, errors still at file:line."""

from __future__ import annotations

import contextlib
import os
import random

import networkx as nx
import pytest
from fuzzing import Seed, load_seeds, mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import circuits

from circuit2mlp.errors import CircuitError
from circuit2mlp.formats import parse_circuit
from circuit2mlp.formats.bench import _read_plain as read_plain_bench
from circuit2mlp.formats.bench import parse_bench, write_bench
from circuit2mlp.formats.blif import _read_plain, parse_blif, write_blif
from circuit2mlp.formats.yaml_fast import read_regular
from circuit2mlp.formats.yaml_format import parse_yaml, write_yaml
from circuit2mlp.generate import random_circuit, uand_text
from circuit2mlp.ir import SYMMETRIC_OPS, Circuit, Gate

EXAMPLES = int(os.environ.get("C2M_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PARSERS = {"yaml": parse_yaml, "blif": parse_blif, "bench": parse_bench}
SEEDS = [s for s in load_seeds() if s.fmt in PARSERS]
BENCH_OPS = tuple(op for op in SYMMETRIC_OPS if op != "MAJ")


def _rewritten(seeds: list[Seed]) -> list[Seed]:
    """Every corpus circuit as the writers write it: the regular shape, to be mutated."""
    out = []
    for seed in seeds:
        with contextlib.suppress(CircuitError):
            circuit = parse_circuit(seed.data.decode(), seed.fmt)
            out.append(Seed(seed.name + ".yaml", "yaml", write_yaml(circuit).encode()))
            with contextlib.suppress(CircuitError):
                out.append(Seed(seed.name + ".blif", "blif", write_blif(circuit).encode()))
            with contextlib.suppress(CircuitError):
                out.append(Seed(seed.name + ".bench", "bench", write_bench(circuit).encode()))
    return out


SEEDS += _rewritten(load_seeds())


def run(fmt: str, text: str, fast: bool) -> tuple[str, object, list[str]]:
    """("ok", details, warnings) or ("error", message, warnings)."""
    warnings: list[str] = []
    try:
        circuit = PARSERS[fmt](text, "t." + fmt, warnings, fast=fast)
    except CircuitError as exc:
        return "error", str(exc), warnings
    return "ok", details(circuit), warnings


def details(circuit: Circuit) -> tuple:
    """Everything a parser decides, including what equality ignores (source lines)."""
    return (
        circuit,
        circuit.name,
        circuit.source,
        circuit.input_locs,
        tuple(g.loc for g in circuit.gates),
        tuple((g.cover.cubes, g.cover.onset) if g.cover else None for g in circuit.gates),
    )


def assert_same(fmt: str, text: str) -> tuple[str, object, list[str]]:
    fast, slow = run(fmt, text, True), run(fmt, text, False)
    assert fast == slow
    return fast


# ------------------------------------------------------------------ random circuits

# names the writers must quote or that YAML would read as something else
ODD_NAMES = [
    "on",
    "No",
    "null",
    "~",
    "0x1F",
    "1e3",
    "12:30",
    "a b",
    "a#b",
    "(x)",
    "$y",
    "-z",
    "a, b",
    "[q]",
    "{r}",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "é",
    "x:",
    "<<",
    "=",
]


@st.composite
def renamed_circuits(draw: st.DrawFn) -> Circuit:
    """A random circuit whose signals get random names: plain, odd (see ODD_NAMES) or any
    text (so both the fast path and its fallback get exercised)."""
    circuit = draw(circuits(max_inputs=5, max_gates=10))
    signals = list(circuit.signals)
    pool = st.one_of(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_.$]{0,6}", fullmatch=True),
        st.sampled_from(ODD_NAMES),
        st.text(min_size=1, max_size=6).filter(lambda s: "\x00" not in s),
    )
    names = draw(st.lists(pool, min_size=len(signals), max_size=len(signals), unique=True))
    new = dict(zip(signals, names, strict=True))
    outputs = [new.get(o, o) for o in circuit.outputs]  # aliases (y*) keep their names
    if len(set(outputs)) < len(outputs):
        return circuit
    gates = [
        Gate(new[g.name], g.op, tuple(new[s] for s in g.fanin), g.cover) for g in circuit.gates
    ]
    inputs = [new[s] for s in circuit.inputs]
    return Circuit.make("c", inputs, outputs, gates, None, [new[d] for d in circuit.drivers])


@SETTINGS
@given(circuit=renamed_circuits())
def test_yaml_fast_and_full_reader_agree_on_written_circuits(circuit):
    text = write_yaml(circuit)
    status, found, _ = assert_same("yaml", text)
    assert status == "ok" and found[0] == circuit
    regular = text.isascii() and "\\" not in text and "\t" not in text
    if regular:  # everything the writer emits in printable ASCII takes the fast path
        assert read_regular(text, "t.yaml", None) is not None


@SETTINGS
@given(circuit=circuits(max_inputs=5, max_gates=10))
def test_blif_fast_and_full_reader_agree_on_written_circuits(circuit):
    text = write_blif(circuit)
    status, _, _ = assert_same("blif", text)
    assert status == "ok"
    assert _read_plain(text, "t.blif", None) is not None  # the writer's output is plain


@SETTINGS
@given(circuit=circuits(max_inputs=5, max_gates=10, ops=BENCH_OPS, allow_sop=False))
def test_bench_fast_and_full_reader_agree_on_written_circuits(circuit):
    text = write_bench(circuit)
    status, _, _ = assert_same("bench", text)
    assert status == "ok"
    if "vdd" not in text and "gnd" not in text:
        assert read_plain_bench(text, "t.bench", None) is not None


@pytest.mark.parametrize("fmt", ["yaml", "blif", "bench"])
def test_generated_files_take_the_fast_path(fmt):
    texts = [uand_text(9, fmt)]
    circuit = random_circuit(20, 30, 3, fan_in=2, seed=1, negations=False)
    texts.append({"yaml": write_yaml, "blif": write_blif, "bench": write_bench}[fmt](circuit))
    fast = {"yaml": read_regular, "blif": _read_plain, "bench": read_plain_bench}[fmt]
    for text in texts:
        warnings: list[str] = []
        assert fast(text, "t." + fmt, warnings) is not None
        assert_same(fmt, text)


def test_yaml_fast_path_keeps_warnings_and_lines():
    text = "# c\nname: n\ninputs: [a, b,\n  c]\noutputs: [y, {z: a}]\ngates:\n  y: [and, a, c]\n"
    warnings: list[str] = []
    circuit = parse_yaml(text, "t.yaml", warnings)
    assert read_regular(text, "t.yaml", None) is not None
    assert [loc.line for loc in circuit.input_locs] == [3, 3, 4]
    assert circuit.gates[0].loc.line == 7
    assert warnings == ["t.yaml:3: warning: input 'b' is never used"]
    assert_same("yaml", text)


# ------------------------------------------------------------------ fuzzed text


@SETTINGS
@given(seed=st.sampled_from(SEEDS), rng=st.randoms(use_true_random=False))
def test_fast_and_full_readers_agree_on_mutants(seed, rng):
    """Whatever the text, the fast reader never accepts what the full reader refuses, nor
    reads anything differently: same circuit, lines and warnings, or the same error."""
    data = mutate(seed.data, rng, SEEDS)
    assert_same(seed.fmt, data.decode("utf-8", errors="surrogateescape"))


YAML_VARIANTS = [
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a]\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a]\n  y: [buf, a]\n",  # duplicate gate
    "inputs: [a]\noutputs: [y]\ngates: {}\n",  # no driver
    "inputs: [a]\noutputs: [a]\ngates: x\n",
    "inputs: [on]\noutputs: [on]\n",  # a boolean, not a name
    'inputs: ["on"]\noutputs: ["on"]\n',
    "inputs: [a, a]\noutputs: [a]\n",
    "inputs: [a]\noutputs: [a, a]\n",
    "inputs: [a]\noutputs: [{b: a}, {c: a}]\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [nope, a]\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [sop, a]\n",
    'inputs: [a]\noutputs: [y]\ngates:\n  y: {cover: ["1", "0"], inputs: [a], offset: true}\n',
    'inputs: [a]\noutputs: [y]\ngates:\n  y: {cover: ["11"], inputs: [a]}\n',
    "inputs: [a]\noutputs: [y]\ngates:\n  y: {cover: [], inputs: []}\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: {}\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, y]\n",  # cycle
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, b]\n",  # undefined
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a]\n  z: [or, a]\n    w: [or, a]\n",
    "inputs: [a]\noutputs: [y]\ngates:\n\n  y: [and, a]\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a]\ninputs: [b]\n",
    "name: 12\ninputs: [a]\noutputs: [a]\n",
    'name: ""\ninputs: [a]\noutputs: [a]\n',
    "name:\ninputs: [a]\noutputs: [a]\n",
    "inputs: [a,\nb]\noutputs: [a]\n",
    "inputs: [a,\n  b\n  ]\noutputs: [a, b]\n",
    "inputs: []\noutputs: []\n",
    "inputs: [a]\noutputs: [y]\ngates:\n  y: [and, a]  # c\n",
    "---\ninputs: [a]\noutputs: [a]\n",
    "inputs: [a]\noutputs: [a]\n...\n",
    "inputs: [a]\noutputs: [a]\n#c\n",
]


@pytest.mark.parametrize("text", YAML_VARIANTS)
def test_yaml_variants_agree(text):
    assert_same("yaml", text)


BLIF_VARIANTS = [
    ".model m\n.inputs a\n.outputs y\n.names a y\n0 1\n.end\n",
    ".model m\n.model n\n.inputs a\n.outputs y\n.names a y\n0 1\n",
    ".inputs a\n.model m\n.outputs y\n.names a y\n0 1\n",
    ".inputs a\n.outputs y y\n.names a y\n0 1\n",
    ".inputs a\n.outputs y\n.names a y\n0 1\n1 0\n",
    ".inputs a\n.outputs y\n.names a y\n0 2\n",
    ".inputs a\n.outputs y\n.names a y\n01 1\n",
    ".inputs a\n.outputs y\n.names a y\n.end\n",  # empty cover: a warning
    ".inputs a\n.outputs y\n.names y\n1\n1\n",
    ".inputs a\n.outputs y\n.names y\n1 1\n",
    ".inputs a\n.outputs y\n.names\n",
    ".inputs a\n.outputs y\n.names a y\n1 1\n.end\n.names a z\n1 1\n",
    ".inputs a\n.outputs y\n.names a y\n1 1\n.end\n1 1\n",
    ".inputs a\n.outputs y\n1 1\n",
    ".inputs a \\\n b\n.outputs y # c\n.names a b \\\n y\n11 1\n",
    ".inputs a\n.outputs y\n.names a y\n1 1\n.area 3\n",
    ".inputs a\n.outputs y\n.names y y\n1 1\n",
    ".inputs a\n.outputs y\n.names a y\n1 1\n.names a y\n1 1\n",
    ".inputs a\n.outputs y\n.exdc\n.names a y\n1 1\n.end\n",
]


@pytest.mark.parametrize("text", BLIF_VARIANTS)
def test_blif_variants_agree(text):
    assert_same("blif", text)


BENCH_VARIANTS = [
    "INPUT(a)\nOUTPUT(y)\ny = NOT(a)\n",
    "INPUT(a)\r\nOUTPUT(y)\r\ny = NOT(a) # c\r\n",
    "input ( a )\noutput(y)\ny=nand( a ,a )\n",
    "INPUT(a)\nOUTPUT(y)\nOUTPUT(y)\ny = NOT(a)\n",
    "INPUT(a)\nOUTPUT(y)\ny = NOT(a, )\n",
    "INPUT(a)\nOUTPUT(y)\ny = AND(a b)\n",
    "INPUT(a)\nOUTPUT(y)\ny = AND()\n",
    "INPUT(a)\nOUTPUT(y)\ny = DFF(a)\n",
    "INPUT(a)\nOUTPUT(y)\ny = AND(a, vdd)\n",
    "INPUT(a)\nOUTPUT(vdd)\n",
    "INPUT(a)\nOUTPUT(y)\ny = FOO(a)\n",
    "INPUT(a)\nOUTPUT(y)\ny = NOT(a)\ny = NOT(a)\n",
    "INPUT(a)\nOUTPUT(y)\ny = NOT(z)\nz = NOT(y)\n",
    "INPUT(a)\nINPUT(b)\nOUTPUT(y)\ny = NOT(a)\n",
    "INPUT(a)\nOUTPUT(y)\ny = NOT(a)\nbogus\n",
]


@pytest.mark.parametrize("text", BENCH_VARIANTS)
def test_bench_variants_agree(text):
    assert_same("bench", text)


# ------------------------------------------------------------------ errors keep file:line


def test_big_regular_yaml_error_names_its_line():
    text = uand_text(40, "yaml")
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("  and_"))
    lines.insert(first + 500, "  and_3_7: [or, x1, x2]")  # a second definition
    with pytest.raises(CircuitError) as info:
        parse_yaml("\n".join(lines), "big.yaml")
    assert str(info.value).startswith(f"big.yaml:{first + 501}: error: ")
    assert "defined twice" in str(info.value)


def test_big_plain_blif_error_names_its_line():
    text = uand_text(40, "blif")
    lines = text.split("\n")
    bad = next(i for i, line in enumerate(lines) if line.startswith(".names x5 x9"))
    lines[bad + 1] = "1 1"  # a row of the wrong width
    with pytest.raises(CircuitError) as info:
        parse_blif("\n".join(lines), "big.blif")
    assert str(info.value).startswith(f"big.blif:{bad + 2}: error: malformed cover row")


# ------------------------------------------------------------------ topological order


@SETTINGS
@given(circuit=circuits(max_inputs=5, max_gates=14), rng=st.randoms(use_true_random=False))
def test_topological_order_is_networkx_order(circuit, rng):
    """Gates in any order: the linear-time sort gives networkx's lexicographic order."""
    gates = list(circuit.gates)
    rng.shuffle(gates)
    shuffled = Circuit.make("s", circuit.inputs, circuit.outputs, gates, None, circuit.drivers)
    position = shuffled._position
    order = nx.lexicographical_topological_sort(shuffled.graph, key=position.__getitem__)
    expected = tuple(shuffled.gate_map[n] for n in order if n in shuffled.gate_map)
    assert shuffled.topological_gates == expected


def test_cycle_among_unordered_gates_is_named():
    gates = [Gate("b", "NOT", ("a",)), Gate("a", "AND", ("x", "c")), Gate("c", "BUF", ("b",))]
    with pytest.raises(CircuitError, match=r"combinational cycle: a -> b -> c -> a"):
        Circuit.make("c", ["x"], ["a"], gates)


def test_random_order_mutants_of_a_chain_agree():
    rng = random.Random(0)
    names = [f"g{i}" for i in range(200)]
    gates = [Gate(n, "NOT", (names[i - 1] if i else "x",)) for i, n in enumerate(names)]
    for _ in range(20):
        rng.shuffle(gates)
        circuit = Circuit.make("chain", ["x"], ["g199"], gates)
        assert [g.name for g in circuit.topological_gates] == names
