"""``circuit2mlp plot sweep | margins | interference``: figures for reports (see
:mod:`circuit2mlp.plots`; needs the ``plot`` extra, matplotlib)."""

from __future__ import annotations

from pathlib import Path

import click

OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Image to write: .png, .svg or .pdf (the format follows the extension).",
)
TITLE = click.option("--title", help="Figure title (default: made from the data).")


@click.group("plot")
def plot_group() -> None:
    """Draw figures: error vs width from a sweep table, output margins of a network, the
    interference between one level's features."""


@plot_group.command("sweep")
@click.argument("table", type=click.Path(path_type=Path))
@OUTPUT
@TITLE
def sweep_cmd(table: Path, output: Path, title: str | None) -> None:
    """Error rates against width from TABLE (.json or .csv, as `circuit2mlp sweep` writes):
    one curve per circuit/method/sparsity, seeds averaged with min–max bars."""
    from circuit2mlp.plots import plot_sweep

    plot_sweep(table, output, title)
    click.echo(f"wrote {output}")


@plot_group.command("margins")
@click.argument("weights", type=click.Path(path_type=Path))
@OUTPUT
@click.option(
    "--samples",
    "-n",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Random inputs per sparsity level k.",
)
@click.option(
    "--sparsity",
    "-s",
    type=click.IntRange(0, 64),
    default=None,
    help="k-hot inputs for k = 0..s (default: the sparsity compiled for).",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@TITLE
def margins_cmd(
    weights: Path,
    output: Path,
    samples: int,
    sparsity: int | None,
    seed: int,
    title: str | None,
) -> None:
    """Distribution of the output read-offs of WEIGHTS for 0- and 1-targets on random sparse
    inputs: the gap around the 0.5 threshold is the network's margin."""
    from circuit2mlp.network import Network
    from circuit2mlp.plots import plot_margins

    stats = plot_margins(Network.load(weights), output, samples, sparsity, seed, title)
    click.echo(
        f"wrote {output} ({stats['zeros']} zero and {stats['ones']} one output bits, "
        f"worst margin {stats['worst_margin']:+.4f})"
    )


@plot_group.command("interference")
@click.argument("weights", type=click.Path(path_type=Path))
@OUTPUT
@click.option(
    "--layer",
    "level",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Level (0 = inputs, i = after hidden layer i).",
)
@click.option(
    "--max-features",
    type=click.IntRange(2, 2000),
    default=64,
    show_default=True,
    help="Features shown; larger levels show the most interfering ones.",
)
@TITLE
def interference_cmd(
    weights: Path, output: Path, level: int, max_features: int, title: str | None
) -> None:
    """Heat map of |cos| between the read-off vectors of one level's features."""
    from circuit2mlp.network import Network
    from circuit2mlp.plots import plot_interference

    stats = plot_interference(Network.load(weights), output, level, max_features, title)
    click.echo(
        f"wrote {output} ({stats['features']} features, "
        f"max off-diagonal |cos| {stats['max_off_diagonal']:.4g})"
    )


COMMANDS = (plot_group,)
