"""Circuit IR: named inputs, named outputs and gates with an op and an ordered fan-in.

The IR is small and immutable (frozen dataclasses): passes never mutate a circuit, they return
a new one. The graph view (:attr:`Circuit.graph`) is a networkx DiGraph built on demand, used for
validation (cycles), topological order and depths.

Gate vocabulary
---------------
``CONST0``/``CONST1`` (no fan-in), ``BUF``/``NOT`` (one), ``AND OR NAND NOR XOR XNOR MAJ``
(any fan-in >= 1) and ``SOP``: a sum-of-products cover as BLIF ``.names`` gives it. All ops but
``SOP`` are *symmetric*: their value depends only on how many inputs are 1, which
:func:`op_profile` gives as a tuple indexed by that count. Codegen and simulation both build on
those profiles, so the truth of each op is written down exactly once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx

from circuit2mlp.errors import CircuitError, SourceLoc

SYMMETRIC_OPS = ("CONST0", "CONST1", "BUF", "NOT", "AND", "OR", "NAND", "NOR", "XOR", "XNOR", "MAJ")
OPS = (*SYMMETRIC_OPS, "SOP")

# (minimum fan-in, maximum fan-in or None for unbounded)
_ARITY: dict[str, tuple[int, int | None]] = {
    "CONST0": (0, 0),
    "CONST1": (0, 0),
    "BUF": (1, 1),
    "NOT": (1, 1),
    "AND": (1, None),
    "OR": (1, None),
    "NAND": (1, None),
    "NOR": (1, None),
    "XOR": (1, None),
    "XNOR": (1, None),
    "MAJ": (1, None),
    "SOP": (0, None),
}


def op_arity(op: str) -> tuple[int, int | None]:
    """(min, max) fan-in of an op; max is None when unbounded."""
    return _ARITY[op]


def op_profile(op: str, k: int) -> tuple[int, ...]:
    """Value (0/1) of a symmetric op with fan-in k, indexed by the number of inputs that are 1.

    MAJ is 1 when strictly more than half of its inputs are 1.
    """
    rule = {
        "CONST0": lambda t: 0,
        "CONST1": lambda t: 1,
        "BUF": lambda t: t,
        "NOT": lambda t: 1 - t,
        "AND": lambda t: int(t == k),
        "OR": lambda t: int(t > 0),
        "NAND": lambda t: int(t < k),
        "NOR": lambda t: int(t == 0),
        "XOR": lambda t: t % 2,
        "XNOR": lambda t: 1 - t % 2,
        "MAJ": lambda t: int(2 * t > k),
    }[op]
    return tuple(rule(t) for t in range(k + 1))


@dataclass(frozen=True)
class Cover:
    """A single-output sum-of-products cover (BLIF ``.names``).

    ``cubes`` are strings over ``0 1 -`` (one char per fan-in signal). With ``onset`` True the
    gate is 1 when any cube matches; with ``onset`` False the cubes list the OFF-set and the gate
    is 0 when any cube matches. An empty ON-set cover is constant 0.
    """

    cubes: tuple[str, ...]
    onset: bool = True

    def evaluate(self, values: Sequence[int]) -> int:
        """Reference (per-sample) evaluation: slow, simple, used as an oracle."""
        hit = any(
            all(c == "-" or int(c) == int(v) for c, v in zip(cube, values, strict=True))
            for cube in self.cubes
        )
        return int(hit) if self.onset else int(not hit)


@dataclass(frozen=True)
class Gate:
    """One gate: ``name = op(fanin...)``. ``cover`` is set exactly when op is ``SOP``."""

    name: str
    op: str
    fanin: tuple[str, ...] = ()
    cover: Cover | None = None
    loc: SourceLoc | None = field(default=None, compare=False, repr=False)

    def evaluate(self, values: Sequence[int]) -> int:
        """Reference evaluation of this gate on 0/1 fan-in values (in fan-in order)."""
        if self.op == "SOP":
            assert self.cover is not None
            return self.cover.evaluate(values)
        return op_profile(self.op, len(values))[sum(int(v) for v in values)]


def is_literal_cube(gate: Gate) -> bool:
    """True for an SOP gate that is one cube of ``0``/``1`` literals (what normalize emits)."""
    cover = gate.cover
    return (
        gate.op == "SOP"
        and cover is not None
        and len(cover.cubes) == 1
        and "-" not in cover.cubes[0]
    )


def symmetric_form(gate: Gate) -> tuple[str, tuple[bool, ...]]:
    """(op, negated inputs): the gate as a symmetric op over possibly negated inputs.

    A literal cube is AND (ON-set) or NAND (OFF-set) over its literals, a ``0`` literal being a
    negated input; every other gate is its own op over plain inputs. Codegen builds gadgets and
    polynomials from this form, so negated literals cost nothing beyond a sign and a bias.
    """
    if gate.op != "SOP":
        return gate.op, (False,) * len(gate.fanin)
    if not is_literal_cube(gate):
        raise ValueError(f"gate '{gate.name}': SOP covers must be expanded by normalize first")
    assert gate.cover is not None
    cube = gate.cover.cubes[0]
    return ("AND" if gate.cover.onset else "NAND"), tuple(c == "0" for c in cube)


@dataclass(frozen=True)
class Circuit:
    """A combinational circuit. Construct through :class:`CircuitBuilder` (or :meth:`make`),
    which validates; a Circuit object is always valid.

    ``outputs`` are the output names and ``drivers[j]`` the signal (an input or a gate) that
    output j reads. Usually they coincide (BLIF, .bench); they differ when a pass removes the
    buffer that drove an output, or when an output aliases an input or another output.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    drivers: tuple[str, ...]
    gates: tuple[Gate, ...]
    source: str | None = field(default=None, compare=False)
    input_locs: tuple[SourceLoc | None, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def make(
        cls,
        name: str,
        inputs: Iterable[str],
        outputs: Iterable[str],
        gates: Iterable[Gate],
        source: str | None = None,
        drivers: Iterable[str] | None = None,
    ) -> Circuit:
        """Build and validate a circuit from plain lists (raises CircuitError). ``drivers``
        defaults to the output names themselves."""
        builder = CircuitBuilder(name, source)
        for signal in inputs:
            builder.add_input(signal)
        for gate in gates:
            builder.add_gate(gate)
        outputs = list(outputs)
        for out, drv in zip(outputs, outputs if drivers is None else drivers, strict=True):
            builder.add_output(out, driver=drv)
        return builder.build()

    @cached_property
    def gate_map(self) -> dict[str, Gate]:
        """Gates by name."""
        return {g.name: g for g in self.gates}

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Signals as nodes (attribute ``kind``: input/gate; ``op`` for gates), edges fan-in ->
        gate with attribute ``pos`` (fan-in position; a repeated fan-in keeps its first)."""
        g = nx.DiGraph(name=self.name)
        for signal in self.inputs:
            g.add_node(signal, kind="input")
        for gate in self.gates:
            g.add_node(gate.name, kind="gate", op=gate.op)
        for gate in self.gates:
            for pos, src in enumerate(gate.fanin):
                if not g.has_edge(src, gate.name):
                    g.add_edge(src, gate.name, pos=pos)
        return g

    @cached_property
    def topological_gates(self) -> tuple[Gate, ...]:
        """Gates in an order where every gate comes after its fan-in (deterministic).

        The order is networkx's ``lexicographical_topological_sort`` keyed by position (of all
        ready gates, the earliest in circuit order comes next), computed without networkx:
        when the gates are already ordered, which is the usual case, that order is
        ``self.gates`` itself, found in one linear scan; otherwise a heap-ordered Kahn sort.
        """
        order = _ordered_gates(self.inputs, self.gates)
        return self.gates if order is None else order

    @cached_property
    def _position(self) -> dict[str, int]:
        names = [*self.inputs, *(g.name for g in self.gates)]
        return {n: i for i, n in enumerate(names)}

    @property
    def signals(self) -> tuple[str, ...]:
        """All signal names: inputs, then gates."""
        return (*self.inputs, *(g.name for g in self.gates))

    def evaluate(self, x: Sequence[int]) -> tuple[int, ...]:
        """Reference per-sample evaluation (the simple oracle the fast simulator is tested
        against): x holds one 0/1 value per input, in input order."""
        values: dict[str, int] = dict(zip(self.inputs, (int(v) for v in x), strict=True))
        for gate in self.topological_gates:
            values[gate.name] = gate.evaluate([values[s] for s in gate.fanin])
        return tuple(values[d] for d in self.drivers)


class CircuitBuilder:
    """Collects inputs, gates and outputs (from any parser) and validates them into a Circuit.

    Errors carry the source location of the offending definition: duplicate definition,
    undefined signal, wrong fan-in for an op, malformed cover, output with no driver and
    combinational cycles (the cycle is named). Unused inputs become warnings.
    """

    def __init__(self, name: str, source: str | None = None) -> None:
        self.name = name
        self.source = source
        self._inputs: dict[str, SourceLoc] = {}
        self._gates: dict[str, Gate] = {}
        self._outputs: list[tuple[str, str, SourceLoc]] = []
        self._locs: dict[int | None, SourceLoc] = {}
        self.warnings: list[str] = []

    def _loc(self, line: int | None) -> SourceLoc:
        """The location of ``line``: one shared (immutable) object per line, since a list of
        inputs or outputs puts many on one line."""
        loc = self._locs.get(line)
        if loc is None:
            loc = self._locs[line] = SourceLoc(self.source, line)
        return loc

    def _check_new(self, signal: str, loc: SourceLoc) -> None:
        if signal in self._inputs or signal in self._gates:
            prev = self._inputs.get(signal) or self._gates[signal].loc
            where = f" (first defined at line {prev.line})" if prev and prev.line else ""
            raise CircuitError(f"signal '{signal}' is defined twice{where}", loc)

    def add_input(self, signal: str, line: int | None = None) -> None:
        """Declare a primary input."""
        loc = self._loc(line)
        self._check_new(signal, loc)
        self._inputs[signal] = loc

    def add_output(self, name: str, line: int | None = None, driver: str | None = None) -> None:
        """Declare a primary output ``name`` read from signal ``driver`` (default: ``name``)."""
        self._outputs.append((name, name if driver is None else driver, self._loc(line)))

    def add_outputs(self, outputs: Iterable[tuple[str, str, int | None]]) -> None:
        """:meth:`add_output` for each (name, driver, line), in order."""
        loc = self._loc
        self._outputs.extend((name, driver, loc(line)) for name, driver, line in outputs)

    def add_gate(self, gate: Gate, line: int | None = None) -> None:
        """Add a gate; ``line`` (or the gate's own loc) is where errors about it point."""
        loc = gate.loc
        if loc is None:
            loc = self._loc(line)
            gate = Gate(gate.name, gate.op, gate.fanin, gate.cover, loc)
        name = gate.name
        if name in self._gates or name in self._inputs:
            self._check_new(name, loc)
        _check_gate(gate.name, gate.op, len(gate.fanin), gate.cover, gate.loc)
        self._gates[name] = gate

    def add_gates(self, gates: Sequence[Gate]) -> None:
        """:meth:`add_gate` for each gate (all with a loc), in order: the same result and the
        same first error, but the checks run once per distinct (op, fan-in, cover) and the
        names are checked as a set, which matters at 10^6 gates."""
        fresh = {g.name: g for g in gates}
        clean = (
            len(fresh) == len(gates)
            and fresh.keys().isdisjoint(self._gates)
            and fresh.keys().isdisjoint(self._inputs)
            and all(g.loc is not None for g in gates)
        )
        if clean:
            try:
                for op, k, cover in {(g.op, len(g.fanin), g.cover) for g in gates}:
                    _check_gate("", op, k, cover, None)
            except CircuitError:
                clean = False
        if not clean:  # some gate is wrong: find the first one as add_gate would
            for gate in gates:
                self.add_gate(gate)
            return
        self._gates.update(fresh)

    def build(self) -> Circuit:
        """Validate everything and return the Circuit (raises CircuitError)."""
        gates = tuple(self._gates.values())
        order = _ordered_gates(self._inputs, gates)  # None: already in order
        if order is not None:  # out of order, or reading undefined signals
            defined = self._inputs.keys() | self._gates.keys()
            for gate in gates:
                if not defined.issuperset(gate.fanin):
                    src = next(s for s in gate.fanin if s not in defined)
                    raise CircuitError(
                        f"gate '{gate.name}' reads undefined signal '{src}'", gate.loc
                    )
        names, drivers, _ = zip(*self._outputs, strict=True) if self._outputs else ((), (), ())
        missing = set(drivers) - self._gates.keys() - self._inputs.keys()
        if missing:
            for name, signal, loc in self._outputs:
                if signal in missing:
                    what = f"output '{name}'" + (f" (signal '{signal}')" if signal != name else "")
                    raise CircuitError(f"{what} has no driver", loc)
        if not self._outputs:
            raise CircuitError("circuit declares no outputs", self._loc(None))
        circuit = Circuit(
            name=self.name,
            inputs=tuple(self._inputs),
            outputs=names,
            drivers=drivers,
            gates=gates,
            source=self.source,
            input_locs=tuple(self._inputs.values()),
        )
        if order is not None and len(order) < len(gates):
            _raise_cycle(circuit)
        # the order just found is what the cached property would compute again
        circuit.__dict__["topological_gates"] = gates if order is None else order
        used = set(drivers).union(*(g.fanin for g in gates))
        for signal, loc in self._inputs.items():
            if signal not in used:
                self.warnings.append(f"{loc}: warning: input '{signal}' is never used")
        return circuit


def _check_gate(name: str, op: str, k: int, cover: Cover | None, loc: SourceLoc | None) -> None:
    """The checks on one gate, which depend only on its op, fan-in count and cover."""
    arity = _ARITY.get(op)
    if arity is None:
        raise CircuitError(f"gate '{name}' has unknown op '{op}'", loc)
    lo, hi = arity
    if k < lo or (hi is not None and k > hi):
        want = f"exactly {lo}" if lo == hi else f"at least {lo}"
        raise CircuitError(f"gate '{name}': {op} takes {want} input(s), got {k}", loc)
    if (op == "SOP") != (cover is not None):
        raise CircuitError(f"gate '{name}': only SOP gates carry a cover", loc)
    if cover is not None:
        for cube in cover.cubes:
            if len(cube) != k or cube.strip("01-"):  # strip leaves any other character
                raise CircuitError(
                    f"gate '{name}': malformed cube '{cube}' (need {k} of 0, 1, -)", loc
                )


def _ordered_gates(inputs: Iterable[str], gates: tuple[Gate, ...]) -> tuple[Gate, ...] | None:
    """None when every gate reads only inputs and earlier gates (then circuit order is the
    lexicographic topological order); else the gates in that order, as far as they can be
    ordered: gates on or behind a cycle are left out, so a result shorter than ``gates``
    means the circuit has a cycle (fan-ins that are not gates are ignored). Linear time (a
    heap only for the unordered case)."""
    defined = set(inputs)
    known, add = defined.issuperset, defined.add
    for gate in gates:
        if not known(gate.fanin):
            break
        add(gate.name)
    else:
        return None
    position = {g.name: i for i, g in enumerate(gates)}
    waiting = [0] * len(gates)  # distinct gate fan-ins not yet emitted
    readers: list[list[int]] = [[] for _ in gates]
    for i, gate in enumerate(gates):
        for src in set(gate.fanin):
            j = position.get(src)
            if j is not None:
                waiting[i] += 1
                readers[j].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[Gate] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(gates[i])
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    return tuple(order)


def _raise_cycle(circuit: Circuit) -> None:
    """Raise CircuitError naming a cycle of a circuit known to have one (networkx finds it,
    so the message names the same cycle as always)."""
    graph = circuit.graph
    cycle = [u for u, _ in nx.find_cycle(graph)]
    first = circuit.gate_map[min(cycle, key=circuit._position.__getitem__)]
    path = " -> ".join([*cycle, cycle[0]])
    raise CircuitError(f"combinational cycle: {path}", first.loc)


@dataclass(frozen=True)
class LayeredCircuit:
    """A circuit cut into layers, the shape codegen consumes.

    ``layers[i]`` (i = 0 .. L-1) holds the gates computed by network layer i; every gate in
    ``layers[i]`` reads only signals available at level i: the circuit inputs for i = 0, else the
    gates of ``layers[i-1]``. Wires that skip levels are carried by ``BUF`` gates named
    ``signal@level``. ``output_signals[j]`` names the signal (in the last level: an input when
    L = 0, else a gate of ``layers[-1]``) that circuit output j reads.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layers: tuple[tuple[Gate, ...], ...]
    output_signals: tuple[str, ...]

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.layers)

    def level_signals(self, level: int) -> tuple[str, ...]:
        """Signals available at ``level`` (0 = inputs, i >= 1 = gates of layers[i-1])."""
        if level == 0:
            return self.inputs
        return tuple(g.name for g in self.layers[level - 1])

    @property
    def widths(self) -> tuple[int, ...]:
        """Gates per layer."""
        return tuple(len(layer) for layer in self.layers)
