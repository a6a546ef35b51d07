"""A layer's gates as flat arrays, shared by every construction: vectorized codegen works on
(op, fan-in) classes of gates at a time instead of gate objects, and noise, gadgets and the
polynomial algebra all read the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from circuit2mlp.ir import Gate, symmetric_form


@dataclass
class GateArrays:
    """A layer's gates as flat arrays, for vectorized codegen: each gate's symmetric op
    (:func:`~circuit2mlp.ir.symmetric_form`), fan-in count, fan-in feature indices and which of
    them it reads as negated literals (the last two flat, gate after gate)."""

    n_gates: int
    ops: tuple[str, ...]  # distinct ops; ``op_index`` indexes into it
    op_index: np.ndarray  # (G,) int
    arity: np.ndarray  # (G,) int
    fanin: np.ndarray  # (sum arity,) int64 feature indices, gate after gate
    literal: np.ndarray  # (sum arity,) bool: the gate reads that input negated (literal cube)

    def fanin_rows(self, gates: np.ndarray, a: int) -> np.ndarray:
        """(len(gates), a) fan-in features of gates that all have arity a."""
        return self.fanin[self._slots(gates, a)]

    def literal_rows(self, gates: np.ndarray, a: int) -> np.ndarray:
        """(len(gates), a) negated-literal flags of gates that all have arity a."""
        return self.literal[self._slots(gates, a)]

    def op_classes(self) -> list[tuple[str, int, np.ndarray]]:
        """(op, fan-in, gate indices) for every distinct (op, fan-in) of the layer: vectorized
        passes work a class at a time."""
        pairs = sorted(set(zip(self.op_index.tolist(), self.arity.tolist(), strict=True)))
        return [
            (self.ops[o], a, np.flatnonzero((self.op_index == o) & (self.arity == a)))
            for o, a in pairs
        ]

    def _slots(self, gates: np.ndarray, a: int) -> np.ndarray:
        starts = np.concatenate([[0], np.cumsum(self.arity)])[gates]
        return starts[:, None] + np.arange(a)


def gate_arrays(gates: Sequence[Gate], col: dict[str, int]) -> GateArrays:
    """:class:`GateArrays` of ``gates`` reading the features numbered by ``col``."""
    n_gates = len(gates)
    forms = [symmetric_form(g) for g in gates]
    ops = tuple(sorted({op for op, _ in forms}))
    op_id = {op: i for i, op in enumerate(ops)}
    op_index = np.fromiter((op_id[op] for op, _ in forms), dtype=np.int64, count=n_gates)
    arity = np.fromiter((len(g.fanin) for g in gates), dtype=np.int64, count=n_gates)
    slots = int(arity.sum())
    fanin = np.fromiter((col[s] for g in gates for s in g.fanin), dtype=np.int64, count=slots)
    literal = np.fromiter((n for _, negs in forms for n in negs), dtype=bool, count=slots)
    return GateArrays(n_gates, ops, op_index, arity, fanin, literal)
