"""Circuit files on disk: load_circuit's dispatch and file errors, and the real corpus
(shared/circuits): every combinational file parses and matches stats.txt, sequential files
are refused, equivalent files agree, and round trips keep the function."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from circuit2mlp.errors import CircuitError
from circuit2mlp.formats import FORMATS, load_circuit, parse_circuit, write_circuit
from circuit2mlp.ir import Circuit

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "circuits"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def corpus_files(sequential: bool) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    files = sorted([*CORPUS.rglob("*.blif"), *CORPUS.rglob("*.bench")])
    return [f for f in files if ("sequential" in f.parts) == sequential]


def rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def stats() -> dict[str, tuple[int, int, int]]:
    """(inputs, outputs, .names blocks or gates) per file, read from stats.txt."""
    table: dict[str, tuple[int, int, int]] = {}
    path = CORPUS / "stats.txt"
    if not path.is_file():
        return table
    columns: list[str] = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if line.startswith("file "):
            columns = fields
        elif fields and not line.startswith("#") and columns:
            row = dict(zip(columns, fields, strict=False))
            size = row.get("names", row.get("gates"))
            table[row["file"]] = (int(row["inputs"]), int(row["outputs"]), int(size))
    return table


def random_vectors(n: int, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [tuple(rng.getrandbits(1) for _ in range(n)) for _ in range(count)]


COMBINATIONAL = corpus_files(sequential=False)
SEQUENTIAL = corpus_files(sequential=True)
STATS = stats()


@needs_corpus
@pytest.mark.parametrize("path", COMBINATIONAL, ids=rel)
def test_every_combinational_file_parses_and_matches_stats(path: Path) -> None:
    warnings: list[str] = []
    c = load_circuit(path, warnings)
    assert c.source == str(path)
    assert all(g.loc is not None and g.loc.line for g in c.gates)
    if rel(path) in STATS:
        inputs, outputs, size = STATS[rel(path)]
        assert (len(c.inputs), len(c.outputs)) == (inputs, outputs)
        if path.suffix == ".blif":
            assert len(c.gates) == size  # one SOP gate per .names
            assert {g.op for g in c.gates} == {"SOP"}
        else:
            assert len(c.gates) == size


@needs_corpus
def test_stats_cover_the_corpus() -> None:
    if not STATS:
        pytest.skip("stats.txt not found")
    assert {rel(p) for p in COMBINATIONAL} <= set(STATS)


@needs_corpus
def test_known_facts() -> None:
    c17 = load_circuit(CORPUS / "blif" / "lgsynth93" / "C17.blif")
    assert (len(c17.inputs), len(c17.outputs), c17.name) == (5, 2, "top")
    assert c17.inputs[0] == "p_1gat_0_" and c17.outputs == ("p_22gat_10_", "p_23gat_9_")
    warnings: list[str] = []
    inc = load_circuit(CORPUS / "blif" / "lgsynth93_pla" / "inc.blif", warnings)
    assert len(inc.gates) == 9  # the .exdc network is not merged
    assert any(".exdc" in w for w in warnings)
    c2670 = load_circuit(CORPUS / "bench" / "c2670.bench")
    assert c2670.gate_map["N499"].fanin == ("N37", "N37")
    assert c2670.gate_map["N499"].loc.line == 399
    abc = load_circuit(CORPUS / "bench" / "berkeley-abc" / "c2670.bench")
    assert abc.gate_map["499"].fanin == ("37", "37")


def gate_number(name: str) -> int:
    """ISCAS signal number: 'p_22gat_10_' / '_223gat_84_' (LGSynth93 BLIF) and 'N22' (.bench)."""
    match = re.search(r"(\d+)gat", name) or re.fullmatch(r"N(\d+)", name)
    assert match, name
    return int(match.group(1))


@needs_corpus
@pytest.mark.parametrize(
    ("bench", "blif", "samples"),
    [("c17.bench", "C17.blif", None), ("c432.bench", "C432.blif", 300)],
)
def test_bench_and_blif_versions_agree(bench: str, blif: str, samples: int | None) -> None:
    """The same ISCAS-85 circuit from two sources: names differ but carry the same numbers,
    and the orders differ too, so inputs and outputs are matched by that number."""
    a = load_circuit(CORPUS / "bench" / bench)
    b = load_circuit(CORPUS / "blif" / "lgsynth93" / blif)
    a_in, b_in = sorted(a.inputs, key=gate_number), sorted(b.inputs, key=gate_number)
    assert [gate_number(n) for n in a_in] == [gate_number(n) for n in b_in]
    assert sorted(map(gate_number, a.outputs)) == sorted(map(gate_number, b.outputs))
    b_of_a = dict(zip(a_in, b_in, strict=True))
    n = len(a.inputs)
    if samples is None:
        xs = [tuple((k >> i) & 1 for i in range(n)) for k in range(2**n)]
    else:
        xs = random_vectors(n, samples)
    for x in xs:
        env = dict(zip(a.inputs, x, strict=True))
        ya = dict(zip(map(gate_number, a.outputs), a.evaluate(x), strict=True))
        xb = [env[a_name] for b_name in b.inputs for a_name in a_in if b_of_a[a_name] == b_name]
        yb = dict(zip(map(gate_number, b.outputs), b.evaluate(xb), strict=True))
        assert ya == yb, x
    if samples is None:
        assert len(xs) == 32


@needs_corpus
@pytest.mark.parametrize("path", SEQUENTIAL, ids=rel)
def test_sequential_files_are_refused(path: Path) -> None:
    with pytest.raises(CircuitError) as info:
        load_circuit(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert re.search(r"\.latch|DFF", message), message
    assert "not supported" in message and "combinational" in message


def assert_same_on_random_inputs(a: Circuit, b: Circuit, count: int = 200) -> None:
    assert (a.inputs, a.outputs) == (b.inputs, b.outputs)
    for x in random_vectors(len(a.inputs), count, seed=1):
        assert a.evaluate(x) == b.evaluate(x), x


@needs_corpus
@pytest.mark.parametrize(
    "name",
    [
        "blif/lgsynth93/C432.blif",
        "blif/lgsynth93/9sym.blif",
        "blif/lgsynth93_pla/9sym.blif",
        "blif/lgsynth93_pla/inc.blif",
        "blif/epfl/dec.blif",
        "blif/epfl/i2c.blif",
        "bench/c499.bench",
    ],
)
def test_blif_round_trip_of_real_files(name: str) -> None:
    c = load_circuit(CORPUS / name)
    back = parse_circuit(write_circuit(c, "blif"), "blif")
    assert_same_on_random_inputs(c, back)


@needs_corpus
@pytest.mark.parametrize("name", ["bench/c432.bench", "bench/berkeley-abc/c2670.bench"])
def test_bench_round_trip_of_real_files(name: str) -> None:
    c = load_circuit(CORPUS / name)
    back = parse_circuit(write_circuit(c, "bench"), "bench")
    assert back.gates == c.gates
    assert_same_on_random_inputs(c, back, count=50)


@needs_corpus
@pytest.mark.parametrize("name", ["blif/epfl/sin.blif", "bench/c7552.bench"])
def test_yaml_round_trip_of_big_files_is_exact(name: str) -> None:
    c = load_circuit(CORPUS / name)
    assert parse_circuit(write_circuit(c, "yaml"), "yaml") == c


@needs_corpus
def test_biggest_file_parses_quickly() -> None:
    path = CORPUS / "blif" / "epfl" / "sin.blif"
    start = time.process_time()
    c = load_circuit(path)
    elapsed = time.process_time() - start
    assert len(c.gates) == 5416
    assert elapsed < 2.0  # ~0.15 s on a laptop; generous for loaded CI machines


# ------------------------------------------------------------------------------ load_circuit

HALF_ADDER_YAML = "inputs: [a, b]\noutputs: [s, c]\ngates:\n  s: [xor, a, b]\n  c: [and, a, b]\n"


def load_error(path: Path) -> str:
    with pytest.raises(CircuitError) as info:
        load_circuit(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}")
    return message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("h.yaml", HALF_ADDER_YAML),
        ("h.yml", HALF_ADDER_YAML),
        ("h.BLIF", ".inputs a b\n.outputs s\n.names a b s\n01 1\n10 1\n"),
        ("h.bench", "INPUT(a)\nINPUT(b)\nOUTPUT(s)\ns = XOR(a, b)\n"),
    ],
)
def test_load_dispatches_on_extension(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    c = load_circuit(path)
    assert c.name == "h" and c.source == str(path)
    assert [c.evaluate(x)[0] for x in ((0, 0), (0, 1), (1, 0), (1, 1))] == [0, 1, 1, 0]
    assert load_circuit(str(path)) == c


def test_load_passes_warnings_and_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.blif"
    path.write_text(".inputs a b\n.outputs a\n.area 3\n")
    warnings: list[str] = []
    load_circuit(path, warnings)
    assert warnings == [
        f"{path}:3: warning: timing directive .area ignored",
        f"{path}:1: warning: input 'b' is never used",
    ]
    path.write_text(".inputs a\n.outputs a\n.latch a b\n")
    assert load_error(path).startswith(f"{path}:3: error: sequential element .latch")


def test_load_missing_file(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.blif") == f"{tmp_path / 'nope.blif'}: error: no such file"


def test_load_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir.blif"
    folder.mkdir()
    assert "is a directory" in load_error(folder)


def test_load_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.bench"
    path.write_text("INPUT(a)\nOUTPUT(a)\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert "cannot read file (Permission denied)" in load_error(path)


def test_load_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.blif"
    path.write_bytes(b".inputs a\n.outputs a\n# caf\xe9 au lait\n")
    message = load_error(path)
    assert message.startswith(f"{path}:3: error: file is not UTF-8 text (byte 0xe9 at column 6)")


def test_load_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HALF_ADDER_YAML.encode())
    assert load_circuit(path).inputs == ("a", "b")


@pytest.mark.parametrize("name", ["circuit.txt", "circuit", "circuit.blif.gz"])
def test_load_unknown_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(HALF_ADDER_YAML)
    message = load_error(path)
    assert "unknown circuit file extension" in message
    assert ".blif, .bench, .yaml, .yml" in message


def test_parse_and_write_dispatch() -> None:
    assert FORMATS == ("blif", "bench", "yaml")
    c = parse_circuit(HALF_ADDER_YAML, "YML")
    for fmt in (*FORMATS, ".blif", "yml"):
        back = parse_circuit(write_circuit(c, fmt), fmt)
        assert [back.evaluate(x) for x in ((0, 1), (1, 1))] == [(1, 0), (0, 1)]
    with pytest.raises(CircuitError, match="unknown circuit format 'vhdl'"):
        parse_circuit("", "vhdl")
    with pytest.raises(CircuitError, match="known: blif, bench, yaml"):
        write_circuit(c, "dot")
