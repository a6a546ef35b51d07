"""``circuit2mlp features | inspect | trace | noise``: read a weights file as ground truth for
interpretability (see :mod:`circuit2mlp.interp` and docs/interpretability.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from circuit2mlp.fileio import write_text_atomic
from circuit2mlp.interp import PAIR_BUDGET, SAMPLE, TOP_PAIRS


def _console():
    """A rich console that never truncates names when stdout is not a terminal."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 160))
    return console


def _load(weights: Path):
    from circuit2mlp.network import Network

    return Network.load(weights)


def _circuit(network, weights: Path, required: bool):
    """The source circuit embedded in a ``/1`` file (whose tools lower it again); None for a
    ``/2`` file, which carries its layered circuit. ``required``: a ``/1`` file without a
    readable circuit is an error, else the view goes on without wire kinds."""
    from circuit2mlp.interp import embedded_circuit

    if network.circuit_map is not None:
        return None
    if required:
        return embedded_circuit(network, str(weights))
    try:
        return embedded_circuit(network, str(weights))
    except Exception:  # the view is useful even without wire kinds
        return None


def _emit_json(data: Any, output: Path | None) -> None:
    text = json.dumps(data, indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if value else "0"


def _table(rows: list[list[str]], header: list[str], indent: str = "  ") -> str:
    """Plain aligned columns: fast for 10^5 rows, where a rich table would crawl."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append(
            indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- features


@click.command("features")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--level",
    "--layer",
    "levels",
    type=click.IntRange(0),
    multiple=True,
    help="Only this level (0 = inputs, i = after hidden layer i); repeatable.",
)
@click.option(
    "--neuron",
    type=click.IntRange(0),
    default=None,
    help="With one --level: the wires this neuron serves (whose read-offs use it), with "
    "their read-off weights: the superposition seen from one neuron.",
)
@click.option("-v", "--verbose", is_flag=True, help="List the neuron ids each wire reads.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write the JSON to this file instead of stdout (implies --json).",
)
@click.option(
    "--top", type=click.IntRange(0), default=TOP_PAIRS, show_default=True, help="Top pairs."
)
@click.option(
    "--pair-budget",
    type=click.IntRange(0),
    default=PAIR_BUDGET,
    show_default=True,
    help="Interference is exact while the co-used pairs (sum over neurons of readers²) are "
    "within this; else sampled.",
)
@click.option(
    "--sample",
    type=click.IntRange(1),
    default=SAMPLE,
    show_default=True,
    help="Comparison features per level when sampling.",
)
def features_cmd(
    weights: Path,
    levels: tuple[int, ...],
    neuron: int | None,
    verbose: bool,
    as_json: bool,
    output: Path | None,
    top: int,
    pair_budget: int,
    sample: int,
) -> None:
    """List the ground-truth feature dictionary of WEIGHTS: per level, how many wires share
    its neurons, then every circuit wire with its read-off vector's norm, the neurons it
    reads, and its worst interference (|cos| with another wire's read-off) and with whom."""
    from circuit2mlp.interp import feature_dictionary

    network = _load(weights)
    circuit = _circuit(network, weights, required=False)
    if neuron is not None:
        if len(levels) != 1:
            raise click.UsageError("--neuron needs exactly one --level")
        _neuron_view(network, circuit, levels[0], neuron, as_json or output is not None, output)
        return
    data = feature_dictionary(
        network, list(levels) or None, circuit, budget=pair_budget, sample=sample, top=top
    )
    if as_json or output is not None:
        _emit_json(data, output)
        return
    rows = [lvl["superposition"] | {"level": lvl["level"]} for lvl in data["levels"]]
    out = [_superposition_table(rows), ""]
    for lvl in data["levels"]:
        inter = lvl["interference"]
        how = (
            f"exact: {inter['overlapping_pairs']} pairs share neurons, all others are orthogonal"
            if inter["method"] == "exact"
            else f"sampled against {inter['sample']} features: "
            f"{inter['overlapping_pairs']} overlapping pairs found"
        )
        out.append(
            f"level {lvl['level']}: {lvl['width']} neurons, {lvl['features']} wires "
            f"({_fmt(lvl['wires_per_neuron'])} per neuron; a neuron serves "
            f"{_fmt(lvl['wires_on_a_neuron_mean'])} wires on average, at most "
            f"{lvl['wires_on_a_neuron_max']}), "
            f"read-off nnz {lvl['readout_nnz']}; interference max {_fmt(inter['max'])} "
            f"mean {_fmt(inter['mean'])} ({how})"
        )
        header = ["wire", "kind", "norm", "bias", "neurons", "max|cos|", "partner"]
        if verbose:
            header.append("neuron ids")
        rows = []
        for w in lvl["wires"]:
            row = [
                w["name"],
                w["kind"] or "?",
                _fmt(w["norm"]),
                _fmt(w["bias"]),
                str(w["neurons"]),
                _fmt(w["max_interference"]),
                w["partner"] or "-",
            ]
            if verbose:
                row.append(" ".join(map(str, w["neuron_ids"])))
            rows.append(row)
        out.append(_table(rows, header))
        if inter["top_pairs"]:
            pairs = ", ".join(f"{p['a']}~{p['b']} {_fmt(p['cosine'])}" for p in inter["top_pairs"])
            out.append(f"  top pairs: {pairs}")
        out.append("")
    click.echo("\n".join(out), nl=False)


def _superposition_table(rows: list[dict[str, Any]]) -> str:
    """Per level: neurons, wires, wires per neuron, and the wires a neuron serves."""
    header = ["level", "neurons", "wires", "wires/neuron", "served mean", "served max"]
    table = [
        [
            str(r["level"]),
            str(r["neurons"]),
            str(r["wires"]),
            f"{r['wires_per_neuron']:.3f}",
            f"{r['wires_served_mean']:.2f}",
            str(r["wires_served_max"]),
        ]
        for r in rows
    ]
    return "superposition (a neuron serves the wires whose read-offs use it):\n" + _table(
        table, header
    )


def _neuron_view(network, circuit, level: int, neuron: int, as_json: bool, output) -> None:
    """``features --level i --neuron j``: the wires neuron j of level i serves."""
    from circuit2mlp.interp import level_kinds
    from circuit2mlp.superposition import level_superposition, served_wires

    served = served_wires(network, level, neuron)
    kinds = level_kinds(network, level, circuit)
    sup = level_superposition(network.features[level].readout)
    data = {
        "level": level,
        "neuron": neuron,
        "serves": len(served),
        "level_superposition": sup,
        "wires": [
            {"name": w.name, "kind": kinds[w.row], "weight": round(w.weight, 6)} for w in served
        ],
    }
    if as_json:
        _emit_json(data, output)
        return
    lines = [
        f"level {level}, neuron {neuron}: serves {len(served)} wires (this level: "
        f"{sup['wires']} wires on {sup['neurons']} neurons, "
        f"{sup['wires_per_neuron']:.3f} per neuron; a neuron serves at most "
        f"{sup['wires_served_max']})",
        _table(
            [[w["name"], w["kind"] or "?", _fmt(w["weight"])] for w in data["wires"]],
            ["wire", "kind", "read-off weight"],
        ),
    ]
    click.echo("\n".join(lines))


# --------------------------------------------------------------------------- inspect


@click.command("inspect")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_cmd(weights: Path, as_json: bool) -> None:
    """Summarize WEIGHTS: provenance and compile options, every matrix's shape and sparsity,
    parameter counts, neurons per layer and per gate."""
    from rich.table import Table

    from circuit2mlp.interp import summary

    network = _load(weights)
    circuit = _circuit(network, weights, required=False)
    data = summary(network, weights, circuit)
    if as_json:
        _emit_json(data, None)
        return
    console = _console()
    about = Table(title=f"{weights}", show_header=False, title_justify="left")
    about.add_column(style="bold")
    about.add_column()
    sha = data["source_sha256"]
    params = data["parameters"]
    for key, value in (
        ("circuit", data["circuit"]),
        ("method", data["method"]),
        ("options", json.dumps(data["options"], sort_keys=True)),
        ("sparsity / seed", f"{data['sparsity']} / {data['seed']}"),
        ("compiled by", f"circuit2mlp {data['version']}"),
        ("source sha256", sha[:16] + "…" if sha else "-"),
        ("file size", f"{data['bytes']:,} bytes"),
        ("inputs / outputs", f"{data['inputs']} / {data['outputs']}"),
        ("source gates", str(data["source_gates"])),
        ("depth", f"{data['depth']} hidden layers, widths {data['widths']}"),
        ("neurons", f"{data['neurons']:,} (exact method: {data['exact_neurons']})"),
        ("parameters", f"{params['dense']:,} dense-equivalent, {params['nonzero']:,} non-zero"),
        ("neurons per gate", _ratio(data["neurons_per_gate"])),
        ("neurons per wire", _ratio(data["neurons_per_wire"])),
    ):
        about.add_row(key, str(value))
    console.print(about)

    mats = Table(title="matrices", title_justify="left")
    for col in ("name", "shape", "storage", "non-zeros", "density"):
        mats.add_column(col, justify="left" if col in ("name", "storage") else "right")
    for m in data["matrices"] + data["feature_readouts"]:
        mats.add_row(
            m["name"],
            f"{m['shape'][0]} × {m['shape'][1]}",
            m["storage"],
            f"{m['nnz']:,}",
            f"{m['density']:.4%}",
        )
    console.print(mats)

    layers = Table(title="layers", title_justify="left")
    columns = ("layer", "neurons", "gates", "carries", "neurons/wire", "wires/neuron")
    for col in (*columns, "weight nnz", "fan-in"):
        layers.add_column(col, justify="right")
    for row in data["layers"]:
        layers.add_row(
            str(row["layer"]),
            f"{row['neurons']:,}",
            f"{row['gates']:,}",
            f"{row['carries']:,}",
            _ratio(row["neurons_per_wire"]),
            _ratio(row["wires_per_neuron"]),
            f"{row['weight_nnz']:,}",
            f"{row['mean_fan_in']:.2f}",
        )
    console.print(layers)

    if data["by_op"]:
        ops = Table(title="neurons per gate, by op (lowered circuit)", title_justify="left")
        for col in ("op", "fan-in", "gates", "neurons", "neurons/gate"):
            ops.add_column(col, justify="left" if col == "op" else "right")
        for row in data["by_op"]:
            ops.add_row(
                row["op"],
                row["fan_in"] or "-",
                f"{row['gates']:,}",
                f"{row['neurons']:,}",
                f"{row['neurons_per_gate']:.2f}",
            )
        console.print(ops)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# --------------------------------------------------------------------------- trace


@click.command("trace")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--input",
    "ones",
    default="",
    show_default=False,
    metavar="NAMES",
    help="Comma-separated names of the inputs that are 1 (the rest are 0); default all 0.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=40,
    show_default=True,
    help="Rows per level: larger levels show the wires that are 1, wrong, or worst first.",
)
@click.option("--all", "show_all", is_flag=True, help="Show every wire of every level.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole trace as JSON.")
def trace_cmd(weights: Path, ones: str, limit: int, show_all: bool, as_json: bool) -> None:
    """Run one input through WEIGHTS and show, level by level, each circuit wire's true value
    (simulated) next to the network's read-off of it, worst errors first."""
    from circuit2mlp.interp import trace

    network = _load(weights)
    circuit = _circuit(network, weights, required=True)
    names = [n.strip() for n in ones.split(",") if n.strip()]
    result = trace(network, names, circuit)
    if as_json:
        _emit_json(result.to_dict(), None)
        return
    from rich.table import Table

    console = _console()
    console.print(f"input: {', '.join(names) if names else '(all zero)'}")
    everything = [*result.levels, result.outputs]
    for level, rows in enumerate(everything):
        is_out = level == len(result.levels)
        errors = [r for r in rows if r.error is not None]
        worst = max(errors, key=lambda r: r.error, default=None)
        label = "outputs" if is_out else f"level {level}"
        head = f"{label}: {len(rows)} wires"
        if not is_out and level < len(result.stats):
            st = result.stats[level]
            head += (
                f" on {st['neurons']} neurons ({st['wires_per_neuron']:.3g} per neuron, "
                f"{st['active_neurons']} on)"
            )
        if worst is not None:
            head += f", max error {worst.error:.3g} ({worst.name})"
        wrong = sum(r.wrong for r in rows)
        if wrong:
            head += f", [bold red]{wrong} wrong[/]"
        shown = rows if show_all or len(rows) <= limit else _interesting(rows, limit)
        console.print(head)  # a line of its own: a table title would wrap to the table's width
        table = Table()
        for col in ("wire", "kind", "truth", "read-off", "error"):
            table.add_column(col, justify="left" if col in ("wire", "kind") else "right")
        for r in shown:
            style = "bold red" if r.wrong else ("yellow" if (r.error or 0) > 0.1 else None)
            table.add_row(
                r.name,
                r.kind,
                "?" if r.truth is None else str(r.truth),
                f"{r.readout:.4f}",
                "-" if r.error is None else f"{r.error:.2e}",
                style=style,
            )
        console.print(table)
        if len(shown) < len(rows):
            kept = {id(r) for r in shown}
            rest = [r for r in rows if id(r) not in kept]
            bound = max((r.error for r in rest if r.error is not None), default=0.0)
            ones_left = sum(1 for r in rest if r.truth)
            console.print(
                f"  … {len(rest)} more wires ({ones_left} of them 1), error ≤ {bound:.2e}; "
                "--all shows them"
            )
    summary = result.to_dict()
    console.print(f"max error {summary['max_error']:.3g}; {summary['wrong']} wires read off wrong")


def _interesting(rows: list, limit: int) -> list:
    """The rows worth a look: wrong ones, then those that are 1, then the worst errors."""
    key = {id(r): (not r.wrong, not (r.truth or r.readout > 0.5), -(r.error or 0)) for r in rows}
    ranked = sorted(rows, key=lambda r: key[id(r)])
    chosen = {id(r) for r in ranked[:limit]}
    return [r for r in rows if id(r) in chosen]


# --------------------------------------------------------------------------- noise


@click.command("noise")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--samples",
    "-n",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="k-hot inputs to run (all of them when there are fewer).",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(0, 64),
    default=None,
    help="Inputs that are 1 in each sample (default: the sparsity compiled for).",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def noise_cmd(weights: Path, samples: int, k: int | None, seed: int, as_json: bool) -> None:
    """How far WEIGHTS' wires stray from their true values, level by level, on random k-hot
    inputs: the share of samples with some wire off by more than 0.1 / 0.25 / 0.5 and the
    wires off by more than 0.1 per sample. Noise that builds up with depth shows as columns
    that grow down the table; error correction keeps them bounded (docs/theory.md §7)."""
    import numpy as np

    from circuit2mlp.errors import UserError
    from circuit2mlp.interp import lowered_circuit, wire_noise
    from circuit2mlp.verify import level_inputs

    network = _load(weights)
    circuit = _circuit(network, weights, required=True)
    k = int(network.meta.get("sparsity", 3)) if k is None else k
    m = len(network.input_names)
    if k > m:
        raise UserError(f"{weights}: k = {k} is more than the {m} inputs")
    x = level_inputs(m, k, samples, np.random.default_rng(seed))
    rows = wire_noise(network, circuit, x, layered=lowered_circuit(network, circuit))
    if as_json:
        _emit_json({"k": k, "samples": int(x.shape[0]), "levels": rows}, None)
        return
    console = _console()
    console.print(f"{weights}: {x.shape[0]} samples with {k} inputs on")
    table = [
        [
            str(r["level"]),
            str(r["wires"]),
            str(r["neurons"]),
            f"{r['wires_per_neuron']:.3f}",
            *(f"{r['off_by'][t]:.4f}" for t in ("0.1", "0.25", "0.5")),
            f"{r['noisy_wires_per_sample']:.3f}",
            f"{r['active_neurons_per_sample']:.1f}",
        ]
        for r in rows
    ]
    header = [
        "level",
        "wires",
        "neurons",
        "wires/neuron",
        "off >0.1",
        "off >0.25",
        "off >0.5",
        "wires >0.1/sample",
        "neurons on/sample",
    ]
    console.print(_table(table, header), markup=False, highlight=False)


COMMANDS = (features_cmd, inspect_cmd, trace_cmd, noise_cmd)
