"""Resource limits: size parsing, the machine's memory, the circuit size model and the
refusals with their messages (circuit2mlp.limits)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import circuits

from circuit2mlp.errors import UserError
from circuit2mlp.formats import load_circuit
from circuit2mlp.ir import Circuit, Gate
from circuit2mlp.limits import (
    DEFAULT_MAX_GATES,
    MEMORY_FRACTION,
    SIZE,
    circuit_size,
    default_max_memory,
    enforce_limits,
    estimate_circuit_memory,
    estimate_compile_memory,
    format_size,
    parse_size,
    physical_memory,
    usable_memory,
)
from circuit2mlp.passes.layering import layer
from circuit2mlp.passes.normalize import normalize

REPO = Path(__file__).resolve().parents[1]
G = 2**30

# ------------------------------------------------------------------------ sizes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8G", 8 * G),
        ("500M", 500 * 2**20),
        ("1.5G", 3 * G // 2),
        ("64k", 64 * 1024),
        ("2GiB", 2 * G),
        ("2gb", 2 * G),
        (" 3 T ", 3 * 2**40),
        ("1P", 2**50),
        ("1000000", 1_000_000),
        ("100B", 100),
        (".5M", 2**19),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "-1G", "1e9", "8X", "G", "0", "0.0M", "1.2.3", "nan", "inf", "8 G B"]
)
def test_parse_size_refuses(text):
    with pytest.raises(UserError, match="invalid size") as info:
        parse_size(text)
    assert f"'{text}'" in str(info.value) and "\n" not in str(info.value)


@given(st.integers(min_value=1, max_value=2**55))
def test_format_size_reads_back(n):
    """The suggested limit in messages is a valid --max-memory value, within 5%."""
    back = parse_size(format_size(n))
    assert abs(back - n) <= 0.05 * n + 1


def test_click_size_option():
    """``type=SIZE`` gives click's usual usage error (exit 2) for bad text, None for 'none'."""

    @click.command()
    @click.option("--max-memory", type=SIZE, default="8G")
    def command(max_memory):
        click.echo(repr(max_memory))

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == str(8 * G)
    assert runner.invoke(command, ["--max-memory", "500M"]).output.strip() == str(500 * 2**20)
    assert runner.invoke(command, ["--max-memory", "none"]).output.strip() == "None"
    bad = runner.invoke(command, ["--max-memory", "8Q"])
    assert bad.exit_code == 2 and "invalid size '8Q'" in bad.output


# ----------------------------------------------------------------------- machine


def test_physical_memory_matches_proc_meminfo():
    total = physical_memory()
    assert total is not None and total > 2**27
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = next(int(x.split()[1]) for x in meminfo.read_text().splitlines() if "MemTotal" in x)
        assert total == kb * 1024


def test_default_max_memory_is_80_percent_of_usable():
    usable = usable_memory()
    assert usable is not None and usable <= physical_memory()
    assert default_max_memory() == int(usable * MEMORY_FRACTION)
    assert MEMORY_FRACTION == 0.8 and DEFAULT_MAX_GATES == 20_000_000


# ----------------------------------------------------------------------- refusals


def chain(n: int) -> Circuit:
    gates = [Gate(f"g{i}", "NOT", (f"g{i - 1}" if i else "x",)) for i in range(n)]
    return Circuit.make("chain", ["x"], [f"g{n - 1}"], gates)


def test_max_gates():
    circuit = chain(25)
    enforce_limits(circuit, 25, None)
    enforce_limits(circuit, None, None)
    with pytest.raises(UserError) as info:
        enforce_limits(circuit, 20, None)
    assert str(info.value) == (
        "error: circuit 'chain' has 25 gates, over --max-gates 20; raise it with --max-gates N"
    )


def test_max_gates_message_uses_thousands_separators():
    with pytest.raises(UserError, match="has 1,200 gates, over --max-gates 1,000;"):
        enforce_limits(chain(1200), 1000, None)


def test_max_memory_with_given_estimate():
    circuit = chain(3)
    enforce_limits(circuit, None, 10 * G, estimate=10 * G)
    with pytest.raises(UserError) as info:
        enforce_limits(circuit, None, 8 * G, estimate=25 * G + 1)
    message = str(info.value)
    assert "needs an estimated 25G of memory, over --max-memory 8.0G" in message
    assert "raise it with --max-memory SIZE (e.g. --max-memory 26G)" in message
    assert "\n" not in message


def test_max_memory_uses_the_model():
    circuit = load_circuit(REPO / "circuits/real/iscas85/c432.bench")
    need = estimate_circuit_memory(circuit, 4, "superposed")
    enforce_limits(circuit, None, need, method="superposed")
    with pytest.raises(UserError, match="--max-memory"):
        enforce_limits(circuit, None, need - 1, method="superposed")
    assert estimate_circuit_memory(circuit, 4, "exact") < need  # exact is the cheapest
    assert estimate_circuit_memory(circuit) >= need  # unknown method: the dearest


