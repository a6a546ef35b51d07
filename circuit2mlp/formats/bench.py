"""ISCAS ``.bench`` reader and writer.

The format is one statement per line: ``INPUT(x)``, ``OUTPUT(y)`` or ``y = GATE(a, b, ...)``
with ``#`` comments, statements in any order and CRLF line ends (all ISCAS-85 copies use CRLF).
Gate names are case-insensitive and include ABC's spellings ``BUF`` and ``NXOR``. ``DFF`` (the
ISCAS-89 flip-flop) is refused: a combinational compiler that silently cut a flip-flop would
compute a different function.

Constants: like ABC, a signal named ``vdd`` or ``gnd`` that is read but never defined is the
constant 1 or 0. The writer uses the same convention for ``CONST1``/``CONST0`` gates, so every
symmetric op except ``MAJ`` can be written.
"""

from __future__ import annotations

import re
from pathlib import Path

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.formats.text import NotPlain, check_text, plain_or_none
from circuit2mlp.ir import Circuit, CircuitBuilder, Gate
from circuit2mlp.passes.normalize import paused_gc

_GATE_TYPES = {
    "AND": "AND",
    "OR": "OR",
    "NAND": "NAND",
    "NOR": "NOR",
    "NOT": "NOT",
    "BUFF": "BUF",
    "BUF": "BUF",
    "XOR": "XOR",
    "XNOR": "XNOR",
    "NXOR": "XNOR",
}
_CONSTANT_NETS = {"vdd": "CONST1", "gnd": "CONST0"}
_WRITE_NAMES = {"BUF": "BUFF"}

_NAME = r"[^\s=(),#]+"
_DECL = re.compile(rf"(INPUT|OUTPUT)\s*\(\s*({_NAME})\s*\)", re.IGNORECASE)
_ASSIGN = re.compile(rf"({_NAME})\s*=\s*({_NAME})\s*\(([^()=]*)\)")
_NAME_RE = re.compile(_NAME)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _BenchReader:
    """Collects statements into a CircuitBuilder, remembering lines for messages."""

    def __init__(self, path: str | None, warnings: list[str] | None) -> None:
        self.path = path
        self.warnings = warnings
        self.builder = CircuitBuilder(Path(path).stem if path else "circuit", path)
        self.outputs: dict[str, int] = {}
        self.defined: set[str] = set()
        self.first_use: dict[str, int] = {}

    def loc(self, line: int) -> SourceLoc:
        return SourceLoc(self.path, line)

    def statement(self, line: int, text: str) -> None:
        """Handle one comment-stripped, non-blank line."""
        decl = _DECL.fullmatch(text)
        if decl:
            keyword, name = decl.group(1).upper(), decl.group(2)
            if keyword == "INPUT":
                self.builder.add_input(name, line)
                self.defined.add(name)
            else:
                self.output(line, name)
            return
        assign = _ASSIGN.fullmatch(text)
        if assign is None:
            raise CircuitError(
                f"malformed line '{_shorten(text)}' (expected INPUT(name), OUTPUT(name) or "
                "name = GATE(input, ...))",
                self.loc(line),
            )
        self.gate(line, assign.group(1), assign.group(2), assign.group(3))

    def output(self, line: int, name: str) -> None:
        if name in self.outputs:
            raise CircuitError(
                f"output '{name}' is declared twice (first at line {self.outputs[name]})",
                self.loc(line),
            )
        self.outputs[name] = line
        self.first_use.setdefault(name, line)
        self.builder.add_output(name, line)

    def gate(self, line: int, name: str, gate_type: str, args: str) -> None:
        op = _GATE_TYPES.get(gate_type.upper())  # DFF: see _refuse_sequential
        if op is None:
            known = ", ".join(sorted(_GATE_TYPES))
            raise CircuitError(f"unknown gate type '{gate_type}' (known: {known})", self.loc(line))
        fanin = self.fanin(line, args)
        self.builder.add_gate(Gate(name, op, fanin, None, self.loc(line)))
        self.defined.add(name)

    def fanin(self, line: int, args: str) -> tuple[str, ...]:
        if not args.strip():
            return ()
        names = tuple(arg.strip() for arg in args.split(","))
        for name in names:
            if not _NAME_RE.fullmatch(name):
                raise CircuitError(
                    f"malformed gate input list '({args})': expected names separated by commas",
                    self.loc(line),
                )
            self.first_use.setdefault(name, line)
        return names

    def add_constants(self) -> None:
        """ABC convention: ``vdd``/``gnd`` read but never defined are constants."""
        for net, op in _CONSTANT_NETS.items():
            if net in self.first_use and net not in self.defined:
                self.builder.add_gate(Gate(net, op, (), None, self.loc(self.first_use[net])))

    def build(self) -> Circuit:
        self.add_constants()
        circuit = self.builder.build()
        if self.warnings is not None:
            self.warnings.extend(self.builder.warnings)
        return circuit


