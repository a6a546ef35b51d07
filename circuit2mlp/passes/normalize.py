"""The ``normalize`` pass: bring any circuit to a small gate vocabulary with bounded fan-in.

Codegen builds every gate out of ANDs of a few features (design.md §3), so it wants few kinds
of gate and small fan-in, and no wires that compute nothing (buffers, constants, dead gates)
since each would cost neurons. ``normalize`` runs five sub-steps, each a pure function that
is useful (and tested) alone:

1. :func:`expand_covers` -- SOP covers (BLIF ``.names``) become the one gate they compute
   when the vocabulary has it (XOR written as ``10``/``01``), else NOT/AND/OR/NOR gates;
2. :func:`fold_constants` -- constants are propagated and dead gates removed;
3. :func:`remove_buffers` -- BUF gates and double negations are bypassed;
4. :func:`absorb_inverters` -- NOT(AND) becomes NAND etc. where the NOT is the only reader;
5. :func:`decompose_fanin` -- gates wider than ``max_fanin`` become trees / sorting networks;
6. :func:`fold_literals` -- a NOT read by AND/OR/NAND/NOR/XOR/XNOR gates becomes a negated
   literal of each reader (a one-cube cover, or XOR <-> XNOR), so it costs no layer.

Afterwards the circuit holds only :data:`NORMAL_OPS` gates of fan-in <= ``max_fanin`` (and at
least 2 unless the op is NOT), plus CONST0/CONST1 gates read by nothing but outputs. An SOP
gate is then always a *literal cube*: one cube of ``0``/``1`` literals, an AND of literals
(ON-set) or its complement (OFF-set); :func:`symmetric_form` reads it as a symmetric op over
negated inputs. Steps 4 to 6 create no constants, buffers, double negations or dead gates,
so one round of 1-3 suffices.

Performance: every sub-step is one linear walk over the gates with dicts. Results are built
with the plain :class:`Circuit` constructor rather than :meth:`Circuit.make`: a pass produces
a valid circuit by construction (the property tests re-validate), and validation builds a
networkx graph, which would dominate the run time on 10^6 gates. Every sub-step emits its
gates in topological order, so later passes skip the sort (see :func:`topological_order`).

Generated names use ``$`` suffixes (``s$n`` for NOT s, ``g$c3`` for cube 3 of g, ``g$t0`` for
tree nodes, ``g$s5`` for sorting-network nodes); when one is already taken (BLIF names may
contain ``$``) a ``#k`` counter is appended, see :class:`FreshNames`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from circuit2mlp.ir import Circuit, Cover, Gate, is_literal_cube, op_profile

#: Ops a normalized circuit may contain (CONST0/CONST1 only as output drivers).
NORMAL_OPS = ("NOT", "AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ", "SOP")

_CONST_OPS = ("CONST0", "CONST1")
# Ops whose unary form is already canonical (others become BUF/NOT in fold_constants).
_KEEP_UNARY = ("BUF", "NOT", "SOP")
# Tried in this order when a folded profile is matched back to an op (so MAJ2 becomes AND).
_MATCH_OPS = ("AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ")
# Inverting op -> the op its decomposition tree is built of.
_TREE_OP = {"AND": "AND", "OR": "OR", "XOR": "XOR", "NAND": "AND", "NOR": "OR", "XNOR": "XOR"}


# --------------------------------------------------------------------------- shared helpers


def topological_order(circuit: Circuit) -> tuple[Gate, ...]:
    """The gates, each after its fan-in, in linear time without networkx.

    Returns ``circuit.gates`` itself when it is already ordered (every pass emits ordered
    gates, so only parsed circuits pay for the sort). Otherwise a depth-first post-order that
    visits roots in circuit order and fan-in in fan-in order: deterministic, and close to
    circuit order. (:attr:`Circuit.topological_gates` gives the same guarantee but builds a
    networkx graph and a heap-ordered sort, seconds per pass on 10^6 gates.)
    """
    defined = set(circuit.inputs)
    for gate in circuit.gates:
        if not defined.issuperset(gate.fanin):
            return _depth_first_order(circuit)
        defined.add(gate.name)
    return circuit.gates


def _depth_first_order(circuit: Circuit) -> tuple[Gate, ...]:
    gates = circuit.gate_map
    done = set(circuit.inputs)
    order: list[Gate] = []
    for root in circuit.gates:
        if root.name in done:
            continue
        stack = [(root, 0)]
        while stack:
            gate, pos = stack.pop()
            fanin = gate.fanin
            while pos < len(fanin) and fanin[pos] in done:
                pos += 1
            if pos < len(fanin):
                stack.append((gate, pos + 1))
                stack.append((gates[fanin[pos]], 0))
            elif gate.name not in done:
                done.add(gate.name)
                order.append(gate)
    return tuple(order)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run a block with the cyclic garbage collector off (restored after, also on errors).

    A pass allocates millions of small acyclic objects (Gates, tuples); CPython's collector
    then keeps rescanning the growing heap, which cost ~40% of ``layer`` on 10^6 gates.
    Nothing here makes reference cycles, so reference counting frees everything anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FreshNames:
    """Allocates signal names that collide with no name of the circuit nor any name handed
    out before: ``fresh(base)`` is ``base`` when free, else ``base#1``, ``base#2``, ..."""

    def __init__(self, circuit: Circuit) -> None:
        self.taken: set[str] = set(circuit.inputs)
        self.taken.update(g.name for g in circuit.gates)

    def fresh(self, base: str) -> str:
        """A new unused name derived from ``base`` (and reserve it)."""
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}#{k}"
        self.taken.add(name)
        return name


