"""``circuit2mlp compile``: a circuit file into a weights file (or, with ``--stop-after``, a
pass's IR), with an optional search for the smallest width that verifies."""

from __future__ import annotations

import json
from pathlib import Path

import click

from circuit2mlp.commands.common import (
    load_circuit_file,
    progress,
    read_source,
    stderr,
    stdout,
)
from circuit2mlp.compiler import (
    CODEGEN_STEPS,
    METHODS,
    CompileConfig,
    compile_circuit,
    dump_codegen,
    source_digest,
)
from circuit2mlp.errors import UserError
from circuit2mlp.fileio import write_text_atomic
from circuit2mlp.limits import DEFAULT_MAX_GATES, SIZE, default_max_memory, enforce_limits


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


WIDTH = _WidthType()


@click.command("compile")
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
    type=WIDTH,
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
    help="Automatic width (no --width): the hardest sparsity level's sample error rate that "
    "superposed's held-out check allows, and that deep's error model aims at over the whole "
    "depth (0: none); the width grows until it is met.",
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
    help="With --stop-after: file for the IR (YAML; JSON after plan or emit); default stdout.",
)
@click.option(
    "--dump-plan",
    type=click.Path(path_type=Path),
    help="Also write the construction plan as JSON: per level how each gate is computed, "
    "on which neurons, and its read-off.",
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
    dump_plan: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Compile CIRCUIT (.yaml, .blif or .bench) into a weights file (.npz)."""
    with progress(quiet or as_json, spinner=True) as bar:
        bar.add_task(f"parsing {circuit}", total=None)
        source = read_source(circuit)
        parsed = load_circuit_file(circuit, quiet)
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

        names = [p.name for p in PASSES] + [name for name, _ in CODEGEN_STEPS]
        if stop_after not in names:
            raise UserError(f"unknown pass '{stop_after}' (passes: {', '.join(names)})")
        if stop_after in dict(CODEGEN_STEPS):
            text = dump_codegen(parsed, config, stop_after)
        else:
            text = dump(run_pipeline(parsed, {"max_fanin": max_fanin}, stop_after=stop_after))
        if dump_ir is None:
            click.echo(text, nl=False)
        else:
            write_text_atomic(dump_ir, text)
        return
    output = output or Path(circuit.stem + ".npz")
    if search:
        config = _search_width(parsed, config, max_error_rate or 0.0, search_samples, quiet)
    with progress(quiet or as_json, spinner=True) as bar:
        task = bar.add_task(f"compiling {circuit.name}", total=None)

        def stage(text: str) -> None:
            bar.update(task, description=text)

        # the plan holds every layer's block: kept only when it is to be written
        plans: list | None = [] if dump_plan is not None else None
        network, report = compile_circuit(
            parsed, config, source_digest(source), stage, plans, stream=True
        )
        stage(f"writing {output}")
        network.save(output)
        if dump_plan is not None:
            from circuit2mlp.codegen.plan_dump import plan_document

            stage(f"writing {dump_plan}")
            assert plans is not None
            write_text_atomic(dump_plan, json.dumps(plan_document(plans[0]), indent=1) + "\n")
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

    with progress(quiet) as bar:
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


COMMANDS = (compile_cmd,)
