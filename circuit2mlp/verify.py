"""Verification: run the circuit and the network on the same s-sparse inputs and compare.

The circuit side is the bit-parallel simulator (an independent implementation of the circuit's
meaning); the network side is the plain forward pass from the weights. Inputs are exactly-k-hot
for every k in 0..s, ``samples`` of each (or all of them when there are fewer), from a seeded
generator. The report says, per k and overall, how often and by how much the two disagree,
and which k is worst: its sample error rate is the one ``max_sample_error_rate`` bounds (the
overall rate pools it with the easy levels and is never higher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from math import comb
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuit2mlp.forward import COLUMN_MAJOR, DTYPE, Linear
from circuit2mlp.ir import Circuit
from circuit2mlp.network import Network
from circuit2mlp.simulate import (
    WORD_BITS,
    pack_bits,
    simulate_packed,
    sparse_inputs,
    unpack_bits,
)


@dataclass
class LevelStats:
    """Agreement figures over a set of samples (one sparsity level k, or all of them)."""

    k: int | None
    samples: int = 0
    exhaustive: bool = False
    bit_errors: int = 0
    sample_errors: int = 0
    output_bits: int = 0
    max_error_on_0: float = 0.0  # max |y - 0| where the circuit says 0
    max_error_on_1: float = 0.0  # max |y - 1| where the circuit says 1
    worst_margin: float = 0.5  # min over outputs of (y - 0.5) * (2 target - 1); < 0 is wrong

    @property
    def bit_error_rate(self) -> float:
        """Fraction of output bits that are wrong."""
        return self.bit_errors / self.output_bits if self.output_bits else 0.0

    @property
    def sample_error_rate(self) -> float:
        """Fraction of samples with at least one wrong output bit."""
        return self.sample_errors / self.samples if self.samples else 0.0

    def merge(self, other: LevelStats) -> None:
        """Accumulate another set of samples into this one."""
        self.samples += other.samples
        self.bit_errors += other.bit_errors
        self.sample_errors += other.sample_errors
        self.output_bits += other.output_bits
        self.max_error_on_0 = max(self.max_error_on_0, other.max_error_on_0)
        self.max_error_on_1 = max(self.max_error_on_1, other.max_error_on_1)
        self.worst_margin = min(self.worst_margin, other.worst_margin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, rates included."""
        return {
            **asdict(self),
            "bit_error_rate": self.bit_error_rate,
            "sample_error_rate": self.sample_error_rate,
        }


@dataclass
class VerifyReport:
    """Everything ``verify`` measured, and whether it is within tolerance."""

    circuit: str
    method: str
    sparsity: int
    seed: int
    per_k: list[LevelStats]
    overall: LevelStats
    neurons: int
    gates: int
    layers: int
    exact_neurons: int | None
    max_error_rate: float
    max_sample_error_rate: float
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = (
            self.overall.bit_error_rate <= self.max_error_rate
            and self.worst_k.sample_error_rate <= self.max_sample_error_rate
        )

    @property
    def worst_k(self) -> LevelStats:
        """The sparsity level with the highest sample error rate (the largest such k on a
        tie): the hardest level, whose rate ``max_sample_error_rate`` bounds. The overall rate
        pools all levels, so it is never above this one and can hide it (k = 0 and 1 are
        usually exact)."""
        return max(self.per_k, key=lambda s: (s.sample_error_rate, s.k or 0), default=self.overall)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = {k: v for k, v in asdict(self).items() if k not in ("per_k", "overall")}
        data["per_k"] = [s.to_dict() for s in self.per_k]
        data["overall"] = self.overall.to_dict()
        worst = self.worst_k
        data["worst_k"] = worst.k
        data["worst_k_samples"] = worst.samples
        data["worst_k_sample_errors"] = worst.sample_errors
        data["worst_k_sample_error_rate"] = worst.sample_error_rate
        return data