def with_gates(
    circuit: Circuit, gates: Iterable[Gate], drivers: Iterable[str] | None = None
) -> Circuit:
    """``circuit`` with new gates (and output drivers); names, inputs and outputs are kept.

    Skips validation on purpose (see the module docstring): callers pass gates in
    topological order that only read defined signals.
    """
    return Circuit(
        name=circuit.name,
        inputs=circuit.inputs,
        outputs=circuit.outputs,
        drivers=circuit.drivers if drivers is None else tuple(drivers),
        gates=tuple(gates),
        source=circuit.source,
        input_locs=circuit.input_locs,
    )


def eliminate_dead(gates: Sequence[Gate], drivers: Iterable[str]) -> list[Gate]:
    """The gates (in topological order) that some output depends on, order kept."""
    live = set(drivers)
    kept: list[Gate] = []
    for gate in reversed(gates):
        if gate.name in live:
            kept.append(gate)
            live.update(gate.fanin)
    kept.reverse()
    return kept


def _const_gate(name: str, value: int, like: Gate) -> Gate:
    return Gate(name, "CONST1" if value else "CONST0", loc=like.loc)


# --------------------------------------------------------------------------- expand_covers


@paused_gc()
def expand_covers(circuit: Circuit) -> Circuit:
    """Replace every SOP gate by symmetric gates computing the same function.

    First the cover's function is recognised (:func:`recognise_cover`): a cover of up to
    :data:`RECOGNISED_FANIN` distinct signals that is a constant, a BUF/NOT, one of the
    symmetric ops (OR, NOR, XOR, XNOR, MAJ, AND, NAND) of the signals it depends on, or an
    AND/NAND of literals (so also an OR/NOR of literals, by De Morgan), becomes that one gate,
    however many cubes it is written with: ``10 1`` / ``01 1`` is XOR, ``1- 1`` / ``-0 1`` is
    NAND(NOT a, b). Wider covers are recognised by shape: one cube (an AND of literals) or
    cubes of one literal each (an OR of literals).

    Any other cover is expanded cube by cube: a cube is the AND of its literals, an ON-set
    cover the OR of its cubes, an OFF-set cover the NOR of them (a one-cube cover is the
    cube's AND / NAND itself, a one-literal one a BUF / NOT). An all-``-`` cube makes the gate
    constant (1 for ON-set, 0 for OFF-set), and an empty cover is 0 (ON-set) / 1 (OFF-set).

    Either way a negative literal reads ``s$n``, one NOT per signal shared by the whole
    circuit (:func:`fold_literals` folds it into its readers later). The last gate of each
    expansion keeps the SOP gate's name, so readers and outputs need no rewiring. BUFs and
    constants produced here are left for :func:`fold_constants` / :func:`remove_buffers`.
    """
    if not any(g.op == "SOP" for g in circuit.gates):
        return circuit
    names = FreshNames(circuit)
    negations: dict[str, str] = {}
    gates: list[Gate] = []
    for gate in topological_order(circuit):
        if gate.op == "SOP":
            gates.extend(_expand_cover(gate, names, negations))
        else:
            gates.append(gate)
    return with_gates(circuit, gates)


