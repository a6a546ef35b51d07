"""Command line: ``circuit2mlp compile | verify | check | passes``.

Bad input never produces a traceback: every :class:`UserError` (and click's usage errors)
becomes one line on stderr and exit status 2. Verification failures exit 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from circuit2mlp import __version__
from circuit2mlp.compiler import METHODS, CompileConfig, compile_circuit, source_digest
from circuit2mlp.errors import NetworkFileError, UserError
from circuit2mlp.fileio import write_text_atomic
from circuit2mlp.limits import DEFAULT_MAX_GATES, SIZE, default_max_memory, enforce_limits


def _console(to_stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, wide enough that tables never truncate
    circuit names (rich would assume 80 columns)."""
    console = Console(stderr=to_stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=to_stderr, highlight=False, width=max(console.width, 160))
    return console


stdout = _console()
stderr = _console(to_stderr=True)


def _read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _load(path: Path, quiet: bool):
    from circuit2mlp.formats import load_circuit

    warnings: list[str] = []
    circuit = load_circuit(path, warnings)
    if not quiet:
        for line in warnings:
            stderr.print(line, markup=False)
    return circuit


def _progress(quiet: bool, spinner: bool = False) -> Progress:
    """A transient rich progress display on stderr (off with -q or when stderr is not a
    terminal); ``spinner``: for stages of unknown length, a spinner and the stage's name."""
    columns = (
        (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        if spinner
        else (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
    )
    return Progress(
        *columns,
        console=stderr,
        transient=True,
        disable=quiet or not stderr.is_terminal,
    )


class _WidthType(click.ParamType):
    """A width: an integer >= 2 or the word 'auto'."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int) or value == "auto":
            return value
        try:
            width = int(value)
        except ValueError:
            self.fail(f"'{value}' is neither an integer nor 'auto'", param, ctx)
        if width < 2:
            self.fail(f"{width} is smaller than 2", param, ctx)
        return width


_WIDTH = _WidthType()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="circuit2mlp")
def cli() -> None:
    """Compile sparse boolean circuits (YAML, BLIF, ISCAS .bench) into ReLU MLP weights that
    compute them, and verify the result against the circuit.

    \b
    Typical use:
      circuit2mlp compile circuits/generated/uand60.yaml -s 2 -o uand60.npz
      circuit2mlp verify uand60.npz
      circuit2mlp check circuits/
    """


@cli.command("compile")
@click.argument("circuit", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Weights file to write (default: CIRCUIT's name with .npz, here).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=METHODS[0],
    show_default=True,
    help="superposed: our construction (balanced wiring, centred read-offs, exact gadgets "
    "where cheaper, error control); paper: Hänni et al. (2024) as published; exact: one "
    "dedicated ReLU gadget per gate, no superposition; deep: every level's wires (carries "
    "included) superposed on thresholded slots, for wide sparse circuits.",
)
@click.option(
    "--width",
    type=_WIDTH,
    default=None,
    help="Neurons per superposed layer, or 'auto': search for the smallest width that "
    "verifies within --max-error-rate (default: superposed starts at the error model's width "
    "and widens it until held-out samples of the hardest sparsity level meet --target-error, "
    "or takes exact gadgets when those are cheaper; paper uses the published width rule).",
)
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    default=None,
    help="With --width auto (implied): largest verified output-bit error rate allowed "
    "[default with --width auto: 0].",
)
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.005,
    show_default=True,
    metavar="RATE",
    help="Automatic width (superposed, no --width): the hardest sparsity level's sample error "
    "rate the held-out check allows (0: none); the width grows until it is met.",
)
@click.option(
    "--search-samples",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Samples per sparsity level verified at each width the search tries.",
)
@click.option(
    "--max-gates",
    type=click.IntRange(1),
    default=DEFAULT_MAX_GATES,
    show_default=True,
    help="Refuse circuits with more gates than this.",
)
@click.option(
    "--max-memory",
    type=SIZE,
    default=None,
    help="Refuse compiles estimated to need more memory than this, e.g. 8G or 'none' "
    "[default: 80% of RAM].",
)
@click.option(
    "--input-dim",
    type=click.IntRange(1),
    default=None,
    help="Embed the m inputs in this many dimensions with random nearly orthogonal vectors "
    "(inputs in superposition; default: basis-aligned, d0 = m).",
)
@click.option(
    "--no-error-correction",
    is_flag=True,
    help="Turn off error control (the fan-in bound of superposed neurons and the clean "
    "gadgets): read-off noise then builds up with depth (docs/theory.md §7).",
)
@click.option(
    "--clean-threshold",
    type=click.FloatRange(0, max_open=False),
    default=8.0,
    show_default=True,
    metavar="T",
    help="Error correction: a gate that would pass on T or more units of expected read-off "
    "noise gets a clean gadget (two neurons per step, exact for input noise below 0.25), so "
    "noise does not build up with depth; lower T cleans more gates; 0: never.",
)
@click.option(
    "--sparsity",
    "-s",
    type=click.IntRange(0, 64),
    default=3,
    show_default=True,
    help="Most inputs that are 1 at once, the regime the network is built for.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed for every random choice; same seed, same bytes.",
)
@click.option(
    "--max-fanin",
    type=click.IntRange(2, 64),
    default=4,
    show_default=True,
    help="Gates with more inputs are decomposed into trees.",
)
@click.option(
    "--stop-after",
    metavar="PASS",
    help="Stop after this pass (see `circuit2mlp passes`) and write its IR.",
)
@click.option(
    "--dump-ir",
    type=click.Path(path_type=Path),
    help="With --stop-after: file for the IR (YAML); default stdout.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the compile report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings or report.")
def compile_cmd(
    circuit: Path,
    output: Path | None,
    method: str,
    sparsity: int,
    seed: int,
    max_fanin: int,
    width: int | str | None,
    max_error_rate: float | None,
    target_error: float,
    search_samples: int,
    max_gates: int,
    max_memory: int | None,
    input_dim: int | None,
    no_error_correction: bool,
    clean_threshold: float,
    stop_after: str | None,
    dump_ir: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Compile CIRCUIT (.yaml, .blif or .bench) into a weights file (.npz)."""
    with _progress(quiet or as_json, spinner=True) as bar:
        bar.add_task(f"parsing {circuit}", total=None)
        source = _read_source(circuit)
        parsed = _load(circuit, quiet)
    search = width == "auto" or max_error_rate is not None
    config = CompileConfig(
        method=method,
        sparsity=sparsity,
        seed=seed,
        max_fanin=max_fanin,
        width=None if search else width,
        input_dim=input_dim,
        error_correction=not no_error_correction,
        clean_threshold=clean_threshold,
        target_error=target_error,
    )
    config.check()
    if search and method == "exact":
        raise UserError("--width auto / --max-error-rate need a superposed method (not exact)")
    enforce_limits(
        parsed,
        max_gates,
        default_max_memory() if max_memory is None else max_memory,
        max_fanin=max_fanin,
        method=method,
    )
    if dump_ir is not None and stop_after is None:
        raise UserError("--dump-ir needs --stop-after PASS")
    if stop_after is not None:
        from circuit2mlp.passes.registry import PASSES, run_pipeline
        from circuit2mlp.passes.registry import dump_ir as dump

        names = [p.name for p in PASSES]
        if stop_after not in names:
            raise UserError(f"unknown pass '{stop_after}' (passes: {', '.join(names)})")
        text = dump(run_pipeline(parsed, {"max_fanin": max_fanin}, stop_after=stop_after))
        if dump_ir is None:
            click.echo(text, nl=False)
        else:
            write_text_atomic(dump_ir, text)
        return
    output = output or Path(circuit.stem + ".npz")
    if search:
        config = _search_width(parsed, config, max_error_rate or 0.0, search_samples, quiet)
    with _progress(quiet or as_json, spinner=True) as bar:
        task = bar.add_task(f"compiling {circuit.name}", total=None)

        def stage(text: str) -> None:
            bar.update(task, description=text)

        network, report = compile_circuit(parsed, config, source_digest(source), stage)
        stage(f"writing {output}")
        network.save(output)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "output": str(output)}, indent=2))
    elif not quiet:
        from circuit2mlp.report import render_compile

        render_compile(report, stdout)
        stdout.print(f"wrote {output}")


