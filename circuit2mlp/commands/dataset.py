"""``circuit2mlp activations | score | disguise``: ground truth for dictionary learning.

``activations`` streams samples through a network and writes activations beside the true
wires; ``score`` matches a learned dictionary (SAELens names) against those wires; ``disguise``
makes a network look less hand-built (permuted neurons, distractors, weight noise) while its
ground truth follows every change. See docs/interpretability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from circuit2mlp.activations import DISTRIBUTIONS, InputDistribution
from circuit2mlp.errors import UserError


def _network(weights: Path):
    from circuit2mlp.network import Network

    return Network.load(weights)


def _rates(path: Path, m: int) -> np.ndarray:
    """Per-input rates from a text file (whitespace or comma separated) or a .npy file."""
    try:
        if path.suffix == ".npy":
            rates = np.load(path, allow_pickle=False)
        else:
            text = path.read_text().replace(",", " ").split()
            rates = np.array([float(t) for t in text])
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read rates ({exc})") from None
    rates = np.asarray(rates, dtype=np.float64).ravel()
    if rates.shape != (m,):
        raise UserError(f"{path}: {rates.size} rates for {m} inputs")
    return rates


def distribution_options(func):
    """The input-distribution options shared by ``activations`` and ``score``."""
    options = [
        click.option(
            "--dist",
            type=click.Choice(DISTRIBUTIONS),
            default="uniform",
            show_default=True,
            help="uniform: k uniform in 0..--sparsity, then k-hot; khot: exactly -k inputs on; "
            "bernoulli: each input on with --rate (or --rates FILE); zipf: Bernoulli with "
            "rates ∝ rank^-exponent summing to --mean-active.",
        ),
        click.option("-k", "k", type=click.IntRange(0), default=None, help="khot: inputs on."),
        click.option(
            "--sparsity",
            "-s",
            type=click.IntRange(0),
            default=None,
            help="uniform: largest k (default: the sparsity compiled for).",
        ),
        click.option("--rate", type=click.FloatRange(0, 1), default=None, help="bernoulli rate."),
        click.option(
            "--rates",
            type=click.Path(path_type=Path),
            default=None,
            help="bernoulli: one rate per input (text or .npy).",
        ),
        click.option("--zipf-exponent", type=click.FloatRange(0), default=1.0, show_default=True),
        click.option(
            "--mean-active",
            type=click.FloatRange(0, min_open=True),
            default=None,
            help="zipf: expected inputs on per sample (default: the compiled sparsity).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_distribution(network, weights: Path, opts: dict) -> InputDistribution:
    """The InputDistribution the options describe, checked."""
    m = len(network.input_names)
    s = int(network.meta.get("sparsity", 3))
    kind = opts["dist"]
    rates = None
    if kind == "bernoulli":
        if (opts["rate"] is None) == (opts["rates"] is None):
            raise UserError("--dist bernoulli needs exactly one of --rate and --rates")
        rates = np.full(m, opts["rate"]) if opts["rates"] is None else _rates(opts["rates"], m)
    if kind == "khot" and opts["k"] is None:
        raise UserError("--dist khot needs -k")
    dist = InputDistribution(
        kind,
        m,
        k=opts["k"] or 0,
        sparsity=min(s, m) if opts["sparsity"] is None else opts["sparsity"],
        rates=rates,
        exponent=opts["zipf_exponent"],
        mean_active=float(s if opts["mean_active"] is None else opts["mean_active"]),
    )
    dist.check(str(weights))
    return dist


def _split_dist(kwargs: dict) -> dict:
    keys = ("dist", "k", "sparsity", "rate", "rates", "zipf_exponent", "mean_active")
    return {key: kwargs.pop(key) for key in keys}


@click.command("activations")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option("-n", "samples", type=click.IntRange(1), required=True, help="Samples to write.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Folder.")
@distribution_options
@click.option(
    "--level",
    "levels",
    type=click.IntRange(0),
    multiple=True,
    help="Store this level (0 = inputs, i = after hidden layer i); repeatable "
    "(default: every hidden level).",
)
@click.option(
    "--shard-rows",
    type=click.IntRange(1),
    default=None,
    help="Samples per shard (default: about 64 MiB of activations per shard).",
)
@click.option(
    "--no-directions",
    is_flag=True,
    help="Skip the write directions and the true dictionary (they cost wires × neurons "
    "float64 of memory per level).",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def activations_cmd(weights: Path, samples: int, output: Path, **kwargs) -> None:
    """Stream N samples through WEIGHTS and write, per hidden level, the neuron activations
    and the truly active wires (safetensors shards + manifest.json), and the true feature
    directions once."""
    from circuit2mlp.activations import write_dataset
    from circuit2mlp.commands.common import stderr

    opts = _split_dist(kwargs)
    quiet = kwargs["quiet"]
    network = _network(weights)
    dist = make_distribution(network, weights, opts)
    levels = list(kwargs["levels"]) or None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=quiet or not stderr.is_terminal,
    )
    with bar:
        task = bar.add_task("samples", total=samples)
        manifest = write_dataset(
            network,
            str(weights),
            output,
            samples,
            dist,
            kwargs["seed"],
            levels,
            kwargs["shard_rows"],
            not kwargs["no_directions"],
            progress=lambda k: bar.advance(task, k),
        )
    if not quiet:
        for entry in manifest.levels:
            seen = entry.get("wires_seen")
            extra = f", {seen:,} seen active" if seen is not None else ""
            stderr.print(
                f"level {entry['level']}: {entry['neurons']:,} neurons, "
                f"{entry['wires']:,} wires{extra}",
                markup=False,
            )
        stderr.print(
            f"wrote {output}: {samples:,} samples in {len(manifest.shards)} shards", markup=False
        )


@click.command("score")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--dictionary",
    type=click.Path(path_type=Path),
    required=True,
    help="safetensors with W_dec (latents × neurons) and optionally W_enc, b_enc, b_dec, "
    "threshold (SAELens names).",
)
@click.option("--level", type=click.IntRange(0), required=True, help="Level the dictionary is of.")
@click.option(
    "--activations",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Dataset folder from `circuit2mlp activations` (default: draw samples now).",
)
@click.option(
    "-n",
    "samples",
    type=click.IntRange(1),
    default=20_000,
    show_default=True,
    help="Samples to score on (at most the dataset's).",
)
@distribution_options
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--dense-threshold",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="A latent firing on more than this share of samples is dense.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def score_cmd(
    weights: Path, dictionary: Path, level: int, folder: Path | None, samples: int, **kwargs
) -> None:
    """Match the latents of a learned DICTIONARY to the ground-truth wires of LEVEL and report
    how well they recover them (docs/interpretability.md defines every metric)."""
    from circuit2mlp.score import load_dictionary, render_scores, score_level

    opts = _split_dist(kwargs)
    network = _network(weights)
    if level >= len(network.features):
        raise UserError(f"{weights}: no level {level} (levels 0..{len(network.features) - 1})")
    dist = make_distribution(network, weights, opts)
    sae = load_dictionary(dictionary, int(network.features[level].readout.shape[1]))
    scores = score_level(
        network,
        sae,
        level,
        folder=folder,
        samples=samples,
        dist=dist,
        seed=kwargs["seed"],
        dense_threshold=kwargs["dense_threshold"],
        label=str(weights),
    )
    if kwargs["as_json"]:
        click.echo(json.dumps(scores, indent=1))
    else:
        render_scores(scores)


@click.command("disguise")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="New file.")
@click.option("--permute", is_flag=True, help="Randomly permute every level's neurons.")
@click.option(
    "--distractors",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Dense random neurons added to each hidden level; the next layer ignores them.",
)
@click.option(
    "--weight-noise",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    metavar="SIGMA",
    help="Multiply every non-zero hidden weight and bias by (1 + SIGMA·N(0,1)); `verify` "
    "measures the errors this causes.",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def disguise_cmd(
    weights: Path,
    output: Path,
    permute: bool,
    distractors: int,
    weight_noise: float,
    seed: int,
    quiet: bool,
) -> None:
    """Write WEIGHTS with permuted neurons, distractor neurons and/or weight noise; the
    ground truth (every level's read-offs) follows each change."""
    from circuit2mlp.realism import disguise

    network = disguise(_network(weights), permute, distractors, weight_noise, seed)
    network.save(output)
    if not quiet:
        click.echo(f"wrote {output}: widths {network.widths}")


COMMANDS = (activations_cmd, score_cmd, disguise_cmd)
