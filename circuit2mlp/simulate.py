"""Fast bit-parallel circuit simulation: 64 samples per ``uint64`` word.

Verifying a compiled network means comparing it against the circuit on many inputs, and the
reference :meth:`Circuit.evaluate` (one Python call per gate per sample) is far too slow for
10^5-gate circuits on 10^5 samples. Here each signal is one *row* of packed words, so one numpy
bitwise op evaluates a gate on 64 samples per word at once.

Layout: sample ``j`` lives in word ``j // 64``, bit ``j % 64`` (least significant bit first) of
its signal's row; a batch of N samples uses ``W = ceil(N / 64)`` words per row. The last word's
bits past N are *padding*. :func:`pack_bits` writes them as 0, but gate evaluation does not keep
them 0 (``NOT`` and ``CONST1`` set them), so the padding bits of simulation results are
unspecified: :func:`unpack_bits` ignores them, and :func:`mask_padding` clears them for callers
that compare or count whole words.

The truth of every symmetric op comes from :func:`circuit2mlp.ir.op_profile`: ops with a cheap
closed form (AND, OR, XOR and their negations, BUF, NOT, constants) take a reduce fast path and
anything else (MAJ, or any profile) goes through a bit-sliced counter, so no op's truth table is
written down twice.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np

from circuit2mlp.ir import Circuit, Cover, Gate, LayeredCircuit, op_profile

WORD_BITS = 64
_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

# op -> (binary ufunc folded over the fan-in, negate the result); value of an empty fold is the
# ufunc's identity, which op_arity never allows anyway (these ops take fan-in >= 1).
_REDUCE_OPS: dict[str, tuple[np.ufunc, bool]] = {
    "AND": (np.bitwise_and, False),
    "NAND": (np.bitwise_and, True),
    "OR": (np.bitwise_or, False),
    "NOR": (np.bitwise_or, True),
    "XOR": (np.bitwise_xor, False),
    "XNOR": (np.bitwise_xor, True),
}
_IDENTITY = {np.bitwise_and: _ONES, np.bitwise_or: np.uint64(0), np.bitwise_xor: np.uint64(0)}


# --------------------------------------------------------------------------- packing


def n_words(n_samples: int) -> int:
    """Words per packed row for ``n_samples`` samples (at least 1, so 0 samples still work)."""
    return max(1, -(-n_samples // WORD_BITS))


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack (N, m) 0/1 samples into (m, W) uint64 rows, one row per column (signal).

    Sample j goes to word j // 64, bit j % 64; padding bits are 0. Rows per signal (rather than
    per sample) is what lets one numpy op evaluate a gate on all samples.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"pack_bits expects a 2-D (samples, signals) array, got {bits.shape}")
    if bits.dtype != np.bool_ and bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ValueError("pack_bits expects 0/1 values")
    n, m = bits.shape
    # Packing along the sample axis of the C-ordered input, then transposing the 8x smaller
    # result, beats packing a strided transposed view.
    packed = np.packbits(bits.astype(np.bool_, copy=False), axis=0, bitorder="little")
    out = np.zeros((m, n_words(n) * 8), dtype=np.uint8)
    out[:, : packed.shape[0]] = packed.T
    return out.view("<u8").astype(np.uint64, copy=False)


def unpack_bits(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """Unpack (k, W) uint64 rows into (n_samples, k) bool; padding bits are ignored."""
    packed = np.asarray(packed)
    if packed.ndim != 2:
        raise ValueError(f"unpack_bits expects a 2-D (rows, words) array, got {packed.shape}")
    if not 0 <= n_samples <= packed.shape[1] * WORD_BITS:
        raise ValueError(f"{n_samples} samples do not fit in {packed.shape[1]} words")
    raw = np.ascontiguousarray(packed, dtype="<u8").view(np.uint8)
    bits = np.unpackbits(raw, axis=1, count=n_samples, bitorder="little")
    return bits.T.astype(np.bool_, order="C")


def mask_padding(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """Copy of ``packed`` with the padding bits past ``n_samples`` cleared, so whole-word
    comparisons and popcounts see only real samples."""
    out = np.array(packed, dtype=np.uint64, copy=True)
    if not 0 <= n_samples <= out.shape[-1] * WORD_BITS:
        raise ValueError(f"{n_samples} samples do not fit in {out.shape[-1]} words")
    full, tail = divmod(n_samples, WORD_BITS)
    if tail:
        out[..., full] &= np.uint64((1 << tail) - 1)
        full += 1
    out[..., full:] = 0
    return out


# --------------------------------------------------------------------------- one gate


def _const(value: bool, words: int | tuple[int, ...]) -> np.ndarray:
    """A constant row of ``words`` words (or a block of rows, given a shape)."""
    return np.full(words, _ONES if value else 0, dtype=np.uint64)


def _fold(ufunc: np.ufunc, rows: Sequence[np.ndarray], words: int) -> np.ndarray:
    """ufunc folded over rows. May return ``rows[0]`` itself (one row): callers must not write
    into the result unless it is fresh (``len(rows) >= 2``)."""
    if not rows:
        return np.full(words, _IDENTITY[ufunc], dtype=np.uint64)
    if len(rows) == 1:
        return rows[0]
    out = ufunc(rows[0], rows[1])
    for row in rows[2:]:
        ufunc(out, row, out=out)
    return out


def _reduce_op(ufunc: np.ufunc, negate: bool, rows: Sequence[np.ndarray], words: int) -> np.ndarray:
    out = _fold(ufunc, rows, words)
    if not negate:
        return out
    return np.invert(out, out=out) if len(rows) >= 2 else np.invert(out)


def _bit_planes(rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per sample, the number of ones among ``rows`` as a binary number: plane i holds bit i.

    Rows are added one at a time with a ripple carry over the planes; a plane is appended only
    when the running total can first need it, so a carry out of the top plane is always 0.
    """
    planes: list[np.ndarray] = []
    for added, row in enumerate(rows, start=1):
        carry = row
        for plane in planes:
            next_carry = plane & carry
            plane ^= carry
            carry = next_carry
        if len(planes) < added.bit_length():
            planes.append(carry.copy() if carry is row else carry)
    return planes


