"""The ``deep`` method on random sparse circuits: neurons, error, time and memory.

Not a test: run from the repository root. Two modes:

* ``point``: build ``random_circuit(m, m, depth)`` in memory, compile it with ``--method
  deep`` (at ``--width`` neurons per layer, or the error model's width), verify it with
  ``circuit2mlp.verify`` (``--samples`` per k, k = 0..s) and record neurons, neurons per
  source gate, the 3-hot (hardest k) sample error, the model's prediction, compile and verify
  seconds and the peak resident memory. ``--no-error-correction`` for the variant without
  thresholds.
* ``blocks``: build the layer blocks of ``random_circuit(m, m, depth)`` with the given slot
  knobs (``--q``, ``--low``, ``--high``, ``--no-error-correction``) at ``--width`` and run
  ``--samples`` exactly-s-hot samples through them in feature space (the numbers the network
  computes, without assembling its weights): per level, the share of samples with a wrong
  wire so far, wires off by more than 0.1 and neurons on per sample. The levers table of
  docs/theory.md section 8 and the with/without error-correction rows come from this mode.
* ``scaling``: per m, the smallest width (geometric grid) whose 3-hot sample error is at most
  1 %, found with a feature-space forward pass of the layer blocks (the same numbers the
  network computes, without assembling the weights), then the fitted exponent of neurons per
  level against m, next to the exact method, m^(2/3) and sqrt(m log m).

Results go to ``docs/results/deep_<mode>.json`` (points are appended, keyed by their
settings) and, with matplotlib, ``docs/results/deep_scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _report import cpu_facts, machine, peak_rss_gib

OUT = Path("docs/results")


def point(args: argparse.Namespace) -> dict:
    """Compile and verify one circuit; the figures as a dict."""
    from circuit2mlp.compiler import CompileConfig, compile_circuit
    from circuit2mlp.generate import random_circuit
    from circuit2mlp.verify import verify

    circuit = random_circuit(args.m, args.m, args.depth, fan_in=args.fan_in, seed=args.seed)
    config = CompileConfig(
        method="deep",
        sparsity=args.sparsity,
        width=args.width,
        seed=args.seed,
        error_correction=not args.no_error_correction,
    )
    start = time.time()
    network, report = compile_circuit(circuit, config)
    compiled = time.time() - start
    start = time.time()
    result = verify(circuit, network, samples=args.samples, seed=args.seed + 1)
    verified = time.time() - start
    hardest = result.per_k[-1]
    inner = [r["features"] / r["neurons"] for r in report.layers[:-1]] or [0.0]
    return {
        "m": args.m,
        "depth": args.depth,
        "fan_in": args.fan_in,
        "width": args.width,
        "error_correction": not args.no_error_correction,
        "gates": report.gates,
        "neurons": report.neurons,
        "neurons_per_gate": report.neurons / report.gates,
        "exact_neurons": report.exact_neurons,
        "layer_neurons": [r["neurons"] for r in report.layers],
        "min_inner_wires_per_neuron": min(inner),
        "samples_per_k": args.samples,
        "hot_sample_error": hardest.sample_error_rate,
        "hot_samples": hardest.samples,
        "sample_error": result.overall.sample_error_rate,
        "bit_error_rate": result.overall.bit_error_rate,
        "predicted_sample_error": float(
            1 - np.exp(-sum(r.get("predicted_errors", 0.0) for r in report.layers))
        ),
        "compile_seconds": compiled,
        "verify_seconds": verified,
        "peak_rss_gib": peak_rss_gib(),
    }


def feature_error(layered, blocks, flipped, samples: int, sparsity: int, seed: int) -> float:
    """Share of exactly-s-hot samples with a wrong output, from the blocks in feature space."""
    import scipy.sparse as sp

    from circuit2mlp.codegen.activity import level_values
    from circuit2mlp.simulate import sparse_inputs, unpack_bits

    x = sparse_inputs(len(layered.inputs), sparsity, samples, np.random.default_rng(seed))
    truth = unpack_bits(level_values(layered, x)[-1], samples).astype(bool)
    f = sp.csr_matrix(x.T.astype(np.float32))
    for block in blocks:
        h = block.weight @ f
        h = np.maximum(h.toarray() + block.bias[:, None], 0)
        h = sp.csr_matrix(h)
        f = sp.csr_matrix(block.features.readout @ h)
    out = f.toarray() + blocks[-1].features.bias[:, None]
    if truth.shape != out.shape:
        truth = truth.T
    return float(((out > 0.5) != truth).any(axis=0).mean())


def blocks_run(args: argparse.Namespace) -> dict:
    """Per-level figures of the blocks in feature space (see module doc), built and run one
    layer at a time so deep circuits fit in memory."""
    from circuit2mlp.codegen.activity import level_values
    from circuit2mlp.codegen.deep import DeepOptions
    from circuit2mlp.codegen.deep_pipeline import layer_blocks, level_activity
    from circuit2mlp.compiler import CompileConfig, lower
    from circuit2mlp.simulate import sparse_inputs, unpack_bits

    if args.circuit:
        from circuit2mlp.formats import load_circuit

        circuit = load_circuit(args.circuit)
    else:
        from circuit2mlp.generate import random_circuit

        circuit = random_circuit(args.m, args.m, args.depth, seed=args.seed)
    layered = lower(circuit, CompileConfig())
    options = DeepOptions(q=args.q, low=args.low, high=args.high, ramp=not args.no_error_correction)
    config = CompileConfig(method="deep", width=args.width, seed=args.seed, sparsity=args.sparsity)
    n = args.samples
    x = sparse_inputs(len(layered.inputs), args.sparsity, n, np.random.default_rng(args.seed + 7))
    values = level_values(layered, x)
    start = time.time()
    levels_act = level_activity(layered, config)
    f = np.asarray(x.T, dtype=np.float32)
    bad = np.zeros(n, dtype=bool)
    levels = []
    neurons = 0
    predicted = []
    for i, (block, wrong) in enumerate(layer_blocks(layered, config, options, levels_act)):
        gates = layered.layers[i]
        level = i + 1
        neurons += block.neurons
        predicted.append(wrong)
        h = np.maximum(block.weight @ f + block.bias[:, None], 0)
        f = block.features.readout @ h + block.features.bias[:, None]
        flip = np.asarray(levels_act[level].flip, dtype=bool)
        truth = unpack_bits(values[level], n).astype(np.float32)
        truth = truth if truth.shape == f.shape else truth.T
        truth = np.where(flip[:, None], 1 - truth, truth)
        off = np.abs(f - truth)
        wrong_wires = (off > 0.5).sum(axis=0)
        bad |= wrong_wires > 0
        row = {
            "level": level,
            "neurons": int(block.neurons),
            "wires_per_neuron": len(gates) / max(block.neurons, 1),
            "wrong_samples_so_far": float(bad.mean()),
            "wrong_wires_per_sample": float(wrong_wires.mean()),
            "predicted_wrong_wires": float(wrong),
            "wires_off_0.1_per_sample": float((off > 0.1).sum() / n),
            "neurons_on_per_sample": float((h > 0).sum() / n),
            "neurons_on_p99": float(np.percentile((h > 0).sum(axis=0), 99)),
            "true_active_p99": float(np.percentile((truth > 0.5).sum(axis=0), 99)),
        }
        levels.append(row)
        print(row, flush=True)
        del block, h
    return {
        "circuit": args.circuit,
        "m": args.m,
        "depth": layered.depth,
        "width": args.width,
        "q": args.q,
        "low": args.low,
        "high": args.high,
        "error_correction": not args.no_error_correction,
        "neurons": neurons,
        "neurons_per_gate": neurons / sum(len(layer) for layer in layered.layers),
        "samples": n,
        "seconds": time.time() - start,
        "peak_rss_gib": peak_rss_gib(),
        "predicted_sample_error": float(1 - np.exp(-sum(predicted))),
        "levels": levels,
    }


def scaling(args: argparse.Namespace) -> dict:
    """Smallest width per m with at most ``args.target`` wrong 3-hot samples."""
    from circuit2mlp.codegen.deep_pipeline import build_deep_blocks
    from circuit2mlp.compiler import CompileConfig, lower
    from circuit2mlp.generate import random_circuit

    rows = []
    for m in args.ms:
        layered = lower(random_circuit(m, m, args.depth, seed=args.seed), CompileConfig())
        auto = build_deep_blocks(layered, CompileConfig(method="deep", seed=args.seed))[2]
        auto_width = max(b.neurons for b in auto)
        width, best = max(64, int(0.3 * auto_width)), None
        tried = []
        while width <= 4 * auto_width:
            config = CompileConfig(method="deep", width=width, seed=args.seed)
            _, _, blocks, flipped = build_deep_blocks(layered, config)
            err = feature_error(layered, blocks, flipped, args.samples, 3, args.seed + 1)
            neurons = max(b.neurons for b in blocks)
            tried.append({"width": width, "neurons_per_level": neurons, "hot_sample_error": err})
            print(m, width, neurons, err, flush=True)
            if err <= args.target:
                best = neurons
                break
            width = int(width * 1.15)
        rows.append(
            {
                "m": m,
                "smallest_neurons_per_level": best,
                "auto_neurons_per_level": auto_width,
                "exact_neurons_per_level": None,
                "tried": tried,
            }
        )
    ms = np.array([r["m"] for r in rows if r["smallest_neurons_per_level"]], float)
    ns = np.array(
        [r["smallest_neurons_per_level"] for r in rows if r["smallest_neurons_per_level"]]
    )
    exponent = float(np.polyfit(np.log(ms), np.log(ns), 1)[0]) if ms.size >= 2 else None
    return {"depth": args.depth, "rows": rows, "exponent": exponent}


def plot(data: dict, path: Path) -> None:
    """Neurons per level against m, with the reference curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if r["smallest_neurons_per_level"]]
    m = np.array([r["m"] for r in rows], float)
    n = np.array([r["smallest_neurons_per_level"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(m, n, "o-", label=f"deep (fit m^{data['exponent']:.2f})")
    ax.loglog(m, 1.12 * m, "--", label="exact gadgets (~1.12 m)")
    ax.loglog(m, n[0] * (m / m[0]) ** (2 / 3), ":", label="m^(2/3) (Hänni et al.)")
    ref = np.sqrt(m * np.log(m))
    ax.loglog(m, n[0] * ref / ref[0], "-.", label="sqrt(m log m) (Adler-Shavit)")
    ax.set_xlabel("gates per level m")
    ax.set_ylabel("neurons per level (<= 1% wrong 3-hot samples)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("point", "blocks", "scaling"))
    parser.add_argument("-m", type=int, default=100_000, help="gates per level (point)")
    parser.add_argument("--circuit", default=None, help="circuit file (blocks; else generated)")
    parser.add_argument("--ms", type=lambda s: [int(v) for v in s.split(",")], default=None)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--fan-in", type=int, default=2)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sparsity", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.01)
    parser.add_argument("--no-error-correction", action="store_true")
    parser.add_argument("--q", type=int, default=8, help="slots per item (blocks)")
    parser.add_argument("--low", type=float, default=0.5, help="lower ramp corner (blocks)")
    parser.add_argument("--high", type=float, default=0.8, help="upper ramp corner (blocks)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if args.mode in ("point", "blocks"):
        result = point(args) if args.mode == "point" else blocks_run(args)
        path = OUT / f"deep_{args.mode}.json"
        data = json.loads(path.read_text()) if path.exists() else {"points": []}
        data["points"].append(result)
        data["machine"] = machine(load, **cpu_facts(), memory_gib=24)
        print(json.dumps(result, indent=2))
    else:
        args.ms = args.ms or [10_000, 30_000, 100_000]
        data = scaling(args)
        data["machine"] = machine(load, **cpu_facts(), memory_gib=24)
        path = OUT / "deep_scaling.json"
        try:
            plot(data, OUT / "deep_scaling.png")
        except ImportError:
            print("matplotlib missing: no plot")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
