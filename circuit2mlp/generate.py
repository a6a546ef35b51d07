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

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

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
    mix: str | dict[str, float] | None = None,
    family: str = "uniform",
    block: int = 64,
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

    Negated literals cost nothing extra: normalize folds them into their gate (width 500,
    depth 4: 4 layers either way, 2235 neurons with the exact method, 2495 without
    negations).

    ``negations=False`` gives a mix of symmetric ops only (at fan-in 2 half AND, half
    OR/XOR).

    That is the ``classic`` mix, the default with ``family="uniform"``. Any other ``mix`` (a
    preset name or label weights, see :data:`MIXES`), or ``family="local"``, goes through
    :func:`_mixed_layer` instead: every gate kind including NAND/NOR/XNOR, fan-in a single
    value or a choice (``fan_in=(2, 3)``), and sparsity kept in *stored polarity*.
    """
    return random_layers(
        inputs, width, depth, fan_in, seed, negations, taps, name, mix, family, block
    ).circuit()


# --------------------------------------------------------------------------- any gate mix

#: Gate labels a mix may name: the written op, and the one-cube cover for the negated forms
#: (``and_not``: AND with its last input negated; ``or_not``: OR with its last input negated).
LABELS = ("and", "or", "xor", "nand", "nor", "xnor", "maj", "and_not", "or_not")

#: Named mixes (label weights). ``classic`` is the original mix of :func:`random_circuit`
#: (AND, OR, XOR, MAJ, AND with negated inputs: never 1 on the all-zero input).
MIXES: dict[str, dict[str, float] | None] = {
    "classic": None,
    "all": dict.fromkeys(LABELS, 1.0),
    "symmetric": dict.fromkeys(("and", "or", "xor", "nand", "nor", "xnor", "maj"), 1.0),
    "negated": {"and": 1.0, "or": 1.0, "nand": 1.0, "nor": 1.0, "and_not": 2.0, "or_not": 2.0},
}

#: Wiring families: ``uniform`` reads any wire of the previous level; ``local`` reads wires
#: within about a block of the gate's own position (blocks shifted by half a block every other
#: level), with the ``all`` mix and fan-in 2 or 3 unless told otherwise.
FAMILIES = ("uniform", "local")


def parse_mix(spec: str | dict[str, float] | None, family: str = "uniform") -> dict | None:
    """Label weights from a preset name or ``and=0.2,or=0.1,...`` (None: the classic mix).
    Raises ValueError naming the problem."""
    if spec is None:
        spec = "all" if family == "local" else "classic"
    if isinstance(spec, dict):
        weights = dict(spec)
    elif "=" not in spec:
        if spec not in MIXES:
            raise ValueError(f"unknown mix '{spec}' (presets: {', '.join(MIXES)})")
        preset = MIXES[spec]
        return None if preset is None else dict(preset)
    else:
        weights = {}
        for item in spec.split(","):
            label, _, value = item.partition("=")
            label = label.strip().lower()
            try:
                weights[label] = float(value)
            except ValueError:
                raise ValueError(f"mix item '{item}': weight is not a number") from None
    for label, weight in weights.items():
        if label not in LABELS:
            raise ValueError(f"unknown gate kind '{label}' in mix (kinds: {', '.join(LABELS)})")
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(f"mix weight of '{label}' must be a finite number >= 0")
    weights = {label: w for label, w in weights.items() if w > 0}
    if not weights:
        raise ValueError("the mix gives no gate kind a positive weight")
    return weights


def _labelled_kind(label: str, k: int) -> _Kind:
    """The written gate of a label at fan-in k (``positive`` unused here: 0)."""
    if label == "and_not":
        return _Kind(label, "SOP", Cover(("1" * (k - 1) + "0",)), 0)
    if label == "or_not":  # OR(a, .., NOT z) = NOT(AND(NOT a, .., z)): an OFF-set cube
        return _Kind(label, "SOP", Cover(("0" * (k - 1) + "1",), onset=False), 0)
    return _Kind(label, label.upper(), None, 0)


def _fan_ins(label: str, fan_in: tuple[int, ...]) -> tuple[int, ...]:
    """The fan-ins a label may take from the allowed ones (MAJ: odd, at least 3)."""
    if label == "maj":
        return tuple(k for k in fan_in if k >= 3 and k % 2)
    return fan_in


@dataclass(frozen=True)
class _Option:
    """One way to wire a gate kind: which pool each slot reads (0: wires stored plain, 1:
    wires stored negated), which slots *spread* (the gate's stored value turns 1 when that
    slot's stored value alone does) and the polarity the gate's own wire is stored in."""

    pools: tuple[int, ...]
    spreading: tuple[bool, ...]
    stored_negated: bool

    def spread(self, pool: int) -> int:
        return sum(1 for c, s in zip(self.pools, self.spreading, strict=True) if s and c == pool)


@lru_cache(maxsize=256)
def _options(kind: _Kind, k: int) -> tuple[_Option, ...]:
    """Every pool pattern for a kind, with the behaviour it gives in stored polarity
    (symmetric ops: only the patterns 'first t slots negated')."""
    gate = Gate("g", kind.op, tuple(f"i{j}" for j in range(k)), kind.cover)
    if kind.cover is None:
        patterns = [tuple(int(j < t) for j in range(k)) for t in range(k + 1)]
    else:
        patterns = list(itertools.product((0, 1), repeat=k))
    out = []
    for p in patterns:
        rest = gate.evaluate(p)  # value when every read wire sits at its usual value
        flips = tuple(
            gate.evaluate(tuple(v ^ (j == i) for j, v in enumerate(p))) != rest for i in range(k)
        )
        out.append(_Option(tuple(p), flips, bool(rest)))
    return tuple(out)


def _balance(groups: list[tuple[int, tuple[_Option, ...]]], n0: int, n1: int) -> list[list[int]]:
    """How many gates of each group take each option, so that the spreading slots reading
    each pool add up to that pool's size (every wire spreads into one gate: activity neither
    grows nor dies out), as nearly as the options allow. A small integer program (scipy's
    HiGHS; deterministic): minimise the mismatch, then prefer options reading plain wires.
    Options reading more wires of a pool than it has are never used."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    def feasible(o: _Option) -> bool:  # enough distinct wires in each pool
        return o.pools.count(0) <= n0 and o.pools.count(1) <= n1

    var = [
        (g, i)
        for g, (_, options) in enumerate(groups)
        for i, o in enumerate(options)
        if feasible(o)
    ]
    nv = len(var) + 4  # + slack: over0, under0, over1, under1
    cost = np.array([sum(groups[g][1][i].pools) / 8 for g, i in var] + [1000.0] * 4, dtype=float)
    rows, lo, hi = [], [], []
    for g, (count, _) in enumerate(groups):
        row = np.zeros(nv)
        row[[v for v, (gg, _) in enumerate(var) if gg == g]] = 1
        rows.append(row)
        lo.append(count)
        hi.append(count)
    for pool, target in ((0, n0), (1, n1)):
        row = np.zeros(nv)
        for v, (g, i) in enumerate(var):
            row[v] = groups[g][1][i].spread(pool)
        row[len(var) + 2 * pool] = -1
        row[len(var) + 2 * pool + 1] = 1
        rows.append(row)
        lo.append(target)
        hi.append(target)
    integrality = np.array([1] * len(var) + [0] * 4)
    result = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=integrality,
        bounds=Bounds(0, np.inf),
    )
    if result.x is None:  # cannot happen (slack makes it feasible); read plain wires
        raise RuntimeError(f"gate mix balance failed: {result.message}")
    alloc = [[0] * len(options) for _, options in groups]
    for v, (g, i) in enumerate(var):
        alloc[g][i] = round(float(result.x[v]))
    return alloc


