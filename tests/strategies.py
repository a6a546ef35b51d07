"""Hypothesis strategies for random valid circuits.

Circuits are built through :meth:`Circuit.make`, so every generated circuit has passed the same
validation as a parsed one. Gates only read signals defined before them, which rules out cycles
by construction instead of by filtering (filtering would make generation slow and shrink badly).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from circuit2mlp.ir import SYMMETRIC_OPS, Circuit, Cover, Gate, op_arity

OPS_DEFAULT: tuple[str, ...] = SYMMETRIC_OPS


@st.composite
def covers(draw: st.DrawFn, fanin: int, max_cubes: int = 4) -> Cover:
    """A random SOP cover over ``fanin`` signals (possibly empty, possibly an OFF-set)."""
    cube = st.text(alphabet="01-", min_size=fanin, max_size=fanin)
    cubes = draw(st.lists(cube, max_size=max_cubes))
    return Cover(tuple(cubes), onset=draw(st.booleans()))


@st.composite
def _gate(
    draw: st.DrawFn, name: str, available: Sequence[str], ops: Sequence[str], max_fanin: int
) -> Gate:
    op = draw(st.sampled_from(ops))
    lo, hi = op_arity(op)
    hi = max_fanin if hi is None else min(hi, max_fanin)
    if not available:  # nothing to read yet (no inputs): only fan-in-free gates are possible
        lo = hi = 0
        if op not in ("CONST0", "CONST1", "SOP"):
            op = draw(st.sampled_from(("CONST0", "CONST1")))
    k = draw(st.integers(min_value=lo, max_value=max(lo, hi)))
    # Drawing positions (not distinct signals) allows a signal to feed a gate twice.
    fanin = tuple(draw(st.lists(st.sampled_from(available), min_size=k, max_size=k))) if k else ()
    cover = draw(covers(k)) if op == "SOP" else None
    return Gate(name, op, fanin, cover)


@st.composite
def circuits(
    draw: st.DrawFn,
    max_inputs: int = 6,
    max_gates: int = 12,
    ops: Sequence[str] = OPS_DEFAULT,
    allow_sop: bool = True,
    allow_alias_outputs: bool = True,
    min_inputs: int = 1,
    max_fanin: int = 4,
    max_outputs: int = 4,
) -> Circuit:
    """A random valid circuit named inputs ``x*``, gates ``g*``.

    With ``allow_alias_outputs`` outputs may read inputs, read the same signal more than once and
    carry a name (``y*``) different from their driver; otherwise each output is a distinct signal
    (a gate when there is one) named after itself.
    """
    n_inputs = draw(st.integers(min_value=min_inputs, max_value=max_inputs))
    n_gates = draw(st.integers(min_value=0, max_value=max_gates))
    gate_ops = (*ops, "SOP") if allow_sop else tuple(ops)
    inputs = [f"x{i}" for i in range(n_inputs)]
    gates: list[Gate] = []
    for i in range(n_gates):
        available = [*inputs, *(g.name for g in gates)]
        gates.append(draw(_gate(f"g{i}", available, gate_ops, max_fanin)))
    if not inputs and not gates:
        gates.append(Gate("g0", draw(st.sampled_from(("CONST0", "CONST1")))))
    outputs, drivers = draw(
        _outputs(inputs, [g.name for g in gates], allow_alias_outputs, max_outputs)
    )
    return Circuit.make("random", inputs, outputs, gates, drivers=drivers)


@st.composite
def _outputs(
    draw: st.DrawFn, inputs: list[str], gates: list[str], alias: bool, max_outputs: int
) -> tuple[list[str], list[str]]:
    if not alias:
        pool = gates or inputs
        drivers = draw(
            st.lists(st.sampled_from(pool), min_size=1, max_size=max_outputs, unique=True)
        )
        return drivers, drivers
    drivers = draw(st.lists(st.sampled_from([*inputs, *gates]), min_size=1, max_size=max_outputs))
    names: list[str] = []
    for j, driver in enumerate(drivers):
        keep_name = driver not in names and draw(st.booleans())
        names.append(driver if keep_name else f"y{j}")
    return names, drivers
