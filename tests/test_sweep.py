"""Sweeps: one row per combination in a fixed order, the same table from local processes and
from a Dask cluster (timings aside), failures kept as rows."""

import csv
import json
import subprocess
import sys

import pytest

from circuit2mlp.compiler import CompileConfig
from circuit2mlp.formats import write_yaml
from circuit2mlp.generate import random_circuit, uand_text
from circuit2mlp.sweep import (
    COLUMNS,
    TIMING_COLUMNS,
    Job,
    compile_config,
    plan,
    run_job,
    run_sweep,
    table_text,
    without_timings,
)

CLI = [sys.executable, "-m", "circuit2mlp.cli"]
SWEEP = {"methods": ["exact"], "widths": [None], "seeds": [0, 1], "sparsities": [1, 2]}


@pytest.fixture
def circuits(tmp_path, corpus):
    uand = tmp_path / "uand6.bench"
    uand.write_text(uand_text(6, "bench"))
    small = tmp_path / "random.yaml"
    small.write_text(write_yaml(random_circuit(12, 10, 3, 2, seed=4, name="random")))
    return [str(corpus / "handwritten/full_adder.yaml"), str(uand), str(small)]


def test_plan_order_is_the_row_order():
    jobs = plan(["a", "b"], ["exact"], [None, 5], [0, 1], [2], 100)
    assert len(jobs) == 8
    assert jobs[0] == Job("a", "exact", None, 0, 2, 100)
    assert [(j.circuit, j.width, j.seed) for j in jobs[:4]] == [
        ("a", None, 0),
        ("a", None, 1),
        ("a", 5, 0),
        ("a", 5, 1),
    ]


def test_compile_config_sets_only_known_fields():
    config = compile_config(Job("c", "exact", 123, 4, 2, 10))
    assert (config.method, config.seed, config.sparsity) == ("exact", 4, 2)
    assert getattr(config, "width", 123) == 123  # set where CompileConfig has a width
    assert compile_config(Job("c", "exact", None, 0, 3, 10)) == CompileConfig(
        method="exact", seed=0, sparsity=3
    )


def test_local_and_dask_give_the_same_table(circuits):
    distributed = pytest.importorskip("dask.distributed")
    local = run_sweep(circuits, samples=50, workers=2, **SWEEP)
    assert len(local) == 3 * 2 * 2
    assert [(r["circuit"], r["seed"], r["sparsity"]) for r in local] == [
        (c, seed, s) for c in circuits for seed in (0, 1) for s in (1, 2)
    ]
    assert all(r["error"] == "" for r in local), [r["error"] for r in local]
    # the exact method is exact: no error, and its neurons are the yardstick itself
    assert all(r["bit_error_rate"] == 0 and r["neurons"] == r["exact_neurons"] for r in local)
    assert all(r["compile_seconds"] > 0 and r["verify_seconds"] > 0 for r in local)
    uand = [r for r in local if r["circuit"].endswith("uand6.bench")]
    assert {r["gates"] for r in uand} == {15}
    assert {r["samples"] for r in uand if r["sparsity"] == 2} == {1 + 6 + 15}  # all 2-sparse

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
    ):
        remote = run_sweep(circuits, samples=50, scheduler=cluster.scheduler_address, **SWEEP)
    assert without_timings(remote) == without_timings(local)
    assert table_text(without_timings(remote), "json") == table_text(without_timings(local), "json")


def test_failed_job_becomes_a_row(circuits):
    row = run_job_for(circuits[0], Job(circuits[0], "exact", None, 0, 100, 10))
    assert "sparsity 100 out of range" in row["error"]
    assert row["neurons"] is None and row["bit_error_rate"] is None
    assert list(row) == list(COLUMNS)


def run_job_for(path, job):
    from circuit2mlp.sweep import CircuitSource

    return run_job(CircuitSource.from_path(path), job)


def test_cli_writes_csv_and_json(tmp_path, circuits):
    out = tmp_path / "table.csv"
    args = ["sweep", circuits[0], circuits[1], "--methods", "exact", "--seeds", "0,1"]
    result = subprocess.run(
        [*CLI, *args, "--sparsity", "2", "-n", "20", "-j", "1", "-o", out],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and list(rows[0]) == list(COLUMNS)
    assert [r["seed"] for r in rows] == ["0", "1", "0", "1"]
    assert all(r["width"] == "" and r["error"] == "" for r in rows)
    assert all(float(r["bit_error_rate"]) == 0.0 for r in rows)

    out = tmp_path / "table.json"
    args = ["sweep", circuits[0], "--methods", "exact", "--sparsity", "1,200", "-j", "1"]
    result = subprocess.run([*CLI, *args, "-o", out], capture_output=True, text=True)
    assert result.returncode == 1  # the s = 200 job fails, the table is still written
    rows = json.loads(out.read_text())
    assert [r["sparsity"] for r in rows] == [1, 200]
    assert rows[0]["error"] == "" and "out of range" in rows[1]["error"]
    assert set(TIMING_COLUMNS) <= set(rows[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "nope"], "unknown method 'nope'"),
        (["--widths", "10,x"], "'x' is not an integer"),
        (["--seeds", "-1"], "out of range"),
        (["-o", "table.txt"], ".json or .csv"),
    ],
)
def test_cli_bad_options_are_one_line(tmp_path, corpus, args, message):
    full_adder = corpus / "handwritten/full_adder.yaml"
    base = ["sweep", str(full_adder), "-o", str(tmp_path / "t.json")]
    result = subprocess.run([*CLI, *base, *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
