"""Codegen driver: a layered circuit becomes an input embedding and a list of layer blocks.

For ``exact`` every layer is a block of dedicated gadgets. For the superposed methods: measure
every wire's activity under s-sparse inputs (activity.py), embed the inputs (embedding.py),
decode inputs given in superposition (decode.py), then per circuit layer a computation block
(superposed.py) -- or the exact block when that is cheaper and no width was forced, the
*hybrid*. Error control (on unless ``error_correction`` is off) bounds the fan-in of superposed
neurons (:data:`NOISE_BUDGET_FANIN`) and cleans up: every exact-gadget gate (not in the last
layer) that would pass on a noise mass of ``config.clean_threshold`` or more (noise.py: the
expected read-off noise reaching it through the gates that are sensitive to it) gets a clean
gadget (exact.CLEAN_MARGIN), which removes the noise instead of passing it on.

All randomness comes from one ``numpy.random.Generator`` seeded by the config, spawned into
independent streams per use (and per layer and width, seeded from the config seed), so the
same seed gives the same weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity, measure_activity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.calibration import Calibration
from circuit2mlp.codegen.decode import decode_block
from circuit2mlp.codegen.embedding import input_embedding
from circuit2mlp.codegen.exact import compile_exact_blocks, exact_block
from circuit2mlp.codegen.noise import gates_to_clean, mass_after
from circuit2mlp.codegen.superposed import (
    SuperposeOptions,
    computation_block,
    exact_neurons_of,
    layer_terms,
)
from circuit2mlp.ir import LayeredCircuit

#: Error control: the features a superposed neuron may read -- in gate-centric groups always,
#: in feature-centric ones (the universal AND) when its inputs are read-offs of superposed
#: neurons or its read-offs feed later layers. A neuron sums the read-off noise of its inputs
#: and its bias margin absorbs the sum only while it stays small; a wide neuron also fires
#: more often by accident and spreads 1/k of a unit to every monomial it covers, which later
#: layers carry on (docs/theory.md section 7; design.design_group). 24 measured best of
#: 16/24/32.
NOISE_BUDGET_FANIN = 24


#: Worst-k sample error rate an automatic width aims at by default (the whole network's).
TARGET_ERROR = 0.005
#: What the error model aims at when the calibration sees every input (and allows no error).
MODEL_TARGET = 1e-3


def build_blocks(
    layered: LayeredCircuit, config, progress: Callable[[str], None] | None = None
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed matrix, blocks, names of wires stored negated) for
    ``config.method``. Feature maps of a negated wire read ``1 - wire``. ``progress(text)``
    hears about each layer and each width tried."""
    say = progress or (lambda text: None)
    if config.method == "deep" or _deep_is_cheaper(layered, config):
        from circuit2mlp.codegen.deep_pipeline import build_deep_blocks

        return build_deep_blocks(layered, config)
    rng = np.random.default_rng(config.seed)
    streams = rng.spawn(2)
    if config.method == "exact":
        features, embed = input_embedding(
            layered.inputs, config.input_dim, np.zeros(len(layered.inputs), bool), streams[0]
        )
        return features, embed, compile_exact_blocks(layered), frozenset()
    from circuit2mlp.codegen.dense import dense_is_better

    if config.method == "dense" or dense_is_better(layered, config):  # training's U-AND
        from circuit2mlp.codegen.dense import applies, dense_block

        if applies(layered, config):
            flip = np.zeros(len(layered.inputs), bool)
            features, embed = input_embedding(layered.inputs, None, flip, streams[0])
            block = dense_block(layered, config)
            blocks = [block] if block is not None else compile_exact_blocks(layered)
            return features, embed, blocks, frozenset()
        config = dataclasses.replace(config, method="superposed")  # any other circuit
    say("measuring wire activity")
    levels = measure_activity(layered, config.sparsity, streams[1])
    levels[-1] = _unflipped(levels[-1])  # outputs are read in their true polarity
    features, embed = input_embedding(layered.inputs, config.input_dim, levels[0].flip, streams[0])
    paper = config.method == "paper"
    options = SuperposeOptions.for_method(config.method, config.width)
    blocks: list[LayerBlock] = []
    superposed_inputs = config.input_dim is not None and config.input_dim < len(layered.inputs)
    if superposed_inputs and not paper:
        blocks.append(decode_block(levels[0]))
    automatic = config.width is None and not paper  # paper: its own width rule, no check
    if automatic:
        say("sampling calibration inputs")
    check = Calibration(
        layered, config.sparsity, config.seed, features, embed, levels, active=automatic
    )
    check.advance(blocks)
    target = float(getattr(config, "target_error", TARGET_ERROR))
    # Per layer: the whole network's budget shared out; every input, when they were all seen.
    layer_target = 0.0 if check.exhaustive else target / max(layered.depth, 1)
    if automatic:
        options = dataclasses.replace(options, target_errors=layer_target or MODEL_TARGET)
    # Centring read-offs helps the final threshold, but inside the network a shifted feature
    # is summed over a neuron's many inputs, so the shifts would add up: only outputs get it.
    inner = dataclasses.replace(options, center=False)
    # Read-offs of superposed neurons are noisy; the decode layer's clamped inputs are not.
    noisy = any(b.stats.get("superposed_neurons") for b in blocks)
    mass = np.zeros(len(layered.inputs))  # noise mass per wire (noise.py); inputs are clean
    # Clean gadgets guard the inputs nobody checked; a calibration on every input the network
    # is built for has already bounded every wire on all of them, so they would only cost.
    cleaning = (
        not paper
        and config.error_correction
        and config.clean_threshold > 0
        and not check.exhaustive
    )
    for i, gates in enumerate(layered.layers):
        last = i == layered.depth - 1
        layer_options = options if last else inner
        if not paper and config.error_correction:
            limits = [("gate", NOISE_BUDGET_FANIN)]
            if noisy or not last:  # the universal (feature-centric) AND only in deep networks
                limits.append(("feature", NOISE_BUDGET_FANIN))
            layer_options = dataclasses.replace(layer_options, fanin_limits=tuple(limits))
        terms = layer_terms(
            gates,
            levels[i],
            levels[i + 1].flip,
            prefer_gadgets=layer_options.dedicated_linear,
            superpose_dense=paper,
        )
        passed, clean = np.zeros(len(gates)), None
        if cleaning and not last:  # outputs are read at 1/2 anyway
            level = _unflipped(levels[i])
            passed, clean = gates_to_clean(terms, level.frequency, mass, config.clean_threshold)

        def build(
            width: int | None,
            i=i,
            gates=gates,
            layer_options=layer_options,
            terms=terms,
            clean=clean,
        ):
            """The layer's superposed stage at a width."""
            sized = dataclasses.replace(layer_options, width=width)
            stage = [
                computation_block(
                    gates,
                    levels[i],
                    levels[i + 1].flip,
                    sized,
                    np.random.default_rng([config.seed, 2, i, width or 0]),
                    terms,
                    clean,
                )
            ]
            stage[0].stats["kind"] = "compute"
            return stage

        where = f"layer {i + 1}/{layered.depth} ({len(gates):,} gates)"
        if not automatic:
            say(f"{where}: building")
            stage = build(config.width)
        else:

            def measure(blocks, width, i=i, where=where):
                say(f"{where}: checking {width:,} neurons on held-out samples")
                return check.measure(blocks, i + 1, layer_target)

            say(f"{where}: building at the error model's width")
            stage = _grow(
                build,
                exact_neurons_of(terms, clean=clean),
                lambda i=i, gates=gates, clean=clean: _all_dedicated(
                    gates, levels[i], levels[i + 1].flip, options, clean
                ),
                measure,
                layer_target,
            )
            if not last:  # nothing reads the outputs
                check.advance(stage)
        blocks.extend(stage)
        noisy = any(b.stats.get("superposed_neurons") for b in stage)
        superposed = np.zeros(len(gates), dtype=bool)
        if not stage[0].stats.get("fallback"):
            superposed[:] = True
            superposed[terms.dedicated] = False
        mass = mass_after(passed, superposed, clean)
    flipped = frozenset(
        name for level in levels for name, f in zip(level.names, level.flip, strict=True) if f
    )
    return features, embed, blocks, flipped


