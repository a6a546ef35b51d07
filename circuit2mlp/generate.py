"""Circuit generators: the U-AND task and random layered circuits that stay sparse.

Compiling in superposition only pays off on circuits whose wires are rarely 1 under sparse
inputs, and measuring how far it pays off needs circuits of any size on demand. These are pure
functions returning a :class:`Circuit`; all randomness comes from
``numpy.random.default_rng(seed)``, so the same arguments give the same circuit.

Both generators build the :class:`Circuit` with its plain constructor instead of
:meth:`Circuit.make`: the circuits are valid by construction (the tests re-validate them), and
validation builds a networkx graph, which costs tens of seconds and gigabytes at 10^6 gates.
For the same reason :func:`uand_text` writes U-AND files directly from the indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuit2mlp.ir import Circuit, Cover, Gate

# --------------------------------------------------------------------------- U-AND


def _uand_pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j in lexicographic order, as two index arrays."""
    i, j = np.triu_indices(m, k=1)
    return i, j


def uand_gate_names(m: int) -> list[str]:
    """``and_i_j`` for every pair i < j, in lexicographic order (the circuit's gate order)."""
    i, j = _uand_pairs(m)
    return [f"and_{a}_{b}" for a, b in zip(i.tolist(), j.tolist(), strict=True)]


def uand_circuit(m: int, name: str | None = None) -> Circuit:
    """The universal AND task of the paper: inputs ``x0..x{m-1}`` and one two-input AND per
    pair i < j, named ``and_i_j`` and each an output, m(m-1)/2 gates in all.

    It is the smallest circuit whose gate count is quadratic in its inputs, the case the
    superposed construction is made for (about 0.2 s per 10^5 gates here).
    """
    if m < 2:
        raise ValueError(f"U-AND needs at least 2 inputs, got {m}")
    inputs = tuple(f"x{a}" for a in range(m))
    i, j = _uand_pairs(m)
    names = uand_gate_names(m)
    gates = tuple(
        Gate(n, "AND", (inputs[a], inputs[b]))
        for n, a, b in zip(names, i.tolist(), j.tolist(), strict=True)
    )
    outputs = tuple(names)
    return Circuit(
        name=name or f"uand{m}", inputs=inputs, outputs=outputs, drivers=outputs, gates=gates
    )


def _wrapped_list(head: str, items: list[str], per_line: int, sep: str, tail: str) -> str:
    """``head`` followed by items, ``per_line`` of them per line; lines joined by ``sep``."""
    chunks = [" ".join(items[k : k + per_line]) for k in range(0, len(items), per_line)]
    return head + sep.join(chunks) + tail


def uand_text(m: int, fmt: str = "yaml", name: str | None = None) -> str:
    """The U-AND circuit as file text (``yaml``, ``blif`` or ``bench``), written straight from
    the pair indices: the generic writers quote-check every name, which takes minutes at 10^6
    gates, while these names (``x12``, ``and_3_7``) never need quoting.

    The result parses to exactly :func:`uand_circuit` (tested).
    """
    if m < 2:
        raise ValueError(f"U-AND needs at least 2 inputs, got {m}")
    name = name or f"uand{m}"
    inputs = [f"x{a}" for a in range(m)]
    i, j = _uand_pairs(m)
    il, jl = i.tolist(), j.tolist()
    names = uand_gate_names(m)
    if fmt == "yaml":
        head = ["# circuit2mlp circuit (format: docs/yaml-format.md)", f"name: {name}"]
        lines = [
            *head,
            _wrapped_list("inputs: [", [s + "," for s in inputs], 12, "\n  ", "]").replace(
                ",]", "]"
            ),
            _wrapped_list("outputs: [", [s + "," for s in names], 8, "\n  ", "]").replace(
                ",]", "]"
            ),
            "gates:",
        ]
        body = [f"  and_{a}_{b}: [and, x{a}, x{b}]" for a, b in zip(il, jl, strict=True)]
        return "\n".join(lines + body) + "\n"
    if fmt == "blif":
        lines = [
            f".model {name}",
            _wrapped_list(".inputs ", inputs, 12, " \\\n ", ""),
            _wrapped_list(".outputs ", names, 8, " \\\n ", ""),
        ]
        body = [f".names x{a} x{b} and_{a}_{b}\n11 1" for a, b in zip(il, jl, strict=True)]
        return "\n".join([*lines, *body, ".end"]) + "\n"
    if fmt == "bench":
        lines = [
            f"# {name}",
            f"# {m} inputs, {len(names)} outputs, {len(names)} gates (written by circuit2mlp)",
            *(f"INPUT({s})" for s in inputs),
            *(f"OUTPUT({s})" for s in names),
        ]
        body = [f"and_{a}_{b} = AND(x{a}, x{b})" for a, b in zip(il, jl, strict=True)]
        return "\n".join(lines + body) + "\n"
    raise ValueError(f"unknown format '{fmt}' (yaml, blif, bench)")


