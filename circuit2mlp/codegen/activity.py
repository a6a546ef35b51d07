"""Measure how often every wire is 1 under s-sparse inputs, and pick its sparse polarity.

Superposition works only while few features are active at once, so codegen must know, for
every level, which wires are rarely 1 (superposable), which are rarely 0 (superposable after
negation: the *sparse polarity*), and which are neither (dense: they get dedicated neurons).
Nothing here is analytic: we simulate the layered circuit on a seeded sample of exactly-k-hot
inputs for k = 0..s, the very distribution ``verify`` checks, and count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuit2mlp.ir import LayeredCircuit
from circuit2mlp.simulate import pack_bits, sparse_inputs

#: A wire whose stored polarity is 1 on more than this fraction of samples is dense.
DENSE_FREQUENCY = 0.25


@dataclass(frozen=True)
class LevelActivity:
    """Activity of the signals of one level, in their stored (sparse) polarity.

    ``flip[i]`` says signal i is stored negated; ``frequency[i]`` is how often the stored value
    is 1; ``active_mean`` / ``active_max`` are the mean and the largest number of stored-1
    signals in one sample (all signals, dense ones included), ``active_p99`` its 99th
    percentile."""

    names: tuple[str, ...]
    flip: np.ndarray  # bool (F,)
    frequency: np.ndarray  # float (F,), stored polarity
    active_mean: float
    active_max: int
    active_p99: float = 0.0

    def dense(self, threshold: float = DENSE_FREQUENCY) -> np.ndarray:
        """Signals that are often 1 even in their sparse polarity."""
        return self.frequency > threshold


def activity_samples(m: int, sparsity: int, per_level: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly-k-hot rows for k = 0..s, at most ``per_level`` of each (all when fewer)."""
    blocks = [sparse_inputs(m, k, per_level, rng) for k in range(min(sparsity, m) + 1)]
    return np.concatenate(blocks) if blocks else np.zeros((0, m), np.uint8)


def _level_activity(names: tuple[str, ...], rows: np.ndarray, n: int) -> LevelActivity:
    ones = np.bitwise_count(rows).sum(axis=1) if rows.size else np.zeros(len(names))
    frequency = ones / max(n, 1)
    flip = frequency > 0.5
    stored = np.where(flip[:, None], ~rows, rows) if rows.size else rows
    per_sample = np.zeros(n, dtype=np.int64)
    for start in range(0, len(names), 4096):
        bits = np.unpackbits(stored[start : start + 4096].view(np.uint8), axis=1, bitorder="little")
        per_sample += bits[:, :n].sum(axis=0, dtype=np.int64)
    return LevelActivity(
        names=names,
        flip=flip,
        frequency=np.where(flip, 1 - frequency, frequency),
        active_mean=float(per_sample.mean()) if n else 0.0,
        active_max=int(per_sample.max()) if n else 0,
        active_p99=float(np.quantile(per_sample, 0.99)) if n else 0.0,
    )


def level_values(layered: LayeredCircuit, x: np.ndarray) -> list[np.ndarray]:
    """Packed (F_i, W) values of every level 0..L on the sample rows x (padding bits zero).

    Vectorized a class of gates at a time (same symmetric op and fan-in, literals folded in as
    XOR masks; exactly-t-of-a counts by bit-sliced dynamic programming), so a 10^6-gate level
    costs numpy passes over its words, not a Python call per gate (the per-gate simulator took
    minutes on the 10^6-gate U-AND). Equal to :func:`circuit2mlp.simulate.layered_levels`."""
    from circuit2mlp.codegen.gates import gate_arrays
    from circuit2mlp.ir import op_profile

    n = x.shape[0]
    packed = pack_bits(x) if n else np.zeros((len(layered.inputs), 1), np.uint64)
    valid = np.zeros(packed.shape[1] * 64, dtype=bool)
    valid[:n] = True
    mask = np.packbits(valid, bitorder="little").view(np.uint64)
    words = packed.shape[1]
    out = [packed & mask]
    for i, layer in enumerate(layered.layers):
        prev = out[-1]
        names = layered.level_signals(i)
        arrays = gate_arrays(layer, {name: j for j, name in enumerate(names)})
        values = np.zeros((len(layer), words), dtype=np.uint64)
        for op, a, gates in arrays.op_classes():
            profile = op_profile(op, a)
            step = max(1, (1 << 22) // max(words * (a + 2), 1))
            for start in range(0, gates.size, step):
                part = gates[start : start + step]
                values[part] = _symmetric_words(
                    prev, arrays.fanin_rows(part, a), arrays.literal_rows(part, a), profile
                )
        out.append(values & mask)
    return out


def _symmetric_words(
    prev: np.ndarray, rows: np.ndarray, negated: np.ndarray, profile
) -> np.ndarray:
    """Packed outputs of symmetric gates: ``profile[t]`` at t true literals among the
    gates' inputs ``prev[rows]`` (negated where ``negated``)."""
    g, a = rows.shape
    ones = np.full((g, prev.shape[1]), ~np.uint64(0), dtype=np.uint64)
    exactly = [ones]  # exactly[t]: bit set where t of the literals so far are true
    for j in range(a):
        lit = prev[rows[:, j]]
        lit ^= np.where(negated[:, j], ~np.uint64(0), np.uint64(0))[:, None]
        nxt = [exactly[0] & ~lit]
        for t in range(1, j + 1):
            nxt.append((exactly[t] & ~lit) | (exactly[t - 1] & lit))
        nxt.append(exactly[j] & lit)
        exactly = nxt
    result = np.zeros_like(ones)
    for t, v in enumerate(profile):
        if v:
            result |= exactly[t]
    return result


def measure_activity(
    layered: LayeredCircuit, sparsity: int, rng: np.random.Generator, per_level: int = 512
) -> list[LevelActivity]:
    """Activity of every level 0..L (level 0 = the inputs). An input may be stored negated
    too: its read-off is then ``1 - x``, which the feature map's bias absorbs."""
    x = activity_samples(len(layered.inputs), sparsity, per_level, rng)
    n = x.shape[0]
    names = [layered.inputs, *(tuple(g.name for g in layer) for layer in layered.layers)]
    return [
        _level_activity(level_names, rows, n)
        for level_names, rows in zip(names, level_values(layered, x), strict=True)
    ]
