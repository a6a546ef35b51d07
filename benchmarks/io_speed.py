"""Parsing and verification speed on large circuits, in one run on one machine.

Not a test: run ``python benchmarks/io_speed.py`` (about 5 minutes with ``--weights`` given,
plus a compile of U-AND m = 1415 otherwise; up to ~4 GiB). It prints tables and writes
``docs/results/io_speed.json``.

* ``parse``: :func:`circuit2mlp.formats.load_circuit` on U-AND files written by
  ``circuit2mlp generate`` (inputs ``x*``, one two-input AND per pair) in YAML, BLIF and
  .bench, for m in ``--inputs`` (default 100, 447, 1000, 1415: 4,950 to 1,000,405 gates).
  Each file is timed with the fast readers (the default) and, up to ``--full-max`` gates,
  with ``fast=False``: the full readers alone (for YAML, composing with libyaml). Both give
  the same circuit (checked). ``--baseline CHECKOUT`` adds the time of another checkout's
  ``load_circuit`` on the same file (e.g. ``git archive b163875``, the commit before the fast
  readers and the networkx-free IR checks), run in a subprocess.
* ``verify``: ``circuit2mlp verify WEIGHTS -n 1000`` on a compiled U-AND m = 1415 network
  (10^6 outputs; sparsity 3, so k = 0..3 and 3,001 samples), run as a subprocess for its
  wall time and peak RSS, then once more in this process for the time of each phase:
  loading the npz, parsing the embedded circuit, simulating it, and the forward passes and
  comparisons. ``--weights`` reuses a compiled file, otherwise it is compiled first
  (default method, ``--width 6000``; minutes).

Timings are wall-clock seconds, best of ``--repeats`` for the parses. The machine is shared:
the JSON records the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import cpu_facts, machine, settings, write_report

from circuit2mlp.formats import load_circuit, parse_circuit
from circuit2mlp.generate import uand_text

OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "io_speed.json"
FORMATS = ("yaml", "blif", "bench")


def bench_parse(args: argparse.Namespace, folder: Path) -> list[dict]:
    from circuit2mlp.formats import bench, blif, yaml_format

    full = {"yaml": yaml_format.parse_yaml, "blif": blif.parse_blif, "bench": bench.parse_bench}
    rows = []
    for m in args.inputs:
        for fmt in FORMATS:
            path = folder / f"uand{m}.{fmt}"
            path.write_text(uand_text(m, fmt))
            best, circuit = float("inf"), None
            for _ in range(args.repeats):
                start = time.perf_counter()
                circuit = load_circuit(path)
                best = min(best, time.perf_counter() - start)
            row = {
                "format": fmt,
                "inputs": m,
                "gates": len(circuit.gates),
                "bytes": path.stat().st_size,
                "seconds": round(best, 3),
                "gates_per_s": round(len(circuit.gates) / best),
            }
            if args.baseline is not None:
                row["baseline_seconds"] = round(baseline_parse(args.baseline, path), 3)
            if len(circuit.gates) <= args.full_max:
                text = path.read_text()
                start = time.perf_counter()
                slow = full[fmt](text, str(path), None, fast=False)
                row["full_reader_seconds"] = round(time.perf_counter() - start, 3)
                row["speedup"] = round(row["full_reader_seconds"] / best, 1)
                assert slow == circuit and slow.input_locs == circuit.input_locs
                assert [g.loc for g in slow.gates] == [g.loc for g in circuit.gates]
            del circuit
            path.unlink()
            rows.append(row)
            extra = f" (full reader {row['full_reader_seconds']:.2f} s)" if "speedup" in row else ""
            if "baseline_seconds" in row:
                extra += f" (baseline {row['baseline_seconds']:.2f} s)"
            print(f"  parse {fmt:5s} {row['gates']:>9,d} gates: {best:7.2f} s{extra}", flush=True)
    return rows


def baseline_parse(checkout: Path, path: Path) -> float:
    """load_circuit's time on ``path`` with the code of another checkout (e.g. the commit
    before the fast readers), in a subprocess."""
    code = (
        "import time, sys; from circuit2mlp.formats import load_circuit; "
        "t = time.perf_counter(); load_circuit(sys.argv[1]); print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    return float(done.stdout)


def compile_weights(args: argparse.Namespace, folder: Path) -> Path:
    source = folder / f"uand{args.verify_inputs}.blif"
    source.write_text(uand_text(args.verify_inputs, "blif"))
    weights = folder / f"uand{args.verify_inputs}.npz"
    command = [sys.executable, "-m", "circuit2mlp", "compile", str(source), "-q"]
    command += ["--width", str(args.width), "-s", "3", "-o", str(weights)]
    print(f"  compiling {source.name} (width {args.width}) ...", flush=True)
    subprocess.run(command, check=True)
    return weights


def bench_verify(args: argparse.Namespace, weights: Path) -> dict:
    command = [sys.executable, "-m", "circuit2mlp", "verify", str(weights)]
    command += ["-n", str(args.samples), "-s", "3", "--json"]
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        total = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 1):
            raise RuntimeError(f"verify failed with exit status {child.returncode}")
        out.seek(0)
        report = json.loads(out.read())
    peak_gib = usage.ru_maxrss / 2**20  # KiB on Linux
    print(f"  verify (CLI): {total:.1f} s, peak RSS {peak_gib:.2f} GiB", flush=True)
    phases = verify_phases(weights, args.samples)
    print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()), flush=True)
    overall = report["overall"]
    return {
        "weights": weights.name,
        "gates": report["gates"],
        "neurons": report["neurons"],
        "samples": overall["samples"],
        "output_bits": overall["output_bits"],
        "seconds": round(total, 1),
        "peak_rss_gib": round(peak_gib, 2),
        "phases_seconds": {k: round(v, 1) for k, v in phases.items()},
        "bit_errors": overall["bit_errors"],
        "bit_error_rate": overall["bit_error_rate"],
        "sample_error_rate": overall["sample_error_rate"],
        "per_k_bit_errors": [s["bit_errors"] for s in report["per_k"]],
    }


def verify_phases(weights: Path, samples: int) -> dict[str, float]:
    """The same verify, in this process, timed phase by phase."""
    from circuit2mlp.network import Network
    from circuit2mlp.verify import verify

    marks = [("start", time.perf_counter())]

    def mark(phase: str) -> None:  # the phase that just ended
        marks.append((phase, time.perf_counter()))

    network = Network.load(weights)
    mark("load weights")
    circuit = parse_circuit(network.circuit_yaml, "yaml", path=f"{weights}[circuit]")
    mark("parse circuit")
    ended = {"simulating the circuit": "draw inputs", "verifying": "simulate circuit"}
    verify(circuit, network, samples=samples, sparsity=3, stage=lambda text: mark(ended[text]))
    mark("forward + compare")
    return {name: t - marks[i][1] for i, (name, t) in enumerate(marks[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, nargs="+", default=[100, 447, 1000, 1415])
    parser.add_argument("--full-max", type=int, default=100_000, help="largest full-reader run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose parse times to add (subprocess)"
    )
    parser.add_argument("--weights", type=Path, help="compiled U-AND network to verify")
    parser.add_argument("--verify-inputs", type=int, default=1415)
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--samples", type=int, default=1000, help="samples per level k")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="io_speed_") as tmp:
        folder = Path(tmp)
        results: dict = {"parse": bench_parse(args, folder)}
        if not args.no_verify:
            weights = args.weights or compile_weights(args, folder)
            results["verify"] = bench_verify(args, weights)
    report = {
        "results": results,
        "settings": settings(args),
        "machine": machine(load_before, **cpu_facts()),
    }
    write_report(args.out, report)


if __name__ == "__main__":
    main()
