"""The construction plan: every decision a method makes, between the layered circuit and the
weights.

A planner (codegen/planners/) turns a layered circuit and a config into a :class:`Plan`; one
emitter (emit.py) turns any plan into the input embedding and the layer blocks. The plan says,
per level, how each gate is computed (:data:`HOW`), on which neurons, and how it is read off;
the compile report's per-layer counts are counted from it (:meth:`LevelPlan.counts`), and
``compile --dump-plan`` writes it as JSON (plan_dump.py).

What a plan does *not* fix is the random wiring of shared neurons (which neurons read which
features, which covering neurons a read-off keeps): the emitter samples it from the level's
recorded ``seed``, so the same plan always gives the same weights.

Level kinds:

* ``compute`` -- gates on shared coincidence neurons (groups, one per monomial degree) and
  exact or clean gadgets after them; every gate's read-off from its polynomial (terms.py).
* ``decode`` -- a saturating pair per input given in superposition (decode.py).
* ``prebuilt`` -- a construction that emits its own block while planning (``deep``, whose
  pools and slots are recorded in ``notes``; ``dense``, whose fitted read-off is): the
  emitter passes the block through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuit2mlp.codegen.activity import LevelActivity
from circuit2mlp.codegen.blocks import FeatureMap, LayerBlock
from circuit2mlp.codegen.exact import gadget_sizes
from circuit2mlp.codegen.terms import LayerTerms

#: How a gate is computed: some monomial on shared coincidence neurons; its own exact gadget
#: (or dedicated degree-1 neurons only); a clean gadget (removes its inputs' noise); an
#: identity copy of a wire skipping levels (however emitted); a slot of a superposed code
#: (``deep``); neurons shared by every gate (``dense``).
HOW = ("shared", "dedicated", "clean", "carry", "code", "dense")
SHARED, DEDICATED, CLEAN, CARRY, CODE, DENSE = range(len(HOW))


@dataclass(frozen=True, eq=False)
class GroupPlan:
    """Shared neurons computing every monomial of one degree: ``neurons`` of them from
    ``first_neuron`` on, wired by ``strategy`` ('gate' / 'feature' centric, or 'dedicated':
    one neuron per degree-1 term) with ``k`` neurons per monomial."""

    degree: int
    monomials: np.ndarray  # (M, degree) feature indices
    first_neuron: int
    neurons: int
    strategy: str
    k: int
    predicted_errors: float


@dataclass(frozen=True)
class ReadOffRule:
    """How shared neurons are wired and read off: ``balanced`` wiring (equal loads, covers
    topped up, at most ``cover_limit`` covering neurons read) or i.i.d. (the paper's); neuron
    bias ``-(q - 1) - margin``; read-off = mean of the covering neurons / (1 - margin), minus
    ``center`` times the expected interference."""

    balanced: bool = True
    margin: float = 0.0
    center: float = 0.0
    cover_limit: int | None = None
    fanin_limits: tuple[tuple[str, int], ...] = ()  # (strategy, most features per neuron)


@dataclass(frozen=True, eq=False)
class LevelPlan:
    """One layer block of the network. ``layer``: the circuit layer it computes (None for a
    decode layer); ``how``: one code of :data:`HOW` per gate; ``terms``: the gates'
    polynomials and which are gadgets; ``clean``: per gate, a clean gadget; ``seed``: the
    generator seed of the wiring; ``notes``: the planner's figures for the report (kind,
    fallback, calibration, and a prebuilt construction's own counts)."""

    kind: str
    layer: int | None
    gates: tuple[str, ...]
    how: np.ndarray  # (G,) int8 codes into HOW
    terms: LayerTerms | None = None
    groups: tuple[GroupPlan, ...] = ()
    clean: np.ndarray | None = None
    readoff: ReadOffRule = ReadOffRule()
    seed: tuple[int, ...] = (0,)
    notes: Mapping[str, Any] = field(default_factory=dict)
    block: LayerBlock | None = None  # prebuilt levels only

    @property
    def shared_neurons(self) -> int:
        """Neurons of the shared groups (dedicated degree-1 neurons included)."""
        return sum(g.neurons for g in self.groups)

    def gadget_neurons(self) -> np.ndarray:
        """(G,) neurons of each gate's own gadget (0 for a gate without one), gadgets placed
        after the groups in ascending gate order."""
        sizes = np.zeros(len(self.gates), dtype=np.int64)
        if self.terms is not None and self.terms.dedicated.size:
            sizes[self.terms.dedicated] = gadget_sizes(
                self.terms, self.terms.dedicated, self.clean
            )
        return sizes

    @property
    def neurons(self) -> int:
        """Width of the layer this level emits."""
        if self.block is not None:
            return self.block.neurons
        if self.kind == "decode":
            return 2 * len(self.gates)
        return self.shared_neurons + int(self.gadget_neurons().sum())

    def counts(self) -> dict[str, int]:
        """Gates by how they are computed, for the compile report: ``carries`` (identity
        copies), ``gates`` (the rest), of those ``shared_gates``, ``dedicated_gates``,
        ``clean_gates`` (every gate of a compute level in exactly one) and, for prebuilt
        constructions instead, ``coded_gates`` / ``dense_gates``."""
        tally = np.bincount(self.how, minlength=len(HOW))
        if self.kind == "decode":
            return {
                "gates": 0,
                "carries": len(self.gates),
                "shared_gates": 0,
                "dedicated_gates": 0,
                "clean_gates": 0,
            }
        counts = {"gates": int(len(self.gates) - tally[CARRY]), "carries": int(tally[CARRY])}
        if self.kind != "prebuilt":
            counts["shared_gates"] = int(tally[SHARED])
            counts["dedicated_gates"] = int(tally[DEDICATED])
            counts["clean_gates"] = int(tally[CLEAN])
        if tally[CODE]:
            counts["coded_gates"] = int(tally[CODE])
        if tally[DENSE]:
            counts["dense_gates"] = int(tally[DENSE])
        return counts


@dataclass(frozen=True, eq=False)
class Plan:
    """A whole network's construction. ``activity``: per level of wires (inputs first), the
    stored polarity (``flip``) and measured activity the read-offs are centred with;
    ``input_dim``: inputs in superposition in that many dimensions (None: basis-aligned);
    ``seed``: the embedding's generator seed; ``inputs``: a prebuilt embedding (features,
    embed matrix) when the construction made its own."""

    method: str
    activity: tuple[LevelActivity, ...]
    levels: tuple[LevelPlan, ...]
    input_dim: int | None = None
    seed: int = 0
    inputs: tuple[FeatureMap, Any] | None = None
    flipped: frozenset[str] | None = None  # prebuilt constructions: wires stored negated

    def stored_negated(self) -> frozenset[str]:
        """Names of the wires stored negated (their feature maps read ``1 - wire``)."""
        if self.flipped is not None:
            return self.flipped
        return frozenset(
            name
            for level in self.activity
            for name, f in zip(level.names, level.flip, strict=True)
            if f
        )

    def counts(self) -> dict[str, int]:
        """The report's gate counts summed over every level."""
        keys = ("shared_gates", "dedicated_gates", "clean_gates", "carries")
        rows = [level.counts() for level in self.levels]
        return {key: sum(r.get(key, 0) for r in rows) for key in keys}


def plain_activity(names: tuple[str, ...]) -> LevelActivity:
    """A level stored as it is (nothing negated) with no activity measured: for planners that
    superpose nothing."""
    n = len(names)
    return LevelActivity(names, np.zeros(n, bool), np.zeros(n), 0.0, 0)


def how_of(terms: LayerTerms, shared: np.ndarray, clean: np.ndarray | None) -> np.ndarray:
    """(G,) :data:`HOW` codes of a compute level: carries (BUF) first, then shared (a
    monomial on shared neurons), then clean (a clean gadget), the rest dedicated."""
    how = np.full(terms.n_gates, DEDICATED, dtype=np.int8)
    if clean is not None:
        how[np.asarray(clean, dtype=bool)] = CLEAN
    how[np.asarray(shared, dtype=bool)] = SHARED
    if "BUF" in terms.ops:
        how[terms.op_index == terms.ops.index("BUF")] = CARRY
    return how