#: The default method considers the deep construction (every level in superposition) for
#: circuits with a level at least this wide: below it the deep method needs more neurons
#: than gates (its width grows like sqrt(m), docs/theory.md section 8), and small circuits
#: keep exactly the weights they had.
DEEP_MIN_WIRES = 20_000


#: Gates the superposed method puts on shared coincidence neurons when no literal is negated
#: (no degree-1 term); every other gate costs it at least its exact gadget.
_COINCIDENCE_OPS = frozenset({"AND", "NAND", "MAJ"})


def _deep_is_cheaper(layered: LayeredCircuit, config) -> bool:
    """Whether ``superposed`` at the automatic width should use the deep construction: a
    wide level, and the deep error model's neurons below what the superposed method must
    spend at least: the exact gadgets of its non-coincidence gates (sparse random circuits
    are mostly those; a U-AND has none, and its shared neurons are far cheaper than deep)."""
    if config.method != "superposed" or config.width is not None or config.input_dim is not None:
        return False
    if max((len(layer) for layer in layered.layers), default=0) < DEEP_MIN_WIRES:
        return False
    from circuit2mlp.codegen.deep_pipeline import predicted_neurons
    from circuit2mlp.codegen.exact import gate_gadget
    from circuit2mlp.ir import symmetric_form

    def shareable(gate) -> bool:
        op, negated = symmetric_form(gate)
        return op in _COINCIDENCE_OPS and not any(negated)

    floor = sum(
        gate_gadget(g).neurons for layer in layered.layers for g in layer if not shareable(g)
    )
    return predicted_neurons(layered, config) < floor


