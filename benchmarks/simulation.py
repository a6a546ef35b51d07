"""Simulation and forward-pass throughput, in one run on one machine.

Not a test: run ``python benchmarks/simulation.py`` (about three minutes and 4 GiB at the
default sizes). It prints a table and writes ``docs/results/simulation.json``.

What it measures, all as rates so that circuit sizes may differ between the fast and the slow
evaluators (the slow ones would take hours at 10^6 gates):

* ``bit_parallel``: :func:`circuit2mlp.simulate.simulate_packed` (64 samples per uint64 word,
  one numpy op per gate and word row) on a random sparse circuit from
  :func:`circuit2mlp.generate.random_circuit` with ~10^6 gates in 10 layers, on 65,536
  s-sparse samples. Gate evaluations per second = gates x samples / seconds;
* ``per_sample_numpy``: a plain numpy evaluator, one sample at a time, one gather and one
  truth-table lookup per layer (all gates of a layer at once), on a 20,000-gate circuit;
* ``networkx_python``: :meth:`Circuit.evaluate`, which walks the gates in networkx
  topological order and evaluates each in Python, on the same 20,000-gate circuit;
* ``network_forward``: a compiled network (default method) of a random circuit, run forward
  on a batch, as samples/s and as multiply-add FLOP/s over its stored weights (non-zeros of
  sparse matrices, all entries of dense ones), against ``dense_gemm``: the float32 matrix
  product rate numpy reaches on this machine (square 2048 x 2048 operands, best of 10 just
  before and 10 just after the forward pass, since a shared machine's rate varies up to 2x).

All three circuit evaluators are checked to agree on the small circuit before timing counts.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _report import cpu_facts, machine, settings, write_report

from circuit2mlp.generate import gate_levels, random_circuit
from circuit2mlp.ir import Circuit
from circuit2mlp.simulate import (
    WORD_BITS,
    n_words,
    pack_bits,
    simulate_packed,
    sparse_inputs,
    unpack_bits,
)

OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "simulation.json"


def timed(fn, *args, repeats: int = 1):
    """(result, best wall time over ``repeats`` runs): best-of, because first runs pay one-off
    page faults for fresh memory."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def packed_sparse_inputs(m: int, s: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n exactly-s-hot samples over m inputs, packed straight into (m, W) words. Building the
    (n, m) byte matrix first would take n*m bytes (6.5 GB at 65,536 x 100,000)."""
    cols = rng.integers(0, m, size=(n, s))
    while True:  # redraw rows with a repeated column (rare for s << m)
        ordered = np.sort(cols, axis=1)
        bad = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not bad.any():
            break
        cols[bad] = rng.integers(0, m, size=(int(bad.sum()), s))
    packed = np.zeros((m, n_words(n)), dtype=np.uint64)
    j = np.arange(n)
    bits = np.left_shift(np.uint64(1), (j % WORD_BITS).astype(np.uint64))
    for t in range(s):
        np.bitwise_or.at(packed, (cols[:, t], j // WORD_BITS), bits)
    return packed


class PerSampleNumpy:
    """One sample at a time, one layer at a time: gather every gate's fan-in values, turn
    them into a truth-table row index, look the outputs up. Needs a layered circuit (every
    gate reads the previous level only), which the generator makes."""

    def __init__(self, circuit: Circuit) -> None:
        gates = circuit.gate_map
        previous = list(circuit.inputs)
        self.plan = []
        for level in gate_levels(circuit):
            index = {name: i for i, name in enumerate(previous)}
            k = len(gates[level[0]].fanin)
            fanin = np.array([[index[s] for s in gates[g].fanin] for g in level], dtype=np.intp)
            assignments = [[(a >> i) & 1 for i in range(k)] for a in range(1 << k)]
            tables = np.array(
                [[gates[g].evaluate(bits) for bits in assignments] for g in level], dtype=np.uint8
            )
            self.plan.append((fanin, 1 << np.arange(k), tables, np.arange(len(level))))
            previous = level
        self.outputs = np.array([previous.index(d) for d in circuit.drivers], dtype=np.intp)

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        results = []
        for x in inputs:
            values = x.astype(np.intp)
            for fanin, weights, tables, rows in self.plan:
                values = tables[rows, values[fanin] @ weights]
            results.append(values[self.outputs])
        return np.array(results, dtype=bool)


def reference(circuit: Circuit, inputs: np.ndarray) -> np.ndarray:
    """:meth:`Circuit.evaluate` per sample: networkx topological order, Python per gate."""
    return np.array([circuit.evaluate(x) for x in inputs], dtype=bool)


def matrix_work(matrix) -> int:
    """Stored entries: what a forward pass multiplies (non-zeros of a sparse matrix)."""
    return int(matrix.nnz) if sp.issparse(matrix) else int(np.prod(matrix.shape))


def gemm_rate(n: int = 2048, repeats: int = 10) -> float:
    """float32 FLOP/s of numpy's matrix product on n x n operands (2 n^3 per product)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    _, seconds = timed(np.matmul, a, b, repeats=repeats)
    return 2 * n**3 / seconds


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "num_threads", "version", "architecture")
    return [{k: v for k, v in info.items() if k in keep} for info in threadpool_info()]


def bench_bit_parallel(args) -> dict:
    circuit, t_gen = timed(random_circuit, args.width, args.width, args.depth, 2, args.seed)
    _, t_topo = timed(lambda: circuit.topological_gates)
    rng = np.random.default_rng(args.seed)
    packed, t_pack = timed(packed_sparse_inputs, args.width, args.sparsity, args.samples, rng)
    out, seconds = timed(simulate_packed, circuit, packed, repeats=args.repeats)
    gates = len(circuit.gates)
    active = int(np.unpackbits(out.view(np.uint8)).sum())
    return {
        "gates": gates,
        "layers": args.depth,
        "width": args.width,
        "inputs": args.width,
        "fan_in": 2,
        "samples": args.samples,
        "seconds": round(seconds, 3),
        "gate_evals_per_s": gates * args.samples / seconds,
        "mean_active_outputs": active / args.samples,
        "setup_seconds": {
            "generate": round(t_gen, 2),
            "networkx_topological_order": round(t_topo, 2),
            "pack_inputs": round(t_pack, 2),
        },
    }