#: Covers over at most this many distinct signals are recognised by their truth table.
RECOGNISED_FANIN = 6


@dataclass(frozen=True)
class Recognised:
    """What :func:`recognise_cover` found: ``op`` over the fan-in positions ``inputs`` (the
    signals the function depends on, each once, in first-appearance order), each read as a
    negated literal where ``negated`` says so. ``op`` is CONST0/CONST1 (no inputs), BUF/NOT
    (one), a symmetric op (no negations), or AND/NAND over literals."""

    op: str
    inputs: tuple[int, ...]
    negated: tuple[bool, ...]


def recognise_cover(cover: Cover, fanin: Sequence[str]) -> Recognised | None:
    """The one gate of the IR vocabulary that computes ``cover`` over ``fanin``, or None.

    Covers over at most :data:`RECOGNISED_FANIN` distinct signals are matched by truth table;
    wider ones only by shape (:func:`_wide_cover`). Preference: constant, BUF/NOT, a
    symmetric op over plain inputs, then AND/NAND of literals (or NOR/OR of the complemented
    literals when that has fewer negations).
    """
    found = _recognise_positions(cover, tuple(fanin))
    return None if found is None else Recognised(*found)


def _recognise_positions(
    cover: Cover, fanin: tuple[str, ...]
) -> tuple[str, tuple[int, ...], tuple[bool, ...]] | None:
    """:func:`recognise_cover` as a plain tuple; fan-in without repeats (the usual case) costs
    one cache lookup."""
    k = len(fanin)
    if len(set(fanin)) == k:
        return _recognise(cover, _identity(k), k)
    first: dict[str, int] = {}
    pattern = tuple(first.setdefault(s, len(first)) for s in fanin)
    positions = tuple(fanin.index(s) for s in first)
    found = _recognise(cover, pattern, len(first))
    if found is None:
        return None
    op, variables, negated = found
    return op, tuple(positions[v] for v in variables), negated


@lru_cache(maxsize=64)
def _identity(k: int) -> tuple[int, ...]:
    return tuple(range(k))


@lru_cache(maxsize=4096)
def _recognise(
    cover: Cover, pattern: tuple[int, ...], n: int
) -> tuple[str, tuple[int, ...], tuple[bool, ...]] | None:
    """:func:`recognise_cover` on a cover whose column j reads variable ``pattern[j]`` of n
    (repeated signals share a variable); returns (op, variables, negated)."""
    if n > RECOGNISED_FANIN:
        return _wide_cover(cover, pattern)
    table = _truth_table(cover, pattern, n)
    support = [v for v in range(n) if any(table[r] != table[r ^ (1 << v)] for r in range(1 << n))]
    m = len(support)
    # the table over the support alone (other variables at 0): row bit i is support[i]
    sub = [table[sum(1 << v for i, v in enumerate(support) if r >> i & 1)] for r in range(1 << m)]
    variables = tuple(support)
    if m == 0:
        return _CONST_OPS[sub[0]], (), ()
    profile: dict[int, int] = {}
    if all(profile.setdefault(r.bit_count(), value) == value for r, value in enumerate(sub)):
        op = match_profile(tuple(profile[t] for t in range(m + 1)))
        if op is not None:
            return op, variables, (False,) * m
    ones = [r for r, value in enumerate(sub) if value]
    if len(ones) == 1:  # exactly one row: an AND of literals
        return _literal_gate("AND", variables, [bool(ones[0] >> i & 1) for i in range(m)])
    zeros = [r for r, value in enumerate(sub) if not value]
    if len(zeros) == 1:  # all rows but one: a NAND of literals
        return _literal_gate("NAND", variables, [bool(zeros[0] >> i & 1) for i in range(m)])
    return None


