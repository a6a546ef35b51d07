"""Compile time and peak memory against circuit size, with the fitted growth exponent.

Not a test: run ``python benchmarks/compile_scaling.py`` from the repository root (about 15
minutes on an idle 2-core machine; ``--quick`` for a smoke run of small sizes). Every point
runs in a fresh Python process (modules imported before the clock starts) that builds the
circuit in memory (the generators in
``circuit2mlp.generate``; parsing is measured elsewhere), compiles it with the default method
and writes the weights file, timing each step; the child's peak resident memory (VmHWM) is
read from /proc at the end, so it covers building, compiling and writing.

Two families:

* ``uand``: the U-AND of m inputs (m(m-1)/2 gates, one layer), m in {250, 500, 1000, 1415}
  (31,125 to 1,000,405 gates), at a fixed width per m (``--uand-widths``; the default widths
  keep verify's sample error at s = 3 around 1%, see docs/performance.md);
* ``random``: ``random_circuit(w, w, 10)``, random layered circuits of 10 layers of w gates
  (w inputs), at the automatic width (the compiler's default: a *search*, compiling and
  calibrating each layer at doubling widths on held-out samples), w up to 10^5 (10^6 gates);
* ``random-fixed``: the same circuits at a fixed width (``--fixed-width``), one compile each:
  the cost of the compiler itself.

The growth exponent b of ``seconds ~ a * gates^b`` is the least-squares slope of log(seconds)
against log(gates), fitted per family over compile seconds (without writing the file) and
over compile + write. Results go to ``docs/results/compile_scaling.json`` and, with matplotlib,
``docs/results/compile_scaling.png``. The 1-minute load average before and after each point is
recorded: other processes on the machine slow a point down by up to that factor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("uand", "random", "random-fixed")
OUT = ROOT / "docs" / "results"

_CHILD = """
import json, sys, time
from pathlib import Path
from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.generate import random_circuit, uand_circuit
import circuit2mlp.codegen.pipeline, circuit2mlp.formats.yaml_format, circuit2mlp.passes.registry

family, size, width, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
start = time.perf_counter()
if family == "uand":
    circuit = uand_circuit(size)
else:
    circuit = random_circuit(size, size, 10, seed=0)
built = time.perf_counter()
config = CompileConfig(width=None if width == "auto" else int(width), sparsity=3)
network, report = compile_circuit(circuit, config)
compiled = time.perf_counter()
network.save(out)
saved = time.perf_counter()
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({
    "gates": len(circuit.gates),
    "neurons": report.neurons,
    "layers": len(network.layers),
    "build_seconds": round(built - start, 2),
    "compile_seconds": round(compiled - built, 2),
    "write_seconds": round(saved - compiled, 2),
    "compile_and_write_seconds": round(saved - built, 2),
    "file_bytes": out.stat().st_size,
    "peak_rss_bytes": peak,
}))
"""


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure(family: str, size: int, width: str, folder: Path) -> dict:
    """One compile in a fresh process (this checkout's circuit2mlp first on the path)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    before = load()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, family, str(size), width, str(folder / "w.npz")],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    (folder / "w.npz").unlink(missing_ok=True)
    return {
        "family": family,
        "size": size,
        "width": width,
        **row,
        "load_before": before,
        "load_after": load(),
    }


def fit_exponent(points: list[dict], key: str) -> float | None:
    """Least-squares slope of log(key) against log(gates)."""
    if len(points) < 2:
        return None
    x = np.log([p["gates"] for p in points])
    y = np.log([p[key] for p in points])
    slope, _ = np.polyfit(x, y, 1)
    return round(float(slope), 3)


def plot(result: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for family, style in zip(FAMILIES, ("o-", "s-", "^-"), strict=True):
        pts = [p for p in result["points"] if p["family"] == family]
        if not pts:
            continue
        gates = [p["gates"] for p in pts]
        b = result["exponents"][family]["compile_seconds"]
        ax_t.loglog(gates, [p["compile_seconds"] for p in pts], style, label=f"{family} (b = {b})")
        ax_t.loglog(
            gates,
            [p["compile_and_write_seconds"] for p in pts],
            style,
            alpha=0.4,
            label=f"{family}, + write",
        )
        ax_m.loglog(gates, [p["peak_rss_bytes"] / 2**30 for p in pts], style, label=family)
    ax_t.set_xlabel("gates")
    ax_t.set_ylabel("seconds")
    ax_t.set_title("compile time (default method)")
    ax_t.legend(fontsize=8)
    ax_m.set_xlabel("gates")
    ax_m.set_ylabel("peak RSS (GiB)")
    ax_m.set_title("peak memory")
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--uand", default="250,500,1000,1415", help="U-AND input counts m")
    parser.add_argument(
        "--uand-widths", default="2000,3000,5000,6000", help="width per m (or 'auto')"
    )
    parser.add_argument(
        "--random", default="1000,3000,10000,30000,100000", help="random circuit widths w"
    )
    parser.add_argument(
        "--random-fixed",
        default="1000,3000,10000,30000,100000",
        help="random circuit widths w compiled at a fixed width (no width search)",
    )
    parser.add_argument("--fixed-width", default="512", help="neurons per superposed layer")
    parser.add_argument("--out", type=Path, default=OUT / "compile_scaling.json")
    args = parser.parse_args()
    plan = []
    if args.quick:
        plan = [
            ("uand", 60, "500"),
            ("uand", 120, "800"),
            ("random", 300, "auto"),
            ("random", 1000, "auto"),
        ]
    else:
        ms = [int(v) for v in args.uand.split(",") if v]
        widths = args.uand_widths.split(",")
        plan += [("uand", m, w) for m, w in zip(ms, widths, strict=True)]
        plan += [("random", int(w), "auto") for w in args.random.split(",") if w]
        plan += [
            ("random-fixed", int(w), args.fixed_width) for w in args.random_fixed.split(",") if w
        ]
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, size, width in plan:
            row = measure(family, size, width, Path(tmp))
            points.append(row)
            print(
                f"{family:>7} {size:>7} gates {row['gates']:>9,} width {width:>5} "
                f"compile {row['compile_seconds']:>7.1f} s  +write {row['write_seconds']:>6.1f} s  "
                f"peak {row['peak_rss_bytes'] / 2**30:5.2f} GiB  load {row['load_before']}",
                flush=True,
            )
    exponents = {
        family: {
            key: fit_exponent([p for p in points if p["family"] == family], key)
            for key in ("compile_seconds", "compile_and_write_seconds", "peak_rss_bytes")
        }
        for family in FAMILIES
    }
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
        },
        "method": "superposed (default)",
        "sparsity": 3,
        "points": points,
        "exponents": exponents,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps(exponents))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
