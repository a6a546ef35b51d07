"""``circuit2mlp generate uand | random``: write generated circuits to a file or stdout.

The generators live in :mod:`circuit2mlp.generate`; this module only turns options into calls
and text into (atomically written) files, so benchmarks and tests use the same circuits as
the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from circuit2mlp.errors import UserError

FORMATS = ("yaml", "blif", "bench")


def _format(fmt: str | None, output: Path | None) -> str:
    """--format, else the output file's extension, else YAML."""
    if fmt is not None:
        return fmt
    if output is None:
        return "yaml"
    from circuit2mlp.formats import EXTENSIONS

    suffix = output.suffix.lower()
    if suffix not in EXTENSIONS:
        raise UserError(f"{output}: cannot tell the format from the extension; pass --format")
    return EXTENSIONS[suffix]


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from circuit2mlp.fileio import write_text_atomic

    try:
        write_text_atomic(output, text)
    except OSError as exc:
        raise UserError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _output_option(func):
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="File format (default: from -o's extension, else yaml).",
    )(func)
    return click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        help="File to write (default: stdout).",
    )(func)


@click.group("generate")
def generate_group() -> None:
    """Write a generated circuit: the U-AND task or a random sparse layered circuit."""


@generate_group.command("uand")
@click.option(
    "--inputs",
    "-m",
    type=click.IntRange(2, 100_000),
    required=True,
    help="Number of inputs m; the circuit has all m(m-1)/2 pairwise ANDs.",
)
@_output_option
def uand_cmd(inputs: int, output: Path | None, fmt: str | None) -> None:
    """Inputs x0..x{m-1} and one output and_i_j = AND(xi, xj) per pair i < j.

    m = 1415 gives 10^6 gates (about 50 MB of text, written in about a second).
    """
    from circuit2mlp.generate import uand_text

    fmt = _format(fmt, output)
    name = output.stem if output is not None else None
    _emit(uand_text(inputs, fmt, name=name), output)


