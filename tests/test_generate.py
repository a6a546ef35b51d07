"""Generators: U-AND is exactly the pairwise ANDs; random circuits have the promised shape,
are reproducible by seed, and keep their activity small and steady over depth."""

import subprocess
import sys
from math import comb

import numpy as np
import pytest

from circuit2mlp.formats import load_circuit, parse_circuit
from circuit2mlp.generate import (
    activity_profile,
    gate_levels,
    layer_activity,
    random_circuit,
    random_layers,
    uand_circuit,
    uand_text,
)
from circuit2mlp.ir import Circuit
from circuit2mlp.simulate import simulate, sparse_inputs

CLI = [sys.executable, "-m", "circuit2mlp.cli"]


def revalidated(circuit: Circuit) -> Circuit:
    """The generators skip validation for speed; rebuilding through the builder checks it."""
    return Circuit.make(
        circuit.name, circuit.inputs, circuit.outputs, circuit.gates, drivers=circuit.drivers
    )


@pytest.mark.parametrize("m", [2, 3, 17, 60])
def test_uand_gate_count_and_names(m):
    circuit = uand_circuit(m)
    assert revalidated(circuit) == circuit
    assert len(circuit.gates) == len(circuit.outputs) == comb(m, 2)
    assert circuit.inputs == tuple(f"x{i}" for i in range(m))
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    assert circuit.outputs == tuple(f"and_{i}_{j}" for i, j in pairs)
    assert all(g.op == "AND" and len(g.fanin) == 2 for g in circuit.gates)


def test_uand_truth_on_random_inputs():
    m = 40
    circuit = uand_circuit(m)
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.integers(0, 2, size=(300, m)), sparse_inputs(m, 2, 300, rng)], axis=0
    ).astype(np.uint8)
    got = simulate(circuit, x)
    i, j = np.triu_indices(m, k=1)
    want = (x[:, i] & x[:, j]).astype(bool)
    assert np.array_equal(got, want)
    # on a 2-hot input exactly one output is 1: the AND of the two active inputs
    two_hot = got[300:]
    assert (two_hot.sum(axis=1) == 1).all()


@pytest.mark.parametrize("fmt", ["yaml", "bench", "blif"])
def test_uand_text_parses_to_the_circuit(fmt):
    m = 23
    parsed = parse_circuit(uand_text(m, fmt), fmt, path=f"uand{m}.{fmt}")
    circuit = uand_circuit(m)
    assert parsed.inputs == circuit.inputs and parsed.outputs == circuit.outputs
    if fmt == "blif":  # BLIF has no AND: each gate is the one-cube cover 11
        assert all(g.op == "SOP" and g.cover.cubes == ("11",) for g in parsed.gates)
        assert [g.fanin for g in parsed.gates] == [g.fanin for g in circuit.gates]
    else:
        assert parsed == circuit


def test_uand_text_at_a_million_gates():
    text = uand_text(1415, "yaml")
    gate_lines = text.count(": [and, x")
    assert gate_lines == comb(1415, 2) == 1_000_405
    assert text.splitlines()[-1] == "  and_1413_1414: [and, x1413, x1414]"


@pytest.mark.parametrize("fan_in", [2, 3])
@pytest.mark.parametrize("negations", [True, False])
def test_random_shape(fan_in, negations):
    m, width, depth = 70, 60, 5
    circuit = random_circuit(m, width, depth, fan_in, seed=3, negations=negations)
    assert revalidated(circuit) == circuit
    levels = gate_levels(circuit)
    assert [len(level) for level in levels] == [width] * depth
    assert levels[0] == [f"g0_{j}" for j in range(width)]
    level_of = {s: 0 for s in circuit.inputs}
    level_of.update({g: i + 1 for i, level in enumerate(levels) for g in level})
    read = set()
    for gate in circuit.gates:
        assert len(gate.fanin) == len(set(gate.fanin)) == fan_in
        assert {level_of[s] for s in gate.fanin} == {level_of[gate.name] - 1}
        read.update(gate.fanin)
        if not negations:
            assert gate.op in ("AND", "OR", "XOR", "MAJ")
    assert circuit.outputs == tuple(levels[-1])
    # every wire is read by a later gate or is an output
    assert set(circuit.signals) - read == set(circuit.outputs)
    # no dense gate: the all-zero input leaves every gate 0
    zero = simulate(
        Circuit.make("all", circuit.inputs, circuit.signals[m:], circuit.gates),
        np.zeros((1, m), dtype=np.uint8),
    )
    assert not zero.any()