@paused_gc()
def parse_bench(
    text: str, path: str | None = None, warnings: list[str] | None = None, *, fast: bool = True
) -> Circuit:
    """Parse ISCAS ``.bench`` text into a validated Circuit (raises CircuitError with
    file:line). Unused inputs are reported through ``warnings`` when it is given.

    A valid file without flip-flops and ``vdd``/``gnd`` nets is read by a streamlined loop
    (:func:`_read_plain`); anything else, and every invalid file, by the reader above, which
    alone reports errors. ``fast=False`` skips the streamlined loop (the two give equal
    circuits; the tests compare them)."""
    check_text(text, path)
    if fast:
        circuit = _read_plain(text, path, warnings)
        if circuit is not None:
            return circuit
    lines = [(n, raw.partition("#")[0].strip()) for n, raw in enumerate(text.split("\n"), 1)]
    lines = [(n, line) for n, line in lines if line]
    _refuse_sequential(lines, path)
    reader = _BenchReader(path, warnings)
    for number, line in lines:
        reader.statement(number, line)
    return reader.build()


def _read_plain(text: str, path: str | None, warnings: list[str] | None) -> Circuit | None:
    """What :class:`_BenchReader` makes of a valid ``text`` without DFFs and without the
    constant nets ``vdd``/``gnd``, else None: the same statements, the same checks and the
    same declarations in one loop, the gates handed to the builder in bulk."""
    return plain_or_none(lambda found: _plain_circuit(text, path, found), warnings)


def _plain_circuit(text: str, path: str | None, found: list[str]) -> Circuit:
    """The loop of :func:`_read_plain`; raises NotPlain where the full reader must run."""
    builder = CircuitBuilder(Path(path).stem if path else "circuit", path)
    outputs: dict[str, int] = {}
    gates: list[Gate] = []
    ops: dict[str, str] = {}
    decl, assign = _DECL.fullmatch, _ASSIGN.fullmatch
    for number, raw in enumerate(text.split("\n"), 1):
        if "#" in raw:
            raw = raw.partition("#")[0]
        line = raw.strip()
        if not line:
            continue
        match = assign(line)
        if match is None:
            match = decl(line)
            if match is None:
                raise NotPlain
            if match.group(1).upper() == "INPUT":
                builder.add_input(match.group(2), number)
            elif match.group(2) in outputs:
                raise NotPlain
            else:
                outputs[match.group(2)] = number
            continue
        name, kind, args = match.groups()
        op = ops.get(kind)
        if op is None:
            op = _GATE_TYPES.get(kind.upper())
            if op is None:
                raise NotPlain
            ops[kind] = op
        if args.strip():
            fanin = tuple(arg.strip() for arg in args.split(","))
            if not all(fanin) or len(" ".join(fanin).split()) != len(fanin):
                raise NotPlain  # an empty input, or one holding whitespace
        else:
            fanin = ()
        gates.append(Gate(name, op, fanin, None, SourceLoc(path, number)))
    if not _CONSTANT_NETS.keys().isdisjoint(set().union(outputs, *(g.fanin for g in gates))):
        raise NotPlain  # vdd or gnd read: the full reader knows the convention
    builder.add_gates(gates)
    builder.add_outputs((name, name, line) for name, line in outputs.items())
    circuit = builder.build()
    found.extend(builder.warnings)
    return circuit


