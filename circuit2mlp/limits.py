"""Resource limits for compiling: refuse a job up front, with a clear message, rather than
letting it run for an hour and then die of an out-of-memory kill (or take the machine down).

Two limits, both checked after parsing and before any pass runs:

* ``--max-gates`` (default :data:`DEFAULT_MAX_GATES`): the number of gates in the circuit as
  parsed. A plain sanity bound: a file that big is more likely a mistake than a job.
* ``--max-memory`` (default :func:`default_max_memory`: 80% of the memory this process may
  use, i.e. physical RAM or the container's cgroup limit if lower): compared against
  :func:`estimate_compile_memory`, a model of the compile's peak resident memory.

The memory model
----------------
Compile memory is dominated by per-gate Python objects (IR gates, the layered circuit, feature
names, sparse-matrix triplets), so it is linear in the number of *units* the compiler will
handle, not in the file size. :func:`circuit_size` counts them in one linear pass, without
building anything:

* ``gates``: gates after ``normalize`` (covers expanded into AND/OR trees, fan-in > K split
  into trees, wide MAJ into Batcher sorting networks: O(k log^2 k) gates for fan-in k);
* ``carried``: identity copies the ``layer`` pass adds for wires that skip levels (a signal
  made at depth d and last read at depth t costs t - d - 1 copies). This is the term that can
  explode: a netlist of 10^4 gates whose last gate reads 10^4 inputs at depth 10^4 needs 10^8
  copies. Only a depth computation can see it, which is why the estimate is not a function of
  the file size alone;
* ``inputs`` and ``edges`` (the total fan-in after normalize).

The estimate is ``BASE + WORKING[method] + PER_UNIT[method] * (gates + carried) + PER_INPUT *
inputs + PER_EDGE * edges`` with the constants below, fitted as an upper bound (with margin)
to the peak RSS of the real ``circuit2mlp compile`` on random circuits of 10^4 to 10^6 units
for every method (``python benchmarks/compile_memory.py``, results in
docs/results/compile_memory.json) and on the U-AND default path. It is a guard against
hopeless jobs, not an accountant: expect it to overestimate by 1.5x to 4x.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import click

from circuit2mlp.errors import UserError
from circuit2mlp.ir import Circuit, Gate, is_literal_cube

#: Default for ``--max-gates``: gates in the parsed circuit.
DEFAULT_MAX_GATES = 20_000_000
#: Share of the usable memory that ``--max-memory`` defaults to.
MEMORY_FRACTION = 0.8

# The memory model (bytes); see the module docstring and benchmarks/compile_memory.py.
BASE_BYTES = 160 * 2**20  # interpreter, numpy/scipy/networkx/rich, lazily imported codegen
#: Bytes per unit (a normalized gate or a carry) by method: the largest measured cost per unit
#: above the bare interpreter (exact 1.5 KB, superposed 2.2 KB, paper 2.2 KB; exact and
#: superposed measured to 1.2e6 units, paper to 1e5) with margin, more for the least measured.
#: Superposed went from 4 KB to 4.5 KB when the automatic width's calibration began to keep a
#: float64 transposed copy of a layer's read-off (up to 64 entries per gate) while it checks
#: it: the default compile of U-AND m = 1000 (499,500 units, BLIF parse included) peaked at
#: 1.70 GiB against an estimate of 3.1 GiB (docs/performance.md, the default path).
PER_UNIT_BYTES = {"exact": 2_500, "superposed": 4_500, "paper": 8_000}
#: Working buffers of the superposed methods, whatever the circuit's size: the automatic
#: width's calibration streams samples in chunks of at most 2^22 cells or products (about 40
#: bytes each at the peak of a chunk), the wiring draws its random subsets 2^23 keys at a time.
#: Measured: U-AND m = 250 at the automatic width peaked at 0.41 GiB, against 0.3 GB of
#: per-unit cost.
WORKING_BYTES = {"exact": 0, "superposed": 640 * 2**20, "paper": 320 * 2**20}
PER_INPUT_BYTES = 2_000
PER_EDGE_BYTES = 300


@dataclass(frozen=True)
class CircuitSize:
    """What the compiler will handle for a circuit, estimated before running any pass."""

    gates: int  # after normalize
    inputs: int
    outputs: int
    max_fanin: int  # largest fan-in in the circuit as parsed
    edges: int  # total fan-in after normalize
    depth: int  # layers after normalize
    carried: int  # identity copies the layer pass adds

    @property
    def units(self) -> int:
        """Gates plus carries: what codegen turns into neurons and features."""
        return self.gates + self.carried


def _tree(k: int, max_fanin: int) -> tuple[int, int, int]:
    """(gates, edges, depth) of the tree normalize makes of a fan-in-k gate: each level groups
    the signals into ceil(n / K) gates until at most K remain for the root."""
    gates, edges, depth = 1, k, 1
    while k > max_fanin:
        k = -(-k // max_fanin)
        gates, edges, depth = gates + k, edges + k, depth + 1
    return gates, edges, depth


def _sorting_network(k: int) -> tuple[int, int, int]:
    """(gates, edges, depth) bound for MAJ of fan-in k: Batcher's odd-even merge sort has at
    most n p (p - 1) / 4 + n comparators (p = ceil(log2 n)), two gates each, depth p(p+1)/2."""
    p = max(1, math.ceil(math.log2(k)))
    comparators = k * p * (p - 1) // 4 + k
    return 2 * comparators, 4 * comparators, p * (p + 1) // 2


def _is_buffer(gate: Gate) -> bool:
    if gate.op == "BUF":
        return True
    cover = gate.cover
    return (
        gate.op == "SOP"
        and cover is not None
        and len(gate.fanin) == 1
        and cover.cubes in (("1",), ("0",))
        and (cover.cubes[0] == "1") == cover.onset
    )


def _gate_cost(gate: Gate, max_fanin: int) -> tuple[int, int, int]:
    """(gates, edges, depth) that one parsed gate becomes after normalize (upper bounds)."""
    k = len(gate.fanin)
    if _is_buffer(gate):
        return 0, 0, 0  # removed by normalize: its readers read its source
    if is_literal_cube(gate) and k <= max_fanin:
        return 1, k, 1  # a normalized AND of literals: negations fold into it
    if gate.op == "SOP":
        assert gate.cover is not None
        cubes = gate.cover.cubes
        gates = edges = depth = 0
        for cube in cubes:
            g, e, d = _tree(max(len(cube) - cube.count("-"), 1), max_fanin)
            gates, edges, depth = gates + g, edges + e, max(depth, d)
        if len(cubes) > 1:  # the OR (NOR) of the cubes
            g, e, d = _tree(len(cubes), max_fanin)
            gates, edges, depth = gates + g, edges + e, depth + d
        negated = sum(any(cube[i] == "0" for cube in cubes) for i in range(k))
        return max(gates, 1) + negated, edges + negated, max(depth, 1) + (negated > 0)
    if gate.op == "MAJ" and k > max_fanin:
        return _sorting_network(k)
    if k == 0:
        return 1, 0, 1
    return _tree(k, max_fanin)


def circuit_size(circuit: Circuit, max_fanin: int = 4) -> CircuitSize:
    """Count what compiling ``circuit`` will create, in one linear pass (nothing is built).

    Depths follow the ``layer`` pass (a gate sits one level above its deepest fan-in; a gate
    that normalize turns into a tree of depth h occupies h levels), and a signal is carried
    from its level up to one below the deepest level that reads it (outputs are read at the
    top). Exact for a normalized circuit; for a raw one the normalize expansion is bounded
    from above (constant folding and buffer removal, which only shrink, are ignored).
    """
    from circuit2mlp.passes.normalize import topological_order

    level = dict.fromkeys(circuit.inputs, 0)
    last_read = dict.fromkeys(circuit.inputs, 0)
    gates = edges = 0
    for gate in topological_order(circuit):
        g, e, d = _gate_cost(gate, max_fanin)
        gates, edges = gates + g, edges + e
        start = max((level[s] for s in gate.fanin), default=0)
        level[gate.name] = start + d
        last_read[gate.name] = 0
        for s in gate.fanin:
            last_read[s] = max(last_read[s], start + 1)
    top = max((level[d] for d in circuit.drivers), default=0)
    for d in circuit.drivers:
        last_read[d] = top + 1
    carried = sum(max(0, last_read[s] - level[s] - 1) for s in level)
    return CircuitSize(
        gates=gates,
        inputs=len(circuit.inputs),
        outputs=len(circuit.outputs),
        max_fanin=max((len(g.fanin) for g in circuit.gates), default=0),
        edges=edges,
        depth=top,
        carried=carried,
    )


def estimate_compile_memory(
    gates: int,
    inputs: int,
    max_fanin: int,
    *,
    carried: int = 0,
    edges: int | None = None,
    method: str | None = None,
) -> int:
    """Peak resident bytes of compiling a circuit of this size (an upper-bound model).

    ``gates`` and ``carried`` as in :class:`CircuitSize` (pass the raw gate count and no
    carries for a quick lower-information estimate); ``edges`` defaults to
    ``gates * max_fanin``, the most a circuit of that fan-in can have. ``method`` picks the
    per-unit cost (None or an unknown method: the most expensive). See the module docstring
    for the model and where its constants come from.
    """
    if edges is None:
        edges = gates * max(max_fanin, 1)
    per_unit = PER_UNIT_BYTES.get(method or "", max(PER_UNIT_BYTES.values()))
    working = WORKING_BYTES.get(method or "", max(WORKING_BYTES.values()))
    return int(
        BASE_BYTES
        + working
        + per_unit * (gates + carried)
        + PER_INPUT_BYTES * inputs
        + PER_EDGE_BYTES * edges
    )


def estimate_circuit_memory(circuit: Circuit, max_fanin: int = 4, method: str | None = None) -> int:
    """:func:`estimate_compile_memory` for a parsed circuit, compiled with ``--max-fanin``
    and ``--method``."""
    size = circuit_size(circuit, max_fanin)
    return estimate_compile_memory(
        size.gates,
        size.inputs,
        size.max_fanin,
        carried=size.carried,
        edges=size.edges,
        method=method,
    )


# ------------------------------------------------------------------------ machine memory


def physical_memory() -> int | None:
    """Total RAM in bytes (``/proc/meminfo``, else ``sysconf``); None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