def _literal_gate(
    op: str, variables: tuple[int, ...], positive: Sequence[bool]
) -> tuple[str, tuple[int, ...], tuple[bool, ...]]:
    """AND / NAND of literals (``positive[i]``: variable i read plainly), or by De Morgan
    NOR / OR of the complemented literals when that needs fewer negations: the form a
    netlist would write (a cube ``000`` is NOR(a, b, c)), which decides how a gate wider than
    the fan-in bound is split into a tree."""
    if 2 * sum(positive) < len(positive):
        return {"AND": "NOR", "NAND": "OR"}[op], variables, tuple(positive)
    return op, variables, tuple(not p for p in positive)


def _truth_table(cover: Cover, pattern: tuple[int, ...], n: int) -> list[int]:
    """The cover's value on each of the 2^n assignments (bit v of the row is variable v)."""
    masks: list[tuple[int, int]] = []  # (care, value) per satisfiable cube
    for cube in cover.cubes:
        care = value = 0
        clash = False
        for char, v in zip(cube, pattern, strict=True):
            if char == "-":
                continue
            bit = 1 << v
            if care & bit and (value & bit) != (bit if char == "1" else 0):
                clash = True  # reads the same signal as 1 and as 0: never matches
            care |= bit
            value |= bit if char == "1" else 0
        if not clash:
            masks.append((care, value))
    hit = [any(r & care == value for care, value in masks) for r in range(1 << n)]
    return [int(h == cover.onset) for h in hit]


def _wide_cover(
    cover: Cover, pattern: tuple[int, ...]
) -> tuple[str, tuple[int, ...], tuple[bool, ...]] | None:
    """A cover too wide for a truth table, recognised by its shape when its literals read
    distinct signals: one cube is an AND of literals (NAND for an OFF-set cover); cubes of
    one literal each are an OR of literals, i.e. a NAND of the complemented literals (AND
    for an OFF-set cover)."""
    cubes = [[(j, c == "1") for j, c in enumerate(cube) if c != "-"] for cube in cover.cubes]
    if len(cubes) == 1 and len(cubes[0]) >= 2:
        literals = cubes[0]
        op = "AND" if cover.onset else "NAND"
        positive = [p for _, p in literals]
    elif len(cubes) >= 2 and all(len(cube) == 1 for cube in cubes):
        literals = [cube[0] for cube in cubes]
        op = "NAND" if cover.onset else "AND"
        positive = [not p for _, p in literals]
    else:
        return None
    variables = tuple(pattern[j] for j, _ in literals)
    if len(set(variables)) < len(variables):
        return None  # a repeated signal: leave it to the expansion
    return _literal_gate(op, variables, positive)


def _expand_cover(gate: Gate, names: FreshNames, negations: dict[str, str]) -> list[Gate]:
    assert gate.cover is not None
    new: list[Gate] = []

    def literal(signal: str, positive: bool) -> str:
        if positive:
            return signal
        if signal not in negations:
            negations[signal] = names.fresh(f"{signal}$n")
            new.append(Gate(negations[signal], "NOT", (signal,), loc=gate.loc))
        return negations[signal]

    found = _recognise_positions(gate.cover, gate.fanin)
    if found is not None:
        op, inputs, negated = found
        if op in _CONST_OPS:
            return [Gate(gate.name, op, loc=gate.loc)]
        signals = gate.fanin
        if any(negated):
            fanin = tuple(
                literal(signals[i], not neg) for i, neg in zip(inputs, negated, strict=True)
            )
        else:
            fanin = tuple(signals[i] for i in inputs)
        new.append(Gate(gate.name, op, fanin, loc=gate.loc))
        return new

    onset = gate.cover.onset
    cubes = [
        [(s, char == "1") for s, char in zip(gate.fanin, cube, strict=True) if char != "-"]
        for cube in gate.cover.cubes
    ]
    if any(not literals for literals in cubes):  # an all-'-' cube always matches
        return [_const_gate(gate.name, int(onset), gate)]
    if not cubes:  # nothing ever matches
        return [_const_gate(gate.name, int(not onset), gate)]
    if len(cubes) == 1 and len(cubes[0]) == 1:
        signal, positive = cubes[0][0]
        return [Gate(gate.name, "BUF" if positive == onset else "NOT", (signal,), loc=gate.loc)]
    if len(cubes) == 1:
        fanin = tuple(literal(s, p) for s, p in cubes[0])
        new.append(Gate(gate.name, "AND" if onset else "NAND", fanin, loc=gate.loc))
        return new
    terms: list[str] = []
    for i, literals in enumerate(cubes):
        if len(literals) == 1:
            terms.append(literal(*literals[0]))
            continue
        fanin = tuple(literal(s, p) for s, p in literals)
        name = names.fresh(f"{gate.name}$c{i}")
        new.append(Gate(name, "AND", fanin, loc=gate.loc))
        terms.append(name)
    new.append(Gate(gate.name, "OR" if onset else "NOR", tuple(terms), loc=gate.loc))
    return new


