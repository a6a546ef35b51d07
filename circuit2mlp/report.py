"""Rich rendering of compile, verify and corpus-check reports (the data lives elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from circuit2mlp.compiler import CompileReport
from circuit2mlp.verify import LevelStats, VerifyReport


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def render_compile(report: CompileReport, console: Console) -> None:
    """Per-layer table (kind, gates, carries, neurons, and the gates by how they were emitted:
    on shared neurons, on dedicated gadgets or neurons, on clean gadgets; wires per neuron;
    predicted wrong wires per sample; for an automatic width, the hardest level's measured
    sample error), totals vs the exact method, and one line when a superposed compile fell
    back to exact gadgets."""
    table = Table(title=f"compile {report.circuit} ({report.method})")
    columns = (
        "layer",
        "kind",
        "gates",
        "carries",
        "neurons",
        "shared",
        "dedicated",
        "clean",
        "exact",
        "wires/neuron",
        "pred. err",
        "checked err",
    )
    for col in columns:
        table.add_column(col, justify="right")
    for row in report.layers:
        predicted = row.get("predicted_errors")
        checked = (row.get("calibration") or {}).get("worst_k_sample_error")
        kind = str(row.get("kind", "compute")) + (" (exact)" if row.get("fallback") else "")
        table.add_row(
            str(row["layer"]),
            kind,
            str(row.get("gates", "")),
            str(row.get("carries", "")),
            str(row["neurons"]),
            str(row.get("shared_gates", 0)),
            str(row.get("dedicated_gates", 0)),
            str(row.get("clean_gates", 0)),
            str(row.get("exact_neurons", "-")),
            f"{row['features'] / row['neurons']:.2f}" if row.get("neurons") else "-",
            f"{predicted:.2g}" if predicted else "-",
            "-" if checked is None else f"{checked:.2g}",
        )
    console.print(table)
    console.print(
        f"inputs {report.inputs}, outputs {report.outputs}, source gates {report.gates}; "
        f"neurons {report.neurons} vs exact method {report.exact_neurons} "
        f"(ratio {_ratio(report.neurons, report.exact_neurons)}); "
        f"gates per neuron {_ratio(report.gates, report.neurons)}; "
        f"predicted wrong wires per sample {report.predicted_errors:.2g} (error model; "
        "verify measures)"
    )
    if report.fallback_note:
        console.print(report.fallback_note)


def _level_row(stats: LevelStats) -> list[str]:
    return [
        "all" if stats.k is None else str(stats.k),
        f"{stats.samples}" + (" (all)" if stats.exhaustive else ""),
        f"{stats.bit_error_rate:.3g}",
        f"{stats.sample_error_rate:.3g}",
        f"{stats.max_error_on_0:.3g}",
        f"{stats.max_error_on_1:.3g}",
        f"{stats.worst_margin:.3g}",
    ]


def render_verify(report: VerifyReport, console: Console) -> None:
    """Per-k table, totals, neurons vs gates vs exact, and the verdict."""
    table = Table(title=f"verify {report.circuit} ({report.method}, s={report.sparsity})")
    for col in (
        "k",
        "samples",
        "bit err",
        "sample err",
        "max|y| on 0",
        "max|y-1| on 1",
        "worst margin",
    ):
        table.add_column(col, justify="right")
    for stats in report.per_k:
        table.add_row(*_level_row(stats))
    table.add_row(*_level_row(report.overall), style="bold")
    console.print(table)
    exact = report.exact_neurons if report.exact_neurons is not None else "?"
    console.print(
        f"neurons {report.neurons} in {report.layers} layers, gates {report.gates}, "
        f"exact method {exact} neurons"
    )
    worst = report.worst_k
    console.print(
        f"sample error rate {report.overall.sample_error_rate:.3g} over all samples "
        f"(k = 0..{report.sparsity}); worst k = {worst.k}: {worst.sample_error_rate:.3g} "
        f"({worst.sample_errors} of {worst.samples} samples wrong)"
    )
    verdict = "[green]PASS[/]" if report.passed else "[red]FAIL[/]"
    console.print(
        f"{verdict}: bit error rate {report.overall.bit_error_rate:.3g} "
        f"(max {report.max_error_rate:g}), sample error rate {worst.sample_error_rate:.3g} "
        f"at worst k = {worst.k} (max {report.max_sample_error_rate:g})"
    )


def render_check(rows: Sequence[dict[str, Any]], console: Console) -> None:
    """One row per corpus circuit and method."""
    table = Table(title="corpus check")
    for col in (
        "circuit",
        "method",
        "s",
        "gates",
        "neurons",
        "exact",
        "bit err",
        "sample err, worst k",
        "result",
    ):
        table.add_column(col, justify="right" if col not in ("circuit", "method") else "left")
    for row in rows:
        ok = row["passed"]
        table.add_row(
            row["circuit"],
            row["method"],
            str(row.get("sparsity", "")),
            str(row.get("gates", "")),
            str(row.get("neurons", "")),
            str(row.get("exact_neurons", "")),
            f"{row['bit_error_rate']:.3g}" if "bit_error_rate" in row else "",
            f"{row['worst_k_sample_error_rate']:.3g} (k={row['worst_k']})"
            if "worst_k" in row
            else "",
            "[green]ok[/]" if ok else f"[red]FAIL[/] {row.get('error', '')}",
        )
    console.print(table)