def cgroup_memory_limit() -> int | None:
    """The container's memory limit (cgroup v2 ``memory.max``, or v1), None if unlimited.

    In CI and containers this is what the OOM killer enforces, often far below the host RAM
    that /proc/meminfo reports."""
    for path in (
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 writes ~2^63 for "no limit"
            return int(text)
    return None


def usable_memory() -> int | None:
    """The memory this process may use: RAM, or the cgroup limit when that is lower."""
    known = [m for m in (physical_memory(), cgroup_memory_limit()) if m]
    return min(known) if known else None


def default_max_memory() -> int | None:
    """Default ``--max-memory``: 80% of :func:`usable_memory` (None, no limit, if unknown)."""
    usable = usable_memory()
    return None if usable is None else int(usable * MEMORY_FRACTION)


# ------------------------------------------------------------------------------ checks


def enforce_limits(
    circuit: Circuit,
    max_gates: int | None,
    max_memory: int | None,
    estimate: int | None = None,
    *,
    max_fanin: int = 4,
    method: str | None = None,
) -> None:
    """Raise UserError when ``circuit`` is over ``max_gates`` or its compile is estimated to
    need more than ``max_memory`` bytes; None disables a limit.

    ``estimate`` (bytes) overrides the model, for callers that know better (e.g. a method
    with its own cost model); otherwise :func:`estimate_circuit_memory` is used with
    ``max_fanin`` and ``method`` (the ``--max-fanin`` and ``--method`` options). Messages
    name the limit and how to raise it. Cheap: one linear pass, nothing is built.
    """
    gates = len(circuit.gates)
    if max_gates is not None and gates > max_gates:
        raise UserError(
            f"circuit '{circuit.name}' has {gates:,} gates, over --max-gates {max_gates:,}; "
            "raise it with --max-gates N"
        )
    if max_memory is None:
        return
    need = estimate_circuit_memory(circuit, max_fanin, method) if estimate is None else estimate
    if need > max_memory:
        lower = ""
        if method not in (None, "exact") and estimate is None:
            exact = estimate_circuit_memory(circuit, max_fanin, "exact")
            if exact <= max_memory:
                lower = f"lower the need with --method exact ({format_size(exact)}), or "
        raise UserError(
            f"compiling circuit '{circuit.name}' needs an estimated {format_size(need)} of "
            f"memory, over --max-memory {format_size(max_memory)}; {lower}raise it with "
            f"--max-memory SIZE (e.g. --max-memory {format_size(_round_up(need))}) if the "
            "machine has that much, or compile a smaller circuit"
        )


def _round_up(n: int) -> int:
    """n rounded up to a whole GiB (or MiB below 1 GiB), for suggesting a limit."""
    unit = 2**30 if n >= 2**30 else 2**20
    return -(-n // unit) * unit


# ---------------------------------------------------------------------------- sizes

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([KMGTP])(?:I?B)?|B)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from a size such as ``8G``, ``500M``, ``1.5GiB``, ``64k`` or ``1000000``.

    Units are powers of 1024 (K, M, G, T, P; an optional ``B`` or ``iB`` and any case are
    accepted), as for ``ulimit``, Docker and Kubernetes memory settings. Raises UserError for
    anything else, and for zero (a zero limit would refuse every job).
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        raise UserError(
            f"invalid size '{text}': expected a number with an optional unit K, M, G, T or P "
            "(powers of 1024), e.g. 8G or 500M"
        )
    number, unit = match.groups()
    scale = _UNITS[(unit or "").upper()]
    value = int(float(number) * scale) if "." in number else int(number) * scale
    if value <= 0:
        raise UserError(f"invalid size '{text}': must be more than 0 bytes")
    return value


def format_size(n: int) -> str:
    """Bytes as a short human size with a binary unit: ``18.6G``, ``512M``, ``900``."""
    for unit in ("P", "T", "G", "M", "K"):
        if n >= _UNITS[unit]:
            value = n / _UNITS[unit]
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


class SizeType(click.ParamType):
    """Click parameter for memory sizes (``--max-memory 8G``); ``none`` means no limit."""

    name = "SIZE"

    def convert(self, value, param, ctx) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() in ("none", "off", "unlimited"):
            return None
        try:
            return parse_size(str(value))
        except UserError as exc:
            self.fail(exc.message, param, ctx)


#: Instance to pass as ``type=`` to a click option.
SIZE = SizeType()