def bench_small(args) -> dict:
    circuit = random_circuit(args.small_width, args.small_width, args.depth, 2, args.seed)
    gates = len(circuit.gates)
    rng = np.random.default_rng(args.seed + 1)
    x = sparse_inputs(len(circuit.inputs), args.sparsity, args.small_samples, rng)
    want = unpack_bits(simulate_packed(circuit, pack_bits(x)), x.shape[0])
    evaluator = PerSampleNumpy(circuit)
    got, t_numpy = timed(evaluator, x, repeats=args.repeats)
    assert np.array_equal(got, want), "per-sample numpy disagrees with simulate_packed"
    n_ref = args.reference_samples
    _ = circuit.topological_gates  # networkx sort: setup, not evaluation
    got, t_ref = timed(reference, circuit, x[:n_ref])
    assert np.array_equal(got, want[:n_ref]), "Circuit.evaluate disagrees with simulate_packed"
    return {
        "per_sample_numpy": {
            "gates": gates,
            "samples": int(x.shape[0]),
            "seconds": round(t_numpy, 3),
            "gate_evals_per_s": gates * x.shape[0] / t_numpy,
        },
        "networkx_python": {
            "gates": gates,
            "samples": n_ref,
            "seconds": round(t_ref, 3),
            "gate_evals_per_s": gates * n_ref / t_ref,
        },
    }


def bench_forward(args) -> dict:
    from circuit2mlp.compiler import CompileConfig, compile_circuit

    w = args.net_width
    circuit = random_circuit(w, w, args.net_depth, 2, args.seed)
    config = CompileConfig()
    network, report = compile_circuit(circuit, config)
    rng = np.random.default_rng(args.seed)
    x = sparse_inputs(len(circuit.inputs), args.sparsity, args.batch, rng)
    network.forward(x[:64])  # warm-up
    gemm = gemm_rate()
    _, seconds = timed(network.forward, x, repeats=args.repeats)
    gemm = max(gemm, gemm_rate())
    matrices = [network.embed, *(wt for wt, _ in network.layers), network.readout[0]]
    work = sum(matrix_work(m) for m in matrices)
    flops = 2 * work * x.shape[0] / seconds
    return {
        "network_forward": {
            "circuit_gates": len(circuit.gates),
            "method": config.method,
            "layer_widths": network.widths,
            "neurons": network.neurons,
            "exact_neurons": report.exact_neurons,
            "sparse_matrices": sum(sp.issparse(m) for m in matrices),
            "dense_matrices": sum(not sp.issparse(m) for m in matrices),
            "stored_weights": work,
            "batch": int(x.shape[0]),
            "seconds": round(seconds, 4),
            "samples_per_s": x.shape[0] / seconds,
            "flops_per_s": flops,
            "fraction_of_dense_gemm": flops / gemm,
        },
        "dense_gemm": {"n": 2048, "dtype": "float32", "flops_per_s": gemm},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=100_000, help="gates per layer (big run)")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--samples", type=int, default=65_536)
    parser.add_argument("--sparsity", type=int, default=3)
    parser.add_argument("--small-width", type=int, default=2000)
    parser.add_argument("--small-samples", type=int, default=500)
    parser.add_argument("--reference-samples", type=int, default=10)
    parser.add_argument("--net-width", type=int, default=2000)
    parser.add_argument("--net-depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    results: dict = {"bit_parallel": bench_bit_parallel(args)}
    print(f"bit_parallel done: {results['bit_parallel']['gate_evals_per_s']:.3e} gate-evals/s")
    results.update(bench_small(args))
    try:
        results.update(bench_forward(args))
    except Exception as exc:  # the compiler is optional here; the simulation figures stand
        results["network_forward"] = {"error": f"{type(exc).__name__}: {exc}"}
    base = results["per_sample_numpy"]["gate_evals_per_s"]
    for name in ("bit_parallel", "per_sample_numpy", "networkx_python"):
        ratio = results[name]["gate_evals_per_s"] / base
        results[name]["speedup_vs_per_sample_numpy"] = float(f"{ratio:.3g}")
    report = {
        "results": results,
        "settings": settings(args),
        "machine": machine(load_before, **cpu_facts(), blas=blas_info()),
    }
    for name in ("bit_parallel", "per_sample_numpy", "networkx_python"):
        row = results[name]
        print(
            f"  {name:18s} {row['gates']:>8d} gates x {row['samples']:>6d} samples "
            f"in {row['seconds']:8.3f} s = {row['gate_evals_per_s']:10.3e} gate-evals/s "
            f"(x{row['speedup_vs_per_sample_numpy']})"
        )
    fwd = results["network_forward"]
    if "error" in fwd:
        print(f"  network_forward    failed: {fwd['error']}")
    else:
        print(
            f"  network_forward    {fwd['neurons']} neurons, batch {fwd['batch']}: "
            f"{fwd['samples_per_s']:.3e} samples/s, {fwd['flops_per_s']:.3e} FLOP/s "
            f"= {fwd['fraction_of_dense_gemm']:.1%} of dense GEMM "
            f"({results['dense_gemm']['flops_per_s']:.3e} FLOP/s)"
        )
    write_report(args.out, report)


if __name__ == "__main__":
    main()
