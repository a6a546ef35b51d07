"""Peak memory of ``circuit2mlp compile`` against circuit size: the data behind circuit2mlp.limits.

Not a test: run ``python benchmarks/compile_memory.py`` (a few minutes; ``--quick`` for a
smoke run). For random ``.bench`` circuits of increasing size it runs the real command line in
a fresh process per point (parse + passes + codegen + save, exactly what a user runs) and
records the process's peak resident memory (VmHWM). It prints a table and writes
``docs/results/compile_memory.json``: each point, the bytes per unit (normalized gates plus
carries, as ``limits.circuit_size`` counts them) above the bare interpreter, and the ratio of
the model ``limits.estimate_circuit_memory`` to the measurement (it must stay above 1).

The ``paper`` method, the slowest, is measured only up to ``--max-paper-units`` (1.5e5 units);
the full run takes about 25 minutes on an idle 2-core machine.

The circuits are random DAGs with local wiring plus a few long wires (so layering has to
carry signals across levels, as in real netlists) and every gate read by something.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_report

from circuit2mlp.compiler import METHODS
from circuit2mlp.formats import load_circuit
from circuit2mlp.limits import circuit_size, estimate_circuit_memory

OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "compile_memory.json"
OPS = ("AND", "OR", "NAND", "NOR", "XOR", "XNOR")

_CHILD = """
import sys
from circuit2mlp.cli import main
try:
    main(sys.argv[2:])
    code = 0
except SystemExit as exc:
    code = exc.code or 0
peak = peak_bytes()
with open(sys.argv[1], "w") as handle:
    handle.write(f"{code} {peak}")
"""
# The peak resident memory of *this* program. Not ru_maxrss: Linux carries the parent's peak
# into a child's ru_maxrss across fork and exec, so it would measure this benchmark's process.
_PEAK = """
def peak_bytes():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
"""


def random_bench(gates: int, inputs: int, fanin: int, seed: int, long: float = 0.0) -> str:
    """A random .bench netlist: gate i reads ``fanin`` distinct earlier signals from the
    previous ~2*inputs signals, except a fraction ``long`` read from anywhere (long wires,
    which the layer pass must carry across many levels)."""
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(inputs)]
    lines = [f"INPUT({n})" for n in names]
    read = set()
    body = []
    for i in range(gates):
        pool = len(names)
        window = min(pool, 2 * inputs)
        srcs: set[int] = set()
        while len(srcs) < min(fanin, pool):
            if rng.random() < long:
                srcs.add(rng.randrange(pool))
            else:
                srcs.add(pool - 1 - rng.randrange(window))
        name = f"g{i}"
        body.append(f"{name} = {rng.choice(OPS)}({', '.join(names[s] for s in sorted(srcs))})")
        read.update(names[s] for s in srcs)
        names.append(name)
    outputs = [n for n in names[inputs:] if n not in read] or [names[-1]]
    lines += [f"OUTPUT({n})" for n in outputs]
    return "\n".join(lines + body) + "\n"


def measure(path: Path, method: str, folder: Path) -> tuple[int, int, float]:
    """(exit code, peak RSS bytes, seconds) of one compile in a fresh process."""
    result = folder / "peak.txt"
    args = ["compile", str(path), "-o", str(folder / "out.npz"), "-q", "--method", method]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PEAK + _CHILD, str(result), *args], check=True)
    seconds = time.perf_counter() - start
    code, peak = (int(v) for v in result.read_text().split())
    return code, peak, seconds


def baseline(folder: Path) -> int:
    """Peak RSS of the interpreter with circuit2mlp imported and nothing compiled."""
    result = folder / "base.txt"
    code = _PEAK + ("import sys, circuit2mlp.cli\nopen(sys.argv[1], 'w').write(str(peak_bytes()))")
    subprocess.run([sys.executable, "-c", code, str(result)], check=True)
    return int(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--max-paper-units", type=int, default=150_000)
    args = parser.parse_args()
    # (gates, fan-in, fraction of long wires): local wiring has few carries, long wires many
    plan = [(1_000, 2, 0.0), (10_000, 3, 0.0), (10_000, 3, 0.01)]
    if not args.quick:
        plan += [(3_000, 6, 0.0), (30_000, 2, 0.0), (100_000, 2, 0.0), (100_000, 3, 0.001)]
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = baseline(folder)
        print(f"baseline (interpreter + imports): {base / 2**20:.0f} MiB")
        header = (
            f"{'gates':>8} {'carried':>8} {'fanin':>5} {'method':>10} {'MiB':>8} {'s':>7} "
            f"{'B/unit':>7} {'est/meas':>8}"
        )
        print(header)
        for gates, fanin, long in plan:
            path = folder / f"g{gates}_k{fanin}_l{long}.bench"
            inputs = max(16, gates // 50)
            path.write_text(random_bench(gates, inputs, fanin, seed=gates + fanin, long=long))
            circuit = load_circuit(path)
            size = circuit_size(circuit)
            estimates = {m: estimate_circuit_memory(circuit, method=m) for m in args.methods}
            del circuit
            for method in args.methods:
                if method == "paper" and size.units > args.max_paper_units:
                    continue
                estimate = estimates[method]
                code, peak, seconds = measure(path, method, folder)
                row = {
                    "gates": size.gates,
                    "carried": size.carried,
                    "inputs": size.inputs,
                    "edges": size.edges,
                    "max_fanin": size.max_fanin,
                    "long_wires": long,
                    "method": method,
                    "exit_code": code,
                    "peak_bytes": peak,
                    "above_baseline_bytes": peak - base,
                    "seconds": round(seconds, 2),
                    "estimate_bytes": estimate,
                    "estimate_over_measured": round(estimate / peak, 2),
                }
                points.append(row)
                print(
                    f"{size.gates:>8} {size.carried:>8} {fanin:>5} {method:>10} "
                    f"{peak / 2**20:>8.0f} {seconds:>7.1f} "
                    f"{(peak - base) / size.units:>7.0f} {estimate / peak:>8.2f}"
                )
    payload = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "baseline_bytes": base,
        "points": points,
        "min_estimate_over_measured": min(p["estimate_over_measured"] for p in points),
    }
    write_report(args.out, payload)


if __name__ == "__main__":
    main()
