"""The pure helpers of ``benchmarks/deep_scaling.py``: the width search, the fit, the
family options, and the feature-space pass against the compiled network (the oracle)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import deep_scaling as ds

from circuit2mlp.compiler import CompileConfig, compile_circuit, lower
from circuit2mlp.generate import random_circuit, random_layers
from circuit2mlp.simulate import simulate, sparse_inputs


@pytest.mark.parametrize("threshold", [1, 17, 100, 333, 1000, 4096])
@pytest.mark.parametrize("start", [1, 50, 700, 5000])
def test_smallest_passing_brackets_a_monotone_threshold(threshold, start):
    calls = []

    def passes(w):
        calls.append(w)
        return w >= threshold

    found, failed = ds.smallest_passing(passes, start, tolerance=0.05, floor=1, ceiling=10_000)
    assert found is not None and found >= threshold
    assert found - threshold <= max(1, 0.05 * found)
    if failed is not None:
        assert failed < threshold
    assert len(calls) < 40


def test_smallest_passing_reports_nothing_below_the_ceiling():
    found, failed = ds.smallest_passing(lambda w: False, 100, ceiling=1000)
    assert found is None and failed == 1000
    found, failed = ds.smallest_passing(lambda w: True, 100, floor=16)
    assert found == 16 and failed is None


def test_fit_exponent_recovers_a_power_law():
    ms = [1e4, 3e4, 1e5, 3e5]
    assert ds.fit_exponent(ms, [7 * m**0.62 for m in ms]) == pytest.approx(0.62)
    assert ds.fit_exponent([1e4], [5.0]) is None
    ref = ds.reference_curves(ms, 1000.0)
    assert ref["m^(2/3)"][0] == pytest.approx(1000.0)
    assert ref["sqrt(m log m)"][0] == pytest.approx(1000.0)
    assert ref["m^(2/3)"][-1] == pytest.approx(1000 * 30 ** (2 / 3))


def test_merge_rows_replaces_rows_of_equal_keys():
    old = [{"m": 1, "v": 1}, {"m": 2, "v": 2}]
    new = [{"m": 2, "v": 3}, {"m": 4, "v": 4}]
    assert ds.merge_rows(old, new, ("m",)) == [{"m": 1, "v": 1}, {"m": 2, "v": 3}, {"m": 4, "v": 4}]


def test_family_options_name_the_generated_circuit(tmp_path):
    from click.testing import CliRunner

    from circuit2mlp.cli import cli

    for family in ds.FAMILIES.values():
        path = tmp_path / f"{family.name}.yaml"
        cmd = ds.generate_command(family, 60, 3, 1, str(path))
        result = CliRunner().invoke(cli, cmd[1:])
        assert result.exit_code == 0, result.output
        fan_in = family.fan_in[0] if len(family.fan_in) == 1 else family.fan_in
        layers = random_layers(60, 60, 3, fan_in, 1, mix=family.mix, family=family.wiring)
        expected = tmp_path / "expected.yaml"
        with expected.open("wb") as handle:
            layers.write("yaml", handle)
        def body(p):  # the name line holds the file's stem
            return [line for line in p.read_text().splitlines() if not line.startswith("name:")]

        assert body(path) == body(expected)


@pytest.mark.parametrize("width", [600, 800, 1000])
def test_feature_pass_counts_the_networks_wrong_samples(width):
    # widths where slots are shared and many 3-hot samples go wrong (800: 196 of 300 when
    # written) and where none do: the count must be the compiled network's
    circuit = random_circuit(400, 400, 3, seed=2)
    layered = lower(circuit, CompileConfig())
    features, blocks, flipped = ds.build(layered, width, seed=0)
    n = 300
    result = ds.feature_pass(layered, features, blocks, flipped, n, seed=5, budget=1e9)
    config = CompileConfig(method="deep", width=width, seed=0, sparsity=3)
    network, _ = compile_circuit(circuit, config)
    x = sparse_inputs(400, 3, n, np.random.default_rng([5, 0]))
    truth = simulate(circuit, x)
    wrong = ((network.forward(x) > 0.5) != truth.astype(bool)).any(axis=1)
    assert result["output_wrong_count"] == int(wrong.sum())
    assert result["levels"][-1]["wrong_samples_so_far"] >= result["output_wrong"]


def test_first_guess_scales_the_nearest_smaller_stored_width():
    rows = [
        {"family": "classic", "depth": 4, "m": 10_000, "smallest_width": 100},
        {"family": "classic", "depth": 4, "m": 40_000, "smallest_width": 400},
        {"family": "classic", "depth": 8, "m": 90_000, "smallest_width": 9},
        {"family": "local", "depth": 4, "m": 90_000, "smallest_width": 9},
        {"family": "classic", "depth": 4, "m": 90_000, "smallest_width": None},
    ]
    assert ds.first_guess(rows, "classic", 4, 160_000) == 800
    assert ds.first_guess(rows, "classic", 4, 10_000) is None
    assert ds.first_guess(rows, "all23", 4, 10**6) is None
