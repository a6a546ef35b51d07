"""Corpus check: compile and verify every circuit of a folder with settings from its manifest.

``manifest.yaml`` in the folder::

    defaults: {methods: [exact], sparsity: 2, samples: 2000, max_error_rate: 0.0}
    circuits:
      adders/full_adder.yaml: {}
      real/C17.blif: {sparsity: 3}
      big/c6288.bench: {skip: "why it is skipped"}

Every circuit file under the folder is checked (with the defaults when the manifest does not
name it); a manifest entry that names a missing file is an error, so the manifest cannot rot.
As in ``verify``, ``max_error_rate`` bounds the bit error rate over all samples and
``max_sample_error_rate`` the sample error rate at the worst sparsity level k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from circuit2mlp.compiler import CompileConfig, compile_circuit
from circuit2mlp.errors import SourceLoc, UserError
from circuit2mlp.formats import load_circuit
from circuit2mlp.verify import verify

CIRCUIT_SUFFIXES = (".yaml", ".yml", ".blif", ".bench")
ENTRY_KEYS = {
    "methods",
    "method",
    "sparsity",
    "samples",
    "max_error_rate",
    "max_sample_error_rate",
    "seed",
    "max_fanin",
    "width",
    "input_dim",
    "skip",
}
DEFAULTS: dict[str, Any] = {
    "methods": ["exact"],
    "sparsity": 2,
    "samples": 2000,
    "max_error_rate": 0.0,
    "max_sample_error_rate": 1.0,
    "seed": 0,
    "max_fanin": 4,
    "width": None,
    "input_dim": None,
}


@dataclass(frozen=True)
class CheckJob:
    """One circuit file with its merged settings."""

    path: Path
    name: str
    settings: dict[str, Any]


def _settings(entry: Any, where: SourceLoc, base: dict[str, Any]) -> dict[str, Any]:
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise UserError("manifest entry must be a mapping", where)
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise UserError(f"unknown manifest key(s): {', '.join(sorted(unknown))}", where)
    merged = {**base, **entry}
    if "method" in entry:
        merged["methods"] = [entry["method"]]
    if isinstance(merged["methods"], str):
        merged["methods"] = [merged["methods"]]
    return merged


def plan(folder: Path) -> list[CheckJob]:
    """The jobs for a folder: every circuit file, with manifest settings merged in."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    manifest_path = folder / "manifest.yaml"
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            raise UserError(f"invalid YAML ({exc})", SourceLoc(str(manifest_path), line)) from None
        if not isinstance(manifest, dict):
            raise UserError("manifest must be a mapping", SourceLoc(str(manifest_path)))
    where = SourceLoc(str(manifest_path))
    base = _settings(manifest.get("defaults"), where, DEFAULTS)
    entries = manifest.get("circuits") or {}
    if not isinstance(entries, dict):
        raise UserError("'circuits' must map file names to settings", where)
    for name in entries:
        if not (folder / name).is_file():
            raise UserError(f"manifest names '{name}', which does not exist", where)
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in CIRCUIT_SUFFIXES and p != manifest_path
    )
    jobs = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        jobs.append(CheckJob(path, rel, _settings(entries.get(rel), where, base)))
    return jobs


def run_job(job: CheckJob) -> Iterator[dict[str, Any]]:
    """Compile + verify one circuit with each of its methods; one result row per method."""
    s = job.settings
    for method in s["methods"]:
        row: dict[str, Any] = {"circuit": job.name, "method": method, "sparsity": s["sparsity"]}
        if s.get("skip"):
            yield {**row, "passed": True, "skipped": str(s["skip"])}
            continue
        try:
            circuit = load_circuit(job.path)
            config = CompileConfig(
                method=method,
                sparsity=s["sparsity"],
                seed=s["seed"],
                max_fanin=s["max_fanin"],
                width=None if method == "exact" else s["width"],
                input_dim=s["input_dim"],
            )
            config.check()
            network, compiled = compile_circuit(circuit, config)
            report = verify(
                circuit,
                network,
                samples=s["samples"],
                sparsity=s["sparsity"],
                seed=s["seed"],
                max_error_rate=s["max_error_rate"],
                max_sample_error_rate=s["max_sample_error_rate"],
            )
        except UserError as exc:
            yield {**row, "passed": False, "error": str(exc)}
            continue
        yield {
            **row,
            "passed": report.passed,
            "gates": compiled.gates,
            "neurons": compiled.neurons,
            "exact_neurons": compiled.exact_neurons,
            "bit_error_rate": report.overall.bit_error_rate,
            "sample_error_rate": report.overall.sample_error_rate,
            "worst_k": report.worst_k.k,
            "worst_k_sample_error_rate": report.worst_k.sample_error_rate,
            "worst_margin": report.overall.worst_margin,
        }


def check_folder(
    folder: Path, progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Run every job of a folder; the rows say what passed."""
    rows = []
    for job in plan(folder):
        if progress:
            progress(job.name)
        rows.extend(run_job(job))
    return rows
