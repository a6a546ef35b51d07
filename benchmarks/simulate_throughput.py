"""Throughput of the bit-parallel simulator on a ~10^5-gate random layered circuit.

Not a test: run ``python benchmarks/simulate_throughput.py`` (well under a minute). It prints a
table and writes ``docs/results/simulate_throughput.json``. Throughput is gate evaluations per
second (gates x samples / seconds, best of 3 runs), so the baselines, timed on a subset of the
samples (or layers) because they are slow, compare directly with the packed simulators:

* ``simulate_packed`` and ``simulate_layered``: 64 samples per uint64 word, one numpy op per gate;
* ``unpacked_bool``: the same gate-by-gate loop on one byte per sample (what bit packing buys);
* ``per_sample_numpy``: one sample at a time, one numpy gather per layer over all its gates;
* ``reference``: :meth:`Circuit.evaluate`, pure Python, one sample at a time.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from _report import write_report

from circuit2mlp.ir import Circuit, Gate, LayeredCircuit, op_profile
from circuit2mlp.simulate import pack_bits, simulate_layered_packed, simulate_packed, unpack_bits

OPS = ("AND", "OR", "XOR", "NAND", "NOR", "XNOR")
OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "simulate_throughput.json"


def random_layered(n_inputs: int, width: int, depth: int, seed: int) -> LayeredCircuit:
    """Fan-in-2 layers; the first fan-in of each layer is a permutation of the previous level, so
    every gate is read and none is skipped as dead logic."""
    rng = np.random.default_rng(seed)
    previous = [f"x{i}" for i in range(n_inputs)]
    layers = []
    for level in range(depth):
        first = rng.integers(0, len(previous), size=width)
        cover = min(width, len(previous))
        first[:cover] = rng.permutation(len(previous))[:cover]
        second = (first + rng.integers(1, len(previous), size=width)) % len(previous)
        ops = rng.integers(0, len(OPS), size=width)
        layer = tuple(
            Gate(f"L{level}_{j}", OPS[ops[j]], (previous[first[j]], previous[second[j]]))
            for j in range(width)
        )
        layers.append(layer)
        previous = [g.name for g in layer]
    inputs = tuple(f"x{i}" for i in range(n_inputs))
    return LayeredCircuit("bench", inputs, tuple(previous), tuple(layers), tuple(previous))


def timed(fn, *args, repeats: int = 1):
    """(result, best wall time over ``repeats`` runs). Best-of because first runs pay one-off
    page faults for fresh memory, which would otherwise dominate the allocation-heavy loops."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def unpacked_bool(layered: LayeredCircuit, inputs: np.ndarray, n_layers: int) -> np.ndarray:
    """Gate by gate like simulate_packed, but one bool per sample instead of one bit."""
    fns = {
        "AND": np.logical_and,
        "OR": np.logical_or,
        "XOR": np.logical_xor,
        "NAND": lambda a, b: ~np.logical_and(a, b),
        "NOR": lambda a, b: ~np.logical_or(a, b),
        "XNOR": lambda a, b: ~np.logical_xor(a, b),
    }
    columns = np.ascontiguousarray(inputs.T, dtype=bool)  # contiguous rows, as packing gets
    level = dict(zip(layered.inputs, columns, strict=True))
    for layer in layered.layers[:n_layers]:
        level = {g.name: fns[g.op](level[g.fanin[0]], level[g.fanin[1]]) for g in layer}
    return np.stack([level[g.name] for g in layered.layers[n_layers - 1]], axis=1)


