"""The default compile path at the headline sizes: U-AND m = 1000 and m = 1415 (10^6 gates).

For each m: write the circuit with ``circuit2mlp generate uand``, compile it with the DEFAULT
options (no --width: the automatic width, s = 3) under ``/usr/bin/time -v``, then
``circuit2mlp verify --samples 2000`` (2,000 samples per k = 0..3) under the same, and record
wall and CPU time, peak RSS, neurons and the 3-hot sample error rate.

    python benchmarks/default_path.py -o docs/results/default_path.json

Needs GNU time at /usr/bin/time. The circuits and weights go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import cpu_facts, machine, settings, write_report

CLI = [sys.executable, "-m", "circuit2mlp.cli"]
TIME = "/usr/bin/time"


def timed(args: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    """Run a command under GNU time -v; (result, wall/user/system seconds and peak RSS)."""
    result = subprocess.run([TIME, "-v", *args], capture_output=True, text=True)
    err = result.stderr

    def field(name: str) -> str:
        match = re.search(rf"{re.escape(name)}: (.+)", err)
        return match.group(1).strip() if match else ""

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(p) for p in wall.split(":")] if wall else [0.0]
    seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    facts = {
        "wall_seconds": round(seconds, 1),
        "cpu_seconds": round(
            float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0), 1
        ),
        "peak_rss_gib": round(int(field("Maximum resident set size (kbytes)") or 0) / 2**20, 3),
        "exit_status": result.returncode,
    }
    return result, facts


def run_one(m: int, folder: Path, samples: int) -> dict:
    circuit = folder / f"uand{m}.blif"
    weights = folder / f"uand{m}.npz"
    subprocess.run([*CLI, "generate", "uand", "--inputs", str(m), "-o", str(circuit)], check=True)
    compile_args = [*CLI, "compile", str(circuit), "--sparsity", "3", "-o", str(weights), "--json"]
    print(f"m={m}: {' '.join(compile_args[1:])}", flush=True)
    done, compile_facts = timed(compile_args)
    row: dict = {"m": m, "gates": m * (m - 1) // 2, "compile": compile_facts}
    if done.returncode:
        row["compile"]["stderr"] = done.stderr[-2000:]
        return row
    report = json.loads(done.stdout)
    row["neurons"] = report["neurons"]
    row["exact_neurons"] = report["exact_neurons"]
    row["layers"] = [
        {k: v for k, v in layer.items() if k != "groups"} for layer in report["layers"]
    ]
    print(f"m={m}: compiled, {report['neurons']} neurons, {compile_facts}", flush=True)
    verify_args = [*CLI, "verify", str(weights), "--samples", str(samples), "--json"]
    done, verify_facts = timed(verify_args)
    row["verify"] = verify_facts
    if done.stdout.strip():
        result = json.loads(done.stdout)
        per_k = {int(level["k"]): level for level in result["per_k"]}
        hardest = per_k[3]
        row["verify"].update(
            {
                "samples_per_k": {k: v["samples"] for k, v in per_k.items()},
                "three_hot_sample_error_rate": hardest["sample_error_rate"],
                "three_hot_wrong_samples": hardest["sample_errors"],
                "overall_sample_error_rate": result["overall"]["sample_error_rate"],
            }
        )
    print(f"m={m}: verified, {row['verify']}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default="1000,1415")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/results/default_path.json"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in (int(v) for v in args.inputs.split(",")):
            rows.append(run_one(m, Path(tmp), args.samples))
            write_report(
                args.output,
                {
                    "machine": machine(load, **cpu_facts(), memory_gib=_memory_gib()),
                    "settings": settings(args),
                    "rows": rows,
                },
            )
    print(f"total {time.time() - started:.0f} s")


def _memory_gib() -> float:
    from circuit2mlp.limits import physical_memory

    total = physical_memory()
    return round(total / 2**30, 1) if total else 0.0


if __name__ == "__main__":
    main()
