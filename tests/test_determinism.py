"""Determinism: the same circuit, options and seed give the same bytes, in any process; a
different seed gives different weights for every method that draws random numbers.

Cross-process runs matter because in-process repeats cannot catch the usual culprits: set and
dict orders that depend on ``PYTHONHASHSEED`` (string hashing is randomized per process), a
global RNG seeded from the clock, or timestamps in the zip. The two compiles below run in
separate interpreters with different hash seeds and working folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from circuit2mlp.compiler import METHODS, CompileConfig, compile_circuit
from circuit2mlp.generate import uand_circuit, uand_text
from circuit2mlp.network import Network

REPO = Path(__file__).resolve().parents[1]
UAND_M = 20  # 190 two-input ANDs: small, and superposable at a forced width
WIDTH = 120  # < 190 gates: forces the superposed methods to superpose (no exact fallback)


def options(method: str) -> list[str]:
    """CLI options that make ``method`` actually use its randomness on the U-AND circuit."""
    return [] if method == "exact" else ["--width", str(WIDTH)]


SOURCES = ("uand20.yaml", "cm82a.blif")
# One interpreter compiles every (method, source) job: fewer process start-ups, same point.
RUNNER = """
import sys
from circuit2mlp.cli import main
for job in sys.argv[1:]:
    try:
        main(job.split("\\t"))
    except SystemExit as exc:
        if exc.code:
            raise
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[tuple[str, str, str], bytes]:
    """Bytes of every (hash seed, method, source) compile, from two interpreters started with
    PYTHONHASHSEED 1 and 2, each in its own working folder."""
    src = tmp_path_factory.mktemp("src")
    (src / "uand20.yaml").write_text(uand_text(UAND_M))
    (src / "cm82a.blif").write_bytes((REPO / "circuits/real/lgsynth93/cm82a.blif").read_bytes())
    out: dict[tuple[str, str, str], bytes] = {}
    for hash_seed in ("1", "2"):
        folder = tmp_path_factory.mktemp(f"hash{hash_seed}")
        jobs = []
        for method in METHODS:
            for name in SOURCES:
                args = ["compile", str(src / name), "-o", f"{method}-{name}.npz", "-q"]
                args += ["--method", method, "--seed", "7", *options(method)]
                jobs.append("\t".join(args))
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, *jobs],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        for method in METHODS:
            for name in SOURCES:
                out[hash_seed, method, name] = (folder / f"{method}-{name}.npz").read_bytes()
    return out


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_bytes_across_processes(compiled, method, source):
    """Two interpreters with hash seeds 1 and 2 (and different folders) write identical
    files, for the U-AND circuit and a real BLIF file (covers, a second parser)."""
    first, second = compiled["1", method, source], compiled["2", method, source]
    assert len(first) > 1000
    assert first == second, f"{method} on {source}: bytes differ across processes"


def weights(network: Network) -> list[np.ndarray]:
    """Every weight and bias, dense, in order (the meta, which records the seed, excluded)."""
    matrices = [network.embed, *(m for layer in network.layers for m in layer)]
    matrices += list(network.readout)
    return [m.toarray() if sp.issparse(m) else np.asarray(m) for m in matrices]


def same_weights(a: Network, b: Network) -> bool:
    wa, wb = weights(a), weights(b)
    return len(wa) == len(wb) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(wa, wb, strict=True)
    )


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(
            m,
            marks=pytest.mark.skip(reason="exact draws no random numbers: seed-independent"),
        )
        if m == "exact"
        else m
        for m in METHODS
    ],
)
def test_different_seeds_different_weights(method):
    """Seeds 0 and 1 give different weights (not just a different meta), seed 0 twice the
    same; compiled at a width that forces superposition, so the random wiring is used."""
    circuit = uand_circuit(UAND_M)

    def build(seed: int) -> Network:
        return compile_circuit(circuit, CompileConfig(method=method, seed=seed, width=WIDTH))[0]

    zero, again, one = build(0), build(0), build(1)
    assert same_weights(zero, again)
    assert not same_weights(zero, one)


def test_exact_ignores_the_seed():
    """Why 'exact' is skipped above: its weights do not depend on the seed at all."""
    circuit = uand_circuit(8)
    a, b = (compile_circuit(circuit, CompileConfig(method="exact", seed=s))[0] for s in (0, 12345))
    assert same_weights(a, b)
    assert a.meta["seed"] != b.meta["seed"]