def _count_at_least(planes: Sequence[np.ndarray], threshold: int, words: int) -> np.ndarray:
    """Samples whose count (bit planes, LSB first) is >= threshold.

    Scans from the least significant bit: with ``ge`` the answer for the lower bits, adding a bit
    where the threshold has 1 needs the count's bit too (``p & ge``); where it has 0 the count's
    bit alone suffices (``p | ge``). Thresholds beyond the planes' range are never reached.
    """
    if threshold >= 1 << len(planes):
        return _const(False, words)
    ge = _const(True, words)
    for i, plane in enumerate(planes):
        if threshold >> i & 1:
            np.bitwise_and(ge, plane, out=ge)
        else:
            np.bitwise_or(ge, plane, out=ge)
    return ge


def symmetric_packed(
    profile: Sequence[int], rows: Sequence[np.ndarray], words: int | None = None
) -> np.ndarray:
    """Any symmetric function of ``rows``: ``profile[t]`` is its value when t rows are 1.

    Counts ones with bit-sliced adders, then ORs one interval test per run of ones in the
    profile, so a threshold (MAJ) costs one comparison regardless of fan-in.
    """
    if len(profile) != len(rows) + 1:
        raise ValueError(f"profile of length {len(profile)} for {len(rows)} rows")
    words = rows[0].shape if rows else words  # (W,) or, for a group of gates, (g, W)
    if words is None:
        raise ValueError("words is required when there are no rows")
    if all(v == profile[0] for v in profile):
        return _const(bool(profile[0]), words)
    planes = _bit_planes(rows)
    out = _const(False, words)
    for lo, hi in _runs_of_ones(profile):
        term = _count_at_least(planes, lo, words)
        if hi + 1 < len(profile):
            term &= ~_count_at_least(planes, hi + 1, words)
        out |= term
    return out


