"""Held-out calibration of an automatic width: run the blocks built so far on sparse samples
and count, per sparsity level k, the samples on which a level's wires read wrong.

The automatic width takes its first guess from the error model (design.py) and asks this
module to confirm it. The answer is the *hardest* level's sample error rate (the worst k),
because that is what a user of an s-sparse network meets: averaging over k = 0..s would let
the easy levels hide the hard one.

Memory is bounded by streaming: samples go through the network a chunk at a time (from one
sample up, as long as a chunk's products stay within :data:`CHUNK_ENTRIES`), *sample-major*:
the neurons as a sparse (chunk x neurons) matrix, so a fired neuron costs the monomials it
covers and nothing else, and the read-offs summed into a dense (chunk x wires) block; no
samples x gates array is ever built. A level's value is kept as a sparse part plus one bias
per signal (``value = part + bias``): a read-off bias (a gate's constant, an output's centring
shift) would make every entry non-zero, but the next layer only needs ``W @ bias``, which folds
into its neurons' biases. Only accepted *inner* levels are stored (they are sparse: their
read-offs carry no centring); the output level is compared chunk by chunk and dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuit2mlp.codegen.blocks import LayerBlock
from circuit2mlp.forward import (  # noqa: F401  (spread: used by benchmarks/width_search.py)
    SampleMajor,
    Transposes,
    block_chain,
    run,
    spread,
)

#: How far from its 0/1 value a wire feeding later layers may read (outputs need only be on
#: the right side of 1/2).
CALIBRATION_SLACK = 0.25
#: Calibrate on every <= s-hot input when there are at most this many: real netlists have few
#: inputs, and a layer that misreads one input pair in 500 must not pass.
EXHAUSTIVE = 2048
#: Samples at the hardest level (k = s) and at each easier one (1 <= k < s).
HARDEST_SAMPLES = 1024
EASIER_SAMPLES = 256
#: Dense cells and expanded products one chunk of samples may take at any step (8 to 30
#: bytes each).
CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class Measurement:
    """Wrong samples per sparsity level k, out of how many, for one level of the network."""

    wrong: dict[int, int]
    samples: dict[int, int]

    @property
    def worst_rate(self) -> float:
        """The hardest level's sample error rate."""
        return max((self.wrong[k] / self.samples[k] for k in self.samples), default=0.0)

    def within(self, target: float) -> bool:
        """Whether every level has at most ``floor(target * samples)`` wrong samples."""
        return all(self.wrong[k] <= math.floor(target * n) for k, n in self.samples.items())


