"""The hardest sparsity level: verify reports the sample error rate at the worst k beside the
rate over all samples, and --max-sample-error-rate (and a manifest's max_sample_error_rate)
bounds the worst k's rate, which pooling the easy levels (k = 0, 1: usually exact) hides."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from circuit2mlp.corpus import check_folder
from circuit2mlp.verify import LevelStats, VerifyReport


def level(k: int, samples: int, wrong: int) -> LevelStats:
    return LevelStats(
        k=k, samples=samples, sample_errors=wrong, bit_errors=wrong, output_bits=samples
    )


def report(per_k: list[LevelStats], max_sample_error_rate: float) -> VerifyReport:
    overall = LevelStats(k=None)
    for stats in per_k:
        overall.merge(stats)
    return VerifyReport(
        circuit="c",
        method="superposed",
        sparsity=len(per_k) - 1,
        seed=0,
        per_k=per_k,
        overall=overall,
        neurons=1,
        gates=1,
        layers=1,
        exact_neurons=None,
        max_error_rate=1.0,
        max_sample_error_rate=max_sample_error_rate,
    )


def test_average_passes_worst_k_fails():
    # 20 wrong of 5,001 samples overall (0.40 %), all of them 3-hot: 1 % of the k = 3 samples
    per_k = [level(0, 1, 0), level(1, 1000, 0), level(2, 2000, 0), level(3, 2000, 20)]
    r = report(per_k, max_sample_error_rate=0.005)
    assert r.overall.sample_error_rate == pytest.approx(20 / 5001)
    assert r.overall.sample_error_rate <= 0.005  # the average alone would pass
    assert r.worst_k.k == 3 and r.worst_k.sample_error_rate == pytest.approx(0.01)
    assert not r.passed
    assert report(per_k, max_sample_error_rate=0.01).passed
    data = r.to_dict()
    assert data["worst_k"] == 3 and data["worst_k_sample_error_rate"] == pytest.approx(0.01)
    assert data["worst_k_samples"] == 2000 and data["worst_k_sample_errors"] == 20
    assert data["overall"]["sample_error_rate"] == pytest.approx(20 / 5001)  # kept
    assert data["passed"] is False


def test_worst_k_is_the_highest_rate_not_the_highest_k():
    per_k = [level(0, 1, 0), level(1, 10, 5), level(2, 100, 10)]
    r = report(per_k, max_sample_error_rate=0.4)
    assert r.worst_k.k == 1 and r.worst_k.sample_error_rate == 0.5 and not r.passed
    clean = report([level(0, 1, 0), level(1, 10, 0), level(2, 100, 0)], 0.0)
    assert clean.worst_k.k == 2 and clean.passed  # a tie: the largest k


def cli(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "circuit2mlp.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def narrow_uand(tmp_path_factory, request):
    """uand60 (1,770 ANDs) on 384 superposed neurons at s = 3: exact up to k = 2, many 3-hot
    samples wrong."""
    from conftest import CORPUS

    out = tmp_path_factory.mktemp("worst_k") / "u60.npz"
    result = cli("compile", CORPUS / "generated/uand60.yaml", "--width", 384, "-s", 3, "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def test_cli_reports_and_gates_on_the_worst_k(narrow_uand):
    result = cli("verify", narrow_uand, "--samples", 300, "--max-error-rate", 1, "--json")
    data = json.loads(result.stdout)
    rates = [s["sample_error_rate"] for s in data["per_k"]]
    pooled = data["overall"]["sample_error_rate"]
    worst = data["worst_k_sample_error_rate"]
    assert data["worst_k"] == rates.index(max(rates)) and worst == max(rates)
    assert pooled < worst, "the case needs an average below the worst level"
    middle = (pooled + worst) / 2
    common = ("verify", narrow_uand, "--samples", 300, "--max-error-rate", 1)
    failing = cli(*common, "--max-sample-error-rate", middle)
    assert failing.returncode == 1, failing.stderr
    assert f"worst k = {data['worst_k']}" in failing.stdout and "FAIL" in failing.stdout
    assert cli(*common, "--max-sample-error-rate", worst, "-q").returncode == 0


def test_help_documents_the_worst_k():
    text = " ".join(cli("verify", "--help").stdout.split())
    assert "--max-sample-error-rate" in text and "worst sparsity level" in text


def test_corpus_check_uses_the_worst_k(tmp_path, corpus):
    (tmp_path / "u.yaml").write_text((corpus / "generated/uand60.yaml").read_text())
    settings = "methods: [superposed], width: 384, sparsity: 3, samples: 300, max_error_rate: 1"
    (tmp_path / "manifest.yaml").write_text(f"circuits:\n  u.yaml: {{{settings}}}\n")
    (row,) = check_folder(tmp_path)
    assert row["sample_error_rate"] < row["worst_k_sample_error_rate"]
    middle = (row["sample_error_rate"] + row["worst_k_sample_error_rate"]) / 2
    (tmp_path / "manifest.yaml").write_text(
        f"circuits:\n  u.yaml: {{{settings}, max_sample_error_rate: {middle}}}\n"
    )
    (row,) = check_folder(tmp_path)
    assert row["passed"] is False and row["worst_k"] == 3


def test_sweep_rows_carry_the_worst_k(tmp_path, corpus):
    table = tmp_path / "t.json"
    result = cli(
        "sweep", corpus / "generated/uand60.yaml", "--methods", "superposed", "--widths", 384,
        "--seeds", 0, "--sparsity", 3, "--samples", 300, "-j", 1, "-q", "-o", table,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(table.read_text())
    assert row["worst_k"] == 3
    assert row["worst_k_sample_error_rate"] > row["sample_error_rate"] > 0