def _next_width(shared: int, rate: float, allowed: float) -> int:
    """The next width to try after ``shared`` neurons misread ``rate`` of the hardest level's
    samples against ``allowed``: small steps near the target, so the width found is within
    one step (x1.2) of the smallest that passes; bigger ones far from it."""
    ratio = rate / allowed if allowed > 0 else math.inf
    factor = 1.2 if ratio <= 4 else 1.5 if ratio <= 20 else 2.0
    return max(shared + 1, math.ceil(shared * factor))


def _grow(build, fallback_neurons: int, fallback, measure, target: float) -> list[LayerBlock]:
    """Automatic width for one layer: start at the error model's width and widen the shared
    neurons until the hardest sparsity level's held-out samples misread at most ``target``
    of the time (none, when the calibration saw every input); exact gadgets (``fallback()``,
    ``fallback_neurons`` of them, marked ``fallback`` in the stats) as soon as the superposed
    stage would cost as much as they do."""

    def exact() -> list[LayerBlock]:
        block = fallback()
        block.stats["kind"] = "compute"
        block.stats["fallback"] = True
        return [block]

    width = None
    while True:
        stage = build(width)
        if sum(b.neurons for b in stage) >= fallback_neurons:
            return exact()
        shared = sum(
            g["neurons"] for g in stage[0].stats.get("groups", []) if g["strategy"] != "dedicated"
        )
        measured = measure(stage, shared)
        stage[0].stats["calibration"] = {
            "worst_k_sample_error": measured.worst_rate,
            "target": target,
        }
        if measured.within(target):
            return stage
        if shared == 0:
            return exact()
        smallest = min(measured.samples.values())
        width = _next_width(shared, measured.worst_rate, max(target, 1.0 / max(smallest, 1)))
        del stage  # a rejected stage's weights need not outlive the next build


def _unflipped(level: LevelActivity) -> LevelActivity:
    freq = np.where(level.flip, 1 - level.frequency, level.frequency)
    return dataclasses.replace(level, flip=np.zeros_like(level.flip), frequency=freq)


def _all_dedicated(
    gates, level: LevelActivity, out_flip: np.ndarray, options, clean: np.ndarray | None = None
) -> LayerBlock:
    """The layer with every gate on its own exact gadget (stored polarities respected; clean
    gadgets where ``clean`` says)."""
    everything_dense = dataclasses.replace(level, frequency=np.ones_like(level.frequency))
    terms = layer_terms(gates, everything_dense, out_flip)
    return computation_block(
        gates, everything_dense, out_flip, options, np.random.default_rng(0), terms, clean
    )


__all__ = ["DTYPE", "build_blocks", "exact_block"]