# --------------------------------------------------------------------------- fold_constants


@paused_gc()
def fold_constants(circuit: Circuit) -> Circuit:
    """Propagate CONST0/CONST1 through every gate, then drop gates no output depends on.

    A symmetric gate with constant inputs, c of them 1, behaves on its r other inputs like
    its profile shifted by c (``op_profile(op, k)[c : c + r + 1]``); that profile is matched
    back to a constant, BUF/NOT (r = 1) or a standard op (so XOR with a 1 becomes XNOR, AND
    drops its 1s, MAJ3(a, b, 0) becomes AND). The one family with no standard match is MAJ
    with unbalanced constants, a threshold "at least t of r" for 1 < t < r; it is expanded to
    a sorting network (see :func:`threshold_network`) so that no gate reads a constant.
    SOP covers drop the constant columns and the cubes they contradict. Unary AND/OR/XOR/MAJ
    become BUF and unary NAND/NOR/XNOR become NOT, for :func:`remove_buffers` to bypass.

    Afterwards constant gates remain only where an output reads them (under the name of the
    gate that folded, so output names and drivers are unchanged).
    """
    names = FreshNames(circuit)
    consts: dict[str, int] = {}
    gates: list[Gate] = []
    no_consts = consts.keys().isdisjoint
    for gate in topological_order(circuit):
        if gate.op in _CONST_OPS:
            consts[gate.name] = int(gate.op == "CONST1")
        elif no_consts(gate.fanin) and (
            len(gate.fanin) > 1 or (gate.op in _KEEP_UNARY and gate.fanin)
        ):
            pass  # fast path: nothing to fold or canonicalize
        else:
            folded = _fold_gate(gate, consts, names)
            gate = folded.pop()
            gates.extend(folded)
            if gate.op in _CONST_OPS:
                consts[gate.name] = int(gate.op == "CONST1")
        gates.append(gate)
    return with_gates(circuit, eliminate_dead(gates, circuit.drivers))


def _fold_gate(gate: Gate, consts: dict[str, int], names: FreshNames) -> list[Gate]:
    """``gate`` with its constant inputs folded: the gates that replace it, its own last."""
    if gate.op == "SOP":
        return [_fold_cover(gate, consts)]
    rest = tuple(s for s in gate.fanin if s not in consts)
    ones = sum(consts[s] for s in gate.fanin if s in consts)
    profile = _profile(gate.op, len(gate.fanin))[ones : ones + len(rest) + 1]
    op = match_profile(profile)
    if op in _CONST_OPS:
        return [Gate(gate.name, op, loc=gate.loc)]
    if op is not None:
        return [Gate(gate.name, op, rest, loc=gate.loc)]
    threshold = _threshold_of(profile)
    if threshold is None:  # unreachable with the current vocabulary: keep the constants
        return [gate]
    return threshold_network(gate, rest, threshold, names)


@lru_cache(maxsize=1024)
def _profile(op: str, k: int) -> tuple[int, ...]:
    return op_profile(op, k)


