"""The compile driver: circuit → passes → codegen → Network, plus the compile report.

This is the one place that strings the passes together; each step stays a pure function of
its input and the seeded generator, so the same circuit, options and seed give the same
weights byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from circuit2mlp import __version__
from circuit2mlp.circuitmap import CircuitMap
from circuit2mlp.codegen.blocks import assemble, true_polarity
from circuit2mlp.codegen.exact import exact_neuron_count
from circuit2mlp.codegen.plan import Plan
from circuit2mlp.codegen.planners import methods
from circuit2mlp.errors import UserError
from circuit2mlp.ir import Circuit, LayeredCircuit
from circuit2mlp.network import Network

#: Construction methods (the planner registry's built-ins); the first is the default.
METHODS = methods()

#: What ``compile`` runs after the IR passes (``circuit2mlp passes`` lists them too).
CODEGEN_STEPS = (
    ("plan", "the method's planner decides how every gate is computed and read off"),
    ("emit", "the emitter turns the plan into the input embedding and layer weights"),
)


@dataclass(frozen=True)
class CompileConfig:
    """Every option that affects the weights; all of it is recorded in the file's meta."""

    method: str = "superposed"
    sparsity: int = 3
    seed: int = 0
    max_fanin: int = 4
    width: int | None = None  # neurons per superposed layer; None = from the error model
    input_dim: int | None = None  # d0 < m: inputs in superposition; None = basis-aligned
    error_correction: bool = True
    # With error correction: noise mass at which a gate gets a clean gadget (0: never)
    clean_threshold: float = 8.0
    # Automatic width (superposed, no width): the hardest sparsity level's sample error rate
    # that the held-out calibration allows, for the whole network
    target_error: float = 0.005

    def check(self) -> None:
        """Reject out-of-range values with a clear message."""
        if self.method not in methods():
            choices = ", ".join(methods())
            raise UserError(f"unknown method '{self.method}' (choose from {choices})")
        if not 0 <= self.sparsity <= 64:
            raise UserError(f"sparsity {self.sparsity} out of range (0..64)")
        if self.max_fanin < 2:
            raise UserError(f"max fan-in {self.max_fanin} out of range (need >= 2)")
        if self.seed < 0:
            raise UserError(f"seed {self.seed} out of range (need >= 0)")
        if self.width is not None and self.width < 2:
            raise UserError(f"width {self.width} out of range (need >= 2)")
        if self.input_dim is not None and self.input_dim < 1:
            raise UserError(f"input dim {self.input_dim} out of range (need >= 1)")
        if not 0 <= self.target_error < 1:
            raise UserError(f"target error {self.target_error} out of range (0 <= t < 1)")
        if not 0 <= self.clean_threshold < float("inf"):
            raise UserError(f"clean threshold {self.clean_threshold} out of range (need >= 0)")


