"""The ``layer`` pass: cut a circuit into layers that each read only the layer before.

An MLP layer sees only the previous layer's activations, so a wire that skips levels must be
carried: a gate at depth t reading a signal of depth d < t - 1 reads instead the copy
``signal@(t-1)``, made by a chain of ``BUF`` carry gates ``signal@(d+1)``, ...,
``signal@(t-1)``. Each carry is made once per signal and level and shared by all readers.
Codegen turns a carry into a copied feature, so carries are real cost; :func:`layer_report`
counts them.

Like the normalize sub-steps this is one linear walk with dicts (no networkx), fit for 10^6
gates.
"""

from __future__ import annotations

from typing import Any

from circuit2mlp.ir import Circuit, Gate, LayeredCircuit
from circuit2mlp.passes.normalize import (
    FreshNames,
    eliminate_dead,
    paused_gc,
    topological_order,
)

_CONST_OPS = ("CONST0", "CONST1")


@paused_gc()
def layer(circuit: Circuit) -> LayeredCircuit:
    """Assign depths and carry skip wires: the :class:`LayeredCircuit` codegen consumes.

    depth(input) = 0 and depth(gate) = 1 + max depth of its fan-in; a gate of depth t goes in
    ``layers[t-1]`` and L is the largest depth of an output driver. Outputs driven below L
    are carried up to L, and ``output_signals[j]`` names output j's signal at level L.

    Constant gates read only by outputs (the only constants :func:`normalize` leaves) are
    placed straight in the last layer, with no carries; L >= 1 when an output reads one. A
    constant that gates read (un-normalized input) is an ordinary gate of depth 1. Gates no
    output depends on are dropped: they could lie deeper than L. Within a layer, gates come
    in topological order, then the carries in the order they were first needed.
    """
    gates = eliminate_dead(topological_order(circuit), circuit.drivers)
    read_by_gates = {s for g in gates for s in g.fanin}
    late_consts = [g for g in gates if g.op in _CONST_OPS and g.name not in read_by_gates]
    late_names = {g.name for g in late_consts}
    staged = [g for g in gates if g.name not in late_names]

    depth = dict.fromkeys(circuit.inputs, 0)
    for gate in staged:
        depth[gate.name] = 1 + max(map(depth.__getitem__, gate.fanin), default=0)
    top = max((depth[d] for d in circuit.drivers if d not in late_names), default=0)
    if late_consts:
        top = max(top, 1)

    builder = _LayerBuilder(circuit, top)
    for gate in staged:
        t = depth[gate.name]
        if all(depth[s] == t - 1 for s in gate.fanin):
            fanin = gate.fanin  # fast path: no carries needed
        else:
            fanin = tuple(builder.read(s, t - 1) for s in gate.fanin)
        if fanin != gate.fanin:
            gate = Gate(gate.name, gate.op, fanin, gate.cover, gate.loc)
        builder.place(gate, t)
    for gate in late_consts:
        builder.place(gate, top)
    output_signals = tuple(builder.read(d, top) for d in circuit.drivers)
    return LayeredCircuit(
        name=circuit.name,
        inputs=circuit.inputs,
        outputs=circuit.outputs,
        layers=builder.layers(),
        output_signals=output_signals,
    )


class _LayerBuilder:
    """Per-level gate lists plus, for every placed signal, its copies at successive levels."""

    def __init__(self, circuit: Circuit, depth: int) -> None:
        self._names = FreshNames(circuit)
        self._gates: list[list[Gate]] = [[] for _ in range(depth)]
        self._carries: list[list[Gate]] = [[] for _ in range(depth)]
        self._home: dict[str, int] = dict.fromkeys(circuit.inputs, 0)
        # copies[s][i] names signal s at level home[s] + i (copies[s][0] is s itself)
        self._copies: dict[str, list[str]] = {s: [s] for s in circuit.inputs}

    def place(self, gate: Gate, level: int) -> None:
        """Put ``gate`` in ``layers[level - 1]``."""
        self._gates[level - 1].append(gate)
        self._home[gate.name] = level
        self._copies[gate.name] = [gate.name]

    def read(self, signal: str, level: int) -> str:
        """The name under which ``signal`` is available at ``level``, adding carries."""
        home, copies = self._home[signal], self._copies[signal]
        while home + len(copies) - 1 < level:
            at = home + len(copies)
            name = self._names.fresh(f"{signal}@{at}")
            self._carries[at - 1].append(Gate(name, "BUF", (copies[-1],)))
            copies.append(name)
        return copies[level - home]

    def layers(self) -> tuple[tuple[Gate, ...], ...]:
        return tuple((*g, *c) for g, c in zip(self._gates, self._carries, strict=True))


def check_layered(layered: LayeredCircuit) -> None:
    """Assert the LayeredCircuit invariant; raise AssertionError naming the offending gate.

    Every gate of ``layers[i]`` reads only level-i signals (inputs for i = 0, else gates of
    ``layers[i-1]``), names are unique, and every output signal is at level L. Raises
    explicitly rather than with ``assert`` so the check survives ``python -O``.
    """
    seen = set(layered.inputs)
    available = set(layered.inputs)
    for i, gates in enumerate(layered.layers):
        for gate in gates:
            for signal in gate.fanin:
                if signal not in available:
                    raise AssertionError(
                        f"layers[{i}]: gate '{gate.name}' = {gate.op}{gate.fanin} reads "
                        f"'{signal}', which is not a level-{i} signal"
                    )
            if gate.name in seen:
                raise AssertionError(f"layers[{i}]: gate '{gate.name}' is defined twice")
            seen.add(gate.name)
        available = {g.name for g in gates}
    if len(layered.output_signals) != len(layered.outputs):
        raise AssertionError("output_signals and outputs differ in length")
    for name, signal in zip(layered.outputs, layered.output_signals, strict=True):
        if signal not in available:
            raise AssertionError(
                f"output '{name}' reads '{signal}', not a level-{layered.depth} signal"
            )


def layer_report(layered: LayeredCircuit) -> list[dict[str, Any]]:
    """Per layer: width (all gates), gates (non-carries), carries (BUF gates), max fan-in and
    the count of each op -- what a layer will cost codegen."""
    report = []
    for i, gates in enumerate(layered.layers):
        ops: dict[str, int] = {}
        for gate in gates:
            ops[gate.op] = ops.get(gate.op, 0) + 1
        carries = ops.get("BUF", 0)
        report.append(
            {
                "layer": i,
                "width": len(gates),
                "gates": len(gates) - carries,
                "carries": carries,
                "max_fanin": max((len(g.fanin) for g in gates), default=0),
                "ops": dict(sorted(ops.items())),
            }
        )
    return report