def calibration_samples(m: int, sparsity: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(rows, exhaustive): every <= s-hot input when there are at most :data:`EXHAUSTIVE`,
    else :data:`HARDEST_SAMPLES` at k = s and :data:`EASIER_SAMPLES` at each 1 <= k < s."""
    from circuit2mlp.simulate import sparse_inputs

    s = min(sparsity, m)
    exhaustive = sum(math.comb(m, k) for k in range(s + 1)) <= EXHAUSTIVE
    blocks = []
    for k in range(s + 1):
        n = EXHAUSTIVE if exhaustive else (HARDEST_SAMPLES if k == s else EASIER_SAMPLES)
        blocks.append(sparse_inputs(m, k, n, rng))
    return np.concatenate(blocks), exhaustive


def truth_keys(values: np.ndarray, flips: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Sorted flat keys (sample - start) * F + signal of the stored 1s among samples
    [start, stop) of packed (F, W) true-polarity ``values`` (stored = value XOR flip)."""
    n_signals = values.shape[0]
    w0, w1 = start // 64, -(-stop // 64)
    words = values[:, w0:w1].copy()
    if flips.any():
        words[flips] = ~words[flips]
    g, w = np.nonzero(words)
    if g.size == 0:
        return np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(
        np.ascontiguousarray(words[g, w]).view(np.uint8).reshape(-1, 8), axis=1, bitorder="little"
    )
    row, bit = np.nonzero(bits)
    sample = (w[row] + w0) * 64 + bit - start
    keep = (sample >= 0) & (sample < stop - start)
    return np.sort(sample[keep].astype(np.int64) * n_signals + g[row][keep])


def truth_block(ones: np.ndarray, n: int, n_signals: int) -> np.ndarray:
    """Dense (n, signals) bool of a chunk's :func:`truth_keys`."""
    block = np.zeros(n * n_signals, dtype=bool)
    block[ones] = True
    return block.reshape(n, n_signals)


def wrong_samples(
    value: np.ndarray, bias: np.ndarray, truth: np.ndarray, output: bool
) -> np.ndarray:
    """Per sample of the chunk (rows of the dense ``value + bias``): whether any signal reads
    wrong -- on the wrong side of 1/2 for outputs, more than :data:`CALIBRATION_SLACK` from
    its value for inner wires."""
    full = value + bias
    if output:
        return ((full > 0.5) != truth).any(axis=1)
    return (np.abs(full - truth) > CALIBRATION_SLACK).any(axis=1)


class Calibration:
    """The automatic width's held-out check: :meth:`measure` a candidate stage at a level,
    :meth:`advance` past the accepted one. Inactive (nothing to do) for a forced width."""

    def __init__(self, layered, sparsity: int, seed: int, features, embed, levels, active: bool):
        from circuit2mlp.codegen.activity import level_values

        self.active = active
        self.exhaustive = False
        self._transposes = Transposes()
        self._last: tuple[list[LayerBlock], tuple] | None = None
        if not active:
            return
        rng = np.random.default_rng([seed, 1])
        x, self.exhaustive = calibration_samples(len(layered.inputs), sparsity, rng)
        self.samples = x.shape[0]
        self.hot = x.sum(axis=1).astype(np.int64)
        self.values = level_values(layered, x)  # packed bits, true polarity
        self.flips = [np.asarray(level.flip, dtype=bool) for level in levels]
        self.levels = len(self.values)
        self._chunk = 1
        # Level 0 (inputs) for every sample: sparse rows unless embedded in superposition.
        h0 = sp.csr_matrix(x, dtype=np.float64) @ sp.csr_matrix(embed, dtype=np.float64).T
        first = sp.csr_matrix(h0 @ sp.csr_matrix(features.readout, dtype=np.float64).T)
        bias = np.asarray(features.bias, dtype=np.float64)
        self._state: tuple[sp.csr_matrix, np.ndarray] = (first, bias)  # accepted level

    def _pieces(self):
        """(start, stop) chunks of the samples, hardest level first and, within a level, from
        its last sample down; the chunk size adapts as it goes (one sample to begin with:
        a 3-hot sample of the 10^6-gate U-AND already spreads to 2 million read-off terms).
        Yields ``None`` after each completed level, for the early stop."""
        self._chunk = 1
        levels = np.unique(self.hot)[::-1]
        for k in levels:
            where = np.flatnonzero(self.hot == k)
            low, high = int(where[0]), int(where[-1]) + 1
            while high > low:
                start = max(low, high - self._chunk)
                yield start, high
                high = start
            yield None

    def measure(self, blocks: list[LayerBlock], level: int, target: float = 0.0) -> Measurement:
        """Run ``blocks`` on the calibration samples from the accepted level and count the
        samples on which ``level``'s wires read wrong, per k. The hardest level goes first,
        and a stage that misreads four times what ``target`` allows at a completed level stops
        there (the levels not reached count as unseen)."""
        output = level == self.levels - 1
        self._transposes.keep_only([m for b in blocks for m in (b.weight, b.features.readout)])
        self._last = None  # a rejected stage's kept output
        wrong = np.zeros(self.samples, dtype=bool)
        seen = np.zeros(self.samples, dtype=bool)
        kept: list[tuple[int, sp.csr_matrix]] = []
        part_all, bias_in = self._state
        ks = np.unique(self.hot)
        out_bias = None
        stopped = False
        for piece in self._pieces():
            if piece is None:  # a level is complete: stop early when far over the target
                for k in ks:
                    here = seen & (self.hot == k)
                    n, bad = int(here.sum()), int(wrong[here].sum())
                    allowed = math.floor(target * n)
                    if n and bad > max(4 * allowed, allowed + 3):
                        stopped = True
                if stopped:
                    break
                continue
            start, stop = piece
            dense, out_bias, entries = self._run(part_all[start:stop], bias_in, blocks)
            ones = truth_keys(self.values[level], self.flips[level], start, stop)
            truth = truth_block(ones, stop - start, dense.shape[1])
            wrong[start:stop] = wrong_samples(dense, out_bias, truth, output)
            seen[start:stop] = True
            self._resize(stop - start, dense.shape[1], entries)
            if not output:
                kept.append((start, sp.csr_matrix(dense)))
        if not (output or stopped) and out_bias is not None:
            kept.sort(key=lambda item: item[0])
            self._last = (blocks, (sp.vstack([p for _, p in kept], format="csr"), out_bias))
        self._transposes.forget()  # only a run needs them; the next build needs the room
        return Measurement(
            {int(k): int(wrong[seen & (self.hot == k)].sum()) for k in ks},
            {int(k): max(int((seen & (self.hot == k)).sum()), 1) for k in ks},
        )

    def _run(self, part, bias, blocks):
        """The blocks on one chunk (the one forward pass, sample-major, in feature space):
        dense part of the last level, its bias, most products a read-off took."""
        kernel = SampleMajor(self._transposes)
        dense, bias = run(block_chain(blocks), (part, bias), kernel)
        return dense, bias, kernel.entries

    def _resize(self, samples: int, signals: int, entries: int) -> None:
        """Next chunk: dense cells and expanded products each within :data:`CHUNK_ENTRIES`,
        growing at most fourfold a step."""
        per_sample = max(signals, entries / max(samples, 1), 1)
        fits = int(np.clip(CHUNK_ENTRIES // per_sample, 1, 4096))
        self._chunk = min(fits, 4 * max(samples, 1))

    def advance(self, blocks: list[LayerBlock]) -> None:
        """Accept blocks: later measurements start from their output (kept from the last
        measurement when it ran these very blocks)."""
        if not self.active or not blocks:
            return
        last = self._last
        if last is not None and len(last[0]) == len(blocks) and all(
            a is b for a, b in zip(last[0], blocks, strict=True)
        ):
            self._state = last[1]
        else:
            part_all, bias_in = self._state
            kept, out_bias = [], bias_in
            for piece in self._pieces():
                if piece is None:
                    continue
                start, stop = piece
                dense, out_bias, entries = self._run(part_all[start:stop], bias_in, blocks)
                self._resize(stop - start, dense.shape[1], entries)
                kept.append((start, sp.csr_matrix(dense)))
            kept.sort(key=lambda item: item[0])
            self._state = (sp.vstack([p for _, p in kept], format="csr"), out_bias)
        self._last = None
        self._transposes.forget()