@pytest.mark.parametrize(
    ("m", "width", "fan_in"), [(15, 6, 4), (8, 3, 3), (4, 4, 4), (2, 2, 2), (14, 4, 4)]
)
@pytest.mark.parametrize("negations", [True, False])
def test_random_tiny_layers_still_valid(m, width, fan_in, negations):
    """Layers barely wider than the fan-in: distinct inputs and every wire read, for every
    seed (the case where swapping duplicates away alone can get stuck)."""
    for seed in range(5):
        circuit = random_circuit(m, width, 3, fan_in, seed, negations=negations)
        assert revalidated(circuit) == circuit
        assert all(len(set(g.fanin)) == fan_in for g in circuit.gates)
        read = {s for g in circuit.gates for s in g.fanin}
        assert set(circuit.signals) - read == set(circuit.outputs)


def test_random_is_deterministic_by_seed():
    a = random_circuit(50, 40, 4, 2, seed=7)
    assert a == random_circuit(50, 40, 4, 2, seed=7)
    assert a != random_circuit(50, 40, 4, 2, seed=8)


def test_random_taps_add_intermediate_outputs():
    circuit = random_circuit(30, 30, 4, 2, seed=0, taps=5)
    assert len(circuit.outputs) == 35
    taps = circuit.outputs[30:]
    assert all(not name.startswith("g3_") for name in taps)
    assert len(set(taps)) == 5


def test_random_rejects_impossible_shapes():
    with pytest.raises(ValueError, match="cannot all be read"):
        random_circuit(100, 10, 2, 2)
    with pytest.raises(ValueError, match="fan-in"):
        random_circuit(10, 10, 2, 1)


@pytest.mark.parametrize(("fan_in", "sparsity"), [(2, 3), (3, 3), (2, 6)])
def test_random_activity_stays_bounded_over_depth(fan_in, sparsity):
    """Under exactly-s-hot inputs the active wires per layer neither die out nor grow: the
    mean stays within 25% of s at every one of 16 layers, and hardly any sample goes dark."""
    circuit = random_circuit(600, 600, 16, fan_in, seed=0)
    profile = activity_profile(circuit, sparsity, samples=1024, seed=0)
    assert len(profile) == 16
    means = np.array([row["mean"] for row in profile])
    assert (means > 0.75 * sparsity).all() and (means < 1.25 * sparsity).all(), means
    assert max(row["all_zero"] for row in profile) < 0.01
    assert max(row["max"] for row in profile) <= 4 * sparsity