def _fan_in_choice(text: str) -> tuple[int, ...]:
    """``2``, ``2,3`` or ``2-3``: the fan-ins a gate may take."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            values = tuple(range(lo, hi + 1))
        else:
            values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(
            f"--fan-in '{text}': give a number, a list (2,3) or a range (2-3)"
        ) from None
    if not values or min(values) < 2 or max(values) > 16:
        raise UserError(f"--fan-in '{text}': fan-ins must lie in 2..16")
    return values


@generate_group.command("random")
@click.option("--inputs", "-m", type=click.IntRange(2), required=True, help="Inputs x0...")
@click.option("--width", "-G", type=click.IntRange(2), required=True, help="Gates per layer.")
@click.option("--depth", "-L", type=click.IntRange(1), required=True, help="Layers.")
@click.option(
    "--fan-in",
    "-k",
    default=None,
    help="Inputs per gate: a number, or a choice per gate such as 2,3 (mixes other than "
    "classic; at most 4 there).  [default: 2; local family: 2,3]",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--mix",
    default=None,
    help="Gate kinds and weights, e.g. and=0.2,or=0.1,xor=0.2,nand=0.1,nor=0.1,xnor=0.1,"
    "maj=0.1,and_not=0.05,or_not=0.05 (maj needs fan-in 3), or a preset: classic (AND, OR, "
    "XOR, MAJ, AND with a negated input; the default), all (every kind, equal weights), "
    "symmetric, negated.",
)
@click.option(
    "--family",
    type=click.Choice(["uniform", "local"]),
    default="uniform",
    show_default=True,
    help="Wiring: uniform reads any wire of the previous layer; local reads wires near the "
    "gate's own position (within about --block wires), with the 'all' mix and fan-in 2,3 "
    "unless --mix / --fan-in say otherwise.",
)
@click.option(
    "--block",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Block size of the local family.",
)
@click.option(
    "--sparsity",
    "-s",
    type=click.IntRange(0, 64),
    default=3,
    show_default=True,
    help="Active inputs of the samples the activity report is measured on.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 1_000_000),
    default=2048,
    show_default=True,
    help="Random exactly-s-hot inputs the activity report is measured on.",
)
@click.option(
    "--negations/--no-negations",
    default=True,
    show_default=True,
    help="Classic mix: include AND(a, NOT b) gates (one-cube covers); off: symmetric ops only.",
)
@click.option(
    "--taps",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Also output this many random wires of earlier layers.",
)
@_output_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the activity report.")
def random_cmd(
    inputs: int,
    width: int,
    depth: int,
    fan_in: str | None,
    seed: int,
    mix: str | None,
    family: str,
    block: int,
    sparsity: int,
    samples: int,
    negations: bool,
    taps: int,
    output: Path | None,
    fmt: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """A random layered circuit whose active wires stay few and steady with depth.

    Each of DEPTH layers has WIDTH gates reading distinct wires of the previous layer, of
    the kinds --mix asks for in its proportions. Activity is kept in *stored polarity*: the
    compiler stores each wire in the polarity in which it is rarely 1, so a NAND, NOR or
    XNOR of sparse wires (almost always 1) counts as active when it is 0. Each layer is
    wired so that every wire of the previous layer, in stored polarity, switches on one gate
    on average; only the first layer, reading the inputs, may scale activity once when the
    mix's kinds spread more or less than that on plain wires.

    Prints per layer the mean and largest number of active wires (stored polarity) over
    --samples random --sparsity-hot inputs, simulated bit-parallel, with the count of gates
    of each kind and fan-in, to stderr (-q: not at all; --json: as JSON on stdout). The same
    options and seed give the same file byte for byte; the file is written level by level.
    """
    from circuit2mlp.generate import layer_activity, random_layers

    fmt = _format(fmt, output)
    if as_json and output is None:
        raise UserError("--json prints the report on stdout; write the circuit with -o")
    try:
        layers = random_layers(
            inputs,
            width,
            depth,
            None if fan_in is None else _fan_in_choice(fan_in),
            seed,
            negations=negations,
            taps=taps,
            name=output.stem if output is not None else None,
            mix=mix,
            family=family,
            block=block,
        )
        layers.check_format(fmt)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _emit_stream(layers, fmt, output)
    if quiet and not as_json:
        return
    profile = layer_activity(layers, min(sparsity, inputs), samples=samples, seed=seed)
    report = {
        "circuit": layers.name,
        "gates": layers.gates,
        "kinds": layers.kind_counts(),
        "sparsity": min(sparsity, inputs),
        "samples": samples,
        "polarity": "stored",
        "levels": profile,
    }
    if as_json:
        import json

        click.echo(json.dumps(report, indent=2))
    if not quiet:
        _print_report(report)


def _emit_stream(layers, fmt: str, output: Path | None) -> None:
    """Write the circuit level by level: atomically to a file, or to stdout."""
    if output is None:
        layers.write(fmt, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    from circuit2mlp.fileio import atomic_write

    try:
        atomic_write(output, lambda handle: layers.write(fmt, handle))
    except OSError as exc:
        raise UserError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _print_report(report: dict) -> None:
    kinds = ", ".join(f"{label} {n}" for label, n in report["kinds"].items())
    lines = [
        f"{report['circuit']}: {report['gates']} gates ({kinds})",
        f"active wires per layer, stored polarity, on {report['samples']} random "
        f"{report['sparsity']}-hot inputs:",
        f"{'layer':>5} {'gates':>9} {'mean':>7} {'max':>5} {'all-zero':>9} {'negated':>9}",
    ]
    for row in report["levels"]:
        lines.append(
            f"{row['level']:>5} {row['gates']:>9} {row['mean']:>7.2f} {row['max']:>5} "
            f"{row['all_zero']:>9.1%} {row['stored_negated']:>9}"
        )
    print("\n".join(lines), file=sys.stderr)


COMMANDS = (generate_group,)