@lru_cache(maxsize=1024)
def match_profile(profile: tuple[int, ...]) -> str | None:
    """The op whose profile on ``len(profile) - 1`` inputs is ``profile``: CONST0/CONST1 when
    it is constant, BUF/NOT on one input, else the first of AND OR NAND NOR XOR XNOR MAJ that
    matches; None when no op does."""
    if len(set(profile)) == 1:
        return _CONST_OPS[profile[0]]
    width = len(profile) - 1
    if width == 1:
        return "BUF" if profile == (0, 1) else "NOT"
    return next((op for op in _MATCH_OPS if _profile(op, width) == profile), None)


def _threshold_of(profile: tuple[int, ...]) -> int | None:
    """t when ``profile`` is "at least t inputs are 1" (0...0 1...1), else None."""
    t = profile.index(1) if 1 in profile else len(profile)
    if all(v == int(i >= t) for i, v in enumerate(profile)):
        return t
    return None


def _fold_cover(gate: Gate, consts: dict[str, int]) -> Gate:
    assert gate.cover is not None
    keep = [i for i, s in enumerate(gate.fanin) if s not in consts]
    fixed = [(i, str(consts[s])) for i, s in enumerate(gate.fanin) if s in consts]
    cubes = tuple(
        "".join(cube[i] for i in keep)
        for cube in gate.cover.cubes
        if all(cube[i] in ("-", value) for i, value in fixed)
    )
    onset = gate.cover.onset
    if any(set(cube) <= {"-"} for cube in cubes):
        return _const_gate(gate.name, int(onset), gate)
    if not cubes:
        return _const_gate(gate.name, int(not onset), gate)
    fanin = tuple(gate.fanin[i] for i in keep)
    return Gate(gate.name, "SOP", fanin, Cover(cubes, onset), gate.loc)


# --------------------------------------------------------------------------- remove_buffers


@paused_gc()
def remove_buffers(circuit: Circuit) -> Circuit:
    """Bypass BUF gates and double negations NOT(NOT(x)).

    Readers and output drivers are rewired to the source signal; output *names* stay (that
    is what ``Circuit.drivers`` is for), so an output may end up reading an input directly.
    Gates left without readers (the inner NOT of a double negation) are dropped, as is any
    other gate no output depends on.
    """
    alias: dict[str, str] = {}
    kept: dict[str, Gate] = {}
    for gate in topological_order(circuit):
        fanin = tuple(alias.get(s, s) for s in gate.fanin)
        if gate.op == "BUF":
            alias[gate.name] = fanin[0]
            continue
        if gate.op == "NOT":
            inner = kept.get(fanin[0])
            if inner is not None and inner.op == "NOT":
                alias[gate.name] = inner.fanin[0]
                continue
        if fanin != gate.fanin:
            gate = Gate(gate.name, gate.op, fanin, gate.cover, gate.loc)
        kept[gate.name] = gate
    drivers = tuple(alias.get(d, d) for d in circuit.drivers)
    return with_gates(circuit, eliminate_dead(list(kept.values()), drivers), drivers)


_FLIP = {"AND": "NAND", "NAND": "AND", "OR": "NOR", "NOR": "OR", "XOR": "XNOR", "XNOR": "XOR"}


@paused_gc()
def absorb_inverters(circuit: Circuit) -> Circuit:
    """Merge NOT(g) into g when the NOT is g's only reader: AND <-> NAND, OR <-> NOR,
    XOR <-> XNOR. The merged gate takes the NOT's name (so readers need no rewiring).

    Not asked for by the gate vocabulary, but every NOT costs a whole network layer: BLIF
    files written as AND-then-invert covers (C17) halve in depth. A g with other readers, or
    read by an output, is kept: merging would duplicate it. MAJ is never merged (its
    complement is no single op).
    """
    readers: dict[str, int] = dict.fromkeys(circuit.drivers, 2)  # outputs pin their driver
    for gate in circuit.gates:
        for signal in gate.fanin:
            readers[signal] = readers.get(signal, 0) + 1
    kept: dict[str, Gate] = {}
    for gate in topological_order(circuit):
        inner = kept.get(gate.fanin[0]) if gate.op == "NOT" else None
        if inner is not None and inner.op in _FLIP and readers[inner.name] == 1:
            del kept[inner.name]
            gate = Gate(gate.name, _FLIP[inner.op], inner.fanin, loc=gate.loc)
        kept[gate.name] = gate
    if len(kept) == len(circuit.gates):
        return circuit
    return with_gates(circuit, kept.values())


