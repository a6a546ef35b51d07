"""Long fuzz campaign over every parser, the weights loader and the CLI; figures to JSON.

Not a test (tests/test_fuzz.py runs the same mutators briefly on every CI run). Run::

    python benchmarks/fuzz.py --inputs 100000          # ~15 min on 2 cores
    python benchmarks/fuzz.py --inputs 2000 --no-specials --out /tmp/fuzz.json   # smoke run

It writes ``docs/results/fuzz.json``: per target the inputs tried and their outcomes, where an
outcome is one of

* ``valid``: a Circuit that survives the exact YAML round trip / a weights file that loads /
  CLI exit 0 (or, for verify, exit 1: a damaged file correctly found to compute the wrong
  function);
* ``error``: a UserError rendered as one line (CLI: exit 2, one stderr line, no traceback, no
  output or temporary file left);
* ``crash``: anything else: another exception, a broken contract, a dead worker process;
* ``hang``: no result within ``--timeout`` seconds (the worker is killed and replaced).

Inputs are generated deterministically from ``(--seed, target, index)`` by the mutators of
tests/fuzzing.py, so any crash or hang is replayed by its index alone; its input is also saved
to ``--crash-dir``. Targets:

* ``blif``, ``bench``, ``yaml``: each input goes through both entry points, ``parse_circuit``
  (text) and ``load_circuit`` (a file: decoding, byte-order marks, extension dispatch);
  random bytes, token soup, pathological shapes and mutations of every corpus file;
* ``npz``: ``Network.load`` on byte- and array-level mutations of real weights files;
* ``cli-compile``: ``circuit2mlp compile`` (in-process ``main()``) on mutated circuit files,
  every method in turn; ``cli-verify``: ``circuit2mlp verify`` on mutated weights files.

Before the random inputs, "specials" run once each with a long timeout: the 10^6-line files
(a 10^6-gate chain per format, 10^6 comment lines, 10^6 continuation lines), nesting 10^6
deep, a 10^7-character name.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import platform
import queue
import random
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import fuzzing  # noqa: E402  (tests/fuzzing.py: the shared mutators and oracle)

OUT = REPO / "docs" / "results" / "fuzz.json"
# share of --inputs per target
SHARES = {
    "blif": 0.25,
    "bench": 0.25,
    "yaml": 0.25,
    "npz": 0.13,
    "cli-compile": 0.08,
    "cli-verify": 0.04,
}
CHUNK = 200
SLOW_SECONDS = 5.0


def _raise() -> None:
    raise RuntimeError("injected crash")


# --self-test: bench inputs 5, 7, 9 crash, hang and kill their worker; the report must say so
INJECT = {5: _raise, 7: lambda: time.sleep(10**6), 9: lambda: os._exit(3)}


# ----------------------------------------------------------------------- the targets


class Context:
    """Per-worker state: the seed corpus, base weights files and a scratch folder."""

    def __init__(self, scratch: Path) -> None:
        import numpy as np

        from circuit2mlp.compiler import METHODS, CompileConfig, compile_circuit
        from circuit2mlp.formats import load_circuit

        self.scratch = scratch
        self.seeds = fuzzing.load_seeds()
        self.by_format = {f: [s for s in self.seeds if s.fmt == f] for f in fuzzing.FORMATS}
        self.methods = METHODS
        self.weights: list[dict] = []
        for name, method in (
            ("handwritten/full_adder.yaml", "exact"),
            ("real/lgsynth93/cm82a.blif", METHODS[0]),
            ("real/iscas85/c17.bench", METHODS[-1]),
        ):
            circuit = load_circuit(fuzzing.CORPUS / name)
            network = compile_circuit(circuit, CompileConfig(method=method))[0]
            path = scratch / "base.npz"
            network.save(path)
            with np.load(path, allow_pickle=False) as z:
                self.weights.append({k: z[k] for k in z.files})
        self.weight_bytes = [fuzzing.npz_bytes(a) for a in self.weights]


def circuit_input(ctx: Context, rng: random.Random, fmt: str) -> bytes:
    r = rng.random()
    if r < 0.08:
        return fuzzing.random_bytes(rng, max_size=4000)
    if r < 0.16:
        return fuzzing.random_bytes(rng, max_size=2000)
    if r < 0.18:
        return fuzzing.pathological(rng, fmt, scale=5)
    pool = ctx.by_format[fmt] if rng.random() < 0.8 else ctx.seeds
    return fuzzing.mutate(rng.choice(pool).data, rng, ctx.seeds)


def weights_input(ctx: Context, rng: random.Random) -> bytes:
    i = rng.randrange(len(ctx.weights))
    r = rng.random()
    if r < 0.5:
        return fuzzing.npz_bytes(fuzzing.mutate_npz(ctx.weights[i], rng))
    if r < 0.8:
        return fuzzing.flip_bytes(ctx.weight_bytes[i], rng)
    return fuzzing.mutate(ctx.weight_bytes[i], rng)


def make_input(ctx: Context, target: str, rng: random.Random) -> tuple[bytes, str, str]:
    """(bytes, format or file suffix, method) of input ``rng`` for ``target``."""
    if target in fuzzing.FORMATS:
        return circuit_input(ctx, rng, target), target, ""
    if target == "cli-compile":
        fmt = rng.choice(fuzzing.FORMATS)
        return circuit_input(ctx, rng, fmt), fmt, rng.choice(ctx.methods)
    return weights_input(ctx, rng), "npz", ""


def run_parsers(ctx: Context, data: bytes, fmt: str) -> str:
    text = fuzzing.outcome(fuzzing.parse_text(data, fmt))
    kind = fuzzing.outcome(fuzzing.parse_file(data, fmt, ctx.scratch))
    if text != kind:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # the file entry point decodes strictly: an error where text parsed
        else:
            if not data.startswith(b"\xef\xbb\xbf"):
                raise fuzzing.ContractViolation(f"text gave {text}, file gave {kind}")
    return kind


def run_npz(ctx: Context, data: bytes) -> str:
    from circuit2mlp.network import Network

    path = ctx.scratch / "w.npz"
    path.write_bytes(data)
    return fuzzing.outcome_of_load(lambda: Network.load(path))


def run_cli(ctx: Context, args: list[str], allowed: tuple[int, ...]) -> tuple[str, int]:
    from circuit2mlp.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    text = err.getvalue()
    if "Traceback" in text:
        raise fuzzing.ContractViolation(f"traceback on stderr: {text[-300:]}")
    if code not in allowed:
        raise fuzzing.ContractViolation(f"exit status {code}: {text[-300:]}")
    if code == 2 and len(text.strip().splitlines()) != 1:
        raise fuzzing.ContractViolation(f"exit 2 without exactly one line: {text[-300:]!r}")
    return ("error" if code == 2 else "valid"), code


def run_cli_compile(ctx: Context, data: bytes, fmt: str, method: str) -> tuple[str, int]:
    from circuit2mlp.network import Network

    folder = Path(tempfile.mkdtemp(dir=ctx.scratch))
    try:
        src, out = folder / f"f.{fmt}", folder / "out.npz"
        src.write_bytes(data)
        result = run_cli(
            ctx, ["compile", str(src), "-o", str(out), "-q", "--method", method], (0, 2)
        )
        left = sorted(p.name for p in folder.iterdir())
        expect = sorted([src.name, out.name] if result[1] == 0 else [src.name])
        if left != expect:
            raise fuzzing.ContractViolation(f"files left: {left}")
        if result[1] == 0:
            Network.load(out)
        return result
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def run_cli_verify(ctx: Context, data: bytes) -> tuple[str, int]:
    path = ctx.scratch / "v.npz"
    path.write_bytes(data)
    return run_cli(ctx, ["verify", str(path), "-q", "--samples", "30"], (0, 1, 2))


def run_one(ctx: Context, target: str, data: bytes, fmt: str, method: str) -> tuple[str, int]:
    """(outcome, exit code or -1) of one input; crashes propagate as exceptions."""
    if target in fuzzing.FORMATS:
        return run_parsers(ctx, data, fmt), -1
    if target == "npz":
        return run_npz(ctx, data), -1
    if target == "cli-compile":
        return run_cli_compile(ctx, data, fmt, method)
    return run_cli_verify(ctx, data)


# ------------------------------------------------------------------------ specials


def specials() -> list[tuple[str, str, bytes]]:
    """(name, target, bytes) of the one-off giant inputs."""
    million = 1_000_000
    small = {
        "blif": b".model m\n.inputs a\n.outputs y\n.names a y\n0 1\n.end\n",
        "bench": b"INPUT(a)\nOUTPUT(y)\ny = NOT(a)\n",
        "yaml": b"inputs: [a]\noutputs: [y]\ngates:\n  y: [not, a]\n",
    }
    named = {
        "blif": lambda n: b".model m\n.inputs " + n + b"\n.outputs y\n.names " + n + b" y\n0 1\n",
        "bench": lambda n: b"INPUT(" + n + b")\nOUTPUT(y)\ny = NOT(" + n + b")\n",
        "yaml": lambda n: b"inputs: [" + n + b"]\noutputs: [y]\ngates:\n  y: [not, " + n + b"]\n",
    }
    out: list[tuple[str, str, bytes]] = []
    for fmt in fuzzing.FORMATS:
        out.append((f"{fmt}: 10^6-line gate chain", fmt, fuzzing.million_lines(fmt, million)))
        out.append((f"{fmt}: 10^6 comment lines", fmt, b"# c\n" * million + small[fmt]))
        out.append((f"{fmt}: error at line 10^6", fmt, small[fmt] + b"\n" * million + b"x ( y\n"))
        out.append((f"{fmt}: 10^7-character name", fmt, named[fmt](b"n" * 10_000_000)))
    out.append(
        (
            "blif: 10^6 continuation lines",
            "blif",
            b".model m\n.inputs a \\\n" + b" \\\n" * million + b"\n.outputs a\n.end\n",
        )
    )
    for kind in ("flow", "map", "block"):
        out.append((f"yaml: nesting 10^6 deep ({kind})", "yaml", fuzzing.deep_yaml(million, kind)))
    out.append(("yaml: alias bomb 9^9", "yaml", fuzzing.alias_bomb(9)))
    return out


# -------------------------------------------------------------------------- workers


def worker(
    wid: int,
    seed: int,
    tasks: mp.Queue,
    results: mp.Queue,
    state,
    crash_dir: str,
    memory_limit: int,
    inject: bool,
) -> None:
    """Run tasks (target, first, last, skip) until the queue is empty; one result per task.
    ``state[4 wid:4 wid + 4]`` holds (target index, input index, wall-clock start, CPU-time
    start) of the input being run, so the parent can tell a hang and which input caused it."""
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz{wid}-"))
    ctx = Context(scratch)
    targets = [*SHARES, "special"]
    special_inputs = specials()
    while True:
        try:
            target, first, last, skip = tasks.get(timeout=1)
        except queue.Empty:
            return
        stats: dict = {
            "outcomes": Counter(),
            "codes": Counter(),
            "slow": 0,
            "seconds": 0.0,
            "max_seconds": 0.0,
            "crashes": [],
            "done": 0,
            "specials": [],
            "harness_errors": [],
            "slow_inputs": [],
        }
        for idx in range(first, last):
            if idx in skip:
                continue
            if target == "special":
                name, real_target, data = special_inputs[idx]
                fmt, method = real_target, ""
            else:
                name, real_target = "", target
                rng = random.Random(f"{seed}:{target}:{idx}")
                try:
                    data, fmt, method = make_input(ctx, target, rng)
                except Exception as exc:  # a bug of the generator, not of circuit2mlp
                    stats["harness_errors"].append(
                        f"{target} {idx}: {type(exc).__name__}: {str(exc)[:200]}"
                    )
                    continue
            state[4 * wid] = targets.index(target)
            state[4 * wid + 1] = idx
            state[4 * wid + 3] = time.process_time()
            state[4 * wid + 2] = time.time()
            start = time.perf_counter()
            try:
                if inject and target == "bench" and idx in INJECT:
                    INJECT[idx]()  # harness self-test: a fake crash, hang or dead worker
                kind, code = run_one(ctx, real_target, data, fmt, method)
            except Exception as exc:  # a crash: anything but the two allowed outcomes
                kind, code = "crash", -1
                saved = Path(crash_dir) / f"{target}-{idx}.{fmt}"
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_bytes(data)
                stats["crashes"].append(
                    {
                        "target": target,
                        "index": idx,
                        "special": name,
                        "format": fmt,
                        "method": method,
                        "input": str(saved),
                        "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                        "where": traceback.format_exc().splitlines()[-3:],
                    }
                )
            seconds = time.perf_counter() - start
            state[4 * wid + 2] = 0.0
            stats["outcomes"][kind] += 1
            if code >= 0:
                stats["codes"][str(code)] += 1
            stats["seconds"] += seconds
            stats["max_seconds"] = max(stats["max_seconds"], seconds)
            if seconds > SLOW_SECONDS:
                stats["slow"] += 1
                stats["slow_inputs"].append({"target": target, "index": idx, "seconds": seconds})
            stats["done"] += 1
            if name:
                stats["specials"].append(
                    {"name": name, "outcome": kind, "seconds": round(seconds, 2)}
                )
        results.put((target, stats))


WALL_FACTOR = 4  # a worker that sleeps (deadlock) is a hang after this many times the limit


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of process ``pid`` so far, from /proc (None if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _over(pid: int, wall_start: float, cpu_start: float, limit: float) -> bool:
    """Has the current input run too long? Judged on CPU time, so that a machine shared with
    other jobs does not turn slow inputs into "hangs"; wall time catches sleeping workers."""
    if time.time() - wall_start > WALL_FACTOR * limit:
        return True
    cpu = _cpu_seconds(pid)
    if cpu is None:
        return time.time() - wall_start > limit
    return cpu - cpu_start > limit


def campaign(args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    counts = {t: max(1, round(args.inputs * share)) for t, share in SHARES.items()}
    n_tasks = 0
    if args.specials:
        for i in range(len(specials())):
            tasks.put(("special", i, i + 1, frozenset()))
            n_tasks += 1
    for target, count in counts.items():
        for first in range(0, count, CHUNK):
            tasks.put((target, first, min(count, first + CHUNK), frozenset()))
            n_tasks += 1
    targets = [*SHARES, "special"]
    state = ctx.Array("d", 4 * args.workers, lock=False)
    procs: dict[int, mp.Process] = {}

    def spawn(wid: int) -> None:
        state[4 * wid + 2] = 0.0
        proc = ctx.Process(
            target=worker,
            args=(
                wid,
                args.seed,
                tasks,
                results,
                state,
                str(args.crash_dir),
                args.memory_limit,
                args.self_test,
            ),
            daemon=True,
        )
        proc.start()
        procs[wid] = proc

    totals = {
        t: {
            "inputs": 0,
            "outcomes": Counter(),
            "codes": Counter(),
            "slow": 0,
            "seconds": 0.0,
            "max_seconds": 0.0,
        }
        for t in targets
    }
    crashes: list[dict] = []
    harness_errors: list[str] = []
    slow_inputs: list[dict] = []
    special_rows: list[dict] = []
    started = time.time()
    for wid in range(args.workers):
        spawn(wid)
    finished = 0
    respawns = 0
    skips: dict[tuple[str, int], set[int]] = {}
    last_report = time.time()
    while finished < n_tasks:
        try:
            target, stats = results.get(timeout=1)
        except queue.Empty:
            pass
        else:
            finished += 1
            row = totals[target]
            row["inputs"] += stats["done"]
            row["outcomes"].update(stats["outcomes"])
            row["codes"].update(stats["codes"])
            row["slow"] += stats["slow"]
            row["seconds"] += stats["seconds"]
            row["max_seconds"] = max(row["max_seconds"], stats["max_seconds"])
            crashes.extend(stats["crashes"])
            harness_errors.extend(stats["harness_errors"])
            slow_inputs.extend(stats["slow_inputs"])
            special_rows.extend(stats["specials"])
        for wid, proc in list(procs.items()):
            began = state[4 * wid + 2]
            target = targets[int(state[4 * wid])]
            idx = int(state[4 * wid + 1])
            limit = args.special_timeout if target == "special" else args.timeout
            if proc.is_alive():
                if not began or not _over(proc.pid, began, state[4 * wid + 3], limit):
                    continue
                proc.kill()  # a hang
                proc.join()
                kind, error = "hang", f"over {limit:.0f} s of CPU time (or {WALL_FACTOR}x that)"
            else:
                proc.join()
                if proc.exitcode == 0:  # the task queue was empty
                    procs.pop(wid)
                    continue
                if not began:  # died between inputs: nothing to blame, start another
                    respawns += 1
                    if respawns > 20:
                        raise SystemExit("workers keep dying outside any input")
                    spawn(wid)
                    continue
                kind, error = "crash", f"worker died (exit code {proc.exitcode})"
            # record the input, then replay the rest of its task without it
            totals[target]["inputs"] += 1
            totals[target]["outcomes"][kind] += 1
            crashes.append({"target": target, "index": idx, "error": error})
            if target == "special":
                n_tasks -= 1  # a special task is its one input
            else:
                first = idx - idx % CHUNK
                skip = skips.setdefault((target, first), set())
                skip.add(idx)
                tasks.put((target, first, min(counts[target], first + CHUNK), frozenset(skip)))
            spawn(wid)
        if not procs and finished < n_tasks:
            for wid in range(args.workers):
                spawn(wid)
        if time.time() - last_report > 30:
            last_report = time.time()
            done = sum(r["inputs"] for r in totals.values())
            print(f"  {done:,} inputs, {time.time() - started:.0f} s", flush=True)
    for proc in procs.values():
        proc.join(timeout=10)
    return {
        "totals": totals,
        "crashes": crashes,
        "specials": special_rows,
        "harness_errors": harness_errors,
        "slow_inputs": slow_inputs,
        "seconds": round(time.time() - started, 1),
        "counts": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="random inputs in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--timeout", type=float, default=60, help="CPU seconds per input before a hang"
    )
    parser.add_argument("--special-timeout", type=float, default=900)
    parser.add_argument("--no-specials", dest="specials", action="store_false")
    parser.add_argument(
        "--memory-limit",
        type=int,
        default=8 * 2**30,
        help="address-space limit per worker in bytes (0: none)",
    )
    parser.add_argument("--crash-dir", type=Path, default=Path(tempfile.gettempdir()) / "c2m-fuzz")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="inject a crash, a hang and a dying worker (checks the harness; exit 1 expected)",
    )
    args = parser.parse_args()
    extra = " + specials" if args.specials else ""
    print(f"fuzzing {args.inputs:,} inputs{extra} on {args.workers} workers ...", flush=True)
    result = campaign(args)
    rows = {}
    for target, row in result["totals"].items():
        if not row["inputs"]:
            continue
        outcomes = row["outcomes"]
        rows[target] = {
            "inputs": row["inputs"],
            "valid": outcomes["valid"],
            "error": outcomes["error"],
            "crash": outcomes["crash"],
            "hang": outcomes["hang"],
            "slow_over_5s": row["slow"],
            "mean_ms": round(1000 * row["seconds"] / max(1, row["inputs"]), 2),
            "max_seconds": round(row["max_seconds"], 2),
            **({"exit_codes": dict(sorted(row["codes"].items()))} if row["codes"] else {}),
        }
    total = {
        k: sum(r[k] for r in rows.values()) for k in ("inputs", "valid", "error", "crash", "hang")
    }
    payload = {
        "command": "python benchmarks/fuzz.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "workers": args.workers,
        "seconds": result["seconds"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "total": total,
        "targets": rows,
        "specials": sorted(result["specials"], key=lambda r: r["name"]),
        "crashes": result["crashes"][:100],
        "harness_errors": result["harness_errors"][:100],
        # wall-clock, so on a shared machine also inputs that merely waited for a CPU
        "slow_inputs": sorted(result["slow_inputs"], key=lambda r: -r["seconds"])[:50],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(
        f"{'target':12} {'inputs':>8} {'valid':>7} {'error':>7} {'crash':>6} {'hang':>5} "
        f"{'mean ms':>8} {'max s':>7}"
    )
    for target, r in rows.items():
        print(
            f"{target:12} {r['inputs']:>8,} {r['valid']:>7,} {r['error']:>7,} {r['crash']:>6} "
            f"{r['hang']:>5} {r['mean_ms']:>8} {r['max_seconds']:>7}"
        )
    print(
        f"{'total':12} {total['inputs']:>8,} {total['valid']:>7,} {total['error']:>7,} "
        f"{total['crash']:>6} {total['hang']:>5}   in {result['seconds']:.0f} s"
    )
    print(f"wrote {args.out}")
    for crash in result["crashes"][:10]:
        print("crash:", crash)
    if total["crash"] or total["hang"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