def compare(y: np.ndarray, target: np.ndarray, k: int | None = None) -> LevelStats:
    """Agreement of network outputs y (batch, n) with boolean targets (batch, n). A non-finite
    output (a network whose values blew up) is wrong on either target."""
    target = target.astype(bool)
    broken = ~np.isfinite(y)  # NaN or inf: wrong whatever the target, error infinite
    wrong = broken | ((y > 0.5) != target)
    signed = np.where(broken, -np.inf, np.where(target, y - 0.5, 0.5 - y))
    error = np.where(broken, np.inf, np.abs(y - target))
    zeros, ones = error[~target], error[target]
    return LevelStats(
        k=k,
        samples=y.shape[0],
        bit_errors=int(wrong.sum()),
        sample_errors=int(wrong.any(axis=1).sum()),
        output_bits=int(wrong.size),
        max_error_on_0=float(zeros.max()) if zeros.size else 0.0,
        max_error_on_1=float(ones.max()) if ones.size else 0.0,
        worst_margin=float(signed.min()) if signed.size else 0.5,
    )


def compare_packed(y: np.ndarray, packed: np.ndarray, k: int | None = None) -> LevelStats:
    """:func:`compare` against targets given as packed rows (n, W) (sample j in word j // 64,
    bit j % 64, as :func:`~circuit2mlp.simulate.pack_bits` lays them out; bits past the batch
    are ignored), with the same figures, without materialising a boolean target matrix.

    Targets of sparse circuits are mostly 0: the few 1 positions are found from the non-zero
    words, read out of y, then masked (``-inf`` / ``+inf``) so that column-wise max and min
    reductions give the statistics of the 0 targets. Every figure is the same float32 value
    :func:`compare` computes (a max/min of ``0.5 - y`` is ``0.5 -`` a min/max of y, rounding
    being monotone). **y is overwritten** (the caller's scratch). Dense targets (more than one
    word in eight non-zero) and batches with a non-finite output go through :func:`compare`.
    """
    batch = y.shape[0]
    words, bits = np.nonzero(packed.T)  # word-major: (word, output) of every non-zero word
    if words.size * 8 > packed.size:
        return compare(y, unpack_bits(packed, batch), k)
    ys = y.T  # (n, batch): each sample a column
    values = packed[bits, words]
    shifts = np.arange(WORD_BITS, dtype=np.uint64)
    hit_word, hit_bit = np.nonzero((values[:, None] >> shifts) & np.uint64(1))
    cols = words[hit_word] * WORD_BITS + hit_bit
    rows = bits[hit_word]
    inside = cols < batch
    rows, cols = rows[inside], cols[inside]
    ones = ys[rows, cols]  # y where the target is 1
    if not np.isfinite(ones).all():  # a blown-up output: compare's own rules, densely
        return compare(y, unpack_bits(packed, batch), k)
    zeros = ys.size - ones.size
    wrong_ones = ~(ones > 0.5)
    bad = np.zeros(batch, dtype=bool)
    bad[cols[wrong_ones]] = True
    bit_errors = int(wrong_ones.sum())
    high = low = None
    if zeros:
        ys[rows, cols] = -np.inf  # out of the way of > 0.5 and of the max
        col_max = ys.max(axis=0)
        flagged = np.flatnonzero(~(col_max <= 0.5))  # a 0 target read as 1 here (or NaN)
        if flagged.size:
            per_sample = np.count_nonzero(ys[:, flagged] > 0.5, axis=0)
            bit_errors += int(per_sample.sum())
            bad[flagged[per_sample > 0]] = True
        ys[rows, cols] = np.inf  # out of the way of the min
        high, low = col_max.max(), ys.min()
        if not (np.isfinite(high) and np.isfinite(low)):  # a blown-up output among the 0s
            ys[rows, cols] = ones
            return compare(y, unpack_bits(packed, batch), k)
    signed = [np.float32(0.5) - high] if zeros else []
    if ones.size:
        signed.append((ones - np.float32(0.5)).min())
    return LevelStats(
        k=k,
        samples=batch,
        bit_errors=bit_errors,
        sample_errors=int(bad.sum()),
        output_bits=int(y.size),
        max_error_on_0=float(np.max([high, -low])) if zeros else 0.0,
        max_error_on_1=float(np.abs(ones - 1).max()) if ones.size else 0.0,
        worst_margin=float(np.min(np.array(signed, dtype=np.float32))) if signed else 0.5,
    )


