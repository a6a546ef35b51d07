"""How close the automatic width comes to the smallest width that meets the same target.

For U-AND of m inputs (s = 3), compile with the automatic width (no --width), then search
fixed widths for the smallest one whose hardest sparsity level (k = s) misreads at most the
same target share of samples (--target-error, default 0.005), and report the ratio. The search
measures each fixed width on held-out samples drawn with another seed than the automatic
width's calibration (1,024 at k = s, 256 at each smaller k), through the same sample-major
sparse forward pass, and bisects between the widest failing and the narrowest passing width
to 2 %.

    python benchmarks/width_search.py --inputs 250,500,1000 -o docs/results/width_search.json

Writes one JSON row per m: automatic width and neurons, its measured error, the searched
width, every probe, and the times.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _report import cpu_facts

from circuit2mlp.codegen.activity import level_values
from circuit2mlp.codegen.calibration import (
    EASIER_SAMPLES,
    HARDEST_SAMPLES,
    spread,
    truth_block,
    truth_keys,
    wrong_samples,
)
from circuit2mlp.compiler import CompileConfig, compile_circuit, lower
from circuit2mlp.generate import uand_circuit
from circuit2mlp.simulate import sparse_inputs

SPARSITY = 3


def held_out(m: int, seed: int) -> np.ndarray:
    """Samples per k like the calibration's, from another seed."""
    rng = np.random.default_rng([seed, 99])
    return np.concatenate(
        [
            sparse_inputs(m, k, HARDEST_SAMPLES if k == SPARSITY else EASIER_SAMPLES, rng)
            for k in range(SPARSITY + 1)
        ]
    )


def worst_k_error(network, x: np.ndarray, truth: np.ndarray, chunk: int = 8) -> float:
    """The hardest level's sample error rate of a one-layer network on rows x, sample-major
    and sparse (the calibration's arithmetic on the saved weights)."""
    assert len(network.layers) == 1
    weight, bias = network.layers[0]
    embed = sp.csr_matrix(network.embed, dtype=np.float64)
    first = (sp.csr_matrix(weight, dtype=np.float64) @ embed).T.tocsr()  # (m, D)
    readout, out_bias = network.readout
    readout_t = sp.csr_matrix(readout, dtype=np.float64).T.tocsr()  # (D, G)
    hot = x.sum(axis=1)
    wrong = np.zeros(x.shape[0], dtype=bool)
    flips = np.zeros(truth.shape[0], dtype=bool)
    for start in range(0, x.shape[0], chunk):
        stop = min(x.shape[0], start + chunk)
        pre = sp.csr_matrix(sp.csr_matrix(x[start:stop], dtype=np.float64) @ first)
        assert (np.asarray(bias) <= 0).all()
        pre.data += np.asarray(bias, dtype=np.float64)[pre.indices]
        np.maximum(pre.data, 0, out=pre.data)
        pre.eliminate_zeros()
        dense = spread(pre, readout_t)
        ones = truth_keys(truth, flips, start, stop)
        block = truth_block(ones, stop - start, dense.shape[1])
        wrong[start:stop] = wrong_samples(dense, np.asarray(out_bias, np.float64), block, True)
    return max(float(wrong[hot == k].mean()) for k in np.unique(hot))


def search(m: int, target: float, seed: int) -> dict:
    circuit = uand_circuit(m)
    config = CompileConfig(sparsity=SPARSITY, seed=seed, target_error=target)
    t = time.perf_counter()
    auto, report = compile_circuit(circuit, config)
    auto_seconds = time.perf_counter() - t
    x = held_out(m, seed)
    layered = lower(circuit, config)
    truth = level_values(layered, x)[-1]
    auto_error = worst_k_error(auto, x, truth)
    probes = []

    def probe(width: int) -> bool:
        t0 = time.perf_counter()
        net, _ = compile_circuit(circuit, CompileConfig(sparsity=SPARSITY, seed=seed, width=width))
        error = worst_k_error(net, x, truth)
        probes.append({"width": width, "worst_k_error": error, "seconds": time.perf_counter() - t0})
        print(f"m={m} width {width}: worst-k sample error {error:.4f}", flush=True)
        return error <= target

    auto_width = sum(
        g["neurons"]
        for r in report.layers
        for g in r.get("groups", [])
        if g["strategy"] != "dedicated"
    )
    # Bracket around the automatic width in steps of 1.2, then bisect to 2 %.
    width = auto_width
    if probe(width):
        high, low = width, None
        while low is None:
            width = int(width / 1.2)
            if probe(width):
                high = width
            else:
                low = width
    else:
        low, high = width, None
        while high is None:
            width = int(width * 1.2) + 1
            if probe(width):
                high = width
            else:
                low = width
    while high - low > max(1, 0.02 * high):
        mid = (low + high) // 2
        if probe(mid):
            high = mid
        else:
            low = mid
    return {
        "m": m,
        "gates": len(circuit.gates),
        "target_worst_k_sample_error": target,
        "automatic_width": auto_width,
        "automatic_neurons": auto.neurons,
        "automatic_worst_k_error_held_out": auto_error,
        "automatic_seconds": auto_seconds,
        "searched_width": high,
        "ratio": auto_width / high,
        "probes": probes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default="250,500,1000")
    parser.add_argument("--target", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/results/width_search.json"))
    args = parser.parse_args()
    rows = []
    for m in (int(v) for v in args.inputs.split(",")):
        rows.append(search(m, args.target, args.seed))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "probes"}), flush=True)
        args.output.write_text(json.dumps({"machine": cpu_facts(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