def _runs_of_ones(profile: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal [lo, hi] index intervals where profile is 1."""
    runs: list[tuple[int, int]] = []
    for t, value in enumerate(profile):
        if not value:
            continue
        if runs and runs[-1][1] == t - 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def sop_packed(cover: Cover, rows: Sequence[np.ndarray], words: int) -> np.ndarray:
    """A SOP cover: OR over cubes of the AND of their literals (``-`` skipped), inverted for an
    OFF-set cover. An empty cube matches everything; an empty cover matches nothing."""
    negated: dict[int, np.ndarray] = {}

    def literal(i: int, char: str) -> np.ndarray:
        if char == "1":
            return rows[i]
        if i not in negated:
            negated[i] = np.invert(rows[i])
        return negated[i]

    if len(cover.cubes) == 1:  # one product term (an AND of literals): no OR needed
        literals = [literal(i, c) for i, c in enumerate(cover.cubes[0]) if c != "-"]
        term = _fold(np.bitwise_and, literals, words)
        if cover.onset:
            return term
        return np.invert(term, out=term) if len(literals) >= 2 else np.invert(term)
    hit = _const(False, words)
    for cube in cover.cubes:
        literals = [literal(i, c) for i, c in enumerate(cube) if c != "-"]
        np.bitwise_or(hit, _fold(np.bitwise_and, literals, words), out=hit)
    return hit if cover.onset else np.invert(hit, out=hit)


@lru_cache(maxsize=1024)
def _profile(op: str, k: int) -> tuple[int, ...]:
    return op_profile(op, k)


def eval_gate_packed(
    gate: Gate, rows: Sequence[np.ndarray], words: int | tuple[int, int]
) -> np.ndarray:
    """Evaluate one gate on packed fan-in rows (in fan-in order), returning its (W,) row.

    The single place where both the Circuit and the LayeredCircuit simulators turn an op into
    numpy; ``words`` is only needed for gates without fan-in. The result may *be* a fan-in row
    (BUF, one-input AND/OR/XOR), so callers must treat rows as read-only.
    """
    if len(rows) != len(gate.fanin):
        raise ValueError(f"gate '{gate.name}' has {len(gate.fanin)} inputs, got {len(rows)} rows")
    op = gate.op
    if op == "SOP":
        assert gate.cover is not None
        return sop_packed(gate.cover, rows, words)
    if op in _REDUCE_OPS:
        ufunc, negate = _REDUCE_OPS[op]
        return _reduce_op(ufunc, negate, rows, words)
    if op == "BUF":
        return rows[0]
    if op == "NOT":
        return np.invert(rows[0])
    return symmetric_packed(_profile(op, len(rows)), rows, words)


# --------------------------------------------------------------------------- whole circuits


def _check_packed(packed: np.ndarray, n_inputs: int) -> np.ndarray:
    packed = np.asarray(packed)
    if packed.ndim != 2 or packed.shape[0] != n_inputs:
        raise ValueError(f"expected packed inputs of shape ({n_inputs}, W), got {packed.shape}")
    if packed.dtype != np.uint64:
        packed = packed.astype(np.uint64)
    if packed.shape[1] == 0:
        raise ValueError("packed inputs need at least one word")
    return packed


def _schedule(circuit: Circuit, targets: Sequence[str]) -> tuple[list[Gate], list[list[str]]]:
    """Gates needed for ``targets`` in topological order, and after each gate the signals read
    for the last time (to be freed). Gates outside the targets' cone are never evaluated, and
    targets are never freed, so memory is bounded by the widest live cut, not the gate count.

    One backward pass: walking the order in reverse, the first gate seen reading a signal is its
    last reader going forward; seeding ``needed`` with the targets keeps them from being freed.
    """
    needed = set(targets)
    cone: list[Gate] = []
    releases: list[list[str]] = []
    for gate in reversed(circuit.topological_gates):
        if gate.name in needed:
            last_read = [s for s in set(gate.fanin) if s not in needed]
            needed.update(last_read)
            cone.append(gate)
            releases.append(last_read)
    cone.reverse()
    releases.reverse()
    return cone, releases


def simulate_packed(
    circuit: Circuit, packed_inputs: np.ndarray, signals: Sequence[str] | None = None
) -> np.ndarray:
    """Simulate on packed inputs (m, W): returns (n_outputs, W) uint64 rows in output order
    (``circuit.drivers``), or one row per name in ``signals`` (inputs or gates).

    Each row is freed after its last reader, so a 10^5-gate circuit on 10^5 samples needs only
    its widest live cut in memory. Padding bits of the result are unspecified (see module doc).
    """
    packed = _check_packed(packed_inputs, len(circuit.inputs))
    words = packed.shape[1]
    targets = tuple(circuit.drivers if signals is None else signals)
    if signals is not None:
        known = set(circuit.inputs) | circuit.gate_map.keys()
        unknown = [s for s in targets if s not in known]
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown} in circuit '{circuit.name}'")
    cone = _cone(circuit, targets)
    rows = len(circuit.inputs) + len(cone)
    if rows * words * 8 <= WIDE_BYTES and rows <= WIDE_RATIO * len(targets) + 64:
        return _simulate_wide(circuit.inputs, cone, packed, targets)
    values: dict[str, np.ndarray] = dict(zip(circuit.inputs, packed, strict=True))
    cone, releases = _schedule(circuit, targets)
    for gate, release in zip(cone, releases, strict=True):
        values[gate.name] = eval_gate_packed(gate, [values[s] for s in gate.fanin], words)
        for signal in release:
            del values[signal]
    return _stack([values[s] for s in targets], words)


# simulate_packed keeps every signal of the cone in one array (evaluating gates in groups)
# when that takes at most WIDE_BYTES and at most WIDE_RATIO times the rows it returns (+ 64):
# circuits whose gates are mostly outputs, like U-AND. Otherwise it goes gate by gate and
# frees each row after its last reader.
WIDE_BYTES = 1 << 30
WIDE_RATIO = 2


def _cone(circuit: Circuit, targets: Sequence[str]) -> list[Gate]:
    """The gates ``targets`` depend on, in topological order."""
    needed = set(targets)
    cone = []
    for gate in reversed(circuit.topological_gates):
        if gate.name in needed:
            needed.update(gate.fanin)
            cone.append(gate)
    cone.reverse()
    return cone


def _simulate_wide(
    inputs: Sequence[str], cone: Sequence[Gate], packed: np.ndarray, targets: Sequence[str]
) -> np.ndarray:
    """simulate_packed with every signal a row of one (signals, W) array, evaluating many
    gates per numpy operation: the cone is cut into runs of gates that read only signals
    computed before the run (a layer of a layered circuit; all of U-AND), and within a run
    the gates with the same op, fan-in count and cover are evaluated together on gathered
    (g, W) blocks by :func:`eval_gate_packed`. Python work is then a few dictionary
    operations per gate instead of several numpy calls."""
    words = packed.shape[1]
    index = {name: i for i, name in enumerate(inputs)}
    index.update((gate.name, i) for i, gate in enumerate(cone, len(inputs)))
    values = np.empty((len(inputs) + len(cone), words), dtype=np.uint64)
    values[: len(inputs)] = packed
    groups: dict[tuple, tuple[Gate, list[int], list[str]]] = {}
    run: set[str] = set()

    def flush() -> None:
        for gate, outs, fanins in groups.values():
            table = np.fromiter(map(index.__getitem__, fanins), np.intp, len(fanins))
            table = table.reshape(len(outs), len(gate.fanin))
            rows = [values[table[:, j]] for j in range(table.shape[1])]
            values[outs] = eval_gate_packed(gate, rows, (len(outs), words))
        groups.clear()
        run.clear()

    for i, gate in enumerate(cone, len(inputs)):
        fanin = gate.fanin
        if not run.isdisjoint(fanin):
            flush()
        key = (gate.op, len(fanin), gate.cover)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (gate, [], [])
        group[1].append(i)
        group[2].extend(fanin)
        run.add(gate.name)
    flush()
    return values[[index[s] for s in targets]]


def _stack(rows: Sequence[np.ndarray], words: int) -> np.ndarray:
    out = np.empty((len(rows), words), dtype=np.uint64)
    for j, row in enumerate(rows):
        out[j] = row
    return out


def _check_samples(inputs: np.ndarray, n_inputs: int) -> np.ndarray:
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
        raise ValueError(f"expected inputs of shape (N, {n_inputs}), got {inputs.shape}")
    return inputs


def simulate(circuit: Circuit, inputs: np.ndarray) -> np.ndarray:
    """(N, m) 0/1 input samples -> (N, n_outputs) bool outputs, via pack/simulate/unpack."""
    inputs = _check_samples(inputs, len(circuit.inputs))
    packed = simulate_packed(circuit, pack_bits(inputs))
    return unpack_bits(packed, inputs.shape[0])


def layered_levels(
    layered: LayeredCircuit, packed_inputs: np.ndarray
) -> Iterator[dict[str, np.ndarray]]:
    """Packed values of every level 0..L in turn, as {signal: (W,) row}. Gates of layer i may
    read only level-i signals (ValueError otherwise), exactly as a network layer would, so this
    also checks the layering."""
    packed = _check_packed(packed_inputs, len(layered.inputs))
    words = packed.shape[1]
    level: dict[str, np.ndarray] = dict(zip(layered.inputs, packed, strict=True))
    yield level
    for i, layer in enumerate(layered.layers):
        next_level: dict[str, np.ndarray] = {}
        for gate in layer:
            missing = [s for s in gate.fanin if s not in level]
            if missing:
                raise ValueError(
                    f"layer {i}: gate '{gate.name}' reads {missing}, not available at level {i}"
                )
            next_level[gate.name] = eval_gate_packed(gate, [level[s] for s in gate.fanin], words)
        level = next_level
        yield level


def simulate_layered_packed(layered: LayeredCircuit, packed_inputs: np.ndarray) -> np.ndarray:
    """Simulate a LayeredCircuit on packed inputs, one level at a time (see
    :func:`layered_levels`). Returns (n_outputs, W) rows for ``layered.output_signals``."""
    level = deque(layered_levels(layered, packed_inputs), maxlen=1)[0]  # only the last
    missing = [s for s in layered.output_signals if s not in level]
    if missing:
        raise ValueError(f"output signal(s) {missing} are not in the last level")
    return _stack([level[s] for s in layered.output_signals], packed_inputs.shape[1])


def simulate_layered(layered: LayeredCircuit, inputs: np.ndarray) -> np.ndarray:
    """(N, m) 0/1 input samples -> (N, n_outputs) bool outputs of a LayeredCircuit."""
    inputs = _check_samples(inputs, len(layered.inputs))
    packed = simulate_layered_packed(layered, pack_bits(inputs))
    return unpack_bits(packed, inputs.shape[0])


# --------------------------------------------------------------------------- input sets

MAX_EXHAUSTIVE_INPUTS = 20


def all_inputs(m: int) -> np.ndarray:
    """All 2^m input rows as (2^m, m) uint8, in truth-table order: row r is r in binary with
    input 0 as the most significant bit (the order of ``itertools.product((0, 1), repeat=m)``).
    Limited to m <= 20 (2^20 rows) because exhaustive checks beyond that are never intended."""
    if not 0 <= m <= MAX_EXHAUSTIVE_INPUTS:
        raise ValueError(f"all_inputs supports 0 <= m <= {MAX_EXHAUSTIVE_INPUTS}, got {m}")
    r = np.arange(1 << m, dtype=np.uint32)
    out = np.empty((1 << m, m), dtype=np.uint8)
    for j in range(m):
        out[:, j] = (r >> (m - 1 - j)) & 1
    return out


def sparse_inputs(m: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n distinct (m,)-rows of uint8 with exactly k ones, each row's support uniform.

    Sparse inputs are the regime the compiled networks are built for, so ``verify`` samples them.
    When C(m, k) <= n this returns ALL C(m, k) rows (fewer than n), in lexicographic order of
    their supports (the order of ``itertools.combinations(range(m), k)``), which makes the check
    exhaustive. Otherwise it returns exactly n distinct rows in random order. Deterministic for
    a given ``rng`` state.
    """
    if m < 0 or k < 0 or n < 0:
        raise ValueError(f"sparse_inputs needs m, k, n >= 0, got {m}, {k}, {n}")
    total = math.comb(m, k)
    if total <= n:
        return _rows_from_supports(m, _all_supports(m, k, total))
    if n == 0:
        return np.zeros((0, m), dtype=np.uint8)
    if total <= 4 * n:
        # Few spare combinations: rejecting duplicates would stall, so draw ranks instead.
        supports = _all_supports(m, k, total)
        return _rows_from_supports(m, supports[rng.choice(total, size=n, replace=False)])
    return _distinct_k_hot(m, k, n, rng)


def _all_supports(m: int, k: int, total: int) -> np.ndarray:
    flat = itertools.chain.from_iterable(itertools.combinations(range(m), k))
    return np.fromiter(flat, dtype=np.intp, count=total * k).reshape(total, k)


def _rows_from_supports(m: int, supports: np.ndarray) -> np.ndarray:
    rows = np.zeros((supports.shape[0], m), dtype=np.uint8)
    np.put_along_axis(rows, supports, 1, axis=1)
    return rows


def _distinct_k_hot(m: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random k-hot rows, redrawing later duplicates until all are distinct. Called only when
    C(m, k) > 4n, so each round redraws at most ~1/8 of what remains and this ends quickly."""
    rows = _random_k_hot(m, k, n, rng)
    while True:
        keys = np.packbits(rows, axis=1)
        keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
        _, first = np.unique(keys, return_index=True)
        if first.size == n:
            return rows
        repeats = np.setdiff1d(np.arange(n), first)
        rows[repeats] = _random_k_hot(m, k, repeats.size, rng)


def _random_k_hot(m: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n independent uniform k-hot rows. For k <= m/4, sequential sampling without replacement
    (O(n k), redrawing a taken column); else a per-row shuffle of a k-hot template (O(n m))."""
    if 4 * k > m:
        template = np.zeros((n, m), dtype=np.uint8)
        template[:, :k] = 1
        return rng.permuted(template, axis=1, out=template)
    rows = np.zeros((n, m), dtype=np.uint8)
    everyone = np.arange(n)
    for _ in range(k):
        todo = everyone
        while todo.size:
            column = rng.integers(0, m, size=todo.size)
            free = rows[todo, column] == 0
            rows[todo[free], column[free]] = 1
            todo = todo[~free]
    return rows