def test_cli_generate_writes_parseable_files(tmp_path):
    out = tmp_path / "u.blif"
    result = subprocess.run(
        [*CLI, "generate", "uand", "--inputs", "12", "-o", out], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert len(load_circuit(out).gates) == comb(12, 2)
    out = tmp_path / "r.yaml"
    args = ["generate", "random", "-m", "40", "-G", "30", "-L", "3", "--seed", "2", "-o", out]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "active wires per layer" in result.stderr
    assert load_circuit(out) == random_circuit(40, 30, 3, 2, seed=2, name="r")
    bad = ["generate", "random", "-m", "100", "-G", "10", "-L", "2", "-o", tmp_path / "x.yaml"]
    result = subprocess.run([*CLI, *bad], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot all be read" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


# ----------------------------------------------------------------------------- any gate mix


def _stored_activity_by_reference(circuit: Circuit, supports: np.ndarray, width: int) -> list:
    """Per level (gates in order, ``width`` each): mean and max active wires in stored
    polarity, by the per-sample reference evaluator ``Circuit.evaluate`` on every signal."""
    m = len(circuit.inputs)
    probe = Circuit.make("probe", circuit.inputs, [g.name for g in circuit.gates], circuit.gates)
    values = []
    for row in supports.tolist():
        x = [0] * m
        for i in row:
            x[i] = 1
        values.append(probe.evaluate(x))
    values = np.array(values, dtype=np.int64).T  # (gates, samples)
    out = []
    for start in range(0, values.shape[0], width):
        level = values[start : start + width]
        negated = level.sum(axis=1) * 2 > level.shape[1]
        stored = np.where(negated[:, None], 1 - level, level)
        per_sample = stored.sum(axis=0)
        out.append((float(per_sample.mean()), int(per_sample.max()), int(negated.sum())))
    return out


@pytest.mark.parametrize(
    ("mix", "family", "fan_in"),
    [("all", "uniform", (2, 3)), ("symmetric", "local", (3,)), (None, "uniform", 2)],
)
def test_reported_activity_matches_a_reference_simulation(mix, family, fan_in):
    layers = random_layers(40, 30, 6, fan_in, seed=5, mix=mix, family=family, block=8)
    rng = np.random.default_rng(11)
    supports = np.array([rng.choice(40, size=3, replace=False) for _ in range(150)])
    got = layer_activity(layers, 3, supports=supports)
    want = _stored_activity_by_reference(layers.circuit(), supports, 30)
    assert [(r["mean"], r["max"], r["stored_negated"]) for r in got] == want
    assert [r["gates"] for r in got] == [30] * 6


_OP_OF = {
    "and": "AND",
    "or": "OR",
    "xor": "XOR",
    "nand": "NAND",
    "nor": "NOR",
    "xnor": "XNOR",
    "maj": "MAJ",
}


def _label(gate) -> str:
    if gate.op != "SOP":
        return gate.op.lower()
    (cube,) = gate.cover.cubes
    k = len(cube)
    if gate.cover.onset and cube == "1" * (k - 1) + "0":
        return "and_not"
    if not gate.cover.onset and cube == "0" * (k - 1) + "1":
        return "or_not"
    raise AssertionError(f"unexpected cover {gate.cover}")


@pytest.mark.parametrize("family", ["uniform", "local"])
def test_gate_kinds_and_fan_ins_appear_as_asked(family):
    weights = {"and": 2, "nand": 1, "maj": 1, "xnor": 1, "or_not": 1, "nor": 1}
    width, depth = 700, 4
    layers = random_layers(300, width, depth, (2, 3), seed=1, mix=weights, family=family)
    circuit = layers.circuit()
    assert revalidated(circuit) == circuit
    levels = gate_levels(circuit)
    assert [len(level) for level in levels] == [width] * depth
    gate_map = circuit.gate_map
    total = sum(weights.values())
    for level in levels:
        gates = [gate_map[name] for name in level]
        labels = [_label(g) for g in gates]
        for label, w in weights.items():  # largest remainders: within one of the share
            assert abs(labels.count(label) - w / total * width) < 1, label
        for g, label in zip(gates, labels, strict=True):
            assert len(set(g.fanin)) == len(g.fanin)
            if label == "maj":
                assert len(g.fanin) == 3
            else:
                assert len(g.fanin) in (2, 3)
            if label in _OP_OF:
                assert g.op == _OP_OF[label]
        for label in weights:
            if label != "maj":
                ks = {len(g.fanin) for g, lb in zip(gates, labels, strict=True) if lb == label}
                assert ks == {2, 3}, label
    counts = layers.kind_counts()
    assert sum(counts.values()) == width * depth
    assert set(counts) == {f"{lb}/{k}" for lb in weights for k in ((3,) if lb == "maj" else (2, 3))}


@pytest.mark.parametrize(
    ("mix", "family", "fan_in"),
    [
        ("all", "uniform", (2, 3)),
        ("all", "local", (2, 3)),
        ("symmetric", "uniform", (2, 3)),
        ("negated", "local", (2,)),
        ("and=1,or=1,xor=1,nand=1,nor=1,xnor=1", "uniform", (2,)),
        (None, "local", None),
    ],
)
@pytest.mark.parametrize("sparsity", [2, 3])
def test_activity_in_stored_polarity_stays_bounded_over_16_levels(mix, family, fan_in, sparsity):
    """Every wire, in stored polarity, switches on one gate of the next level on average:
    the mean stays near s after the first layer and no sample ever has more than 4 s
    active wires in any of 16 levels (NAND/NOR/XNOR included)."""
    layers = random_layers(1000, 1000, 16, fan_in, seed=0, mix=mix, family=family)
    profile = layer_activity(layers, sparsity, samples=1024, seed=1)
    means = np.array([row["mean"] for row in profile])
    assert max(row["max"] for row in profile) <= 4 * sparsity, profile
    assert (means[1:] < 2 * sparsity).all() and (means[1:] > 0.5 * sparsity).all(), means
    # steady: the last level within 25% of the second
    assert abs(means[-1] - means[1]) <= 0.25 * means[1], means
    assert max(row["all_zero"] for row in profile) < 0.05


def test_classic_mix_is_unchanged_draw_for_draw():
    """The default generator gives the same circuits as before the gate mixes came."""
    import hashlib

    from circuit2mlp.formats import write_circuit

    digests = {
        (50, 40, 4, 2, 7, True, 0): "3784f518d5f4a842",
        (60, 50, 3, 3, 1, False, 5): "faa19e8286ce6307",
        (30, 30, 3, 4, 2, True, 0): "e2785bc1e885abba",
    }
    for (m, w, d, k, seed, neg, taps), digest in digests.items():
        text = write_circuit(random_circuit(m, w, d, k, seed, negations=neg, taps=taps), "yaml")
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fan_in": 2, "taps": 7},
        {"fan_in": 12},
        {"fan_in": (2, 3), "mix": "all", "taps": 4},
        {"fan_in": (2, 3, 4), "mix": "symmetric", "family": "local"},
        {"fan_in": 2, "mix": "and=1,or=1,xor=1,nand=1,nor=1,xnor=1"},
    ],
)
@pytest.mark.parametrize("fmt", ["yaml", "blif", "bench"])
def test_streamed_text_is_what_the_writers_give(kwargs, fmt):
    import io

    from circuit2mlp.errors import CircuitError
    from circuit2mlp.formats import write_circuit

    layers = random_layers(90, 80, 3, seed=4, **kwargs)
    circuit = layers.circuit()
    try:
        want = write_circuit(circuit, fmt)
    except CircuitError:
        want = None
    buffer = io.BytesIO()
    if want is None:
        with pytest.raises(ValueError):
            layers.write(fmt, buffer)
        assert buffer.getvalue() == b""
        return
    layers.write(fmt, buffer)
    assert buffer.getvalue().decode() == want
    assert parse_circuit(want, fmt, f"c.{fmt}").outputs == circuit.outputs