def _refuse_sequential(lines: list[tuple[int, str]], path: str | None) -> None:
    """Report a flip-flop before anything else: in a sequential netlist it is the root cause
    of every later complaint (e.g. signals read before the DFF that drives them)."""
    for number, line in lines:
        assign = _ASSIGN.fullmatch(line)
        if assign and assign.group(2).upper().startswith("DFF"):
            raise CircuitError(_dff_message(assign.group(2)), SourceLoc(path, number))


def _dff_message(gate_type: str) -> str:
    return (
        f"sequential element {gate_type} not supported (circuit must be combinational: "
        "no flip-flops)"
    )


# --------------------------------------------------------------------------------- writer

_BAD_NAME = re.compile(r"[\s=(),#]")


def _check_names(circuit: Circuit) -> None:
    for signal in (*circuit.signals, *circuit.outputs):
        if not signal or _BAD_NAME.search(signal):
            raise CircuitError(
                f"cannot write .bench: signal name {signal!r} is empty or contains whitespace "
                "or one of = ( ) , #"
            )


def _gate_line(gate: Gate, signals: set[str]) -> str | None:
    """``name = TYPE(fanin)``; constants read ``vdd``/``gnd``; None for the constant nets
    themselves (a CONST1 gate named ``vdd`` is implicit)."""
    if gate.op == "SOP":
        raise CircuitError(
            f"cannot write .bench: gate '{gate.name}' is an SOP cover, which .bench cannot "
            "express; normalize first (convert covers to AND/OR/NOT gates)",
            gate.loc,
        )
    if gate.op == "MAJ":
        raise CircuitError(
            f"cannot write .bench: gate '{gate.name}' is MAJ, which .bench has no gate type "
            "for; normalize first or write BLIF/YAML",
            gate.loc,
        )
    if gate.op in ("CONST0", "CONST1"):
        net = "vdd" if gate.op == "CONST1" else "gnd"
        if gate.name == net:
            return None
        if net in signals:
            raise CircuitError(
                f"cannot write .bench: constant gate '{gate.name}' must read the net '{net}', "
                "but the circuit uses that name for another signal"
            )
        return f"{gate.name} = BUFF({net})"
    kind = _WRITE_NAMES.get(gate.op, gate.op)
    return f"{gate.name} = {kind}({', '.join(gate.fanin)})"


def _named_signals(circuit: Circuit) -> set[str]:
    """Signal names the written file defines explicitly: all but gates that are the implicit
    ``vdd``/``gnd`` constant nets themselves."""
    implicit = {g.name for g in circuit.gates if _CONSTANT_NETS.get(g.name) == g.op}
    return set(circuit.signals) - implicit


def write_bench(circuit: Circuit) -> str:
    """``.bench`` text (deterministic: inputs, outputs, then gates in circuit order).

    Only symmetric ops are expressible (SOP and MAJ raise CircuitError: normalize first).
    Outputs that alias another signal get a ``BUFF``, since .bench has no aliases.
    """
    _check_names(circuit)
    signals = _named_signals(circuit)
    lines = [
        f"# {circuit.name}",
        f"# {len(circuit.inputs)} inputs, {len(circuit.outputs)} outputs, "
        f"{len(circuit.gates)} gates (written by circuit2mlp)",
        *(f"INPUT({name})" for name in circuit.inputs),
        *(f"OUTPUT({name})" for name in circuit.outputs),
    ]
    for gate in circuit.gates:
        line = _gate_line(gate, signals)
        if line is not None:
            lines.append(line)
    lines.extend(_output_buffers(circuit))
    return "\n".join(lines) + "\n"


def _output_buffers(circuit: Circuit) -> list[str]:
    taken = set(circuit.signals)
    lines: list[str] = []
    for name, driver in zip(circuit.outputs, circuit.drivers, strict=True):
        if name == driver:
            continue
        if name in taken:
            raise CircuitError(
                f"cannot write .bench: output '{name}' reads signal '{driver}', but '{name}' "
                "is already the name of another signal; rename the output"
            )
        taken.add(name)
        lines.append(f"{name} = BUFF({driver})")
    return lines
