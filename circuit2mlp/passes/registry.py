"""The pass list in pipeline order, the driver that runs it, and IR dumps for ``--dump-ir``.

Kept apart from the passes themselves so each pass module stays a plain function with no
knowledge of the pipeline, and the CLI / compiler have one place to ask "what runs, in which
order, with which options".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from circuit2mlp.errors import UserError
from circuit2mlp.ir import Circuit, Gate, LayeredCircuit
from circuit2mlp.passes import Pass
from circuit2mlp.passes.layering import layer
from circuit2mlp.passes.normalize import normalize

DEFAULT_MAX_FANIN = 4


def _max_fanin(options: Mapping[str, Any]) -> int:
    value = options.get("max_fanin", DEFAULT_MAX_FANIN)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise UserError(f"max fan-in must be an integer >= 2, got {value!r}")
    return value


def _run_normalize(ir: Circuit, options: Mapping[str, Any]) -> Circuit:
    return normalize(ir, max_fanin=_max_fanin(options))


def _run_layer(ir: Circuit, options: Mapping[str, Any]) -> LayeredCircuit:
    return layer(ir)


PASSES: tuple[Pass, ...] = (
    Pass(
        "normalize",
        "fold constants, remove buffers, expand covers, decompose fan-in > K",
        _run_normalize,
    ),
    Pass("layer", "assign depths; carry skip wires with identity gates", _run_layer),
)


def run_pipeline(
    circuit: Circuit, options: Mapping[str, Any] | None = None, stop_after: str | None = None
) -> Circuit | LayeredCircuit:
    """Run the passes in order on ``circuit`` and return the IR after the last one run:
    ``stop_after`` names the last pass (default: all). ``options``: ``max_fanin`` (default 4).
    Raises UserError for an unknown pass name or a bad option."""
    options = {} if options is None else options
    names = [p.name for p in PASSES]
    if stop_after is not None and stop_after not in names:
        raise UserError(f"unknown pass '{stop_after}' (passes: {', '.join(names)})")
    ir: Any = circuit
    for p in PASSES:
        ir = p.run(ir, options)
        if p.name == stop_after:
            break
    return ir


def dump_ir(ir: Circuit | LayeredCircuit) -> str:
    """The IR as YAML text: a Circuit in the circuit file format (so a dump after
    ``normalize`` can be compiled again), a LayeredCircuit as a document of its own::

        name: c17
        inputs: [a, b]
        layers:
        - gates: {g1: [NAND, a, b], a@1: [BUF, a]}
        outputs: {y: g1}
    """
    if isinstance(ir, LayeredCircuit):
        return yaml.safe_dump(_layered_document(ir), sort_keys=False)
    if isinstance(ir, Circuit):
        from circuit2mlp.formats.yaml_format import write_yaml

        return write_yaml(ir)
    raise TypeError(f"cannot dump {type(ir).__name__}")


def _layered_document(layered: LayeredCircuit) -> dict[str, Any]:
    return {
        "name": layered.name,
        "inputs": list(layered.inputs),
        "layers": [{"gates": {g.name: _gate_entry(g) for g in gates}} for gates in layered.layers],
        "outputs": dict(zip(layered.outputs, layered.output_signals, strict=True)),
    }


def _gate_entry(gate: Gate) -> list[Any]:
    """``[op, fanin...]``; an SOP gate (only when layering an un-normalized circuit) adds its
    cover as a last item ``{cubes: [...], onset: bool}``."""
    entry: list[Any] = [gate.op, *gate.fanin]
    if gate.cover is not None:
        entry.append({"cubes": list(gate.cover.cubes), "onset": gate.cover.onset})
    return entry