# --------------------------------------------------------------------------- random layered


@dataclass(frozen=True)
class _Kind:
    """One kind of gate in the random mix. ``positive`` is how many of its fan-in slots make it
    1 when that input alone is 1 (its *spreading* slots): the number an isolated active wire
    passes on through it."""

    label: str
    op: str
    cover: Cover | None
    positive: int


def _kinds(k: int, negations: bool) -> tuple[list[_Kind], list[_Kind], list[_Kind]]:
    """The mix for fan-in k in three classes by spreading slots: coincidence (0: fire only
    when several inputs are 1), single (1) and spread (k)."""
    coincidence = [_Kind("and", "AND", None, 0)]
    if k >= 3:
        coincidence.append(_Kind("maj", "MAJ", None, 0))
        if negations:  # AND(a, b, ..., NOT z): two or more needed, the last one vetoes
            coincidence.append(_Kind("and_veto", "SOP", Cover(("1" * (k - 1) + "0",)), 0))
    single = [_Kind("and_not", "SOP", Cover(("1" + "0" * (k - 1),)), 1)] if negations else []
    spread = [_Kind("or", "OR", None, k), _Kind("xor", "XOR", None, k)]
    return coincidence, single, spread


def _class_counts(gates: int, k: int, target: int, negations: bool) -> tuple[int, int, int]:
    """(coincidence, single, spread) gate counts whose spreading slots add up to ``target``
    (the previous level's width, so every wire spreads exactly once), rounded up by less
    than k when singles are not allowed or do not fit. With negations about half the gates
    are singles.
    """
    target = min(target, k * gates)
    if negations:
        single = min(gates // 2, target)
        spread = (target - single) // k
        single = target - k * spread
        if single + spread > gates:  # too few gates for that many singles: spread more
            spread = -(-(target - gates) // (k - 1))
            single = max(0, target - k * spread)
    else:
        single, spread = 0, -(-target // k)
    return gates - single - spread, single, spread


def _repair_duplicates(
    fanin: np.ndarray, positive: np.ndarray, n_prev: int, rng: np.random.Generator
) -> None:
    """Make the fan-in of every gate distinct.

    First by swapping slots of the same kind (spreading with spreading, other with other)
    between gates, which keeps how often each wire is read and in which role. Duplicates are
    rare (about k^2/2 per width gates), so a Python loop over them is cheap. In tiny layers
    no swap may fit; then a repeated wire in an ordinary slot is redrawn (the wire is still
    read by its other slot), and one in a spreading slot is swapped or, failing that, redrawn.
    """
    k = fanin.shape[1]
    slots_of = {flag: np.flatnonzero(positive.ravel() == flag) for flag in (True, False)}
    for _ in range(1000):
        bad = _rows_with_duplicates(fanin)
        if bad.size == 0:
            return
        for r in bad.tolist():
            seen: set[int] = set()
            for j, wire in enumerate(fanin[r].tolist()):
                if wire not in seen:
                    seen.add(wire)
                    continue
                pool = slots_of[bool(positive[r, j])]
                r2, j2 = divmod(int(pool[rng.integers(pool.size)]), k)
                other = int(fanin[r2, j2])
                if r2 != r and other not in fanin[r] and wire not in np.delete(fanin[r2], j2):
                    fanin[r, j], fanin[r2, j2] = other, wire
                    break
    for r in _rows_with_duplicates(fanin).tolist():
        seen = set()
        for j in range(k):
            wire = int(fanin[r, j])
            if wire in seen and not (
                positive[r, j] and _swap_spreading(fanin, r, j, slots_of[True], rng)
            ):
                free = np.setdiff1d(np.arange(n_prev), fanin[r])
                fanin[r, j] = free[rng.integers(free.size)]
            seen.add(int(fanin[r, j]))


def _rows_with_duplicates(fanin: np.ndarray) -> np.ndarray:
    ordered = np.sort(fanin, axis=1)
    return np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))


def _swap_spreading(
    fanin: np.ndarray, r: int, j: int, spreading: np.ndarray, rng: np.random.Generator
) -> bool:
    """Swap slot (r, j) with a random spreading slot of another gate, if one keeps both
    gates' fan-in distinct; False when none does within a few dozen tries."""
    k = fanin.shape[1]
    wire = int(fanin[r, j])
    for _ in range(64):
        r2, j2 = divmod(int(spreading[rng.integers(spreading.size)]), k)
        other = int(fanin[r2, j2])
        if r2 != r and other not in fanin[r] and wire not in np.delete(fanin[r2], j2):
            fanin[r, j], fanin[r2, j2] = other, wire
            return True
    return False


def _random_layer(
    rng: np.random.Generator, n_prev: int, gates: int, k: int, negations: bool
) -> tuple[list[_Kind], np.ndarray]:
    """Kinds and fan-in indices (gates, k) into the previous level for one layer."""
    coincidence, single, spread = _kinds(k, negations)
    n0, n1, nk = _class_counts(gates, k, n_prev, negations)
    classes = np.repeat(np.arange(3), [n0, n1, nk])
    rng.shuffle(classes)
    pools = (coincidence, single, spread)
    picks = rng.integers(0, 1 << 30, size=gates)
    kinds = [
        pools[c][p % len(pools[c])] for c, p in zip(classes.tolist(), picks.tolist(), strict=True)
    ]

    positive = np.zeros((gates, k), dtype=bool)
    positive[classes == 1, 0] = True
    positive[classes == 2, :] = True
    n_positive = int(positive.sum())
    # Spreading slots: every wire equally often (whole permutations, tiled).
    tiles = -(-max(n_positive, n_prev) // n_prev)
    sequence = np.concatenate([rng.permutation(n_prev) for _ in range(tiles)])
    fanin = np.empty((gates, k), dtype=np.int64)
    fanin[positive] = sequence[:n_positive]
    # Other slots: wires no spreading slot reads first (so every wire is read), then uniform.
    rest = np.flatnonzero(~positive.ravel())
    rng.shuffle(rest)
    unread = sequence[n_positive:n_prev] if n_positive < n_prev else sequence[:0]
    values = rng.integers(0, n_prev, size=rest.size)
    values[: unread.size] = unread
    fanin.ravel()[rest] = values
    _repair_duplicates(fanin, positive, n_prev, rng)
    return kinds, fanin


def random_circuit(
    inputs: int,
    width: int,
    depth: int,
    fan_in: int = 2,
    seed: int = 0,
    negations: bool = True,
    taps: int = 0,
    name: str | None = None,
) -> Circuit:
    """A random layered circuit that stays sparse: ``depth`` layers of ``width`` gates, each
    reading ``fan_in`` distinct wires of the previous layer (layer 0 reads the inputs
    ``x0..``); gates are named ``g{layer}_{index}`` and the outputs are the last layer, plus
    ``taps`` randomly chosen wires of earlier layers.

    Why it stays sparse. Under s-sparse inputs a wire is mostly alone in being 1, so what
    matters is how many gates a lone active wire switches on: the number of *spreading* slots
    it occupies (a slot whose input alone makes the gate 1). The mix has three classes:

    * coincidence, 0 spreading slots: ``AND``, and for fan-in >= 3 ``MAJ`` and (with
      negations) ``AND(a, b, .., NOT z)``; these fire only when active wires meet;
    * single, 1 spreading slot (only with ``negations``): ``AND(a, NOT b, ..)``, written as a
      one-cube SOP cover ``10..0`` (the IR's form of a negated literal);
    * spread, all slots spreading: ``OR`` and ``XOR``.

    Their counts are set so that the spreading slots of a layer add up to the previous level's
    width, and those slots are wired by a permutation: every wire spreads into exactly one
    gate. A lone active wire thus has exactly one active successor (no random branching, so
    activity neither dies out nor explodes); when active wires meet, coincidence gates add
    one, while OR merges, XOR cancels and a NOT-literal vetoes. Every gate is 0 on the
    all-zero input (no NOR/NAND/XNOR: those would be 1 almost always). The remaining slots
    are uniform, after first taking any wire left unread, so every wire is read.

    Measured profile (:func:`activity_profile` on 2048 exactly-s-hot inputs; 2000 inputs,
    width 2000, depth 16, seed 0; mean active wires at layer 0 -> layer 15, and the most in
    any sample at any layer; no sample ever went all-zero):

    ============  =====================  =====================
    mix           s = 3                  s = 8
    ============  =====================  =====================
    fan-in 2      3.00 -> 2.97 (max 4)   7.99 -> 7.74 (max 11)
    fan-in 3      3.00 -> 2.95 (max 5)   7.98 -> 7.47 (max 11)
    k=2, no neg.  3.00 -> 2.99 (max 5)   8.00 -> 7.85 (max 12)
    k=3, no neg.  3.00 -> 3.00 (max 5)   7.98 -> 7.74 (max 12)
    ============  =====================  =====================

    The slow loss is the second-order term: per layer each pair of active wires meets in a
    gate with probability ~1/width, and at fan-in 2 the expected change is about
    -1.25 C(s, 2) / width (AND +1 does not make up for veto -1, OR -1, XOR -2), -0.5 C(s, 2) /
    width without negations. Narrow layers therefore drift more: width 200, fan-in 2, s = 8
    goes 7.8 -> 5.8 over 16 layers (s = 3: 2.98 -> 2.70); width 500, s = 8: 7.95 -> 7.14.
    With fewer inputs than gates, layer 0 has more coincidence gates on the inputs and starts
    higher (100 inputs, width 2000, s = 3: 4.15, then steady).

    Negated literals cost the current compiler: normalize expands a NOT-literal cover into a
    NOT gate plus an AND, a dense wire and an extra level (width 500, depth 4: 8 layers and
    5102 neurons with either method, against 4 layers and 2495 neurons without negations).
    ``negations=False`` gives a mix of symmetric ops only (at fan-in 2 half AND, half
    OR/XOR).
    """
    k = fan_in
    if k < 2:
        raise ValueError(f"fan-in must be at least 2, got {k}")
    if inputs < k or width < k:
        raise ValueError(f"need at least fan-in ({k}) inputs and gates per layer")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if inputs > k * width:
        raise ValueError(
            f"{inputs} inputs cannot all be read by {width} gates of fan-in {k}; "
            f"use at most {k * width} inputs or a wider first layer"
        )
    rng = np.random.default_rng(seed)
    previous = [f"x{i}" for i in range(inputs)]
    input_names = tuple(previous)
    gates: list[Gate] = []
    levels: list[list[str]] = []
    for level in range(depth):
        kinds, fanin = _random_layer(rng, len(previous), width, k, negations)
        names = [f"g{level}_{j}" for j in range(width)]
        for gate_name, kind, row in zip(names, kinds, fanin.tolist(), strict=True):
            fan = tuple(previous[w] for w in row)
            gates.append(Gate(gate_name, kind.op, fan, kind.cover))
        levels.append(names)
        previous = names
    outputs = list(previous)
    if taps:
        pool = [s for level in levels[:-1] for s in level]
        if taps > len(pool):
            raise ValueError(f"only {len(pool)} intermediate wires to tap, asked for {taps}")
        chosen = np.sort(rng.choice(len(pool), size=taps, replace=False))
        outputs.extend(pool[c] for c in chosen.tolist())
    circuit_name = name or f"random_m{inputs}_w{width}_d{depth}_k{k}_s{seed}"
    return Circuit(
        name=circuit_name,
        inputs=input_names,
        outputs=tuple(outputs),
        drivers=tuple(outputs),
        gates=tuple(gates),
    )


# --------------------------------------------------------------------------- activity


def gate_levels(circuit: Circuit) -> list[list[str]]:
    """Gates grouped by depth (1 + the deepest fan-in; inputs are depth 0), in circuit order
    within a level. Linear time; no networkx."""
    from circuit2mlp.passes.normalize import topological_order

    depth: dict[str, int] = dict.fromkeys(circuit.inputs, 0)
    levels: list[list[str]] = []
    for gate in topological_order(circuit):
        d = 1 + max((depth[s] for s in gate.fanin), default=0)
        depth[gate.name] = d
        while len(levels) < d:
            levels.append([])
        levels[d - 1].append(gate.name)
    return levels


def activity_profile(
    circuit: Circuit, sparsity: int, samples: int = 2048, seed: int = 0
) -> list[dict[str, float]]:
    """Per gate level, how many wires are 1 on exactly-``sparsity``-hot inputs: mean, max,
    99th percentile and the fraction of samples where none is (the level went all-zero).

    This is the figure superposition cares about (few active features per layer), measured
    with the bit-parallel simulator rather than assumed.
    """
    from circuit2mlp.simulate import pack_bits, simulate_packed, sparse_inputs, unpack_bits

    rng = np.random.default_rng(seed)
    x = sparse_inputs(len(circuit.inputs), sparsity, samples, rng)
    levels = gate_levels(circuit)
    signals = [s for level in levels for s in level]
    rows = simulate_packed(circuit, pack_bits(x), signals=signals)
    profile = []
    start = 0
    for i, level in enumerate(levels):
        bits = unpack_bits(rows[start : start + len(level)], x.shape[0])
        start += len(level)
        active = bits.sum(axis=1)
        profile.append(
            {
                "level": i,
                "gates": len(level),
                "mean": float(active.mean()) if active.size else 0.0,
                "p99": float(np.percentile(active, 99)) if active.size else 0.0,
                "max": int(active.max()) if active.size else 0,
                "all_zero": float((active == 0).mean()) if active.size else 0.0,
            }
        )
    return profile
