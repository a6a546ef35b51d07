"""Parameter sweeps: compile + verify one job per combination, in parallel, into one table.

Plots of error rate against width, sparsity or method need many compile+verify runs with
nothing in common but the circuit. Each run is a pure function of (circuit, method, width,
seed, sparsity, samples), so they are farmed out as independent jobs: to local processes
(``concurrent.futures.ProcessPoolExecutor``) or, given a scheduler address, to a Dask
distributed cluster. Rows come back in job order whatever the order of completion, so the
same sweep gives the same table on any executor (only the timing columns differ).

The table has one row per job, columns :data:`COLUMNS`; a job that fails (say, a width too
small for the circuit) gets its message in ``error`` and empty figures instead of stopping
the sweep.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circuit2mlp.errors import UserError

#: Columns of the table, in order. Timing columns come last (see TIMING_COLUMNS).
COLUMNS = (
    "circuit",
    "method",
    "width",
    "seed",
    "sparsity",
    "samples",
    "gates",
    "layers",
    "neurons",
    "exact_neurons",
    "bit_error_rate",
    "sample_error_rate",
    "worst_k",
    "worst_k_sample_error_rate",
    "worst_margin",
    "max_error_on_0",
    "max_error_on_1",
    "error",
    "compile_seconds",
    "verify_seconds",
)
#: Columns that depend on the machine and load rather than on the job: leave them out when
#: comparing tables.
TIMING_COLUMNS = ("compile_seconds", "verify_seconds")

Row = dict[str, Any]


@dataclass(frozen=True)
class CircuitSource:
    """A circuit as a job receives it: the path it was named by (its label in the table), the
    sha256 of its bytes, and the text itself when the job may run on another machine (Dask)
    rather than read the path."""

    path: str
    sha256: str
    text: str | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], embed: bool = False) -> CircuitSource:
        """Read a circuit file once in the parent (so bad paths fail before any job runs)."""
        from circuit2mlp.formats import load_circuit

        shown = os.fspath(path)
        circuit = load_circuit(shown)  # parse errors surface here, once, not once per job
        data = Path(shown).read_bytes()
        text = data.decode("utf-8-sig") if embed else None
        source = cls(shown, hashlib.sha256(data).hexdigest(), text)
        _remember(source.sha256, circuit)  # jobs run in this process need not parse again
        return source


@dataclass(frozen=True)
class Job:
    """One compile + verify run. ``width`` None leaves the width to the compiler."""

    circuit: str
    method: str
    width: int | None
    seed: int
    sparsity: int
    samples: int


def plan(
    circuits: Sequence[str],
    methods: Sequence[str],
    widths: Sequence[int | None],
    seeds: Sequence[int],
    sparsities: Sequence[int],
    samples: int,
) -> list[Job]:
    """Every combination, in a fixed order (circuit, method, width, seed, sparsity): the order
    of the table's rows."""
    return [
        Job(c, m, w, seed, s, samples)
        for c, m, w, seed, s in itertools.product(circuits, methods, widths, seeds, sparsities)
    ]


def compile_config(job: Job) -> Any:
    """The CompileConfig for a job, setting only fields this version of CompileConfig has
    (``width`` exists only with the superposed method), so sweeps run on either."""
    from circuit2mlp.compiler import CompileConfig

    names = {f.name for f in dataclasses.fields(CompileConfig)}
    wanted = {"method": job.method, "seed": job.seed, "sparsity": job.sparsity}
    if job.width is not None:
        wanted["width"] = job.width
    return dataclasses.replace(CompileConfig(), **{k: v for k, v in wanted.items() if k in names})


_CIRCUITS: dict[str, Any] = {}  # sha256 -> parsed Circuit, per worker process


def _remember(sha256: str, circuit: Any) -> None:
    if len(_CIRCUITS) >= 4:  # a sweep has few circuits; bound memory all the same
        _CIRCUITS.clear()
    _CIRCUITS[sha256] = circuit


def _circuit(source: CircuitSource) -> Any:
    from circuit2mlp.formats import load_circuit, parse_circuit

    cached = _CIRCUITS.get(source.sha256)
    if cached is None:
        if source.text is None:
            cached = load_circuit(source.path)
        else:
            fmt = Path(source.path).suffix.lstrip(".")
            cached = parse_circuit(source.text, fmt, path=source.path)
        _remember(source.sha256, cached)
    return cached


