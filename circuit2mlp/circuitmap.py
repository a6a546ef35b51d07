"""The layered circuit and its wire map as plain arrays, carried in ``circuit2mlp/2`` files.

A compiled network computes a *layered* circuit (the source circuit after normalize and layer:
covers expanded, wide gates split into trees, wires that skip levels carried by ``BUF`` gates).
Tools that pair neurons with wires (``trace``, ``features``, ``noise``, ``inspect``) need that
circuit and which read-off row holds which wire. Rebuilding it means re-running the compiler's
passes with the file's options and guessing carries from names; storing it makes the file self
describing and the tools independent of the compiler. Everything is numpy arrays (strings,
integers, booleans), never a pickle:

- ``layered.widths`` (L,): gates per layer; gates are listed layer after layer;
- ``layered.names``, ``layered.ops``, ``layered.kinds`` (G,): each gate's wire name, its op in
  symmetric form (a literal cube is ``AND``/``NAND`` over possibly negated inputs) and how it
  relates to the source circuit (``signal``, ``carry``, ``internal``);
- ``layered.fanin_ptr`` (G+1,), ``layered.fanin`` (E,), ``layered.negated`` (E,): gate g reads
  wires ``fanin[fanin_ptr[g]:fanin_ptr[g+1]]`` of the previous level (inputs for layer 0),
  each negated or not;
- ``layered.stored_negated`` (G,), ``layered.input_stored_negated`` (m,): the wire's stored
  polarity (its neurons carry NOT wire; the read-offs in the file already give the true value);
- ``layered.outputs`` (n,): the wire of the last level each circuit output reads;
- ``wires.circuit_level`` (levels,): the circuit level each network level i holds (a network
  may have more levels than its circuit: with inputs in superposition a decode layer holds the
  inputs again);
- ``wires{i}.feature``: for each wire of network level i's circuit level, its row in
  ``features{i}`` (-1: none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from circuit2mlp.ir import SYMMETRIC_OPS, Cover, Gate, LayeredCircuit, op_arity

KINDS = ("signal", "carry", "internal")
ARRAYS = (
    "widths",
    "names",
    "ops",
    "kinds",
    "fanin_ptr",
    "fanin",
    "negated",
    "stored_negated",
    "input_stored_negated",
    "outputs",
)


def carried_signal(name: str) -> str:
    """``sig`` for a carry ``sig@3``, else the name itself (files without a circuit map)."""
    base, at, lvl = name.rpartition("@")
    return base if at and lvl.isdigit() else name


def wire_kind(name: str, level: int, signals: set[str]) -> str:
    """How a wire relates to the source circuit: ``input``, ``signal`` (a circuit wire),
    ``carry`` (``signal@level``: carried through a layer it skips) or ``internal`` (a wire the
    compiler made, e.g. ``g$c3`` from expanding a cover)."""
    if level == 0:
        return "input"
    if name in signals:
        return "signal"
    if carried_signal(name) != name:
        return "carry"
    return "internal"


@dataclass
class CircuitMap:
    """The arrays of the module docstring (``circuit_level[i]``: the circuit level network
    level i holds; ``wires[i]``: that level's wire → feature row)."""

    inputs: tuple[str, ...]
    widths: np.ndarray
    names: np.ndarray
    ops: np.ndarray
    kinds: np.ndarray
    fanin_ptr: np.ndarray
    fanin: np.ndarray
    negated: np.ndarray
    stored_negated: np.ndarray
    input_stored_negated: np.ndarray
    outputs: np.ndarray
    circuit_level: np.ndarray
    wires: list[np.ndarray]

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        layered: LayeredCircuit,
        signals: set[str],
        flipped: frozenset[str],
        feature_names: Sequence[Sequence[str]],
    ) -> CircuitMap:
        """From the compiler's layered circuit, the source circuit's signal names, the wires
        stored negated and each level's feature names."""
        from circuit2mlp.ir import symmetric_form

        names, ops, kinds, ptr, fanin, negated = [], [], [], [0], [], []
        previous = {n: i for i, n in enumerate(layered.inputs)}
        for layer in layered.layers:
            for gate in layer:
                op, negs = symmetric_form(gate)
                names.append(gate.name)
                ops.append(op)
                kinds.append(wire_kind(gate.name, 1, signals))
                fanin += [previous[s] for s in gate.fanin]
                negated += list(negs)
                ptr.append(len(fanin))
            previous = {g.name: i for i, g in enumerate(layer)}
        last = {n: i for i, n in enumerate(layered.level_signals(layered.depth))}
        widths = np.array([len(layer) for layer in layered.layers], dtype=np.int64)
        # extra network levels (a decode layer of inputs in superposition) come first
        extra = max(0, len(feature_names) - 1 - layered.depth)
        circuit_level = [min(max(0, i - extra), layered.depth) for i in range(len(feature_names))]
        wires = []
        for level, fnames in zip(circuit_level, feature_names, strict=True):
            row = {n: i for i, n in enumerate(fnames)}
            wires.append(
                np.array([row.get(s, -1) for s in layered.level_signals(level)], dtype=np.int64)
            )
        return cls(
            inputs=tuple(layered.inputs),
            widths=widths,
            names=np.array(names, dtype=str),
            ops=np.array(ops, dtype=str),
            kinds=np.array(kinds, dtype=str),
            fanin_ptr=np.array(ptr, dtype=np.int64),
            fanin=np.array(fanin, dtype=np.int64),
            negated=np.array(negated, dtype=bool),
            stored_negated=np.array([n in flipped for n in names], dtype=bool),
            input_stored_negated=np.array([n in flipped for n in layered.inputs], dtype=bool),
            outputs=np.array([last[s] for s in layered.output_signals], dtype=np.int64),
            circuit_level=np.array(circuit_level, dtype=np.int64),
            wires=wires,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz members (names as in the module docstring)."""
        out = {f"layered.{name}": getattr(self, name) for name in ARRAYS}
        out["wires.circuit_level"] = self.circuit_level
        for level, rows in enumerate(self.wires):
            out[f"wires{level}.feature"] = rows
        return out

    # ------------------------------------------------------------------ reading

    @classmethod
    def read(
        cls,
        get: Callable[[str], np.ndarray],
        fail: Callable[[str], Exception],
        inputs: tuple[str, ...],
        outputs: int,
        feature_rows: Sequence[int],
    ) -> CircuitMap:
        """Read and validate the arrays through ``get(name)`` (raises ``fail(message)``):
        every index in range, ops known with their fan-in, levels consistent."""
        a = {name: get(f"layered.{name}") for name in ARRAYS}

        def vector(name: str, kinds: str, size: int | None = None) -> np.ndarray:
            v = a[name]
            if v.ndim != 1 or v.dtype.kind not in kinds or (size is not None and v.size != size):
                want = "" if size is None else f" of length {size}"
                raise fail(f"'layered.{name}' must be a 1-d {_KIND_WORD[kinds]} array{want}")
            return v

        widths = vector("widths", "iu")
        if np.any(widths < 0):
            raise fail("'layered.widths' holds a negative width")
        g = int(widths.sum())
        names = vector("names", "U", g)
        ops = vector("ops", "U", g)
        kinds = vector("kinds", "U", g)
        ptr = vector("fanin_ptr", "iu", g + 1)
        fanin = vector("fanin", "iu")
        negated = vector("negated", "b", fanin.size)
        stored = vector("stored_negated", "b", g)
        in_stored = vector("input_stored_negated", "b", len(inputs))
        outs = vector("outputs", "iu", outputs)
        if ptr[0] != 0 or ptr[-1] != fanin.size or np.any(np.diff(ptr) < 0):
            raise fail("'layered.fanin_ptr' does not index 'layered.fanin'")
        if not set(np.unique(ops).tolist()) <= set(SYMMETRIC_OPS):
            raise fail("'layered.ops' holds an unknown op")
        if not set(np.unique(kinds).tolist()) <= set(KINDS):
            raise fail(f"'layered.kinds' holds a kind other than {', '.join(KINDS)}")
        counts = np.diff(ptr)
        for op in np.unique(ops).tolist():
            low, high = op_arity(op)
            k = counts[ops == op]
            if np.any(k < low) or (high is not None and np.any(k > high)):
                raise fail(f"'layered' has a {op} gate with a fan-in it cannot take")
        if np.any(negated[np.repeat(~np.isin(ops, ("AND", "NAND")), counts)]):
            raise fail("'layered.negated' negates an input of a gate other than AND/NAND")
        level_sizes = [len(inputs), *widths.tolist()]
        limit = np.repeat(np.repeat(level_sizes[:-1], widths), counts)
        if fanin.size and (fanin.min() < 0 or np.any(fanin >= limit)):
            raise fail("'layered.fanin' reads a wire its level does not have")
        if outs.size and (outs.min() < 0 or outs.max() >= level_sizes[-1]):
            raise fail("'layered.outputs' names a wire the last level does not have")
        if len(set(names.tolist())) != g or set(names.tolist()) & set(inputs):
            raise fail("'layered.names' repeats a wire name")
        circuit_level = get("wires.circuit_level")
        if (
            circuit_level.ndim != 1
            or circuit_level.size < len(feature_rows)  # read-off levels are optional
            or circuit_level.dtype.kind not in "iu"
            or (circuit_level.size and circuit_level.min() < 0)
            or (circuit_level.size and circuit_level.max() >= len(level_sizes))
            or np.any(np.diff(circuit_level) < 0)
        ):
            raise fail("'wires.circuit_level' must give each network level a circuit level")
        wires = []
        for level, rows in enumerate(feature_rows):
            w = get(f"wires{level}.feature")
            if w.shape != (level_sizes[int(circuit_level[level])],):
                raise fail(f"'wires{level}.feature' does not match level {level}'s wires")
            if w.dtype.kind not in "iu" or (w.size and (w.min() < -1 or w.max() >= rows)):
                raise fail(f"'wires{level}.feature' names a read-off row that does not exist")
            wires.append(w.astype(np.int64))
        return cls(
            inputs,
            widths.astype(np.int64),
            names,
            ops,
            kinds,
            ptr.astype(np.int64),
            fanin.astype(np.int64),
            negated,
            stored,
            in_stored,
            outs.astype(np.int64),
            circuit_level[: len(feature_rows)].astype(np.int64),
            wires,
        )

    # ------------------------------------------------------------------ views

    @property
    def depth(self) -> int:
        """Layers L."""
        return int(self.widths.size)

    def level_names(self, level: int) -> tuple[str, ...]:
        """Wire names of a level (0 = inputs)."""
        if level == 0:
            return self.inputs
        lo, hi = self._span(level)
        return tuple(self.names[lo:hi].tolist())

    def level_kinds(self, level: int) -> list[str]:
        """Each wire's kind at a level (``input`` at level 0)."""
        if level == 0:
            return ["input"] * len(self.inputs)
        lo, hi = self._span(level)
        return self.kinds[lo:hi].tolist()

    def _span(self, level: int) -> tuple[int, int]:
        lo = int(self.widths[: level - 1].sum())
        return lo, lo + int(self.widths[level - 1])

    def feature_kinds(self, level: int, feature_names: Sequence[str]) -> list[str | None]:
        """Per read-off row of network level ``level``, its wire's kind (None: none)."""
        out: list[str | None] = [None] * len(feature_names)
        if level < len(self.wires):
            kinds = self.level_kinds(int(self.circuit_level[level]))
            for kind, row in zip(kinds, self.wires[level].tolist(), strict=True):
                if row >= 0:
                    out[row] = kind
        return out

    def network_level_kinds(self, level: int) -> list[str]:
        """The kinds of the wires network level ``level`` holds."""
        if level >= len(self.circuit_level):
            return []
        return self.level_kinds(int(self.circuit_level[level]))

    def layered(self, name: str, output_names: Sequence[str]) -> LayeredCircuit:
        """The layered circuit as IR (Gate objects), for the simulator."""
        layers: list[tuple[Gate, ...]] = []
        previous = self.inputs
        g = 0
        names, ops = self.names.tolist(), self.ops.tolist()
        for width in self.widths.tolist():
            layer = []
            for _ in range(width):
                lo, hi = int(self.fanin_ptr[g]), int(self.fanin_ptr[g + 1])
                fanin = tuple(previous[i] for i in self.fanin[lo:hi].tolist())
                negs = self.negated[lo:hi]
                if negs.any():  # a literal cube: AND / NAND over negated inputs
                    cube = "".join("0" if n else "1" for n in negs.tolist())
                    gate = Gate(names[g], "SOP", fanin, Cover((cube,), ops[g] == "AND"))
                else:
                    gate = Gate(names[g], ops[g], fanin)
                layer.append(gate)
                g += 1
            layers.append(tuple(layer))
            previous = tuple(gate.name for gate in layer)
        drivers = tuple(previous[i] for i in self.outputs.tolist())
        return LayeredCircuit(name, self.inputs, tuple(output_names), tuple(layers), drivers)


_KIND_WORD = {"iu": "integer", "U": "string", "b": "boolean"}
