"""Construction plans: planners decide, one emitter builds, the report counts from the plan.

Oracles: the circuit simulator and the verifier (which share no code with codegen), the
stored weight digests (tests/test_weight_digests.py) for the built-in planners, and a plan
re-emitted from scratch for the emitter's determinism.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.emit import emit
from circuit2mlp.codegen.plan import CARRY, CLEAN, DEDICATED, LevelPlan, Plan, how_of
from circuit2mlp.codegen.plan_dump import plan_document
from circuit2mlp.codegen.planners import methods, register, unregister
from circuit2mlp.codegen.planners.paper import PAPER_READOFF
from circuit2mlp.codegen.terms import gadget_terms
from circuit2mlp.compiler import METHODS, CompileConfig, compile_circuit, lower
from circuit2mlp.formats import load_circuit
from circuit2mlp.generate import random_circuit, uand_circuit
from circuit2mlp.simulate import all_inputs, simulate
from circuit2mlp.verify import verify

REPO = Path(__file__).resolve().parents[1]
TOY = "toy-clean-negated"


def clean_negated_planner(layered, config, progress) -> Plan:
    """A toy construction: every gate on a clean gadget, and every wire below the outputs
    stored negated (inputs included), so the emitter must turn every polarity around."""
    activity = []
    for i in range(layered.depth + 1):
        names = layered.level_signals(i)
        flip = np.full(len(names), i < layered.depth)
        activity.append(LevelActivity(names, flip, np.zeros(len(names)), 0.0, 0))
    levels = []
    for i, gates in enumerate(layered.layers):
        terms = gadget_terms(gates, activity[i].names)
        clean = np.ones(len(gates), dtype=bool)
        how = how_of(terms, np.zeros(len(gates), dtype=bool), clean)
        names = tuple(g.name for g in gates)
        levels.append(LevelPlan("compute", i, names, how, terms, clean=clean))
    return Plan(TOY, tuple(activity), tuple(levels), seed=config.seed)


@pytest.fixture
def toy_method():
    register(TOY, clean_negated_planner, "every gate a clean gadget, wires stored negated")
    yield TOY
    unregister(TOY)


@pytest.mark.parametrize(
    "source", ["handwritten/full_adder.yaml", "handwritten/ripple_adder4.yaml", "random"]
)
def test_a_toy_planner_registers_compiles_and_verifies(toy_method, source):
    circuit = (
        random_circuit(inputs=24, width=16, depth=3, seed=2)
        if source == "random"
        else load_circuit(REPO / "circuits" / source)
    )
    assert toy_method in methods()
    network, report = compile_circuit(circuit, CompileConfig(method=toy_method))
    checked = verify(circuit, network, samples=2000, sparsity=3)
    assert checked.passed and checked.overall.bit_error_rate == 0.0
    x = all_inputs(len(circuit.inputs)) if len(circuit.inputs) <= 12 else None
    if x is not None:  # every input, not only sparse ones: clean gadgets are exact
        assert np.array_equal(network.forward(x) > 0.5, simulate(circuit, x))
    assert report.emitted["clean_gates"] == sum(r["gates"] for r in report.layers) > 0
    assert report.emitted["shared_gates"] == report.emitted["dedicated_gates"] == 0
    # the stored polarity is the plan's: every level below the outputs reads 1 - wire inside
    assert network.meta["method"] == toy_method


def test_the_toy_planner_is_gone_after_unregister():
    assert TOY not in methods()
    assert methods()[: len(METHODS)] == METHODS
    with pytest.raises(Exception, match="unknown method"):
        CompileConfig(method=TOY).check()


def _circuits():
    return {
        "random64": random_circuit(inputs=64, width=48, depth=3, seed=1),
        "and200": random_circuit(inputs=200, width=200, depth=3, seed=1, mix={"and": 1.0}),
        "uand20": uand_circuit(20),
    }


CASES = [
    ("random64", CompileConfig(width=96, clean_threshold=0.3)),
    ("random64", CompileConfig(width=96, input_dim=40, seed=2)),
    ("random64", CompileConfig(method="paper", width=96, input_dim=40)),
    ("and200", CompileConfig(seed=5, clean_threshold=0.5)),
    ("uand20", CompileConfig(method="exact")),
    ("uand20", CompileConfig(method="dense", width=64)),
    ("uand20", CompileConfig(method="deep", width=64)),
]


@pytest.fixture(scope="module")
def compiled():
    circuits = _circuits()
    out = []
    for name, config in CASES:
        plans: list[Plan] = []
        network, report = compile_circuit(circuits[name], config, plan_out=plans)
        out.append((circuits[name], config, network, report, plans[0]))
    return out


def test_report_counts_are_the_plans(compiled):
    for _, config, network, report, plan in compiled:
        assert report.emitted == plan.counts(), config
        assert len(report.layers) == len(plan.levels)
        for row, level in zip(report.layers, plan.levels, strict=True):
            for key, value in level.counts().items():
                assert row[key] == value, (config, key)
            assert row["neurons"] == level.neurons
        assert network.neurons == sum(level.neurons for level in plan.levels)


def test_a_plan_re_emitted_from_scratch_gives_the_same_blocks(compiled):
    """Levels the superposed planner emitted while calibrating carry their block; emitting
    the same plan without them (and without the planner's embedding) builds equal ones."""
    for circuit, config, _, _, plan in compiled:
        layered = lower(circuit, config)
        kept = emit(plan, layered)
        bare = dataclasses.replace(
            plan,
            inputs=None,
            levels=tuple(
                dataclasses.replace(level, block=None) if level.kind != "prebuilt" else level
                for level in plan.levels
            ),
        )
        again = emit(bare, layered)
        assert again[3] == kept[3]
        assert _dense(again[1]).tobytes() == _dense(kept[1]).tobytes()
        for a, b in zip(again[2], kept[2], strict=True):
            for x, y in ((a.weight, b.weight), (a.features.readout, b.features.readout)):
                assert (x != y).nnz == 0 and x.dtype == y.dtype
            assert a.bias.tobytes() == b.bias.tobytes()
            assert a.features.bias.tobytes() == b.features.bias.tobytes()


def _dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def test_paper_plans_the_published_construction_only(compiled):
    """No decode layer (even with inputs in superposition), no gadgets chosen for cost, no
    clean gadgets, no calibration or fall-back: the published read-off on every level."""
    papers = [(c, p) for _, c, _, _, p in compiled if c.method == "paper"]
    assert papers
    for config, plan in papers:
        assert config.input_dim is not None and config.input_dim < 64
        assert [level.kind for level in plan.levels] == ["compute"] * 3
        for level in plan.levels:
            assert level.readoff == PAPER_READOFF
            assert level.clean is None and not (level.how == CLEAN).any()
            assert not (level.how == DEDICATED).any()  # random64 has no fan-in above 4
            assert set(level.notes) == {"kind"}
            assert all(g.strategy != "dedicated" for g in level.groups)


def test_dump_plan_json_lists_every_gate_and_its_neurons(compiled):
    for *_, plan in compiled:
        doc = json.loads(json.dumps(plan_document(plan)))
        assert doc["neurons"] == sum(level.neurons for level in plan.levels)
        for level, entry in zip(plan.levels, doc["levels"], strict=True):
            assert len(entry["gates"]) == len(level.gates)
            assert entry["counts"] == level.counts()
            if entry["kind"] != "compute":
                continue
            ranges = [g["neurons"] for g in entry["gates"] if "neurons" in g]
            ends = [g["first_neuron"] + g["neurons"] for g in entry["groups"]]
            # gadgets tile the neurons after the groups, gate after gate
            start = max(ends, default=0)
            for lo, hi in ranges:
                assert lo == start and hi > lo
                start = hi
            assert start == level.neurons
            carried = sum(1 for g in entry["gates"] if g["how"] == "carry")
            assert carried == int((level.how == CARRY).sum())


def test_no_dispatch_on_method_names_outside_the_registry():
    """The shared pipeline looks a method up in the planner registry and nowhere else."""
    files = [*(REPO / "circuit2mlp/codegen").rglob("*.py"), REPO / "circuit2mlp/compiler.py"]
    hits = [
        f"{f.name}:{n}"
        for f in files
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if re.search(r"method\s*==", line)
    ]
    assert hits == []


def test_compile_dump_plan_writes_the_plan_of_the_weights_written(tmp_path):
    from click.testing import CliRunner

    from circuit2mlp.cli import cli

    out, plan_file = tmp_path / "w.npz", tmp_path / "plan.json"
    source = REPO / "circuits/real/lgsynth93/cm82a.blif"
    args = ["compile", str(source), "-o", str(out), "--width", "24", "--json"]
    result = CliRunner().invoke(cli, [*args, "--dump-plan", str(plan_file)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    doc = json.loads(plan_file.read_text())
    assert doc["format"] == "circuit2mlp-plan/1" and doc["method"] == "superposed"
    assert doc["neurons"] == report["neurons"]
    for key in report["emitted"]:
        assert sum(level["counts"][key] for level in doc["levels"]) == report["emitted"][key]
    stop = ["compile", str(source), "--width", "24", "--stop-after", "plan"]
    stopped = CliRunner().invoke(cli, stop)
    assert stopped.exit_code == 0 and json.loads(stopped.output) == doc