def _search_width(
    circuit, config: CompileConfig, max_error_rate: float, samples: int, quiet: bool
) -> CompileConfig:
    """The config with the smallest width whose verified bit error rate is within target."""
    import dataclasses

    from circuit2mlp.search import smallest_width

    with _progress(quiet) as bar:
        task = bar.add_task("searching width", total=None)

        def step(probe) -> None:
            bar.update(
                task,
                advance=1,
                description=f"width {probe.width}: bit error rate {probe.bit_error_rate:.3g}",
            )

        best, probes = smallest_width(
            circuit, config, max_bit_error_rate=max_error_rate, samples=samples, progress=step
        )
    if best is None:
        tried = max(p.width for p in probes)
        raise UserError(f"no width up to {tried} verifies with bit error rate <= {max_error_rate}")
    if not quiet:
        stderr.print(
            f"width search: {len(probes)} compiles; smallest passing width {best.width} "
            f"(bit error rate {best.bit_error_rate:.3g} on {samples} samples per level)",
            markup=False,
        )
    return dataclasses.replace(config, width=best.width)


@cli.command("verify")
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
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("loading weights", total=None)
        network = Network.load(weights)
        bar.update(task, description="reading circuit")
        if len(files) == 2:
            digest = source_digest(_read_source(files[0]))
            if network.meta.get("source_sha256") not in (None, digest):
                raise NetworkFileError(
                    f"{weights}: was compiled from a different circuit than {files[0]} "
                    "(sha256 mismatch)"
                )
            circuit = _load(files[0], quiet=True)
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


@cli.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check_cmd(folder: Path, as_json: bool) -> None:
    """Compile and verify every circuit in FOLDER with the settings of FOLDER/manifest.yaml.

    Exit 1 when any circuit fails.
    """
    from circuit2mlp.corpus import check_folder, plan

    jobs = plan(folder)
    with _progress(as_json) as bar:
        task = bar.add_task("checking", total=len(jobs))

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"checking {name}")

        rows = check_folder(folder, progress=step)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        from circuit2mlp.report import render_check

        render_check(rows, stdout)
        failed = sum(not r["passed"] for r in rows)
        stdout.print(f"{len(rows) - failed} passed, {failed} failed")
    if any(not r["passed"] for r in rows):
        sys.exit(1)


@cli.command("passes")
def passes_cmd() -> None:
    """List the compiler passes in pipeline order."""
    from circuit2mlp.passes.registry import PASSES

    for p in PASSES:
        click.echo(f"{p.name:12s} {p.description}")


def _register_commands() -> None:
    from circuit2mlp.commands import register

    register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line and exit status 2."""
    try:
        code = cli.main(args=argv, prog_name="circuit2mlp", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        stderr.print(str(exc), markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        stderr.print("aborted", markup=False)
        sys.exit(130)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "circuit2mlp"
        stderr.print(f"{command}: error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(2)
    except click.ClickException as exc:
        stderr.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except MemoryError:
        stderr.print("error: out of memory", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
