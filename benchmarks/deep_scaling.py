"""The ``deep`` method measured: neurons against gates per level, depth, wires per neuron,
a second circuit family, and the default method left as it was.

Not a test: run from the repository root, one command for everything or ``--parts`` for some:

* ``a`` scaling. Random circuits of m gates per level (``--ms``), depth ``--depth-a`` (4),
  s = 3. Per m: the exact method's neurons per level, the automatic width's, and the smallest
  neurons per level whose network gets at most ``--target`` of ``--samples`` exactly-3-hot
  samples wrong at the outputs (bracketed by factors of 1.5, then bisected to
  ``--tolerance``). Each probe builds the layer blocks at ``--width`` w and runs the samples
  through them in feature space: the numbers the network computes, without assembling its
  weights file. Then the fitted exponent of neurons per level against m, next to the exact
  method, m^(2/3) (Hänni et al.) and sqrt(m log m) (Adler and Shavit). ``--confirm m,..``:
  for those m, the CLI compiles the generated file at the width found and verifies it
  (``--verify-samples`` per k), the full product path.
* ``b`` depth. m = ``--m-depth`` gates per level, depths ``--depths``, a fixed
  ``--width-depth`` neurons per layer, with and without error correction: per level the share
  of samples with a wrong wire so far, wires off by more than 0.1 and by more than 0.5 per
  sample, neurons on per sample.
* ``c`` wires per neuron per level: recorded in every row of a, b and d (the level's gates,
  carries included, over its layer's neurons); ``c`` alone prints them from the JSON files.
* ``d`` other families (``--families``): the search of ``a`` at ``--ms-family`` (depth
  ``--depth-a``) and at m = ``--m-depth``, depth ``--depth-family`` (first width tried
  ``--start-family``), where the per-level
  figures of ``b`` are taken at the width found, with and without error correction.
* ``e`` the default method elsewhere: ``circuit2mlp check circuits/`` and the default
  compile of the U-AND of ``--uand`` inputs (neurons, layer kinds: none may be ``deep``).

Circuits come from :func:`circuit2mlp.generate.random_layers`, the generator behind
``circuit2mlp generate random`` (same options, same circuit); each is built once per run. The
blocks are built by :func:`circuit2mlp.codegen.deep_pipeline.build_deep_blocks`, the compiler's
own path. Results go to ``docs/results/deep_study_<part>.json`` (rows are merged by their
settings, so parts and sizes can be run one at a time) with the machine and load, and plots to
``docs/results/deep_study_scaling.png`` and ``deep_study_depth.png``.

Usage: python benchmarks/deep_scaling.py --parts a --ms 10000,30000,100000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import cpu_facts, machine, peak_rss_gib

OUT = Path("docs/results")
SPARSITY = 3


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class Family:
    """A random-circuit family: the options of ``circuit2mlp generate random``."""

    name: str
    wiring: str = "uniform"
    mix: str | None = None
    fan_in: tuple[int, ...] = (2,)

    def cli_options(self) -> list[str]:
        """The ``generate random`` options that select this family."""
        opts = [] if self.wiring == "uniform" else ["--family", self.wiring]
        if self.mix:
            opts += ["--mix", self.mix]
        if self.fan_in != (2,) or self.wiring != "uniform":
            opts += ["-k", ",".join(map(str, self.fan_in))]
        return opts


FAMILIES = {
    "classic": Family("classic"),
    "local": Family("local", wiring="local", mix="all", fan_in=(2, 3)),
    "all23": Family("all23", mix="all", fan_in=(2, 3)),
}


def smallest_passing(
    passes: Callable[[int], bool],
    start: int,
    tolerance: float = 0.05,
    factor: float = 1.5,
    floor: int = 16,
    ceiling: int | None = None,
) -> tuple[int | None, int | None]:
    """(smallest width found to pass, largest found to fail) for a pass/fail probe that is
    monotone in the width: from ``start`` step by ``factor`` up (until a pass, at most
    ``ceiling``) or down (until a fail, at least ``floor``), then bisect until the gap is at
    most ``tolerance`` of the passing width. (None, largest fail) when nothing up to the
    ceiling passes; (floor, None) when even the floor passes."""
    lo: int | None = None
    hi: int | None = None
    w = max(floor, int(start))
    if passes(w):
        hi = w
        while lo is None:
            w = max(floor, int(w / factor))
            if w >= hi:
                return hi, None
            if passes(w):
                hi = w
            else:
                lo = w
    else:
        lo = w
        while hi is None:
            w = math.ceil(w * factor)
            if ceiling is not None and w > ceiling:
                if lo >= ceiling or not passes(ceiling):
                    return None, max(lo, ceiling)
                w = ceiling
                hi = w
                break
            if passes(w):
                hi = w
            else:
                lo = w
    while hi - lo > max(1, tolerance * hi):
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi, lo


def fit_exponent(ms: list[float], ns: list[float]) -> float | None:
    """Least-squares slope of log n against log m (None for fewer than two points)."""
    if len(ms) < 2:
        return None
    return float(np.polyfit(np.log(np.asarray(ms, float)), np.log(np.asarray(ns, float)), 1)[0])


def reference_curves(ms: list[float], anchor: float) -> dict[str, list[float]]:
    """m^(2/3) and sqrt(m log m), both scaled to equal ``anchor`` at the first m."""
    m = np.asarray(ms, float)
    two_thirds = (m / m[0]) ** (2 / 3)
    root = np.sqrt(m * np.log(m))
    return {
        "m^(2/3)": (anchor * two_thirds).tolist(),
        "sqrt(m log m)": (anchor * root / root[0]).tolist(),
    }


def merge_rows(old: list[dict], new: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """``old`` with every row of ``new`` in place of the old row of equal ``keys``."""
    index = {tuple(r.get(k) for k in keys): r for r in old}
    for r in new:
        index[tuple(r.get(k) for k in keys)] = r
    return list(index.values())


# --------------------------------------------------------------------------- circuits, blocks


def _memoize_gate_arrays() -> None:
    """Cache ``gate_arrays`` per layer: building the blocks at every probed width re-derives
    the same arrays of the same layer (a Python pass over its gates) a dozen times. Keyed by
    the layer object and a fingerprint of the feature numbering; ``check_cache`` compares the
    weights built with and without it."""
    from circuit2mlp.codegen import deep
    from circuit2mlp.codegen import gates as gate_module

    original = getattr(gate_module, "_uncached_gate_arrays", gate_module.gate_arrays)
    memo: dict[tuple, tuple] = {}

    def cached(gates, col):
        head = tuple(col[s] for s in gates[0].fanin) if len(gates) else ()
        tail = tuple(col[s] for s in gates[-1].fanin) if len(gates) else ()
        key = (id(gates), len(gates), len(col), head, tail)
        hit = memo.get(key)
        if hit is not None and hit[0] is gates:
            return hit[1]
        value = original(gates, col)
        memo[key] = (gates, value)
        return value

    gate_module._uncached_gate_arrays = original
    deep.gate_arrays = cached  # the layer items read them once per layer and width


_CIRCUITS: dict[tuple, object] = {}


def layered_circuit(family: Family, m: int, depth: int, seed: int):
    """The lowered circuit ``circuit2mlp generate random -m m -G m -L depth`` writes for the
    family (built in memory from the same generator; one per run)."""
    from circuit2mlp.compiler import CompileConfig, lower
    from circuit2mlp.generate import random_layers

    key = (family.name, m, depth, seed)
    if key not in _CIRCUITS:
        _CIRCUITS.clear()  # one circuit at a time: the big ones take gigabytes
        fan_in = family.fan_in[0] if len(family.fan_in) == 1 else family.fan_in
        start = time.process_time()
        circuit = random_layers(
            m, m, depth, fan_in, seed, mix=family.mix, family=family.wiring
        ).circuit()
        layered = lower(circuit, CompileConfig())
        del circuit
        print(f"  circuit {key}: {time.process_time() - start:.0f} s CPU", flush=True)
        _CIRCUITS[key] = layered
    return _CIRCUITS[key]


def build(layered, width: int | None, seed: int, error_correction: bool = True):
    """(input features, blocks, wires stored negated) of ``--method deep`` at ``width``."""
    from circuit2mlp.codegen.deep_pipeline import build_deep_blocks
    from circuit2mlp.compiler import CompileConfig

    config = CompileConfig(
        method="deep", width=width, seed=seed, sparsity=SPARSITY, error_correction=error_correction
    )
    features, _, blocks, flipped = build_deep_blocks(layered, config)
    return features, blocks, flipped


def check_cache(layered, width: int, seed: int) -> bool:
    """True when the blocks built with the gate-array cache equal those built without it."""
    from circuit2mlp.codegen import deep
    from circuit2mlp.codegen import gates as gate_module

    _, cached, _ = build(layered, width, seed)
    memoized = deep.gate_arrays
    deep.gate_arrays = getattr(gate_module, "_uncached_gate_arrays", gate_module.gate_arrays)
    try:
        _, plain, _ = build(layered, width, seed)
    finally:
        deep.gate_arrays = memoized
    same = len(cached) == len(plain)
    for a, b in zip(cached, plain, strict=False):
        same &= (a.weight != b.weight).nnz == 0 and np.array_equal(a.bias, b.bias)
        same &= (a.features.readout != b.features.readout).nnz == 0
    return bool(same)


def feature_pass(
    layered, features, blocks, flipped, samples: int, seed: int, budget: float = 4e7
) -> dict:
    """Run ``samples`` exactly-3-hot inputs through the blocks in feature space, in chunks of
    at most ``budget`` floats per matrix. Per level: share of samples with a wrong wire (read
    off by more than 1/2) at this level or below, wires off by more than 0.1 / 0.5 per
    sample, neurons on per sample; and the share with a wrong output (the network's answer)."""
    from circuit2mlp.codegen.activity import level_values
    from circuit2mlp.simulate import sparse_inputs, unpack_bits

    m = len(layered.inputs)
    widest = max([m, *(b.neurons for b in blocks), *(b.features.readout.shape[0] for b in blocks)])
    chunk = int(max(16, min(samples, budget // widest)))
    levels = len(blocks)
    bad_so_far = np.zeros(samples, bool)
    out_wrong = np.zeros(samples, bool)
    wrong_at = np.zeros(levels)
    off1 = np.zeros(levels)
    off5 = np.zeros(levels)
    on = np.zeros(levels)
    flips = [np.array([n in flipped for n in b.features.names]) for b in blocks]
    done = 0
    part = 0
    while done < samples:
        n = min(chunk, samples - done)
        x = sparse_inputs(m, SPARSITY, n, np.random.default_rng([seed, part]))
        values = level_values(layered, x)
        f = features.readout @ x.T.astype(np.float32) + features.bias[:, None]
        f = np.asarray(f, dtype=np.float32)
        bad = np.zeros(n, bool)
        for i, block in enumerate(blocks):
            h = block.weight @ f
            h += block.bias[:, None]
            np.maximum(h, 0, out=h)
            on[i] += float((h > 0).sum())
            f = block.features.readout @ h
            f += block.features.bias[:, None]
            del h
            truth = unpack_bits(values[i + 1], n).T
            truth = np.where(flips[i][:, None], ~truth, truth)
            off = np.abs(f - truth)
            del truth
            wrong = off > 0.5
            bad |= wrong.any(axis=0)
            wrong_at[i] += float(bad.sum())
            off1[i] += float((off > 0.1).sum())
            off5[i] += float(wrong.sum())
            if i == levels - 1:
                out_wrong[done : done + n] = wrong.any(axis=0)
            del off, wrong
        bad_so_far[done : done + n] = bad
        done += n
        part += 1
    return {
        "samples": samples,
        "output_wrong": float(out_wrong.mean()),
        "output_wrong_count": int(out_wrong.sum()),
        "any_wire_wrong": float(bad_so_far.mean()),
        "levels": [
            {
                "level": i + 1,
                "wrong_samples_so_far": wrong_at[i] / samples,
                "wires_off_0.1_per_sample": off1[i] / samples,
                "wires_off_0.5_per_sample": off5[i] / samples,
                "neurons_on_per_sample": on[i] / samples,
            }
            for i in range(levels)
        ],
    }


def layer_facts(blocks) -> dict:
    """Neurons, exact-method neurons, wires per neuron and predicted errors, per level."""
    return {
        "neurons_per_level": [int(b.neurons) for b in blocks],
        "exact_neurons_per_level": [int(b.stats.get("exact_neurons", 0)) for b in blocks],
        "wires_per_neuron_per_level": [
            round(len(b.features.names) / max(b.neurons, 1), 4) for b in blocks
        ],
        "pools_per_level": [b.stats.get("pools") for b in blocks],
        "predicted_sample_error": float(
            1 - math.exp(-sum(b.stats.get("predicted_errors", 0.0) for b in blocks))
        ),
    }


# --------------------------------------------------------------------------- parts


def search_row(family: Family, m: int, depth: int, args, start: int | None = None) -> dict:
    """Exact and automatic neurons per level, and the smallest width meeting the target."""
    cpu0 = time.process_time()
    layered = layered_circuit(family, m, depth, args.seed)
    features, auto, flipped = build(layered, None, args.seed)
    auto_pass = feature_pass(layered, features, auto, flipped, args.samples, args.seed + 1)
    auto_facts = layer_facts(auto)
    exact = max(auto_facts["exact_neurons_per_level"])
    print(
        f"  {family.name} m={m} L={depth}: exact {exact}, automatic "
        f"{auto_facts['neurons_per_level']} -> {auto_pass['output_wrong']:.4f} wrong",
        flush=True,
    )
    probes: list[dict] = []

    def passes(width: int) -> bool:
        t = time.process_time()
        feats, blocks, flips = build(layered, width, args.seed)
        result = feature_pass(layered, feats, blocks, flips, args.samples, args.seed + 1)
        facts = layer_facts(blocks)
        probes.append(
            {
                "width": width,
                "neurons_per_level": facts["neurons_per_level"],
                "output_wrong": result["output_wrong"],
                "any_wire_wrong": result["any_wire_wrong"],
                "cpu_seconds": round(time.process_time() - t, 1),
            }
        )
        print(
            f"    width {width}: {max(facts['neurons_per_level'])} neurons/level, "
            f"{result['output_wrong']:.4f} wrong outputs, {result['any_wire_wrong']:.4f} any "
            f"wire ({probes[-1]['cpu_seconds']} s)",
            flush=True,
        )
        return result["output_wrong"] <= args.target

    guess = start or exact
    found, failed = smallest_passing(
        passes, guess, tolerance=args.tolerance, floor=64, ceiling=4 * exact
    )
    row = {
        "family": family.name,
        "generate": generate_command(family, m, depth, args.seed, "circuit.yaml"),
        "m": m,
        "depth": depth,
        "seed": args.seed,
        "samples": args.samples,
        "target": args.target,
        "exact_neurons_per_level": exact,
        "auto": {**auto_facts, "pass": auto_pass},
        "smallest_width": found,
        "largest_failing_width": failed,
        "probes": probes,
    }
    if found is not None:
        feats, blocks, flips = build(layered, found, args.seed)
        row["smallest"] = {
            **layer_facts(blocks),
            "pass": feature_pass(layered, feats, blocks, flips, args.samples, args.seed + 1),
        }
        row["smallest_neurons_per_level"] = max(row["smallest"]["neurons_per_level"])
    row["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    row["peak_rss_gib"] = round(peak_rss_gib(), 2)
    return row


def depth_row(family: Family, m: int, depth: int, width: int, ec: bool, args) -> dict:
    """Per-level figures at a fixed width, with or without error correction."""
    cpu0 = time.process_time()
    layered = layered_circuit(family, m, depth, args.seed)
    feats, blocks, flips = build(layered, width, args.seed, error_correction=ec)
    result = feature_pass(layered, feats, blocks, flips, args.samples, args.seed + 1)
    print(
        f"  {family.name} m={m} L={depth} width={width} ec={ec}: "
        f"{result['output_wrong']:.4f} wrong outputs",
        flush=True,
    )
    return {
        "family": family.name,
        "m": m,
        "depth": depth,
        "width": width,
        "error_correction": ec,
        "seed": args.seed,
        **layer_facts(blocks),
        "pass": result,
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }


def generate_command(family: Family, m: int, depth: int, seed: int, path: str) -> list[str]:
    """The CLI command that writes the circuit of a row."""
    return [
        "circuit2mlp", "generate", "random", "-m", str(m), "-G", str(m), "-L", str(depth),
        *family.cli_options(), "--seed", str(seed), "-q", "-o", path,
    ]  # fmt: skip


def _run(cmd: list[str], log: list[dict]) -> subprocess.CompletedProcess:
    """Run a CLI command (``circuit2mlp`` as ``python -m circuit2mlp.cli``), timing it."""
    argv = [sys.executable, "-m", "circuit2mlp.cli", *cmd[1:]] if cmd[0] == "circuit2mlp" else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    print("  $", shlex.join(cmd), flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.append(
        {
            "command": shlex.join(cmd),
            "exit": proc.returncode,
            "wall_seconds": round(time.time() - start, 1),
            "user_cpu_seconds": round(after.ru_utime - before.ru_utime, 1),
            "peak_rss_gib_children": round(after.ru_maxrss / 2**20, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
    )
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], flush=True)
    return proc


def confirm(family: Family, m: int, depth: int, width: int, args) -> dict:
    """Generate (once), compile at ``width`` and verify with the CLI; the figures."""
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    stem = f"deepstudy_{family.name}_m{m}_d{depth}_s{args.seed}"
    circuit = data / f"{stem}.yaml"
    weights = data / f"{stem}_w{width}.npz"
    log: list[dict] = []
    if not circuit.exists():
        _run(generate_command(family, m, depth, args.seed, str(circuit)), log)
    comp = _run(
        ["circuit2mlp", "compile", str(circuit), "--method", "deep", "--width", str(width),
         "-s", str(SPARSITY), "--json", "-o", str(weights)],
        log,
    )  # fmt: skip
    row: dict = {"family": family.name, "m": m, "depth": depth, "width": width, "commands": log}
    if comp.returncode != 0:
        row["error"] = comp.stderr.strip()[-500:]
        return row
    report = json.loads(comp.stdout)
    row["neurons"] = report.get("neurons")
    row["layer_neurons"] = [r.get("neurons") for r in report.get("layers", [])]
    ver = _run(
        ["circuit2mlp", "verify", str(weights), "--samples", str(args.verify_samples), "--json"],
        log,
    )
    try:
        result = json.loads(ver.stdout)
    except json.JSONDecodeError:
        row["error"] = ver.stderr.strip()[-500:]
        return row
    row["verify"] = result
    weights.unlink(missing_ok=True)
    return row


def first_guess(rows: list[dict], family: str, depth: int, m: int) -> int | None:
    """A first width for m: the stored smallest width of the largest smaller m of the same
    family and depth, scaled by (m / that m)^0.5 (None without one)."""
    below = [
        r
        for r in rows
        if r.get("family") == family and r.get("depth") == depth and r.get("smallest_width")
        and r["m"] < m
    ]
    if not below:
        return None
    r = max(below, key=lambda r: r["m"])
    return int(r["smallest_width"] * (m / r["m"]) ** 0.5)


def part_scaling(family: Family, ms: list[int], depth: int, args) -> list[dict]:
    path = OUT / "deep_study_scaling.json"
    stored = json.loads(path.read_text())["rows"] if path.exists() else []
    rows: list[dict] = []
    for m in ms:
        start = first_guess(stored + rows, family.name, depth, m)
        row = search_row(family, m, depth, args, start)
        if m in args.confirm and row.get("smallest_width"):
            row["confirm"] = confirm(family, m, depth, row["smallest_width"], args)
        rows.append(row)
        save("scaling", rows, ("family", "m", "depth", "samples", "target"), args)
    return rows


def part_depth(family: Family, m: int, depths: list[int], width: int, args) -> list[dict]:
    rows = []
    for depth in depths:
        for ec in (True, False):
            rows.append(depth_row(family, m, depth, width, ec, args))
            save("depth", rows, ("family", "m", "depth", "width", "error_correction"), args)
    return rows


def part_family(args) -> list[dict]:
    rows = []
    for name in args.families:
        family = FAMILIES[name]
        part_scaling(family, args.ms_family, args.depth_a, args)
        row = search_row(family, args.m_depth, args.depth_family, args, args.start_family)
        rows.append(row)
        save("family", rows, ("family", "m", "depth", "samples", "target"), args)
        width = row.get("smallest_width")
        if width:
            part_depth(family, args.m_depth, [args.depth_family], width, args)
    return rows


def part_check(args) -> dict:
    """The corpus check and the default compile of the U-AND, with the CLI."""
    log: list[dict] = []
    corpus = _run(["circuit2mlp", "check", "circuits/", "--json"], log)
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    uand = data / f"deepstudy_uand{args.uand}.yaml"
    if not uand.exists():
        _run(["circuit2mlp", "generate", "uand", "--inputs", str(args.uand), "-o", str(uand)], log)
    weights = data / f"deepstudy_uand{args.uand}.npz"
    comp = _run(
        ["circuit2mlp", "compile", str(uand), "-s", "3", "--json", "-o", str(weights)], log
    )
    report = json.loads(comp.stdout) if comp.returncode == 0 else {}
    kinds = sorted({str(r.get("kind")) for r in report.get("layers", [])})
    ver = _run(
        ["circuit2mlp", "verify", str(weights), "--samples", str(args.verify_samples), "--json"],
        log,
    )
    weights.unlink(missing_ok=True)
    try:
        verified = json.loads(ver.stdout)
    except json.JSONDecodeError:
        verified = {"error": ver.stderr.strip()[-500:]}
    corpus_result = json.loads(corpus.stdout) if corpus.stdout.strip() else {}
    return {
        "corpus_exit": corpus.returncode,
        "corpus": corpus_result,
        "uand_inputs": args.uand,
        "uand_neurons": report.get("neurons"),
        "uand_method": report.get("method"),
        "uand_layer_kinds": kinds,
        "uand_verify": verified,
        "commands": log,
    }


# --------------------------------------------------------------------------- output


def save(part: str, rows: list[dict], keys: tuple[str, ...], args) -> None:
    """Merge ``rows`` into docs/results/deep_study_<part>.json with the machine and command;
    every row names the commit it was built at (a file can hold rows of several)."""
    path = OUT / f"deep_study_{part}.json"
    old = json.loads(path.read_text()) if path.exists() else {"rows": []}
    for r in old.get("rows", []):  # rows of earlier runs keep the commit they were built at
        r.setdefault("construction_commit", old.get("construction_commit"))
    for r in rows:
        r["construction_commit"] = args.commit
    old["rows"] = merge_rows(old.get("rows", []), rows, keys)
    old.setdefault("commands", [])
    if args.command not in old["commands"]:
        old["commands"].append(args.command)
    old["construction_commit"] = args.commit
    old["machine"] = machine(args.load, **cpu_facts(), memory_gib=24, memory_cap=args.cap)
    if part == "scaling":
        old["fits"] = fits(old["rows"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(old, indent=1) + "\n")


def fits(rows: list[dict]) -> dict:
    """Fitted exponent of the smallest neurons per level against m, per family and depth."""
    out = {}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("smallest_neurons_per_level"):
            groups.setdefault((r["family"], r["depth"]), []).append(r)
    for (family, depth), rs in groups.items():
        rs.sort(key=lambda r: r["m"])
        ms = [r["m"] for r in rs]
        out[f"{family}/depth{depth}"] = {
            "ms": ms,
            "exponent_smallest": fit_exponent(ms, [r["smallest_neurons_per_level"] for r in rs]),
            "exponent_auto": fit_exponent(ms, [max(r["auto"]["neurons_per_level"]) for r in rs]),
            "exponent_exact": fit_exponent(ms, [r["exact_neurons_per_level"] for r in rs]),
        }
    return out


def plot_scaling(path: Path, out: Path) -> None:
    """Neurons per level against m, per family, with the reference curves through the first
    point of the family measured over the most m."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(path.read_text())
    fig, ax = plt.subplots(figsize=(7, 4.8))
    groups: dict[tuple, list[dict]] = {}
    for r in data["rows"]:
        if r.get("smallest_neurons_per_level"):
            groups.setdefault((r["family"], r["depth"]), []).append(r)
    widest = max(groups, key=lambda k: (len(groups[k]), k[0] == "classic"), default=None)
    for n, ((family, depth), rs) in enumerate(sorted(groups.items())):
        rs.sort(key=lambda r: r["m"])
        m = [r["m"] for r in rs]
        small = [r["smallest_neurons_per_level"] for r in rs]
        fit = fit_exponent(m, small)
        label = f"{family}, depth {depth}: smallest for <= 1 % (fit m^{fit or 0:.2f})"
        ax.loglog(m, small, "o-", color=f"C{n}", label=label)
        auto = [max(r["auto"]["neurons_per_level"]) for r in rs]
        label = f"{family}: automatic width, widest level"
        ax.loglog(m, auto, "s:", color=f"C{n}", alpha=0.6, label=label)
        exact = [r["exact_neurons_per_level"] for r in rs]
        ax.loglog(m, exact, "x--", color=f"C{n}", alpha=0.4, label=f"{family}: exact method")
        if (family, depth) == widest and len(m) >= 2:  # the references of the longest range
            ref = reference_curves(m, small[0])
            ax.loglog(m, ref["m^(2/3)"], "k:", label=f"m^(2/3), through {family}'s first point")
            ax.loglog(m, ref["sqrt(m log m)"], "k-.", label="sqrt(m log m), same")
    ax.set_xlabel("gates per level m")
    ax.set_ylabel("neurons per level")
    ax.set_title("--method deep, s = 3, wrong 3-hot samples <= 1 %")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_depth(path: Path, out: Path) -> None:
    """Wrong samples so far, wires off and neurons on per level, with and without error
    correction (default family; the depths share their first levels, so curves overlap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(path.read_text())
    fig, (left, right, third) = plt.subplots(1, 3, figsize=(14, 4))
    rows = sorted(data["rows"], key=lambda r: (r["family"], r["depth"], not r["error_correction"]))
    for r in rows:
        if r["family"] != "classic":
            continue
        lv = r["pass"]["levels"]
        x = [v["level"] for v in lv]
        style = "-" if r["error_correction"] else "--"
        label = f"depth {r['depth']}" + ("" if r["error_correction"] else ", no correction")
        color = f"C{int(math.log2(r['depth']))}"
        left.plot(x, [100 * v["wrong_samples_so_far"] for v in lv], style, color=color,
                  label=label)  # fmt: skip
        right.semilogy(x, [max(v["wires_off_0.1_per_sample"], 1e-3) for v in lv], style,
                       color=color)  # fmt: skip
        third.semilogy(x, [v["neurons_on_per_sample"] for v in lv], style, color=color)
    left.set_xlabel("level")
    left.set_ylabel("% of 3-hot samples with a wrong wire so far")
    right.set_xlabel("level")
    right.set_ylabel("wires off by > 0.1 per sample (floor 1e-3)")
    third.set_xlabel("level")
    third.set_ylabel("neurons on per sample")
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _ints(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,d,e")
    parser.add_argument("--ms", type=_ints, default=[10_000, 30_000, 100_000, 300_000])
    parser.add_argument("--depth-a", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--target", type=float, default=0.01)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--confirm", type=_ints, default=[])
    parser.add_argument("--verify-samples", type=int, default=2000)
    parser.add_argument("--m-depth", type=int, default=100_000)
    parser.add_argument("--depths", type=_ints, default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--width-depth", type=int, default=40_000)
    parser.add_argument("--families", default="local,all23")
    parser.add_argument("--ms-family", type=_ints, default=[10_000, 30_000])
    parser.add_argument("--depth-family", type=int, default=8)
    parser.add_argument(
        "--start-family", type=int, default=40_000, help="first width tried at --m-depth (d)"
    )
    parser.add_argument("--uand", type=int, default=1000)
    parser.add_argument(
        "--data-dir",
        default=str(Path(tempfile.gettempdir()) / "circuit2mlp-deep-study"),
        help="where the generated circuit files and weights of --confirm and part e go",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="no gate-array cache")
    args = parser.parse_args()
    args.families = [f for f in args.families.split(",") if f]
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    args.load = os.getloadavg()[0]
    args.command = shlex.join(["python", "benchmarks/deep_scaling.py", *sys.argv[1:]])
    cap = resource.getrlimit(resource.RLIMIT_AS)[0]
    args.cap = None if cap == resource.RLIM_INFINITY else f"{cap / 2**30:.1f} GiB address space"
    args.commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    parts = set(args.parts.split(","))
    if not args.no_cache:
        _memoize_gate_arrays()
        if parts & {"a", "b", "d"}:
            small = layered_circuit(FAMILIES["classic"], 2000, 2, args.seed)
            if not check_cache(small, 1500, args.seed):
                sys.exit("gate-array cache changed the blocks; run with --no-cache")
    if "a" in parts:
        part_scaling(FAMILIES["classic"], args.ms, args.depth_a, args)
    if "b" in parts:
        part_depth(FAMILIES["classic"], args.m_depth, args.depths, args.width_depth, args)
    if "d" in parts:
        part_family(args)
    if "e" in parts:
        result = part_check(args)
        save("check", [result], ("uand_inputs",), args)
    for part, plotter in (("scaling", plot_scaling), ("depth", plot_depth)):
        path = OUT / f"deep_study_{part}.json"
        if path.exists():
            try:
                plotter(path, OUT / f"deep_study_{part}.png")
            except ImportError:
                print("matplotlib missing: no plot")
    if "c" in parts:
        for part in ("scaling", "depth", "family"):
            path = OUT / f"deep_study_{part}.json"
            if not path.exists():
                continue
            for r in json.loads(path.read_text())["rows"]:
                facts = r.get("smallest") or r
                wires = facts.get("wires_per_neuron_per_level")
                print(part, r["family"], r["m"], r["depth"], r.get("width"), wires)


if __name__ == "__main__":
    main()
