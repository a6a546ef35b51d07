"""``circuit2mlp export``: the network in PyTorch, safetensors or ONNX form (see
:mod:`circuit2mlp.export` and docs/interpretability.md), so interpretability tools that expect
a standard model file can load the ground-truth network directly."""

from __future__ import annotations

from pathlib import Path

import click

from circuit2mlp.export import DENSE_LIMIT, TARGETS

SUFFIXES = {"torch": ".pt", "safetensors": ".safetensors", "onnx": ".onnx"}


@click.command("export")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    required=True,
    help="torch: nn.Sequential file for circuit2mlp.torch_module.load; safetensors: every array of "
    "the npz; onnx: the forward pass x (batch, m) -> y (batch, n).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File to write (default: WEIGHTS with .pt / .safetensors / .onnx, here).",
)
@click.option(
    "--dense-limit",
    type=click.IntRange(0),
    default=DENSE_LIMIT,
    show_default=True,
    help="torch/onnx: CSR matrices with at most this many elements are densified, and so "
    "are those with at most 64 elements per non-zero; the rest stay sparse. 0 keeps every "
    "CSR matrix sparse.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def export_cmd(
    weights: Path, target: str, output: Path | None, dense_limit: int, quiet: bool
) -> None:
    """Export WEIGHTS (.npz) to PyTorch, safetensors or ONNX."""
    from circuit2mlp.export import export

    output = output or Path(weights.stem + SUFFIXES[target])
    export(weights, target, output, dense_limit)
    if not quiet:
        click.echo(f"wrote {output} ({target})")


COMMANDS = (export_cmd,)