def run_job(source: CircuitSource, job: Job) -> Row:
    """Compile and verify one job; never raises (a failure becomes the row's ``error``)."""
    from circuit2mlp.compiler import compile_circuit
    from circuit2mlp.verify import verify

    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        circuit=job.circuit,
        method=job.method,
        width=job.width,
        seed=job.seed,
        sparsity=job.sparsity,
        error="",
    )
    try:
        circuit = _circuit(source)
        start = time.perf_counter()
        network, report = compile_circuit(circuit, compile_config(job), source.sha256)
        row["compile_seconds"] = round(time.perf_counter() - start, 4)
        start = time.perf_counter()
        result = verify(circuit, network, samples=job.samples, sparsity=job.sparsity, seed=job.seed)
        row["verify_seconds"] = round(time.perf_counter() - start, 4)
    except Exception as exc:  # a sweep reports failures per row instead of stopping
        row["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())
        return row
    overall = result.overall
    row.update(
        samples=overall.samples,
        gates=report.gates,
        layers=len(network.layers),
        neurons=report.neurons,
        exact_neurons=report.exact_neurons,
        bit_error_rate=overall.bit_error_rate,
        sample_error_rate=overall.sample_error_rate,
        worst_k=result.worst_k.k,
        worst_k_sample_error_rate=result.worst_k.sample_error_rate,
        worst_margin=overall.worst_margin,
        max_error_on_0=overall.max_error_on_0,
        max_error_on_1=overall.max_error_on_1,
    )
    return row


def _run_local(
    pairs: list[tuple[CircuitSource, Job]], workers: int, done: Callable[[Row], None]
) -> list[Row]:
    rows: list[Row | None] = [None] * len(pairs)
    if workers <= 1:
        for i, (source, job) in enumerate(pairs):
            rows[i] = run_job(source, job)
            done(rows[i])
        return rows  # type: ignore[return-value]
    import multiprocessing

    # spawn: forking a process that runs a progress-bar thread can deadlock the child
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_job, source, job): i for i, (source, job) in enumerate(pairs)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            done(rows[futures[future]])
    return rows  # type: ignore[return-value]


def _run_dask(
    pairs: list[tuple[CircuitSource, Job]], address: Any, done: Callable[[Row], None]
) -> list[Row]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise UserError(
            "--scheduler needs Dask distributed: pip install 'circuit2mlp[dask]'"
        ) from None
    try:
        client = Client(address)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        # each circuit's text travels to the cluster once, not once per job
        sources = {id(s): s for s, _ in pairs}
        scattered = dict(zip(sources, client.scatter(list(sources.values())), strict=True))
        futures = {
            client.submit(run_job, scattered[id(source)], job, pure=False): i
            for i, (source, job) in enumerate(pairs)
        }
        rows: list[Row | None] = [None] * len(pairs)
        for future in dask_completed(futures):
            rows[futures[future]] = future.result()
            done(rows[futures[future]])
        return rows  # type: ignore[return-value]
    finally:
        client.close()


def run_sweep(
    circuits: Sequence[str | os.PathLike[str]],
    jobs: Sequence[Job] | None = None,
    *,
    methods: Sequence[str] = (),
    widths: Sequence[int | None] = (None,),
    seeds: Sequence[int] = (0,),
    sparsities: Sequence[int] = (3,),
    samples: int = 1000,
    workers: int | None = None,
    scheduler: Any = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Run every combination (or the given ``jobs``) and return the rows in job order.

    Local processes by default (``workers`` of them, default the CPU count); with
    ``scheduler`` (an address such as ``tcp://host:8786``, or a ``LocalCluster``'s
    ``scheduler_address``) the same jobs go to that Dask cluster. ``progress`` is called with
    each row as it completes.
    """
    from circuit2mlp.compiler import CompileConfig

    labels = [os.fspath(c) for c in circuits]
    if jobs is None:
        jobs = plan(
            labels, methods or (CompileConfig().method,), widths, seeds, sparsities, samples
        )
    embed = scheduler is not None
    sources = {label: CircuitSource.from_path(label, embed=embed) for label in labels}
    unknown = {job.circuit for job in jobs} - sources.keys()
    if unknown:
        raise ValueError(f"jobs name circuits not given: {sorted(unknown)}")
    pairs = [(sources[job.circuit], job) for job in jobs]
    done = progress or (lambda row: None)
    if scheduler is not None:
        return _run_dask(pairs, scheduler, done)
    return _run_local(pairs, workers or os.cpu_count() or 1, done)


def without_timings(rows: Sequence[Row]) -> list[Row]:
    """Rows minus the timing columns: what must agree between two runs of a sweep."""
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def table_text(rows: Sequence[Row], fmt: str) -> str:
    """The table as JSON (a list of row objects: ``pandas.read_json`` reads it as is) or CSV
    (a header, then one line per row; missing figures are empty)."""
    if fmt == "json":
        return json.dumps([{c: row.get(c) for c in COLUMNS} for row in rows], indent=1) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in COLUMNS})
        return buffer.getvalue()
    raise ValueError(f"unknown table format '{fmt}' (json, csv)")


def table_format(path: str | os.PathLike[str]) -> str:
    """``json`` or ``csv`` from the output file's extension (UserError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".csv"):
        raise UserError(f"{os.fspath(path)}: the table must be a .json or .csv file")
    return suffix[1:]