#: Bytes of one forward batch's activations at the widest level (float32).
BATCH_BYTES = 256 << 20


def batch_size(network: Network, budget_bytes: int | None = None) -> int:
    """Samples per forward batch: a multiple of 64 whose activations fit the budget
    (BATCH_BYTES)."""
    budget = BATCH_BYTES if budget_bytes is None else budget_bytes
    return max(64, (budget // (4 * _widest(network))) // 64 * 64)


def level_inputs(m: int, k: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The exactly-k-hot inputs checked at level k (all of them when that is at most samples)."""
    return sparse_inputs(m, k, samples, rng)


def level_targets(circuit: Circuit, levels: list[np.ndarray]) -> list[np.ndarray]:
    """The circuit's outputs on each input set, as packed rows (n_outputs, words): all sets in
    one bit-parallel simulation (its cost is mostly per gate, not per sample), each set
    starting on a fresh word. The results are views into one array."""
    packed = [pack_bits(x) for x in levels]
    out = simulate_packed(circuit, np.concatenate(packed, axis=1))
    ends = np.cumsum([p.shape[1] for p in packed])
    return [out[:, end - p.shape[1] : end] for p, end in zip(packed, ends, strict=True)]


# verify simulates the circuit on as many samples at once as keep the packed targets within
# this many bytes (one simulation for the usual few thousand samples, even at 10^6 outputs)
TARGET_BYTES = 512 << 20


def _rounds(levels: list[np.ndarray], outputs: int) -> list[list[tuple[int, np.ndarray]]]:
    """The levels' samples as rounds of (k, rows) pieces, each round's targets within
    TARGET_BYTES (a piece is a whole level, or a run of whole words of one)."""
    step = max(1, TARGET_BYTES // (8 * max(outputs, 1))) * WORD_BITS  # samples per round
    rounds: list[list[tuple[int, np.ndarray]]] = [[]]
    room = step
    for k, x in enumerate(levels):
        start = 0
        while start < x.shape[0] or (start == 0 and not x.shape[0]):
            if room < WORD_BITS:
                rounds.append([])
                room = step
            piece = x[start : start + room]
            rounds[-1].append((k, piece))
            room -= max(1, -(-piece.shape[0] // WORD_BITS)) * WORD_BITS
            start += max(piece.shape[0], 1)
    return [r for r in rounds if r]


#: Dense-equivalent bytes of the activations that verify runs through the layers together:
#: the batches of a group go through one layer after another, so each layer is read once
#: per group (a network loaded with ``stream`` holds one layer at a time). Between layers
#: a batch's activations are kept sparse when mostly 0 (a deep network's are).
GROUP_BYTES = 3 << 30


def check_level(
    network: Network,
    x: np.ndarray,
    targets: np.ndarray,
    k: int | None,
    progress: Callable[[int], None] | None = None,
) -> LevelStats:
    """Compare the network on input rows x with packed targets (n_outputs, words), in
    memory-sized batches."""
    return check_pieces(network, [(k, x, targets)], progress)[0]


def check_pieces(
    network: Network,
    pieces: list[tuple[int | None, np.ndarray, np.ndarray]],
    progress: Callable[[int], None] | None = None,
) -> list[LevelStats]:
    """:func:`check_level` of each (k, input rows, packed targets) piece: the same batches,
    each run through the network as ``network.forward`` runs it, but groups of batches
    layer by layer (GROUP_BYTES)."""
    step = batch_size(network)
    batches = [
        (
            p,
            x[start : start + step],
            targets[
                :, start // WORD_BITS : -(-(start + min(step, x.shape[0] - start)) // WORD_BITS)
            ],
        )
        for p, (_, x, targets) in enumerate(pieces)
        for start in range(0, x.shape[0], step)
    ]
    stats = [LevelStats(k=k) for k, _, _ in pieces]
    group = max(1, GROUP_BYTES // (step * 4 * _widest(network)))
    for first in range(0, len(batches), group):
        part = batches[first : first + group]
        outputs = forward_group(network, [x for _, x, _ in part])
        for (p, x, block), y in zip(part, outputs, strict=True):
            stats[p].merge(compare_packed(y, block, pieces[p][0]))
            if progress:
                progress(x.shape[0])
    return stats


def forward_group(network: Network, xs: list[np.ndarray]) -> list[np.ndarray]:
    """``network.forward(x)`` of every x, computed map by map (each hidden layer taken from
    ``network.layers`` once): the same arithmetic on the same batches, so the same floats."""
    values: list = [np.asarray(x, dtype=DTYPE).T for x in xs]
    steps = len(network.layers) + 2
    for i in range(steps):
        if i == 0:
            step = Linear(network.embed, None, relu=False)
        elif i == steps - 1:
            step = Linear(network.readout[0], network.readout[1], relu=False)
        else:
            step = Linear(*network.layers[i - 1], relu=True)
        for j, h in enumerate(values):
            h = COLUMN_MAJOR.apply(step, h.toarray() if sp.issparse(h) else h)
            if i < steps - 1 and np.count_nonzero(h) * 4 <= h.size:
                h = sp.csr_matrix(h)  # back to the same dense array for the next map
            values[j] = h
        del step
    return [h.T for h in values]


def _widest(network: Network) -> int:
    return max([len(network.output_names), *network.widths, network.embed.shape[0], 1])


def verify_level(
    circuit: Circuit,
    network: Network,
    x: np.ndarray,
    k: int | None,
    progress: Callable[[int], None] | None = None,
) -> LevelStats:
    """Compare circuit and network on the input rows x, in memory-sized batches."""
    return check_level(network, x, level_targets(circuit, [x])[0], k, progress)


def verify(
    circuit: Circuit,
    network: Network,
    samples: int = 10_000,
    sparsity: int | None = None,
    seed: int = 0,
    max_error_rate: float = 0.0,
    max_sample_error_rate: float = 1.0,
    progress: Callable[[int], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check the network against the circuit on exactly-k-hot inputs for k = 0..sparsity.

    ``progress(n)`` is called after each batch of n samples, ``stage(text)`` when a phase
    starts (simulating the circuit, then comparing), for progress displays."""
    if tuple(network.input_names) != tuple(circuit.inputs):
        raise ValueError("network and circuit disagree on the inputs")
    if tuple(network.output_names) != tuple(circuit.outputs):
        raise ValueError("network and circuit disagree on the outputs")
    meta = network.meta
    s = int(meta.get("sparsity", 3)) if sparsity is None else sparsity
    s = min(s, len(circuit.inputs))
    rng = np.random.default_rng(seed)
    levels = [level_inputs(len(circuit.inputs), k, samples, rng) for k in range(s + 1)]
    per_k = [LevelStats(k=k) for k in range(s + 1)]
    for round_, pieces in enumerate(_rounds(levels, len(circuit.outputs))):
        if stage:
            stage("simulating the circuit" + (f" ({round_ + 1})" if round_ else ""))
        targets = level_targets(circuit, [x for _, x in pieces])
        if stage:
            stage("verifying")
        checked = check_pieces(
            network, [(k, x, t) for (k, x), t in zip(pieces, targets, strict=True)], progress
        )
        for (k, _), stats in zip(pieces, checked, strict=True):
            per_k[k].merge(stats)
    overall = LevelStats(k=None)
    for k, stats in enumerate(per_k):
        stats.exhaustive = comb(len(circuit.inputs), k) <= samples
        overall.merge(stats)
    overall.exhaustive = all(s.exhaustive for s in per_k)
    return VerifyReport(
        circuit=circuit.name,
        method=str(meta.get("method", "?")),
        sparsity=s,
        seed=seed,
        per_k=per_k,
        overall=overall,
        neurons=network.neurons,
        gates=int(meta.get("gates", len(circuit.gates))),
        layers=len(network.layers),
        exact_neurons=meta.get("exact_neurons"),
        max_error_rate=max_error_rate,
        max_sample_error_rate=max_sample_error_rate,
    )


def total_samples(m: int, sparsity: int, samples: int) -> int:
    """How many samples :func:`verify` will run (for progress bars)."""
    return sum(min(comb(m, k), samples) for k in range(min(sparsity, m) + 1))