# --------------------------------------------------------------------------- decompose_fanin


@paused_gc()
def decompose_fanin(circuit: Circuit, max_fanin: int = 4) -> Circuit:
    """Split every AND/OR/XOR/NAND/NOR/XNOR/MAJ gate of fan-in > ``max_fanin`` (K).

    AND/OR/XOR become balanced trees of the same op (depth ceil(log_K k), all leaves at the
    same depth where the division allows); NAND/NOR/XNOR become AND/OR/XOR trees under an
    inverting root. MAJ becomes the needed part of a Batcher odd-even merge sorting network
    of AND (min) / OR (max) comparators, read at the majority position; those gates have
    fan-in 2. The root keeps the gate's name. SOP gates are left alone (expand them first).
    """
    if max_fanin < 2:
        raise ValueError(f"max_fanin must be at least 2, got {max_fanin}")
    if all(len(g.fanin) <= max_fanin for g in circuit.gates):
        return circuit
    names = FreshNames(circuit)
    gates: list[Gate] = []
    for gate in topological_order(circuit):
        k = len(gate.fanin)
        if k <= max_fanin or gate.op not in (*_TREE_OP, "MAJ"):
            gates.append(gate)
        elif gate.op == "MAJ":
            gates.extend(threshold_network(gate, gate.fanin, k // 2 + 1, names))
        else:
            gates.extend(_tree(gate, max_fanin, names))
    return with_gates(circuit, gates)


def _tree(gate: Gate, max_fanin: int, names: FreshNames) -> list[Gate]:
    """Group the fan-in level by level into ceil(n/K) near-equal groups until K remain."""
    inner = _TREE_OP[gate.op]
    level = list(gate.fanin)
    new: list[Gate] = []
    while len(level) > max_fanin:
        groups = _split(level, -(-len(level) // max_fanin))
        level = []
        for group in groups:
            if len(group) == 1:
                level.append(group[0])
                continue
            name = names.fresh(f"{gate.name}$t{len(new)}")
            new.append(Gate(name, inner, tuple(group), loc=gate.loc))
            level.append(name)
    new.append(Gate(gate.name, gate.op, tuple(level), loc=gate.loc))
    return new


def _split(items: list[str], parts: int) -> list[list[str]]:
    """``items`` cut into ``parts`` consecutive runs whose lengths differ by at most one."""
    size, extra = divmod(len(items), parts)
    runs, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        runs.append(items[start:end])
        start = end
    return runs


@lru_cache(maxsize=256)
def batcher_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators (i, j), i < j, of Batcher's odd-even merge sort on n wires (any n: the
    comparators of the next power of two that touch a wire >= n are dropped, which is sound
    because padding wires would hold +inf and never move)."""
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple(pairs)


def threshold_network(
    gate: Gate, inputs: Sequence[str], threshold: int, names: FreshNames
) -> list[Gate]:
    """Gates computing "at least ``threshold`` of ``inputs`` are 1" under ``gate.name``.

    Sorting 0/1 wires ascending with comparators min = AND, max = OR puts the count of ones
    at the top, so the answer is the wire at position k - threshold. Only the comparator
    outputs that wire depends on are emitted (fan-in 2 each), in network order.
    """
    k = len(inputs)
    assert 1 <= threshold <= k
    wires = list(range(k))  # node ids: < k are inputs, k + i is nodes[i]
    nodes: list[tuple[str, int, int]] = []
    for i, j in batcher_pairs(k):
        lo, hi = wires[i], wires[j]
        nodes.append(("AND", lo, hi))
        nodes.append(("OR", lo, hi))
        wires[i], wires[j] = k + len(nodes) - 2, k + len(nodes) - 1
    root = wires[k - threshold]
    if root < k:  # only when k == 1: no comparator at all
        return [Gate(gate.name, "BUF", (inputs[root],), loc=gate.loc)]
    needed = {root}
    for idx in range(len(nodes) - 1, -1, -1):
        if k + idx in needed:
            needed.update(nodes[idx][1:])
    signal = dict(enumerate(inputs))
    new: list[Gate] = []
    for idx, (op, a, b) in enumerate(nodes):
        node = k + idx
        if node not in needed:
            continue
        name = gate.name if node == root else names.fresh(f"{gate.name}$s{len(new)}")
        new.append(Gate(name, op, (signal[a], signal[b]), loc=gate.loc))
        signal[node] = name
    return new


# --------------------------------------------------------------------------- fold_literals

#: A NOT input folds into these readers; what they become: a cube (AND of literals) as an ON-set
#: or OFF-set cover, with the reader's own inputs as positive (ON) or negative (OFF) literals.
_CUBE_OF = {"AND": (True, "1"), "NAND": (False, "1"), "NOR": (True, "0"), "OR": (False, "0")}
_NEGATED_INPUT = {"XOR": "XNOR", "XNOR": "XOR"}


@paused_gc()
def fold_literals(circuit: Circuit) -> Circuit:
    """Fold NOT gates into their readers as negated literals.

    AND(a, NOT s) is the cube ``10`` over (a, s); NAND is the same cube as an OFF-set; OR and
    NOR are the complementary cubes (De Morgan: OR(a, NOT s) = NOT(NOT a AND s)); XOR(a, NOT s)
    is XNOR(a, s). A NOT every reader of which folds, and that no output reads, disappears --
    with it a whole network layer and a dense wire (a NOT is 1 on almost every sparse input).
    Readers that also read the NOT's source directly (AND(s, NOT s)) and MAJ gates keep the NOT.
    """
    nots = {g.name: g.fanin[0] for g in circuit.gates if g.op == "NOT"}
    if not nots:
        return circuit
    gates: list[Gate] = []
    for gate in circuit.gates:
        negated = [s in nots for s in gate.fanin]
        if not any(negated) or not _folds(gate, nots):
            gates.append(gate)
            continue
        fanin = tuple(nots.get(s, s) for s in gate.fanin)
        if gate.op in _NEGATED_INPUT:
            op = gate.op if sum(negated) % 2 == 0 else _NEGATED_INPUT[gate.op]
            gates.append(Gate(gate.name, op, fanin, loc=gate.loc))
            continue
        if gate.op == "SOP":
            assert gate.cover is not None
            cube = gate.cover.cubes[0]
            onset = gate.cover.onset
        else:
            onset, plain = _CUBE_OF[gate.op]
            cube = plain * len(gate.fanin)
        flip = {"0": "1", "1": "0"}
        cube = "".join(flip[c] if n else c for c, n in zip(cube, negated, strict=True))
        gates.append(Gate(gate.name, "SOP", fanin, Cover((cube,), onset), gate.loc))
    return with_gates(circuit, eliminate_dead(gates, circuit.drivers))


def _folds(gate: Gate, nots: dict[str, str]) -> bool:
    """Whether a gate reading NOTs can take them as negated literals."""
    if gate.op not in (*_CUBE_OF, *_NEGATED_INPUT) and not is_literal_cube(gate):
        return False
    sources = [nots.get(s, s) for s in gate.fanin]
    return len(set(sources)) == len(sources)


# --------------------------------------------------------------------------- the pass


@paused_gc()
def normalize(circuit: Circuit, max_fanin: int = 4) -> Circuit:
    """Expand covers, fold constants, remove buffers, absorb inverters, decompose fan-in,
    fold NOTs into literals.

    The result computes the same outputs (same names) on every input and holds only
    :data:`NORMAL_OPS` gates of fan-in 2..``max_fanin`` (NOT: 1), every one of them on a path
    to an output, plus CONST0/CONST1 gates only where an output reads a constant.
    Deterministic, and the input circuit is not modified.
    """
    if max_fanin < 2:
        raise ValueError(f"max_fanin must be at least 2, got {max_fanin}")
    circuit = expand_covers(circuit)
    circuit = fold_constants(circuit)
    circuit = remove_buffers(circuit)
    circuit = absorb_inverters(circuit)
    return fold_literals(decompose_fanin(circuit, max_fanin))
