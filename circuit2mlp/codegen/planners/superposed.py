"""Planner of the ``superposed`` method (the default): our improved construction.

Measure every wire's activity under s-sparse inputs (activity.py) and store it in its sparse
polarity; decode inputs given in superposition (decode.py); then per circuit layer: the
gates' polynomials (terms.py), gadgets for gates whose gadget is no dearer
(assignment.prefer_gadgets), balanced wiring with a neuron margin, centred output read-offs,
bounded covers. Error control (on unless ``error_correction`` is off) bounds the fan-in of
shared neurons (:data:`NOISE_BUDGET_FANIN`) and gives a clean gadget (exact.CLEAN_MARGIN) to
every gadget gate (not in the last layer) that would pass on a noise mass of
``config.clean_threshold`` or more (noise.py).

Widths: a forced ``config.width`` is shared among each layer's groups; without one, each
layer starts at the error model's width and is widened until held-out samples misread at most
the layer's share of ``config.target_error`` (calibration.py, on the blocks emitted so far),
or becomes exact gadgets as soon as those would cost no more (the *hybrid*). Wide circuits
where the deep construction is cheaper are handed to the deep planner
(planners/deep._deep_is_cheaper).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity, measure_activity
from circuit2mlp.codegen.assignment import prefer_gadgets
from circuit2mlp.codegen.blocks import LayerBlock
from circuit2mlp.codegen.calibration import Calibration
from circuit2mlp.codegen.dense import dense_is_better
from circuit2mlp.codegen.design import (
    CENTER,
    MAX_READ,
    NOISE_BUDGET_FANIN,
    plan_groups,
    shared_gates,
)
from circuit2mlp.codegen.emit import emit_inputs, emit_level
from circuit2mlp.codegen.exact import exact_neurons_of
from circuit2mlp.codegen.noise import gates_to_clean, mass_after
from circuit2mlp.codegen.plan import CARRY, LevelPlan, Plan, ReadOffRule, how_of
from circuit2mlp.codegen.planners import deep, planner_for
from circuit2mlp.codegen.planners.common import unflipped
from circuit2mlp.codegen.terms import LayerTerms, gadget_terms, layer_terms
from circuit2mlp.codegen.widths import forced_widths, model_widths
from circuit2mlp.ir import Gate, LayeredCircuit

HELP = "ours: balanced wiring, centred read-offs, gadgets where cheaper, error control"

#: Worst-k sample error rate an automatic width aims at by default (the whole network's).
TARGET_ERROR = 0.005
#: What the error model aims at when the calibration sees every input (and allows no error).
MODEL_TARGET = 1e-3
#: Neuron bias margin: cuts sub-threshold interference.
MARGIN = 0.2


def plan(layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None) -> Plan:
    """The superposed plan, or the deep one where that is cheaper, or the dense one where the
    universal AND the way training finds it needs fewer neurons (dense.dense_is_better)."""
    if deep._deep_is_cheaper(layered, config):
        return deep.plan(layered, config, progress)
    if dense_is_better(layered, config):
        return planner_for("dense")(layered, config, progress)
    return superposed_plan(layered, config, progress)


def superposed_plan(
    layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None
) -> Plan:
    """The superposed construction's plan (module docstring); levels whose widths were
    calibrated carry the block the calibration measured."""
    say = progress or (lambda text: None)
    streams = np.random.default_rng(config.seed).spawn(2)
    say("measuring wire activity")
    levels = measure_activity(layered, config.sparsity, streams[1])
    levels[-1] = unflipped(levels[-1])  # outputs are read in their true polarity
    activity = tuple(levels)
    features, embed = emit_inputs(layered.inputs, config.input_dim, levels[0].flip, config.seed)
    plans: list[LevelPlan] = []
    blocks: list[LayerBlock] = []
    if config.input_dim is not None and config.input_dim < len(layered.inputs):
        how = np.full(len(layered.inputs), CARRY, dtype=np.int8)
        plans.append(LevelPlan("decode", None, layered.inputs, how))
        blocks.append(emit_level(plans[-1], layered, activity))
    automatic = config.width is None
    if automatic:
        say("sampling calibration inputs")
    check = Calibration(
        layered, config.sparsity, config.seed, features, embed, levels, active=automatic
    )
    check.advance(blocks)
    target = float(getattr(config, "target_error", TARGET_ERROR))
    # Per layer: the whole network's budget shared out; every input, when they were all seen.
    layer_target = 0.0 if check.exhaustive else target / max(layered.depth, 1)
    model_target = layer_target or MODEL_TARGET
    # Read-offs of superposed neurons are noisy; the decode layer's clamped inputs are not.
    noisy = False
    mass = np.zeros(len(layered.inputs))  # noise mass per wire (noise.py); inputs are clean
    # Clean gadgets guard the inputs nobody checked; a calibration on every input the network
    # is built for has already bounded every wire on all of them, so they would only cost.
    cleaning = config.error_correction and config.clean_threshold > 0 and not check.exhaustive
    for i, gates in enumerate(layered.layers):
        last = i == layered.depth - 1
        level = levels[i]
        out_flip = levels[i + 1].flip
        names = tuple(g.name for g in gates)
        limits: list[tuple[str, int]] = []
        if config.error_correction:
            limits = [("gate", NOISE_BUDGET_FANIN)]
            if noisy or not last:  # the universal (feature-centric) AND only in deep networks
                limits.append(("feature", NOISE_BUDGET_FANIN))
        # Centring read-offs helps the final threshold, but inside the network a shifted
        # feature is summed over a neuron's many inputs, so the shifts would add up: only
        # outputs get it.
        rule = ReadOffRule(
            balanced=True,
            margin=MARGIN,
            center=CENTER if last else 0.0,
            cover_limit=MAX_READ,
            fanin_limits=tuple(limits),
        )
        terms = layer_terms(gates, level, out_flip)
        prefer_gadgets(terms)
        passed, clean = np.zeros(len(gates)), None
        if cleaning and not last:  # outputs are read at 1/2 anyway
            passed, clean = gates_to_clean(
                terms, unflipped(level).frequency, mass, config.clean_threshold
            )
        layer = _Layer(i, names, level, terms, clean, rule, model_target)
        where = f"layer {i + 1}/{layered.depth} ({len(gates):,} gates)"
        if not automatic:
            say(f"{where}: planning")
            chosen = _at_width(config.width, layer, config.seed)
        else:

            def measure(block, width, i=i, where=where):
                say(f"{where}: checking {width:,} neurons on held-out samples")
                return check.measure([block], i + 1, layer_target)

            say(f"{where}: building at the error model's width")
            chosen = _grow(
                functools.partial(_at_width, layer=layer, seed=config.seed),
                exact_neurons_of(terms, clean=clean),
                functools.partial(all_gadgets, i, gates, level, clean, rule),
                lambda level_plan: emit_level(level_plan, layered, activity),
                measure,
                layer_target,
            )
            if not last:  # nothing reads the outputs
                check.advance([chosen.block])
        plans.append(chosen)
        noisy = chosen.shared_neurons > 0
        superposed = np.zeros(len(gates), dtype=bool)
        if not chosen.notes.get("fallback"):
            superposed[:] = True
            superposed[terms.dedicated] = False
        mass = mass_after(passed, superposed, clean)
    return Plan(
        config.method,
        activity,
        tuple(plans),
        input_dim=config.input_dim,
        seed=config.seed,
        inputs=(features, embed),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class _Layer:
    """What every width tried for one layer shares."""

    index: int
    names: tuple[str, ...]
    level: LevelActivity
    terms: LayerTerms
    clean: np.ndarray | None
    rule: ReadOffRule
    model_target: float


def _at_width(width: int | None, layer: _Layer, seed: int) -> LevelPlan:
    """The layer's plan with ``width`` shared neurons (None: the error model's widths)."""
    terms = layer.terms
    degrees = sorted(terms.monomials)
    monomials = [terms.monomials[q] for q in degrees]
    if width is not None:
        widths = forced_widths(monomials, degrees, width, dedicated_linear=True)
    else:
        widths = model_widths(monomials, degrees, layer.level, layer.model_target, True)
    groups = plan_groups(terms, layer.level, widths, layer.rule, dedicated_linear=True)
    return LevelPlan(
        "compute",
        layer.index,
        layer.names,
        how_of(terms, shared_gates(terms, groups), layer.clean),
        terms,
        groups,
        layer.clean,
        layer.rule,
        seed=(seed, 2, layer.index, width or 0),
        notes={"kind": "compute"},
    )


def all_gadgets(
    index: int,
    gates: Sequence[Gate],
    level: LevelActivity,
    clean: np.ndarray | None,
    rule: ReadOffRule | None = None,
) -> LevelPlan:
    """Layer ``index`` with every gate on its exact gadget, clean ones where ``clean`` says,
    reading the features of ``level``: the fall-back of an automatic width."""
    gadgets = gadget_terms(gates, level.names)
    return LevelPlan(
        "compute",
        index,
        tuple(g.name for g in gates),
        how_of(gadgets, np.zeros(len(gates), bool), clean),
        gadgets,
        (),
        clean,
        rule or ReadOffRule(),
        notes={"kind": "compute", "fallback": True},
    )


def _next_width(shared: int, rate: float, allowed: float) -> int:
    """The next width to try after ``shared`` neurons misread ``rate`` of the hardest level's
    samples against ``allowed``: small steps near the target, so the width found is within
    one step (x1.2) of the smallest that passes; bigger ones far from it."""
    ratio = rate / allowed if allowed > 0 else math.inf
    factor = 1.2 if ratio <= 4 else 1.5 if ratio <= 20 else 2.0
    return max(shared + 1, math.ceil(shared * factor))


def _grow(at_width, fallback_neurons: int, fallback, emit, measure, target: float) -> LevelPlan:
    """Automatic width for one layer: start at the error model's width and widen the shared
    neurons until the hardest sparsity level's held-out samples misread at most ``target``
    of the time (none, when the calibration saw every input); exact gadgets (``fallback()``,
    ``fallback_neurons`` of them) as soon as the superposed level would cost as much. The
    level returned carries its emitted block (what was measured)."""

    def exact() -> LevelPlan:
        level = fallback()
        return dataclasses.replace(level, block=emit(level))

    width = None
    while True:
        level = at_width(width)
        if level.neurons >= fallback_neurons:
            return exact()
        block = emit(level)
        shared = sum(g.neurons for g in level.groups if g.strategy != "dedicated")
        measured = measure(block, shared)
        calibration = {"worst_k_sample_error": measured.worst_rate, "target": target}
        block.stats["calibration"] = calibration
        if measured.within(target):
            notes = {**level.notes, "calibration": calibration}
            return dataclasses.replace(level, notes=notes, block=block)
        if shared == 0:
            return exact()
        smallest = min(measured.samples.values())
        width = _next_width(shared, measured.worst_rate, max(target, 1.0 / max(smallest, 1)))
        del block  # a rejected level's weights need not outlive the next build