def per_sample_numpy(layered: LayeredCircuit, inputs: np.ndarray) -> np.ndarray:
    """One sample at a time; per layer, gather both fan-ins of all gates and look the result up
    in a (op, a, b) truth table built from op_profile."""
    table = np.array([[[op_profile(op, 2)[a + b] for b in (0, 1)] for a in (0, 1)] for op in OPS])
    plan = []
    names = list(layered.inputs)
    for layer in layered.layers:
        index = {n: i for i, n in enumerate(names)}
        fanin = np.array([[index[s] for s in g.fanin] for g in layer])
        plan.append((np.array([OPS.index(g.op) for g in layer]), fanin[:, 0], fanin[:, 1]))
        names = [g.name for g in layer]
    outputs = []
    for x in inputs:
        values = x.astype(np.intp)
        for ops, a, b in plan:
            values = table[ops, values[a], values[b]]
        outputs.append(values)
    return np.array(outputs, dtype=bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--samples", type=int, default=65_536)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    layered, t_gen = timed(random_layered, args.inputs, args.width, args.depth, args.seed)
    gates = [g for layer in layered.layers for g in layer]
    circuit, t_make = timed(
        Circuit.make, "bench", layered.inputs, layered.outputs, gates, None, layered.output_signals
    )
    _, t_topo = timed(lambda: circuit.topological_gates)
    n_gates = len(gates)

    rng = np.random.default_rng(args.seed)
    inputs = rng.integers(0, 2, size=(args.samples, args.inputs), dtype=np.uint8)
    packed, t_pack = timed(pack_bits, inputs)
    out_packed, t_sim = timed(simulate_packed, circuit, packed, repeats=3)
    out_layered, t_lay = timed(simulate_layered_packed, layered, packed, repeats=3)
    assert np.array_equal(out_packed, out_layered)
    got = unpack_bits(out_packed, args.samples)

    n_bool_layers = max(1, args.depth // 10)
    bool_out, t_bool = timed(unpacked_bool, layered, inputs, n_bool_layers, repeats=3)
    want = unpack_bits(
        simulate_layered_packed(_prefix(layered, n_bool_layers), packed), args.samples
    )
    assert np.array_equal(bool_out, want)

    n_numpy, n_ref = 200, 3
    ps_out, t_ps = timed(per_sample_numpy, layered, inputs[:n_numpy], repeats=3)
    assert np.array_equal(ps_out, got[:n_numpy])
    ref_out, t_ref = timed(lambda: [circuit.evaluate(x) for x in inputs[:n_ref]])
    assert np.array_equal(np.array(ref_out, dtype=bool), got[:n_ref])

    bool_gates = n_bool_layers * args.width
    runs = {
        "simulate_packed": (n_gates, args.samples, t_sim),
        "simulate_layered": (n_gates, args.samples, t_lay),
        "unpacked_bool": (bool_gates, args.samples, t_bool),
        "per_sample_numpy": (n_gates, n_numpy, t_ps),
        "reference": (n_gates, n_ref, t_ref),
    }
    results = {
        name: {"gates": g, "samples": s, "seconds": round(t, 4), "gate_evals_per_s": g * s / t}
        for name, (g, s, t) in runs.items()
    }
    base = results["per_sample_numpy"]["gate_evals_per_s"]
    for row in results.values():
        row["speedup_vs_per_sample_numpy"] = round(row["gate_evals_per_s"] / base, 1)
    report = {
        "circuit": {
            "inputs": args.inputs,
            "width": args.width,
            "depth": args.depth,
            "gates": n_gates,
            "fanin": 2,
            "ops": list(OPS),
        },
        "samples": args.samples,
        "setup_seconds": {
            "generate": round(t_gen, 3),
            "circuit_make": round(t_make, 3),
            "topological_order": round(t_topo, 3),
            "pack_bits": round(t_pack, 3),
        },
        "results": results,
        "machine": {"python": platform.python_version(), "numpy": np.__version__},
    }
    print(f"{n_gates} gates, {args.samples} samples ({packed.shape[1]} words per row)")
    for name, row in results.items():
        print(
            f"  {name:18s} {row['gates']:>7d} gates x {row['samples']:>6d} samples "
            f"in {row['seconds']:8.3f} s = {row['gate_evals_per_s']:10.3e} gate-evals/s "
            f"(x{row['speedup_vs_per_sample_numpy']})"
        )
    print("  setup:", report["setup_seconds"])
    write_report(args.out, report)


def _prefix(layered: LayeredCircuit, n_layers: int) -> LayeredCircuit:
    """The first n_layers layers, outputting the whole last of them."""
    last = tuple(g.name for g in layered.layers[n_layers - 1])
    return LayeredCircuit("prefix", layered.inputs, last, layered.layers[:n_layers], last)


if __name__ == "__main__":
    main()