@dataclass
class CompileReport:
    """Figures for the compile report: per layer and totals, vs the exact method."""

    circuit: str
    method: str
    inputs: int
    outputs: int
    gates: int
    layers: list[dict[str, Any]] = field(default_factory=list)
    neurons: int = 0
    exact_neurons: int = 0
    predicted_errors: float = 0.0
    #: Gates by how they were emitted, over all layers (counted from the plan:
    #: plan.Plan.counts).
    emitted: dict[str, int] = field(default_factory=dict)
    #: Layers of a superposed method that fell back to exact gadgets.
    fallback_layers: list[int] = field(default_factory=list)

    @property
    def fallback_note(self) -> str | None:
        """One line when a superposed compile fell back to exact gadgets, else None."""
        if not self.fallback_layers:  # only planners that fall back mark layers
            return None
        computing = [r for r in self.layers if r.get("kind", "compute") == "compute"]
        if len(self.fallback_layers) == len(computing):
            return (
                "fell back to exact: every layer is exact gadgets (superposed layers cost as "
                "many neurons or misread held-out samples), so this is the exact network"
            )
        listed = ", ".join(str(i) for i in self.fallback_layers)
        return (
            f"fell back to exact in layer(s) {listed} of {len(computing)} (superposed "
            "layers there cost as many neurons or misread held-out samples)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"fallback": self.fallback_note}


def source_digest(data: bytes) -> str:
    """sha256 of a circuit's source bytes: ties a weights file to the file it came from."""
    return hashlib.sha256(data).hexdigest()


def lower(circuit: Circuit, config: CompileConfig) -> LayeredCircuit:
    """Run the IR passes (normalize, layer) that every method shares."""
    from circuit2mlp.passes.registry import run_pipeline

    return run_pipeline(circuit, {"max_fanin": config.max_fanin})


def plan_circuit(
    circuit: Circuit, config: CompileConfig, progress: Callable[[str], None] | None = None
) -> tuple[LayeredCircuit, Plan]:
    """Run the passes and the method's planner: (layered circuit, construction plan)."""
    from circuit2mlp.codegen.pipeline import make_plan

    say = progress or (lambda text: None)
    config.check()
    say("running passes (normalize, layer)")
    layered = lower(circuit, config)
    say(f"planning ({config.method})")
    return layered, make_plan(layered, config, say)


def dump_codegen(circuit: Circuit, config: CompileConfig, step: str) -> str:
    """The IR after a codegen step as JSON text (``compile --stop-after plan|emit``): the
    plan (codegen/plan_dump.py), or per emitted layer block its kind, neurons, features and
    gate counts."""
    from circuit2mlp.codegen.emit import emit
    from circuit2mlp.codegen.plan_dump import plan_document

    layered, plan = plan_circuit(circuit, config)
    if step == "plan":
        return json.dumps(plan_document(plan), indent=1) + "\n"
    blocks = emit(plan, layered)[2]
    keys = ("kind", "gates", "carries", "shared_gates", "dedicated_gates", "clean_gates")
    rows = [
        {"layer": i, "neurons": b.neurons, "features": len(b.features.names)}
        | {k: b.stats[k] for k in keys if k in b.stats}
        for i, b in enumerate(blocks)
    ]
    return json.dumps({"method": config.method, "blocks": rows}, indent=1) + "\n"


def compile_circuit(
    circuit: Circuit,
    config: CompileConfig,
    source_sha256: str | None = None,
    progress: Callable[[str], None] | None = None,
    plan_out: list | None = None,
    stream: bool = False,
) -> tuple[Network, CompileReport]:
    """Compile a validated circuit into a Network and say what it cost; ``progress(text)``
    hears when each stage starts (passes, planning, layers, widths tried, emission,
    assembly). ``plan_out``, when given, receives the construction plan (for
    ``--dump-plan``). ``stream``: the network's layers are composed one at a time as they
    are read, once and in order (codegen/blocks.StreamedLayers: what ``Network.save`` does),
    so that a writer holds one neuron-level layer at a time."""
    from circuit2mlp.codegen.emit import emit
    from circuit2mlp.formats.yaml_format import write_yaml

    say = progress or (lambda text: None)
    layered, plan = plan_circuit(circuit, config, say)
    if plan_out is not None:
        plan_out.append(plan)
    say("emitting layer blocks")
    input_features, embed, blocks, flipped = emit(plan, layered)
    # Per layer: the plan's neurons and gate counts (the block's stats start with them),
    # then what emission measured (covers, fan-ins) and the planner's notes.
    layer_rows = [
        {"layer": i, "neurons": level.neurons, "features": len(b.features.names), **b.stats}
        | level.counts()
        for i, (b, level) in enumerate(zip(blocks, plan.levels, strict=True))
    ]
    emitted = plan.counts()
    del plan  # its per-level terms need not outlive emission (unless the caller keeps it)
    say("assembling weights")
    assembled = assemble(input_features, embed, blocks, layered.output_signals, stream)
    assembled.features = [true_polarity(f, flipped) for f in assembled.features]
    exact_neurons = exact_neuron_count(layered)
    predicted = sum(float(r.get("predicted_errors", 0.0)) for r in layer_rows)
    meta = {
        "circuit": circuit.name,
        "source_sha256": source_sha256,
        "method": config.method,
        "sparsity": config.sparsity,
        "seed": config.seed,
        "version": __version__,
        "options": asdict(config),
        "gates": len(circuit.gates),
        "exact_neurons": exact_neurons,
        "layer_sizes": [int(b.neurons) for b in blocks],
        "predicted_errors_per_sample": predicted,
    }
    signals = set(circuit.inputs) | set(circuit.gate_map)
    names = [f.names for f in assembled.features]
    circuit_map = CircuitMap.build(layered, signals, flipped, names)
    network = Network.from_assembled(
        assembled, circuit.inputs, circuit.outputs, meta, write_yaml(circuit), circuit_map
    )
    report = CompileReport(
        circuit=circuit.name,
        method=config.method,
        inputs=len(circuit.inputs),
        outputs=len(circuit.outputs),
        gates=len(circuit.gates),
        layers=[
            {k: v for k, v in r.items() if k != "groups"} | _group_summary(r) for r in layer_rows
        ],
        neurons=network.neurons,
        exact_neurons=exact_neurons,
        predicted_errors=predicted,
        emitted=emitted,
        fallback_layers=[int(r["layer"]) for r in layer_rows if r.get("fallback")],
    )
    return network, report


def _group_summary(row: dict[str, Any]) -> dict[str, Any]:
    groups = row.get("groups") or []
    if not groups:
        return {}
    return {"groups": [dict(g) for g in groups]}
