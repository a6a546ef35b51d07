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

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.activity import LevelActivity, measure_activity
from circuit2mlp.codegen.blocks import DTYPE, FeatureMap, LayerBlock
from circuit2mlp.codegen.decode import decode_block
from circuit2mlp.codegen.embedding import input_embedding
from circuit2mlp.codegen.exact import compile_exact_blocks, exact_block
from circuit2mlp.codegen.noise import gates_to_clean, mass_after
from circuit2mlp.codegen.sparse_forward import affine, positives, within
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


#: How far from its 0/1 value a wire feeding later layers may read on the held-out samples of
#: an automatic width (outputs need only be on the right side of 1/2).
CALIBRATION_SLACK = 0.25
#: Calibrate on every <= s-hot input when there are at most this many: real netlists have few
#: inputs, and a layer that misreads one input pair in 500 must not pass. Otherwise 1,024
#: samples per k when one level's read-offs then fit in CALIBRATION_BYTES, else 256.
EXHAUSTIVE = 2048
CALIBRATION_BYTES = 1 << 28


def build_blocks(
    layered: LayeredCircuit, config
) -> tuple[FeatureMap, object, list[LayerBlock], frozenset[str]]:
    """(input features, embed matrix, blocks, names of wires stored negated) for
    ``config.method``. Feature maps of a negated wire read ``1 - wire``."""
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
    levels = measure_activity(layered, config.sparsity, streams[1])
    levels[-1] = _unflipped(levels[-1])  # outputs are read in their true polarity
    features, embed = input_embedding(layered.inputs, config.input_dim, levels[0].flip, streams[0])
    options = SuperposeOptions.for_method(config.method, config.width)
    blocks: list[LayerBlock] = []
    superposed_inputs = config.input_dim is not None and config.input_dim < len(layered.inputs)
    if superposed_inputs and config.method == "superposed":
        blocks.append(decode_block(levels[0]))
    check = _Calibration(layered, config, features, embed, levels, blocks)
    # Centring read-offs helps the final threshold, but inside the network a shifted feature
    # is summed over a neuron's many inputs, so the shifts would add up: only outputs get it.
    inner = dataclasses.replace(options, center=False)
    # Read-offs of superposed neurons are noisy; the decode layer's clamped inputs are not.
    noisy = any(b.stats.get("superposed_neurons") for b in blocks)
    mass = np.zeros(len(layered.inputs))  # noise mass per wire (noise.py); inputs are clean
    # Clean gadgets guard the inputs nobody checked; a calibration on every input the network
    # is built for has already bounded every wire on all of them, so they would only cost.
    cleaning = (
        options.method == "superposed"
        and config.error_correction
        and config.clean_threshold > 0
        and not check.exhaustive
    )
    for i, gates in enumerate(layered.layers):
        last = i == layered.depth - 1
        layer_options = options if last else inner
        if options.method == "superposed" and config.error_correction:
            limits = [("gate", NOISE_BUDGET_FANIN)]
            if noisy or not last:  # the universal (feature-centric) AND only in deep networks
                limits.append(("feature", NOISE_BUDGET_FANIN))
            layer_options = dataclasses.replace(layer_options, fanin_limits=tuple(limits))
        terms = layer_terms(
            gates, levels[i], levels[i + 1].flip, prefer_gadgets=layer_options.dedicated_linear
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

        if config.width is not None:
            stage = build(config.width)
        else:
            stage = _grow(
                build,
                exact_neurons_of(terms, clean=clean),
                lambda i=i, gates=gates, clean=clean: _all_dedicated(
                    gates, levels[i], levels[i + 1].flip, options, clean
                ),
                lambda blocks, i=i: check.clean(blocks, i + 1),
            )
        check.advance(stage)
        blocks.extend(stage)
        noisy = any(b.stats.get("superposed_neurons") for b in stage)
        superposed = np.zeros(len(gates), dtype=bool)
        if stage[0].stats.get("superposed_gates"):  # not the exact fallback
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


def _deep_is_cheaper(layered: LayeredCircuit, config) -> bool:
    """Whether ``superposed`` at the automatic width should use the deep construction: a
    wide level, and the deep error model's neurons below the exact gadgets' (the superposed
    layers of sparse random circuits cost about as much as exact gadgets)."""
    if config.method != "superposed" or config.width is not None or config.input_dim is not None:
        return False
    if max((len(layer) for layer in layered.layers), default=0) < DEEP_MIN_WIRES:
        return False
    from circuit2mlp.codegen.deep_pipeline import predicted_neurons
    from circuit2mlp.codegen.exact import exact_neuron_count

    return predicted_neurons(layered, config) < exact_neuron_count(layered)


def _grow(build, fallback_neurons: int, fallback, clean) -> list[LayerBlock]:
    """Automatic width for one layer: start at the error model's width and double the shared
    neurons until the stage reads every wire right on the held-out samples; exact gadgets
    (``fallback()``, ``fallback_neurons`` of them) as soon as the superposed stage would cost
    as much as they do."""

    def exact() -> list[LayerBlock]:
        block = fallback()
        block.stats["kind"] = "compute"
        return [block]

    width = None
    while True:
        stage = build(width)
        if sum(b.neurons for b in stage) >= fallback_neurons:
            return exact()
        if clean(stage):
            return stage
        shared = sum(
            g["neurons"] for g in stage[0].stats.get("groups", []) if g["strategy"] != "dedicated"
        )
        if shared == 0:
            return exact()
        width = 2 * shared


class _Calibration:
    """Runs the blocks built so far on held-out sparse samples, in feature space, so that with
    an automatic width a superposed layer that misreads any wire on them is replaced by exact
    gadgets (the hybrid's safety net). Only for automatic widths: a forced width is kept.

    Activations are kept sparse (signals x samples CSR, :mod:`sparse_forward`), with the
    values of the dense float64 computation."""

    def __init__(self, layered, config, features, embed, levels, blocks) -> None:
        from circuit2mlp.codegen.activity import activity_samples, level_values

        self.active = config.width is None
        self.exhaustive = False  # checks every input the network is built for
        self._last: tuple[list[LayerBlock], sp.csr_matrix | None] = ([], None)
        if not self.active:
            return
        rng = np.random.default_rng([config.seed, 1])
        m, s = len(layered.inputs), config.sparsity
        everything = sum(math.comb(m, k) for k in range(min(s, m) + 1))
        widest = max([m, *(len(layer) for layer in layered.layers)])
        per_k = 1024 if 8 * widest * (s + 1) * 1024 <= CALIBRATION_BYTES else 256
        self.exhaustive = everything <= EXHAUSTIVE
        x = activity_samples(m, s, EXHAUSTIVE if self.exhaustive else per_k, rng)
        self.samples = x.shape[0]
        self.values = level_values(layered, x)  # packed, true polarity
        self.flips = [level.flip for level in levels]
        self._truth: dict[int, np.ndarray] = {}
        if sp.issparse(embed):
            h0 = sp.csr_matrix(embed, dtype=np.float64) @ sp.csr_matrix(x.T, dtype=np.float64)
        else:
            h0 = np.asarray(embed, dtype=np.float64) @ x.T.astype(np.float64)
        self.f = affine(features.readout, features.bias, sp.csr_matrix(h0))
        self.advance(blocks)

    def truth(self, level: int) -> np.ndarray:
        """Sorted flat positions (feature * samples + sample) where ``level``'s stored values
        are 1."""
        if level not in self._truth:
            from circuit2mlp.simulate import unpack_bits

            stored = unpack_bits(self.values[level], self.samples).T ^ self.flips[level][:, None]
            self._truth[level] = np.flatnonzero(stored)
        return self._truth[level]

    @staticmethod
    def _run(f: sp.csr_matrix, blocks: list[LayerBlock]) -> sp.csr_matrix:
        for block in blocks:
            h = affine(block.weight, block.bias, f, relu=True)
            f = affine(block.features.readout, block.features.bias, h)
        return f

    def clean(self, blocks: list[LayerBlock], level: int) -> bool:
        """Whether these blocks read every wire of ``level`` right on the samples: outputs on
        the right side of 1/2, wires that later layers read within :data:`CALIBRATION_SLACK`
        of their value. An inner read-off that is merely on the right side on a few hundred
        samples is often wrong on the next ten thousand, and its error propagates, so an inner
        superposed layer must read clean with room to spare or it gives way to exact gadgets."""
        f = self._run(self.f, blocks)
        self._last = (blocks, f)
        if level == len(self.values) - 1:
            return bool(np.array_equal(positives(f), self.truth(level)))
        return within(f, self.truth(level), CALIBRATION_SLACK)

    def advance(self, blocks: list[LayerBlock]) -> None:
        """Accept blocks: later checks start from their output (computed once: the blocks
        just checked are usually the ones accepted)."""
        if self.active:
            last, f = self._last
            same = (
                f is not None
                and len(last) == len(blocks)
                and all(a is b for a, b in zip(last, blocks, strict=True))
            )
            self.f = f if same else self._run(self.f, blocks)
            self._last = ([], None)


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
