"""Superposition results: writes docs/results/superposition.json and PNG plots.

Parts (each optional, --parts a,b,c,d):

a. U-AND, s = 3: smallest width with verified sample error rate <= 1 % for ``paper`` and
   ``superposed`` (width search: circuit2mlp.search), and the fitted exponent of width vs m.
b. The same with inputs in superposition, d0 = m / 4.
c. Random layered circuits (2,000 gates per layer), error rate vs depth at a fixed width, with
   full error control (noise budget + clean gadgets), the noise budget only, and none; and
   the noise on the wires level by level in the deepest of them (that alone: --parts n).
d. The shared real circuits (../shared/circuits): neurons of the default method vs exact, s = 2.
e. Compile time and peak memory of the m = 1000 U-AND (499,500 gates) at width 5,000.

Usage: python benchmarks/superposition.py --parts a --m 125,250,500 [--samples 1000]
Every compile is seeded; figures are measured by circuit2mlp's own verify.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.generate import random_circuit, uand_circuit
from circuit2mlp.search import smallest_width
from circuit2mlp.verify import verify

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results"


def part_uand(ms: list[int], samples: int, superposed_inputs: bool) -> list[dict]:
    rows = []
    for m in ms:
        circuit = uand_circuit(m)
        for method in ("superposed", "paper"):
            d0 = m // 4 if superposed_inputs else None
            config = CompileConfig(method=method, sparsity=3, input_dim=d0)
            start = time.perf_counter()
            best, probes = smallest_width(
                circuit,
                config,
                max_sample_error_rate=0.01,
                samples=samples,
                start=max(64, m),
                limit=32_000,
                precision=0.1,
                progress=lambda p, m=m, method=method: print(
                    f"  m={m} {method} width {p.width}: sample err {p.sample_error_rate:.4f}",
                    flush=True,
                ),
            )
            rows.append(
                {
                    "m": m,
                    "gates": len(circuit.gates),
                    "method": method,
                    "input_dim": d0,
                    "width": best.width if best else None,
                    "neurons": best.neurons if best else None,
                    "sample_error_rate": best.sample_error_rate if best else None,
                    "bit_error_rate": best.bit_error_rate if best else None,
                    "probes": [p.__dict__ for p in probes],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(rows[-1]["m"], method, rows[-1]["neurons"], flush=True)
    return rows


def fit_exponent(rows: list[dict], method: str) -> float | None:
    pts = [(r["m"], r["neurons"]) for r in rows if r["method"] == method and r["neurons"]]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


#: Error-control variants of part c: (label, error_correction, clean_threshold).
VARIANTS = (("full", True, 8.0), ("budget only", True, 0.0), ("off", False, 8.0))


def _random(depth: int):
    return random_circuit(inputs=2000, width=2000, depth=depth, fan_in=2, seed=0)


def part_depth(depths: list[int], width: int, samples: int) -> list[dict]:
    """Random circuits (2,000 inputs, 2,000 gates per layer, fan-in 2, with negated literals),
    superposed at a fixed width with full error control (noise budget and clean-ups), the
    noise budget only, and none, against the exact method."""
    rows = []
    for depth in depths:
        circuit = _random(depth)
        for label, ec, threshold in VARIANTS:
            config = CompileConfig(
                sparsity=3, width=width, error_correction=ec, clean_threshold=threshold
            )
            start = time.perf_counter()
            network, report = compile_circuit(circuit, config)
            seconds = time.perf_counter() - start
            result = verify(circuit, network, samples=samples, sparsity=3, seed=1)
            rows.append(
                {
                    "depth": depth,
                    "error_control": label,
                    "width": width,
                    "gates": len(circuit.gates),
                    "neurons": report.neurons,
                    "exact_neurons": report.exact_neurons,
                    "clean_gates": sum(r.get("clean_gates", 0) for r in report.layers),
                    "compile_seconds": round(seconds, 1),
                    "samples": result.overall.samples,
                    "sample_errors": result.overall.sample_errors,
                    "bit_error_rate": result.overall.bit_error_rate,
                    "sample_error_rate": result.overall.sample_error_rate,
                    "max_error_on_0": result.overall.max_error_on_0,
                }
            )
            print(rows[-1], flush=True)
    return rows


def part_noise(depth: int, width: int, samples: int) -> list[dict]:
    """Wire noise level by level (interp.wire_noise, 3-hot inputs) in the deepest circuit of
    part c, for each error-control variant: what depth-independence is judged by."""
    from circuit2mlp.compiler import lower
    from circuit2mlp.interp import wire_noise
    from circuit2mlp.verify import level_inputs

    circuit = _random(depth)
    x = level_inputs(len(circuit.inputs), 3, samples, np.random.default_rng(2))
    rows = []
    for label, ec, threshold in VARIANTS:
        config = CompileConfig(
            sparsity=3, width=width, error_correction=ec, clean_threshold=threshold
        )
        network, _ = compile_circuit(circuit, config)
        for row in wire_noise(network, circuit, x, layered=lower(circuit, config)):
            rows.append({"depth": depth, "error_control": label, **row})
    return rows


def part_real(samples: int) -> list[dict]:
    from circuit2mlp.errors import UserError
    from circuit2mlp.formats import load_circuit

    shared = ROOT.parent / "shared" / "circuits"
    rows = []
    for path in sorted(shared.rglob("*")):
        if path.suffix not in (".blif", ".bench"):
            continue
        try:
            circuit = load_circuit(path)
        except UserError:
            continue  # sequential designs are refused by design
        if len(circuit.gates) > 200_000:
            continue
        network, report = compile_circuit(circuit, CompileConfig(sparsity=2))
        result = verify(circuit, network, samples=samples, sparsity=2, seed=1)
        rows.append(
            {
                "circuit": str(path.relative_to(shared)),
                "gates": len(circuit.gates),
                "neurons": report.neurons,
                "exact_neurons": report.exact_neurons,
                "shared_gates": sum(r.get("shared_gates", 0) for r in report.layers),
                "bit_errors": result.overall.bit_errors,
                "samples": result.overall.samples,
            }
        )
        print(rows[-1], flush=True)
    return rows


_COMPILE_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.generate import uand_circuit
m, width = int(sys.argv[1]), int(sys.argv[2])
circuit = uand_circuit(m)
start = time.perf_counter()
network, report = compile_circuit(circuit, CompileConfig(width=width, sparsity=3))
compiled = time.perf_counter() - start
with tempfile.TemporaryDirectory() as tmp:
    network.save(Path(tmp) / "w.npz")
    size = (Path(tmp) / "w.npz").stat().st_size
saved = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"m": m, "gates": len(circuit.gates), "width": width,
                  "neurons": report.neurons, "compile_seconds": round(compiled, 1),
                  "compile_and_save_seconds": round(saved, 1), "file_bytes": size,
                  "peak_rss_bytes": peak}))
"""


