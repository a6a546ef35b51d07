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


@generate_group.command("random")
@click.option("--inputs", "-m", type=click.IntRange(2), required=True, help="Inputs x0...")
@click.option("--width", "-G", type=click.IntRange(2), required=True, help="Gates per layer.")
@click.option("--depth", "-L", type=click.IntRange(1), required=True, help="Layers.")
@click.option(
    "--fan-in",
    "-k",
    type=click.IntRange(2, 16),
    default=2,
    show_default=True,
    help="Inputs per gate.",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--sparsity",
    "-s",
    type=click.IntRange(0, 64),
    default=3,
    show_default=True,
    help="Active inputs for the activity profile printed on stderr.",
)
@click.option(
    "--negations/--no-negations",
    default=True,
    show_default=True,
    help="Include AND(a, NOT b) gates (one-cube covers); off: symmetric ops only.",
)
@click.option(
    "--taps",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Also output this many random wires of earlier layers.",
)
@_output_option
@click.option("-q", "--quiet", is_flag=True, help="Do not print the activity profile.")
def random_cmd(
    inputs: int,
    width: int,
    depth: int,
    fan_in: int,
    seed: int,
    sparsity: int,
    negations: bool,
    taps: int,
    output: Path | None,
    fmt: str | None,
    quiet: bool,
) -> None:
    """A random layered circuit whose active wires stay few and steady with depth.

    Each of DEPTH layers has WIDTH gates reading FAN-IN distinct wires of the previous layer
    (AND, MAJ, OR, XOR and optionally AND with negated literals; never a gate that is 1 on
    the all-zero input). Prints the mean number of active wires per layer on --sparsity-hot
    inputs to stderr.
    """
    from circuit2mlp.formats import write_circuit
    from circuit2mlp.generate import activity_profile, random_circuit

    fmt = _format(fmt, output)
    try:
        circuit = random_circuit(
            inputs,
            width,
            depth,
            fan_in,
            seed,
            negations=negations,
            taps=taps,
            name=output.stem if output is not None else None,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    text = write_circuit(circuit, fmt)
    _emit(text, output)
    if not quiet:
        profile = activity_profile(circuit, min(sparsity, inputs), samples=1024, seed=seed)
        means = " ".join(f"{row['mean']:.2f}" for row in profile)
        dead = max(row["all_zero"] for row in profile)
        print(
            f"{len(circuit.gates)} gates; active wires per layer on {sparsity}-hot inputs "
            f"(mean over 1024): {means}; max {max(r['max'] for r in profile)}, "
            f"all-zero in at most {dead:.1%} of samples",
            file=sys.stderr,
        )


COMMANDS = (generate_group,)
