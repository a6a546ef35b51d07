"""``circuit2mlp verify``: simulate the circuit and the network on random sparse inputs and
compare (exit 1 outside tolerance)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from circuit2mlp.commands.common import load_circuit_file, progress, read_source, stdout
from circuit2mlp.compiler import source_digest
from circuit2mlp.errors import NetworkFileError, UserError


@click.command("verify")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="[CIRCUIT] WEIGHTS"
)
@click.option(
    "--samples",
    "-n",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Samples per sparsity level k (all inputs of a level when fewer).",
)
@click.option(
    "--sparsity",
    "-s",
    type=click.IntRange(0, 64),
    default=None,
    help="Check k-hot inputs for k = 0..s (default: the sparsity compiled for).",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Largest output-bit error rate that still passes.",
)
@click.option(
    "--max-sample-error-rate",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="Largest fraction of samples with any wrong bit at the worst sparsity level k "
    "(the k with the highest such fraction; the rate over all samples pools the easy levels "
    "and is never higher).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; only the exit status.")
def verify_cmd(
    files: tuple[Path, ...],
    samples: int,
    sparsity: int | None,
    seed: int,
    max_error_rate: float,
    max_sample_error_rate: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Simulate the circuit and the network on random sparse inputs and compare.

    With one file the circuit embedded in WEIGHTS is used; with two, CIRCUIT is read and must be
    the file WEIGHTS was compiled from (sha256 checked). Reports each k, all samples together,
    and the worst k (highest sample error rate). Exit 0 within tolerance (bit error rate over
    all samples, sample error rate at the worst k), 1 if not.
    """
    from circuit2mlp.formats import parse_circuit
    from circuit2mlp.network import Network
    from circuit2mlp.verify import total_samples, verify

    if len(files) > 2:
        raise UserError("verify takes [CIRCUIT] WEIGHTS (at most two files)")
    weights = files[-1]
    # one bar for the whole run: loading and simulating a 10^6-gate circuit take seconds
    with progress(quiet or as_json) as bar:
        task = bar.add_task("loading weights", total=None)
        network = Network.load(weights, stream=True)  # one hidden layer in memory at a time
        bar.update(task, description="reading circuit")
        if len(files) == 2:
            digest = source_digest(read_source(files[0]))
            if network.meta.get("source_sha256") not in (None, digest):
                raise NetworkFileError(
                    f"{weights}: was compiled from a different circuit than {files[0]} "
                    "(sha256 mismatch)"
                )
            circuit = load_circuit_file(files[0], quiet=True)
        else:
            circuit = parse_circuit(network.circuit_yaml, "yaml", path=f"{weights}[circuit]")
        if tuple(circuit.inputs) != network.input_names or circuit.outputs != network.output_names:
            raise NetworkFileError(f"{weights}: inputs/outputs do not match the circuit")
        s = int(network.meta.get("sparsity", 3)) if sparsity is None else sparsity
        bar.update(task, total=total_samples(len(circuit.inputs), s, samples))
        report = verify(
            circuit,
            network,
            samples=samples,
            sparsity=s,
            seed=seed,
            max_error_rate=max_error_rate,
            max_sample_error_rate=max_sample_error_rate,
            progress=lambda n: bar.advance(task, n),
            stage=lambda text: bar.update(task, description=text),
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif not quiet:
        from circuit2mlp.report import render_verify

        render_verify(report, stdout)
    if not report.passed:
        sys.exit(1)


COMMANDS = (verify_cmd,)