def test_mix_and_fan_in_errors():
    with pytest.raises(ValueError, match="unknown gate kind 'andd'"):
        random_layers(20, 20, 2, 2, mix="andd=1")
    with pytest.raises(ValueError, match="odd fan-in"):
        random_layers(20, 20, 2, 2, mix="maj=1,and=1")
    with pytest.raises(ValueError, match="unknown mix"):
        random_layers(20, 20, 2, 2, mix="fancy")
    with pytest.raises(ValueError, match="positive weight"):
        random_layers(20, 20, 2, 2, mix="and=0")
    with pytest.raises(ValueError, match="classic mix takes one fan-in"):
        random_layers(20, 20, 2, (2, 3))


def _run(*args):
    return subprocess.run([*CLI, "generate", "random", *map(str, args)], capture_output=True)


def test_cli_mix_report_json_quiet_and_bytes(tmp_path):
    common = ["-m", 120, "-G", 100, "-L", 5, "--mix", "all", "-k", "2,3", "--seed", 3]
    for sub in "abc":
        (tmp_path / sub).mkdir()
    a, b, c = (tmp_path / sub / "r.blif" for sub in "abc")  # the name comes from the file
    first = _run(*common, "-o", a)
    assert first.returncode == 0, first.stderr
    err = first.stderr.decode()
    assert "stored polarity" in err and "maj/3" in err
    assert len([ln for ln in err.splitlines() if ln.split()[:1] and ln.split()[0].isdigit()]) == 5
    quiet = _run(*common, "-o", b, "-q")
    assert quiet.returncode == 0 and quiet.stderr == b""
    assert a.read_bytes() == b.read_bytes()  # same options and seed: same bytes
    assert _run(*common[:-1], 4, "-o", c, "-q").returncode == 0
    assert c.read_bytes() != a.read_bytes()
    js = _run(*common, "-o", c, "--json", "-q")
    assert js.returncode == 0 and js.stderr == b""
    import json

    report = json.loads(js.stdout)
    assert report["polarity"] == "stored" and len(report["levels"]) == 5
    assert sum(report["kinds"].values()) == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mix", "and=1,maj=1"], "odd fan-in"),
        (["--mix", "all", "-k", "2,3", "--format", "bench"], "cannot write .bench"),
        (["-k", "x"], "--fan-in 'x'"),
        (["--mix", "or=-1"], "finite number >= 0"),
    ],
)
def test_cli_bad_mix_is_one_line_and_no_file(tmp_path, args, message):
    out = tmp_path / "x.out"
    result = _run("-m", 30, "-G", 30, "-L", 2, "-o", out, "--format", "yaml", *args)
    assert result.returncode == 2, result.stderr
    err = result.stderr.decode()
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("mix", ["all", "negated", "and=1,xnor=1"])
@pytest.mark.parametrize("family", ["uniform", "local"])
@pytest.mark.parametrize(("m", "width", "fan_in"), [(3, 3, (2, 3)), (9, 3, (3,)), (4, 4, (3, 4))])
def test_mixes_on_tiny_layers_still_valid(mix, family, m, width, fan_in):
    """Levels barely wider than the fan-in, where a polarity pool may hold one wire."""
    for seed in range(4):
        layers = random_layers(m, width, 4, fan_in, seed, mix=mix, family=family, block=2)
        circuit = layers.circuit()
        assert revalidated(circuit) == circuit
        assert all(len(set(g.fanin)) == len(g.fanin) for g in circuit.gates)


def test_local_family_reads_near_the_gate():
    """Local wiring: most slots read a wire within a few blocks of the gate's position
    (uniform wiring: anywhere)."""
    spans = {}
    for family in ("uniform", "local"):
        layers = random_layers(2000, 2000, 3, None, seed=0, family=family, block=64)
        level = layers.levels[1]
        distance = np.abs(level.fanin - np.arange(level.width)[:, None])[level.fanin >= 0]
        spans[family] = np.percentile(distance, 90)
    assert spans["local"] <= 4 * 64 < spans["uniform"]