def test_carry_bomb_is_refused_without_being_built():
    """2,000 inputs all read by the last gate of a 2,000-deep chain: 4 million carries (the
    layer pass would build them all, ~10 GB). The model sees them in a linear pass."""
    n = 2_000
    inputs = [f"x{i}" for i in range(n)]
    gates = [Gate(f"c{i}", "NOT", (f"c{i - 1}" if i else "x0",)) for i in range(n)]
    gates.append(Gate("y", "XOR", (f"c{n - 1}", *inputs)))
    circuit = Circuit.make("bomb", inputs, ["y"], gates)
    start = time.perf_counter()
    size = circuit_size(circuit)
    assert size.carried >= (n - 1) * (n - 1)
    with pytest.raises(UserError, match=r"needs an estimated [\d.]+G of memory"):
        enforce_limits(circuit, DEFAULT_MAX_GATES, 4 * G)
    assert time.perf_counter() - start < 5


def test_wide_majority_costs_its_sorting_network():
    """MAJ of fan-in k becomes a Batcher network of O(k log^2 k) gates: the model bounds the
    real count (a 10^5-input MAJ is ~10^7 gates, not one)."""
    for k in (5, 17, 64, 300):
        inputs = [f"x{i}" for i in range(k)]
        circuit = Circuit.make("maj", inputs, ["y"], [Gate("y", "MAJ", tuple(inputs))])
        real = len(normalize(circuit).gates)
        assert real <= circuit_size(circuit).gates <= 3 * real + 10, k
    assert circuit_size_of_wide_maj(100_000) > 10**7


def circuit_size_of_wide_maj(k: int) -> int:
    inputs = [f"x{i}" for i in range(k)]
    gate = Gate("y", "MAJ", tuple(inputs))
    return circuit_size(Circuit("maj", tuple(inputs), ("y",), ("y",), (gate,))).gates


# -------------------------------------------------------------------- size model


def layered_counts(circuit: Circuit) -> tuple[int, int, int]:
    layered = layer(circuit)
    carries = sum(g.op == "BUF" and "@" in g.name for lay in layered.layers for g in lay)
    gates = sum(len(lay) for lay in layered.layers) - carries
    return gates, carries, layered.depth


@settings(max_examples=60, deadline=None)
@given(circuits(max_inputs=6, max_gates=30, max_fanin=6))
def test_size_model_is_exact_on_normalized_circuits(circuit):
    """On a normalized circuit the counts are the layer pass's own (carries may be counted
    high only for constants, which layering places at the top without carrying them)."""
    normalized = normalize(circuit)
    size = circuit_size(normalized)
    gates, carries, depth = layered_counts(normalized)
    if any(g.op in ("CONST0", "CONST1") for g in normalized.gates):
        assert size.carried >= carries
    else:
        assert (size.gates, size.carried, size.depth) == (gates, carries, depth)


@pytest.mark.parametrize(
    "name", ["iscas85/c432.bench", "iscas85/c1355.bench", "lgsynth93/C432.blif", "epfl/dec.blif"]
)
def test_size_model_bounds_raw_corpus_circuits(name):
    """On raw files (covers, buffers, wide gates) the model stays within 0.9x-3x of what the
    passes really build."""
    circuit = load_circuit(REPO / "circuits/real" / name)
    size = circuit_size(circuit)
    gates, carries, _ = layered_counts(normalize(circuit))
    assert 0.9 * (gates + carries) <= size.units <= 3 * (gates + carries)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_estimate_bounds_a_real_compile(tmp_path):
    """The model is an upper bound of a real compile's peak memory (one corpus circuit, each
    method that is cheap enough to run here)."""
    src = REPO / "circuits/real/iscas85/c432.bench"
    circuit = load_circuit(src)
    # VmHWM, not ru_maxrss: Linux carries the parent's peak RSS into a child's ru_maxrss
    # across fork and exec, so under a big pytest process ru_maxrss measures pytest
    child = (
        "import sys\n"
        "from circuit2mlp.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    assert not exc.code\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) * 1024)\n"
    )
    for method in ("exact", "superposed"):
        out = tmp_path / f"{method}.npz"
        args = ["compile", str(src), "-o", str(out), "-q", "--method", method]
        result = subprocess.run(
            [sys.executable, "-c", child, *args], capture_output=True, text=True, check=True
        )
        peak = int(result.stdout.split()[-1])
        assert peak < estimate_circuit_memory(circuit, 4, method), method


def test_estimate_grows_with_every_term():
    base = estimate_compile_memory(1000, 10, 2, carried=0, edges=2000, method="exact")
    assert estimate_compile_memory(2000, 10, 2, carried=0, edges=2000, method="exact") > base
    assert estimate_compile_memory(1000, 10, 2, carried=500, edges=2000, method="exact") > base
    assert estimate_compile_memory(1000, 20, 2, carried=0, edges=2000, method="exact") > base
    assert estimate_compile_memory(1000, 10, 2, carried=0, edges=4000, method="exact") > base
    assert estimate_compile_memory(1000, 10, 2, edges=2000, method="paper") > base
    # edges default to the most a circuit of that fan-in can have
    assert estimate_compile_memory(1000, 10, 8) == estimate_compile_memory(1000, 10, 8, edges=8000)