def _pool_sequence(
    members: np.ndarray, count: int, rng: np.random.Generator, local: int
) -> np.ndarray:
    """``count`` wires of a pool for its spreading slots (in gate order): whole permutations
    tiled, so every wire spreads equally often; with ``local`` > 0 each permutation only
    shuffles within blocks of that many wires, so slot t reads a wire near position t."""
    tiles = -(-max(count, members.size) // max(members.size, 1))
    parts = []
    for _ in range(tiles):
        if local:
            keys = np.arange(members.size) // local + rng.random(members.size)
            parts.append(members[np.argsort(keys, kind="stable")])
        else:
            parts.append(members[rng.permutation(members.size)])
    return np.concatenate(parts) if parts else members[:0]


def _mixed_layer(
    rng: np.random.Generator,
    stored: np.ndarray,
    gates: int,
    weights: dict[str, float],
    fan_in: tuple[int, ...],
    local: int,
    shift: int,
) -> tuple[list[_Kind], list[int], np.ndarray, np.ndarray, np.ndarray]:
    """One layer over a previous level whose wires are stored negated where ``stored`` is
    True: (kind table, kind index per gate, fan-in (gates, max k) padded with -1, stored
    polarity of the new wires); the kind table comes with each kind's fan-in.

    Kinds come in the mix's proportions (largest remainders, shuffled) with a fan-in drawn
    per gate. Which polarity of wire each slot reads is chosen by :func:`_balance` so that
    each wire spreads into one gate on average; spreading slots are wired by permutations of
    their pool, the other slots uniformly from their pool (``local``: near the gate).
    """
    labels = sorted(weights)
    total = sum(weights.values())
    exact = np.array([weights[lb] / total * gates for lb in labels])
    counts = np.floor(exact).astype(np.int64)
    extra = gates - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:extra]] += 1
    label_of = np.repeat(np.arange(len(labels)), counts)
    rng.shuffle(label_of)
    table: list[_Kind] = []
    ks_of: list[int] = []
    kind_of = np.empty(gates, dtype=np.int64)
    kmax = max(fan_in)
    for li, label in enumerate(labels):
        ks = _fan_ins(label, fan_in)
        sel = np.flatnonzero(label_of == li)
        picks = rng.integers(0, len(ks), size=sel.size)
        for ki, k in enumerate(ks):
            kind_of[sel[picks == ki]] = len(table)
            table.append(_labelled_kind(label, k))
            ks_of.append(k)
    groups = []
    members_of = []
    for t, kind in enumerate(table):
        members = np.flatnonzero(kind_of == t)
        members_of.append(members)
        groups.append((members.size, _options(kind, ks_of[t])))
    pools_idx = [np.flatnonzero(~stored), np.flatnonzero(stored)]
    alloc = _balance(groups, pools_idx[0].size, pools_idx[1].size)

    pool = np.full((gates, kmax), -1, dtype=np.int8)
    spreading = np.zeros((gates, kmax), dtype=bool)
    out_negated = np.zeros(gates, dtype=bool)
    for t, (members, row) in enumerate(zip(members_of, alloc, strict=True)):
        options = groups[t][1]
        k = ks_of[t]
        start = 0
        for o, n in zip(options, row, strict=True):
            chosen = members[start : start + n]
            start += n
            pool[chosen, :k] = o.pools
            spreading[chosen, :k] = o.spreading
            out_negated[chosen] = o.stored_negated

    fanin = np.full((gates, kmax), -1, dtype=np.int64)
    flat_pool, flat_spread, flat_fanin = pool.ravel(), spreading.ravel(), fanin.ravel()
    for c, members in enumerate(pools_idx):
        if shift and members.size:
            members = np.roll(members, -min(shift, members.size - 1))
        slots = np.flatnonzero((flat_pool == c) & flat_spread)
        sequence = _pool_sequence(members, slots.size, rng, local)
        flat_fanin[slots] = sequence[: slots.size]
        rest = np.flatnonzero((flat_pool == c) & ~flat_spread)
        if not rest.size:
            continue
        if local:
            centre = (rest // kmax) * members.size // gates
            offset = rng.integers(-local, local + 1, size=rest.size)
            flat_fanin[rest] = members[np.clip(centre + offset, 0, members.size - 1)]
        else:
            rng.shuffle(rest)
            values = members[rng.integers(0, members.size, size=rest.size)]
            unread = sequence[slots.size : members.size] if slots.size < members.size else ()
            values[: len(unread)] = unread[: rest.size]
            flat_fanin[rest] = values
    _repair_pooled(fanin, pool, spreading, pools_idx, rng)
    return table, ks_of, kind_of, fanin, out_negated


def _repair_pooled(
    fanin: np.ndarray,
    pool: np.ndarray,
    spreading: np.ndarray,
    pools_idx: list[np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Make each gate's fan-in distinct: swap a repeated wire with a slot of the same pool
    and role in another gate, else redraw it from its pool (read elsewhere anyway); in
    levels too narrow for that, from the whole level."""
    kmax = fanin.shape[1]
    keyed = np.where(fanin >= 0, fanin, -1 - np.arange(kmax)[None, :])
    cls = np.where(pool >= 0, pool * 2 + spreading, -1).ravel()
    for _ in range(3):
        bad = _rows_with_duplicates(keyed)
        if bad.size == 0:
            return
        for r in bad.tolist():
            seen: set[int] = set()
            for j in range(kmax):
                wire = int(fanin[r, j])
                if wire < 0:
                    continue
                if wire in seen:
                    same = np.flatnonzero(cls == cls[r * kmax + j])
                    for _ in range(32):
                        r2, j2 = divmod(int(same[rng.integers(same.size)]), kmax)
                        other = int(fanin[r2, j2])
                        if r2 != r and other not in fanin[r] and wire not in fanin[r2]:
                            fanin[r, j], fanin[r2, j2] = other, wire
                            break
                    else:
                        members = pools_idx[int(pool[r, j])]
                        free = np.setdiff1d(members, fanin[r])
                        if free.size:
                            fanin[r, j] = free[rng.integers(free.size)]
                seen.add(int(fanin[r, j]))
        keyed = np.where(fanin >= 0, fanin, -1 - np.arange(kmax)[None, :])
    everyone = np.arange(sum(m.size for m in pools_idx))
    for r in _rows_with_duplicates(keyed).tolist():  # tiny levels: any free wire will do
        seen = set()
        for j in range(kmax):
            if fanin[r, j] >= 0 and int(fanin[r, j]) in seen:
                free = np.setdiff1d(everyone, fanin[r])
                fanin[r, j] = free[rng.integers(free.size)]
            seen.add(int(fanin[r, j]))


# --------------------------------------------------------------------------- level arrays


@dataclass
class Level:
    """One generated layer as arrays: gate j is ``kinds[kind[j]]`` with fan-in ``ks[kind[j]]``
    reading wires ``fanin[j, :k]`` of the previous level (indices; -1 pads)."""

    kinds: list[_Kind]
    ks: list[int]
    kind: np.ndarray
    fanin: np.ndarray

    @property
    def width(self) -> int:
        return int(self.kind.size)


@dataclass
class RandomLayers:
    """A generated random layered circuit before it becomes Gate objects: inputs ``x0..``,
    levels of gates ``g{level}_{j}``, outputs the last level plus ``taps`` (indices into the
    earlier levels' wires, concatenated). At 10^6 gates per level this is a few arrays, where
    a :class:`Circuit` would be gigabytes of objects; :meth:`write` streams the file text."""

    name: str
    inputs: int
    levels: list[Level]
    taps: np.ndarray

    @property
    def gates(self) -> int:
        return sum(level.width for level in self.levels)

    def output_names(self) -> list[str]:
        last = len(self.levels) - 1
        names = [f"g{last}_{j}" for j in range(self.levels[-1].width)]
        if self.taps.size:
            ends = np.cumsum([lv.width for lv in self.levels[:-1]])
            which = np.searchsorted(ends, self.taps, side="right")
            starts = ends - np.array([lv.width for lv in self.levels[:-1]])
            names.extend(
                f"g{lv}_{t - starts[lv]}"
                for lv, t in zip(which.tolist(), self.taps.tolist(), strict=True)
            )
        return names

    def kind_counts(self) -> dict[str, int]:
        """Gates per kind and fan-in, ``label/k``, over all levels (sorted by label)."""
        counts: dict[str, int] = {}
        for level in self.levels:
            per = np.bincount(level.kind, minlength=len(level.kinds))
            for kind, k, n in zip(level.kinds, level.ks, per.tolist(), strict=True):
                key = f"{kind.label}/{k}"
                counts[key] = counts.get(key, 0) + n
        return {key: counts[key] for key in sorted(counts) if counts[key]}

    def check_format(self, fmt: str) -> None:
        """ValueError when ``fmt`` cannot express every gate (.bench has no MAJ and no
        negated literal; BLIF writes XOR, XNOR and MAJ wider than 10 inputs not at all)."""
        from circuit2mlp.errors import CircuitError

        for level in self.levels:
            for kind, k in zip(level.kinds, level.ks, strict=True):
                try:
                    _text_form(fmt, kind, k)
                except CircuitError as exc:
                    raise ValueError(exc.message) from None
        if fmt != "bench":
            return
        for level in self.levels:
            for kind in level.kinds:
                if kind.op in ("SOP", "MAJ"):
                    raise ValueError(
                        f"cannot write .bench: the circuit has '{kind.label}' gates, which "
                        ".bench has no gate type for; write yaml or blif, or leave out maj, "
                        "and_not, and_veto and or_not (--no-negations for the classic mix)"
                    )

    def _gate_rows(self, i: int) -> Iterator[tuple[str, _Kind, list[str]]]:
        """(name, kind, fan-in names) of every gate of level i."""
        level = self.levels[i]
        prefix = "x" if i == 0 else f"g{i - 1}_"
        ks = level.ks
        for j, (t, row) in enumerate(zip(level.kind.tolist(), level.fanin.tolist(), strict=True)):
            yield f"g{i}_{j}", level.kinds[t], [f"{prefix}{w}" for w in row[: ks[t]]]

    def circuit(self) -> Circuit:
        """The circuit as IR (valid by construction)."""
        gates = [
            Gate(name, kind.op, tuple(fanin), kind.cover)
            for i in range(len(self.levels))
            for name, kind, fanin in self._gate_rows(i)
        ]
        outputs = tuple(self.output_names())
        return Circuit(
            name=self.name,
            inputs=tuple(f"x{i}" for i in range(self.inputs)),
            outputs=outputs,
            drivers=outputs,
            gates=tuple(gates),
        )

    def write(self, fmt: str, handle: BinaryIO) -> None:
        """The circuit's text in ``fmt`` (yaml, blif, bench), written level by level: the
        same bytes :func:`circuit2mlp.formats.write_circuit` gives for :meth:`circuit`,
        without ever holding the whole circuit or text in memory."""
        from circuit2mlp.formats.blif import _wrapped
        from circuit2mlp.formats.yaml_format import _flow_field, _scalar

        self.check_format(fmt)
        inputs = [f"x{i}" for i in range(self.inputs)]
        outputs = self.output_names()
        if fmt == "yaml":
            head = [
                "# circuit2mlp circuit (format: docs/yaml-format.md)",
                f"name: {_scalar(self.name)}",
                _flow_field("inputs", inputs),
                _flow_field("outputs", outputs),
                "gates:",
            ]
        elif fmt == "blif":
            model = "_".join(self.name.split()) or "circuit"
            head = [f".model {model}", _wrapped(".inputs", inputs), _wrapped(".outputs", outputs)]
        elif fmt == "bench":
            head = [
                f"# {self.name}",
                f"# {self.inputs} inputs, {len(outputs)} outputs, {self.gates} gates "
                "(written by circuit2mlp)",
                *(f"INPUT({s})" for s in inputs),
                *(f"OUTPUT({s})" for s in outputs),
            ]
        else:
            raise ValueError(f"unknown format '{fmt}' (yaml, blif, bench)")
        handle.write(("\n".join(head) + "\n").encode())
        names = [f"x{w}" for w in range(self.inputs)]
        for i, level in enumerate(self.levels):
            forms = [
                _text_form(fmt, kind, k) for kind, k in zip(level.kinds, level.ks, strict=True)
            ]
            heads = np.array([f[0] for f in forms] + [""], dtype=object)[:-1]
            tails = np.array([f[2] for f in forms] + [""], dtype=object)[:-1]
            sep = forms[0][1]
            ks = np.array(level.ks)
            width = level.fanin.shape[0]
            previous = names
            names = [f"g{i}_{j}" for j in range(width)]
            for start in range(0, width, 65536):
                stop = min(start + 65536, width)
                kind = level.kind[start:stop]
                k_of = ks[kind]
                lines = np.empty(stop - start, dtype=object)
                for k in np.unique(k_of).tolist():
                    sel = np.flatnonzero(k_of == k)
                    cols = [
                        list(map(previous.__getitem__, level.fanin[start + sel, j].tolist()))
                        for j in range(k)
                    ]
                    own = list(map(names.__getitem__, (start + sel).tolist()))
                    head, tail = heads[kind[sel]].tolist(), tails[kind[sel]].tolist()
                    if fmt == "blif":
                        text = list(map(" ".join, zip(*cols, own, strict=True)))
                        rows = list(map(".names {}{}".format, text, tail))
                        for r, line in enumerate(rows):
                            if len(line) - len(tail[r]) > _BLIF_WRAP:
                                fanin = [c[r] for c in cols]
                                rows[r] = _wrapped(".names", (*fanin, own[r])) + tail[r]
                    else:
                        text = list(map(sep.join, zip(*cols, strict=True)))
                        pattern = "  {}: {}{}{}" if fmt == "yaml" else "{} = {}{}{}"
                        rows = list(map(pattern.format, own, head, text, tail))
                    lines[sel] = rows
                handle.write(("\n".join(lines.tolist()) + "\n").encode())
        if fmt == "blif":
            handle.write(b".end\n")


def _text_form(fmt: str, kind: _Kind, k: int) -> tuple[str, str, str, int]:
    """(text before the fan-in, separator, text after, k) of one kind's gate line, exactly as
    the format's writer puts it."""
    from circuit2mlp.formats.blif import _sop_rows, _symmetric_rows
    from circuit2mlp.formats.yaml_format import _gate_value

    gate = Gate("g", kind.op, tuple(f"i{j}" for j in range(k)), kind.cover)
    if fmt == "blif":
        rows = _sop_rows(gate) if kind.cover is not None else _symmetric_rows(gate)
        return "", " ", "".join("\n" + r for r in rows), k
    if fmt == "yaml":
        text = _gate_value(gate)
        inner = ", ".join(gate.fanin)
        before, after = text.split(inner)
        return before, ", ", after, k
    return {"BUF": "BUFF"}.get(kind.op, kind.op) + "(", ", ", ")", k


_BLIF_WRAP = 96


def random_layers(
    inputs: int,
    width: int,
    depth: int,
    fan_in: int | tuple[int, ...] | None = 2,
    seed: int = 0,
    negations: bool = True,
    taps: int = 0,
    name: str | None = None,
    mix: str | dict[str, float] | None = None,
    family: str = "uniform",
    block: int = 64,
) -> RandomLayers:
    """:func:`random_circuit` as level arrays (see there for the arguments). ``fan_in`` may
    be a tuple of allowed fan-ins (other mixes than ``classic`` only); None: 2, or 2 and 3
    for the local family with its default mix."""
    if family not in FAMILIES:
        raise ValueError(f"unknown wiring family '{family}' (families: {', '.join(FAMILIES)})")
    if fan_in is None:  # the family's default
        fan_in = (2, 3) if family == "local" and mix is None else 2
    if isinstance(fan_in, int):
        fan_ins: tuple[int, ...] = (fan_in,)
    else:
        fan_ins = tuple(sorted(set(fan_in)))
    weights = parse_mix(mix, family)
    if min(fan_ins) < 2:
        raise ValueError(f"fan-in must be at least 2, got {min(fan_ins)}")
    k = max(fan_ins)
    if weights is None and len(fan_ins) > 1:
        raise ValueError("the classic mix takes one fan-in; name another mix (e.g. --mix all)")
    if weights is not None:
        if k > 4:
            raise ValueError(f"fan-in {k} too large for a gate mix (2 to 4)")
        for label in weights:
            if not _fan_ins(label, fan_ins):
                raise ValueError(f"'{label}' gates need an odd fan-in of at least 3")
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
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
    levels: list[Level] = []
    if weights is None and family == "uniform":  # the classic generator, draw for draw
        n_prev = inputs
        for _ in range(depth):
            kinds, fanin = _random_layer(rng, n_prev, width, k, negations)
            table = list(dict.fromkeys(kinds))
            index = {kind: t for t, kind in enumerate(table)}
            kind_of = np.fromiter(map(index.__getitem__, kinds), np.int64, len(kinds))
            levels.append(Level(table, [k] * len(table), kind_of, fanin))
            n_prev = width
    else:
        if weights is None:  # the classic labels under the local wiring
            weights = {"and": 1.0, "or": 0.5, "xor": 0.5}
            if negations:
                weights["and_not"] = 1.0
        stored = np.zeros(inputs, dtype=bool)
        local = block if family == "local" else 0
        for level in range(depth):
            shift = (block // 2) if (local and level % 2) else 0
            table, ks, kind_of, fanin, stored = _mixed_layer(
                rng, stored, width, weights, fan_ins, local, shift
            )
            levels.append(Level(table, ks, kind_of, fanin))
    pool = width * (depth - 1)
    chosen = np.zeros(0, dtype=np.int64)
    if taps:
        if taps > pool:
            raise ValueError(f"only {pool} intermediate wires to tap, asked for {taps}")
        chosen = np.sort(rng.choice(pool, size=taps, replace=False))
    ks_text = k if len(fan_ins) == 1 else "".join(map(str, fan_ins))
    circuit_name = name or f"random_m{inputs}_w{width}_d{depth}_k{ks_text}_s{seed}"
    return RandomLayers(circuit_name, inputs, levels, chosen)


def layer_activity(
    layers: RandomLayers,
    sparsity: int,
    samples: int = 2048,
    seed: int = 0,
    supports: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Per level, the active wires on exactly-``sparsity``-hot inputs, counted in *stored
    polarity*: a wire that is 1 on more than half of the samples (NAND, NOR, XNOR of sparse
    wires) counts when it is 0, as the compiler stores it negated. Mean and max over the
    samples, the fraction of samples with none active, and the stored-negated wires.

    ``supports`` (n, s) gives the samples instead (the inputs that are 1 in each).
    Simulated level by level on the arrays with the bit-parallel gate evaluator of
    :mod:`circuit2mlp.simulate`, in blocks of gates, so memory stays at two levels of packed
    samples (256 MB per 10^6 wires at 2048 samples).
    """
    from circuit2mlp.simulate import eval_gate_packed, n_words

    rng = np.random.default_rng(seed)
    m = layers.inputs
    s = min(sparsity, m)
    n = samples
    if supports is not None:  # given samples: row i lists the inputs that are 1
        supports = np.asarray(supports, dtype=np.int64)
        n, s = supports.shape
    words = n_words(n)
    # exactly-s-hot supports, drawn directly (an (n, m) matrix would be n*m bytes)
    if supports is not None:
        support = supports
    elif m <= 4096:
        support = np.argsort(rng.random((n, m)), axis=1)[:, :s]
    else:
        support = _supports(rng, n, m, s)
    prev = np.zeros((m, words), dtype=np.uint64)
    sample = np.repeat(np.arange(n), s)
    np.bitwise_or.at(
        prev,
        (support.ravel(), sample // 64),
        np.left_shift(np.uint64(1), (sample % 64).astype(np.uint64)),
    )
    valid = np.zeros(words * 64, dtype=bool)
    valid[:n] = True
    mask = np.packbits(valid, bitorder="little").view(np.uint64)
    profile = []
    for i, level in enumerate(layers.levels):
        out = np.empty((level.width, words), dtype=np.uint64)
        for t, (kind, k) in enumerate(zip(level.kinds, level.ks, strict=True)):
            members = np.flatnonzero(level.kind == t)
            gate = Gate("g", kind.op, tuple(f"i{j}" for j in range(k)), kind.cover)
            for start in range(0, members.size, 32768):
                sel = members[start : start + 32768]
                rows = [prev[level.fanin[sel, j]] for j in range(k)]
                out[sel] = eval_gate_packed(gate, rows, (sel.size, words))
        out &= mask
        ones = np.bitwise_count(out).sum(axis=1)
        negated = ones * 2 > n
        counts = np.zeros(n, dtype=np.int64)
        for start in range(0, level.width, 65536):  # count the stored values, block by block
            stored = out[start : start + 65536].copy()
            stored[negated[start : start + 65536]] ^= mask
            counts += _per_sample_ones(stored, n)
        profile.append(
            {
                "level": i,
                "gates": level.width,
                "mean": float(counts.mean()) if n else 0.0,
                "max": int(counts.max()) if n else 0,
                "all_zero": float((counts == 0).mean()) if n else 0.0,
                "stored_negated": int(negated.sum()),
            }
        )
        prev = out
    return profile


def _supports(rng: np.random.Generator, n: int, m: int, s: int) -> np.ndarray:
    """n rows of s distinct indices below m (redrawing rows with a repeat)."""
    out = rng.integers(0, m, size=(n, s))
    while True:
        ordered = np.sort(out, axis=1)
        bad = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if not bad.size:
            return out
        out[bad] = rng.integers(0, m, size=(bad.size, s))


def _per_sample_ones(rows: np.ndarray, n: int) -> np.ndarray:
    """How many rows have bit j set, for each sample j < n (only nonzero words unpacked)."""
    wire, word = np.nonzero(rows)
    counts = np.zeros(rows.shape[1] * 64, dtype=np.int64)
    if wire.size:
        bits = np.unpackbits(
            rows[wire, word].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little"
        )
        hit_row, bit = np.nonzero(bits)
        np.add.at(counts, word[hit_row] * 64 + bit, 1)
    return counts[:n]


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
