"""Fuzzing: whatever bytes arrive, every parser and the CLI give a valid circuit or one clean
error line (a UserError; exit status 2 from the CLI, no traceback, no output file).

Budget: ``C2M_FUZZ_EXAMPLES`` examples per property (default 100, which keeps this file well
under a minute on two cores). For a long campaign with statistics run
``python benchmarks/fuzz.py`` (see docs/reliability.md).

The inputs are random bytes, mutations of every real circuit file in circuits/ (deleted,
duplicated and swapped lines, swapped / replaced / deleted tokens, truncation, huge names,
non-UTF-8 bytes, flipped bits, splices of two files, changed case and line ends) and
hand-made pathological shapes (deep YAML nesting, alias bombs, 10^6-line files). The
mutators live in ``fuzzing.py``, shared with the campaign script.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from fuzzing import (
    FORMATS,
    ContractViolation,
    alias_bomb,
    check_error,
    deep_yaml,
    huge_name,
    load_seeds,
    mutate,
    outcome,
    parse_file,
    parse_text,
    pathological,
    random_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from refusals import assert_compile_refused

from circuit2mlp.cli import main
from circuit2mlp.compiler import METHODS
from circuit2mlp.errors import CircuitError, UserError
from circuit2mlp.formats import parse_circuit
from circuit2mlp.network import Network

EXAMPLES = int(os.environ.get("C2M_FUZZ_EXAMPLES", "100"))
SEEDS = load_seeds()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# the CLI compiles every valid mutant, which costs far more than a parse: fewer examples
CLI_FUZZ = settings(FUZZ, max_examples=max(5, EXAMPLES // 4))


def test_corpus_is_there():
    """The mutation fuzzers are only as good as their seeds: all three formats present."""
    assert {s.fmt for s in SEEDS} == set(FORMATS)
    assert len(SEEDS) >= 20


def both_entry_points(data: bytes, fmt: str) -> str:
    """Outcome of the text parser and of load_circuit on the same bytes: each must be valid or
    a clean error, and when the bytes are UTF-8 both must agree."""
    with tempfile.TemporaryDirectory() as folder:
        from_file = outcome(parse_file(data, fmt, folder))
        assert os.listdir(folder) == []
    from_text = outcome(parse_text(data, fmt))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert from_file == "error"  # strict decoding: a named line, never a guess
    else:
        if not text.startswith("\ufeff"):  # load_circuit drops a BOM, parse_circuit may not
            assert from_text == from_file
    return from_file


# ------------------------------------------------------------------------------ parsers


@FUZZ
@given(data=st.binary(max_size=4000), fmt=st.sampled_from(FORMATS))
def test_random_bytes(data, fmt):
    both_entry_points(data, fmt)


@FUZZ
@given(rng=st.randoms(use_true_random=False), fmt=st.sampled_from(FORMATS))
def test_token_soup(rng, fmt):
    both_entry_points(random_bytes(rng, max_size=2000), fmt)


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    rng=st.randoms(use_true_random=False),
    other_format=st.booleans(),
)
def test_mutated_corpus(seed, rng, other_format):
    """Mutants of real files, parsed as their own format or, half the time, as any format."""
    data = mutate(seed.data, rng, SEEDS)
    fmt = rng.choice(FORMATS) if other_format else seed.fmt
    both_entry_points(data, fmt)


@settings(FUZZ, max_examples=max(5, EXAMPLES // 2))
@given(rng=st.randoms(use_true_random=False), fmt=st.sampled_from(FORMATS))
def test_pathological_shapes(rng, fmt):
    both_entry_points(pathological(rng, fmt), fmt)


def test_every_seed_parses_unmutated():
    """The oracle itself: every corpus circuit is valid and round-trips (manifest.yaml is the
    one YAML file in circuits/ that is not a circuit)."""
    for seed in SEEDS:
        expected = "error" if seed.name == "manifest.yaml" else "valid"
        assert outcome(parse_text(seed.data, seed.fmt, seed.name)) == expected, seed.name


def test_oracle_rejects_a_multi_line_message():
    """The oracle must be able to fail, or the fuzzers would prove nothing."""
    with pytest.raises(ContractViolation):
        check_error(_TwoLines("x"))
    with pytest.raises(ContractViolation):
        outcome(lambda: "not a circuit")
    with pytest.raises(ZeroDivisionError):
        outcome(lambda: 1 / 0)


class _TwoLines(UserError):
    def __str__(self) -> str:
        return "error: one\ntwo"


# ---------------------------------------------------------------- pathological, by name


@pytest.mark.parametrize("kind", ["flow", "map", "block"])
@pytest.mark.parametrize("depth", [64, 65, 100_000])
def test_deep_yaml_nesting(kind, depth):
    """Nesting is refused past 64 levels (libyaml's composer recurses in C and would crash
    the interpreter on ~10^4 levels); below that the schema error is reported. Either way one
    CircuitError line naming the file and the line where the nesting is. (Which layer refuses
    very deep flow nesting, ours or the YAML library's own limit, depends on the PyYAML
    release; the wording is not asserted, the behaviour is.)"""
    start = time.perf_counter()
    with pytest.raises(CircuitError) as info:
        parse_circuit(deep_yaml(depth, kind).decode(), "yaml", "deep.yaml")
    line = check_error(info.value)
    where = 2 if kind == "block" else 1  # the line the nesting starts on
    assert line.startswith(f"deep.yaml:{where}: error: "), line
    assert time.perf_counter() - start < 10


def test_alias_bomb_is_not_expanded():
    """9^9 leaves if expanded: composing keeps aliases as shared nodes and the reader refuses
    the nested list at once."""
    start = time.perf_counter()
    with pytest.raises(CircuitError, match="input name must be a string"):
        parse_circuit(alias_bomb(9).decode(), "yaml", "bomb.yaml")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_huge_names(fmt):
    """A 10^6-character signal name is legal: kept exactly, and error messages that quote
    a huge line are shortened (the message stays one short line)."""
    name = b"n" * 1_000_000
    good = {
        "blif": b".model m\n.inputs " + name + b"\n.outputs y\n.names " + name + b" y\n0 1\n",
        "bench": b"INPUT(" + name + b")\nOUTPUT(y)\ny = NOT(" + name + b")\n",
        "yaml": b"inputs: [" + name + b"]\noutputs: [y]\ngates:\n  y: [not, " + name + b"]\n",
    }[fmt]
    circuit = parse_circuit(good.decode(), fmt)
    assert circuit.inputs == (name.decode(),)
    with pytest.raises(CircuitError) as info:
        parse_circuit((good + name + b" ( bogus\n").decode(), fmt)
    assert len(check_error(info.value)) < 1_000


MILLION = 1_000_000
SMALL = {
    "blif": ".model m\n.inputs a\n.outputs y\n.names a y\n0 1\n.end\n",
    "bench": "INPUT(a)\nOUTPUT(y)\ny = NOT(a)\n",
    "yaml": "inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a]\n",
}
BOGUS = {"blif": "bogus ( line\n", "bench": "bogus ( line\n", "yaml": "bogus: 1\n"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_million_line_file(fmt, tmp_path):
    """10^6 lines of comments before a circuit, then the same file with a bad last line: the
    parse is linear (seconds, not hours) and the error names line 10^6 + k."""
    path = tmp_path / f"big.{fmt}"
    path.write_text("# padding\n" * MILLION + SMALL[fmt])
    start = time.perf_counter()
    from circuit2mlp.formats import load_circuit

    assert load_circuit(path).outputs == ("y",)
    path.write_text(SMALL[fmt] + "\n" * MILLION + BOGUS[fmt])
    with pytest.raises(CircuitError) as info:
        load_circuit(path)
    lines = SMALL[fmt].count("\n") + MILLION + 1
    assert f"{path}:{lines}:" in check_error(info.value)
    assert time.perf_counter() - start < 20


def test_million_continuation_lines():
    """BLIF ``\\`` continuations are joined once, not re-concatenated per line (which would
    be quadratic: 10^6 lines would take hours)."""
    text = ".model m\n.inputs a \\\n" + " \\\n" * MILLION + "\n.outputs a\n.end\n"
    start = time.perf_counter()
    assert parse_circuit(text, "blif").inputs == ("a",)
    assert time.perf_counter() - start < 10


def test_million_gate_chain_is_linear():
    """A 10^4-line gate chain parses in about a second at most in each format (the 10^6-line
    version, ~10 s to ~100 s per format, runs in benchmarks/fuzz.py)."""
    from fuzzing import million_lines

    for fmt in FORMATS:
        data = million_lines(fmt, 10_000).decode()
        start = time.perf_counter()
        circuit = parse_circuit(data, fmt)
        assert len(circuit.gates) >= 4_999  # BLIF: two lines per gate
        assert time.perf_counter() - start < 10, fmt


# --------------------------------------------------------------------- regressions


@pytest.mark.parametrize("fmt", FORMATS)
def test_lone_surrogate_is_a_clean_error(fmt):
    """Regression (found by test_mutated_corpus): text with a lone surrogate, which numpy
    string arrays (the circuit embedded in a weights file) can carry, crashed the YAML parser
    with UnicodeEncodeError, and BLIF/.bench built signal names no file could hold."""
    text = SMALL[fmt].replace("a", "a\udc85", 1)
    with pytest.raises(CircuitError, match="lone surrogate U\\+DC85") as info:
        parse_circuit(text, fmt, "s." + fmt)
    assert str(info.value).startswith(f"s.{fmt}:")


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "bad.bench"
    path.write_bytes(b"INPUT(a)\nOUTPUT(y)\ny = NOT(a\xff)\n")
    from circuit2mlp.formats import load_circuit

    with pytest.raises(CircuitError, match=r"not UTF-8 text \(byte 0xff at column 10\)"):
        load_circuit(path)


# ------------------------------------------------------------------------------ CLI


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """main() in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def check_cli_compile(data: bytes, fmt: str, method: str) -> int:
    """Compile the bytes as a file: exit 0 with a loadable weights file, or exit 2 with one
    clean line and nothing written."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / f"fuzz.{fmt}"
        src.write_bytes(data)
        out = folder / "out.npz"
        code, _, err = run_cli(["compile", str(src), "-o", str(out), "-q", "--method", method])
        assert "Traceback" not in err
        if code == 0:
            assert Network.load(out).input_names is not None
            assert sorted(p.name for p in folder.iterdir()) == ["fuzz." + fmt, "out.npz"]
        else:
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "error: " in lines[0], err
            assert [p.name for p in folder.iterdir()] == ["fuzz." + fmt]
        return code


@CLI_FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    rng=st.randoms(use_true_random=False),
    method=st.sampled_from(METHODS),
)
def test_cli_compile_mutants(seed, rng, method):
    check_cli_compile(mutate(seed.data, rng, SEEDS), seed.fmt, method)


@CLI_FUZZ
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(FORMATS))
def test_cli_compile_random_bytes(data, fmt):
    assert check_cli_compile(data, fmt, "exact") in (0, 2)


@pytest.fixture(scope="module")
def weights_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fa.npz"
        src = Path(__file__).resolve().parents[1] / "circuits/handwritten/full_adder.yaml"
        assert run_cli(["compile", str(src), "-o", str(out), "-q", "--method", "exact"])[0] == 0
        return out.read_bytes()


@CLI_FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_cli_verify_mutated_weights(weights_bytes, rng):
    """A damaged weights file: verify passes (0), fails (1: the damage changed the function)
    or refuses it with one line (2). Never a traceback."""
    data = mutate(weights_bytes, rng) if rng.random() < 0.5 else _flip(weights_bytes, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.npz"
        path.write_bytes(data)
        code, _, err = run_cli(["verify", str(path), "-q", "--samples", "50"])
    assert "Traceback" not in err
    assert code in (0, 1, 2)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def test_cli_subprocess_mutants(tmp_path):
    """A handful of mutants through the real executable: exit 2, exactly one stderr line, no
    traceback, no output file, no temporary file."""
    rng = random.Random(20240607)
    bad = []
    while len(bad) < 3:
        seed = rng.choice(SEEDS)
        data = mutate(seed.data, rng, SEEDS)
        if seed.name != "manifest.yaml" and outcome(parse_text(data, seed.fmt)) == "error":
            bad.append((seed.fmt, data))
    for i, (fmt, data) in enumerate(bad):
        src = tmp_path / f"m{i}.{fmt}"
        src.write_bytes(data)
        line = assert_compile_refused(src, tmp_path / f"m{i}.npz")
        assert str(src) in line
    assert sorted(p.suffix for p in tmp_path.iterdir()) == sorted(f".{f}" for f, _ in bad)


def test_shapes_of_seeds_are_sane():
    """Sanity of the generators themselves (a broken mutator would fuzz nothing)."""
    rng = random.Random(1)
    seed = SEEDS[0]
    mutants = [mutate(seed.data, rng, SEEDS) for _ in range(50)]
    assert len(set(mutants)) > 40
    assert sum(m == seed.data for m in mutants) < 5
    assert len(huge_name(rng)) >= 1_000
    assert np.all([len(pathological(rng, f)) > 0 for f in FORMATS for _ in range(5)])