def part_compile(m: int, width: int) -> dict:
    """Compile time and peak memory of the default method on the U-AND, in a fresh process
    (circuit built in memory: parsing is measured in docs/performance.md)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _COMPILE_CHILD, str(m), str(width)],
        check=True,
        capture_output=True,
        text=True,
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    return row


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for key, title in (("uand", "U-AND, s = 3"), ("uand_superposed_inputs", "U-AND, d0 = m/4")):
        rows = results.get(key)
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(5, 4))
        for method in ("paper", "superposed"):
            pts = sorted(
                (r["m"], r["neurons"]) for r in rows if r["method"] == method and r["neurons"]
            )
            if pts:
                ax.loglog(*zip(*pts, strict=True), "o-", label=method)
        ms = sorted({r["m"] for r in rows})
        ax.loglog(ms, [m * (m - 1) / 2 for m in ms], "k--", label="exact (1 neuron/gate)")
        ax.set_xlabel("inputs m")
        ax.set_ylabel("neurons for sample error <= 1%")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(OUT / f"{key}.png", dpi=120)
        plt.close(fig)
    rows = results.get("depth")
    if rows:
        noise = results.get("depth_noise", [])
        fig, axes = plt.subplots(1, 2 if noise else 1, figsize=(10 if noise else 5, 4))
        axes = np.atleast_1d(axes)
        for label, _, _ in VARIANTS:
            pts = sorted(
                (r["depth"], r["sample_error_rate"]) for r in rows if r["error_control"] == label
            )
            if pts:
                axes[0].plot(*zip(*pts, strict=True), "o-", label=f"error control: {label}")
        axes[0].set_yscale("symlog", linthresh=1e-4)
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("circuit depth")
        axes[0].set_ylabel("sample error rate")
        axes[0].set_title("random circuits, 2,000 gates/layer, s = 3")
        axes[0].legend()
        if noise:
            for label, _, _ in VARIANTS:
                pts = [
                    (r["level"], r["noisy_wires_per_sample"])
                    for r in noise
                    if r["error_control"] == label and r["level"] < r["depth"]
                ]
                if pts:
                    axes[1].plot(*zip(*pts, strict=True), "-", label=f"error control: {label}")
            axes[1].set_yscale("log")
            axes[1].set_xlabel("level")
            axes[1].set_ylabel("wires off by > 0.1, per 3-hot sample")
            axes[1].set_title(f"noise on the wires, depth {noise[0]['depth']}")
            axes[1].legend(loc="center right", bbox_to_anchor=(1, 0.6))
        fig.tight_layout()
        fig.savefig(OUT / "depth.png", dpi=120)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c,d")
    parser.add_argument("--m", default="125,250,500,1000")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--depths", default="1,2,4,8,16,32,64")
    parser.add_argument("--noise-samples", type=int, default=2000)
    parser.add_argument("--depth-width", type=int, default=320)
    parser.add_argument("--depth-samples", type=int, default=10000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "superposition.json"
    results = json.loads(target.read_text()) if target.exists() else {}
    parts = set(args.parts.split(","))
    ms = [int(m) for m in args.m.split(",")]

    def merged(key: str, rows: list[dict]) -> list[dict]:
        """Earlier rows for other m are kept, so sizes can be run one at a time."""
        done = {r["m"] for r in rows}
        return sorted(
            [r for r in results.get(key, []) if r["m"] not in done] + rows,
            key=lambda r: (r["m"], r["method"]),
        )

    if "a" in parts:
        results["uand"] = merged("uand", part_uand(ms, args.samples, superposed_inputs=False))
        results["uand_exponent"] = {
            method: fit_exponent(results["uand"], method) for method in ("paper", "superposed")
        }
    if "b" in parts:
        results["uand_superposed_inputs"] = merged(
            "uand_superposed_inputs", part_uand(ms, args.samples, superposed_inputs=True)
        )
    if "c" in parts:
        depths = [int(d) for d in args.depths.split(",")]
        results["depth"] = part_depth(depths, args.depth_width, args.depth_samples)
    if "c" in parts or "n" in parts:
        depth = max(int(d) for d in args.depths.split(","))
        results["depth_noise"] = part_noise(depth, args.depth_width, args.noise_samples)
    if "d" in parts:
        results["real"] = part_real(args.samples)
    if "e" in parts:
        results["compile"] = part_compile(1000, 5000)
    target.write_text(json.dumps(results, indent=1))
    plot(results)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
