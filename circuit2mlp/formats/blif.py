"""BLIF reader and writer for the combinational subset (one model, ``.names`` covers).

The rules follow the SIS BLIF specification as ABC reads it (see
``shared/research/blif-and-bench-formats.md``): ``#`` comments anywhere, ``\\`` continuations,
repeated ``.inputs``/``.outputs``, covers in any order, ON-set or OFF-set covers, constants,
``.exdc`` skipped with a warning, timing annotations ignored. Everything sequential or
hierarchical is refused with a message naming the line, because silently dropping a latch or a
subcircuit would compile a different function than the user asked for.

Every ``.names`` becomes one ``SOP`` gate that keeps the cover exactly as written (fan-in order,
cubes, phase); simplification is the job of the passes, not of the parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.formats.text import NotPlain, check_text, plain_or_none
from circuit2mlp.ir import Circuit, CircuitBuilder, Cover, Gate, op_profile
from circuit2mlp.passes.normalize import paused_gc

# Constructs that make a netlist sequential, hierarchical or library-bound: refused.
_UNSUPPORTED: dict[str, str] = {
    ".latch": "sequential element .latch not supported (circuit must be combinational: "
    "no latches or flip-flops)",
    ".mlatch": "sequential element .mlatch not supported (circuit must be combinational: "
    "no latches or flip-flops)",
    ".gate": "library gate .gate not supported (circuit must be combinational logic written "
    "as .names; re-export the netlist without a cell library)",
    ".subckt": "hierarchical .subckt not supported (circuit must be combinational and flat; "
    "flatten it, e.g. with ABC or Yosys, and write .names only)",
    ".search": "file reference .search not supported (circuit must be combinational and "
    "self-contained in one file)",
    ".blackbox": "black box .blackbox not supported (circuit must be combinational with "
    "known logic)",
}
_KISS = (".start_kiss", ".end_kiss", ".i", ".o", ".p", ".s", ".r", ".code", ".latch_order")
for _kw in _KISS:
    _UNSUPPORTED[_kw] = (
        f"state machine (KISS) directive {_kw} not supported (circuit must be combinational)"
    )

# Directives with no logical meaning for a combinational circuit: ignored, one warning per kind.
_TIMING = (
    ".area",
    ".delay",
    ".wire_load_slope",
    ".wire",
    ".input_arrival",
    ".output_required",
    ".default_input_arrival",
    ".default_output_required",
    ".input_drive",
    ".default_input_drive",
    ".output_load",
    ".default_output_load",
    ".max_input_load",
    ".and_gate_delay",
)
_IGNORED: dict[str, str] = {kw: f"timing directive {kw} ignored" for kw in _TIMING}
_IGNORED[".clock"] = "clock declaration .clock ignored (the circuit has no latches)"
_IGNORED[".clock_event"] = "clock constraint .clock_event ignored (the circuit has no latches)"
for _kw in (".attr", ".param", ".cname"):
    _IGNORED[_kw] = f"annotation {_kw} ignored"

_MAX_MINTERM_FANIN = 10
_WRAP = 96


def _logical_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first physical line number, tokens) per logical line.

    Comments are stripped before looking for a trailing ``\\`` (as the spec says), and the
    pieces of a continued line are collected in a list and joined once, so a file with a
    million continuation lines still parses in linear time.
    """
    parts: list[str] = []
    start = 1
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.partition("#")[0].rstrip()
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        if parts:
            parts.append(line)
            line = " ".join(parts)
            parts = []
        tokens = line.split()
        if tokens:
            yield start, tokens
    if parts:
        tokens = " ".join(parts).split()
        if tokens:
            yield start, tokens


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _PendingCover:
    """The ``.names`` block being read: its signals and the rows seen so far."""

    def __init__(self, signals: list[str], line: int, loc: SourceLoc) -> None:
        self.fanin = tuple(signals[:-1])
        self.output = signals[-1]
        self.line = line
        self.loc = loc
        self.cubes: list[str] = []
        self.phase: str | None = None

    def add_row(self, tokens: list[str], line: int) -> None:
        """Check one cover row (width, characters, single phase) and keep its input plane."""
        n = len(self.fanin)
        if n == 0:
            plane, bit = "", tokens[0]
            ok = len(tokens) == 1
        else:
            plane, bit = tokens[0], tokens[-1]
            ok = len(tokens) == 2 and len(plane) == n and not plane.strip("01-")
        if not ok or bit not in ("0", "1"):
            need = "a single output bit 0 or 1" if n == 0 else f"{n} of 0/1/- then 0 or 1"
            raise CircuitError(
                f"malformed cover row '{_shorten(' '.join(tokens))}' for '{self.output}' "
                f"(.names with {n} input(s) needs {need})",
                SourceLoc(self.loc.path, line),
            )
        if self.phase is None:
            self.phase = bit
        elif bit != self.phase:
            raise CircuitError(
                f"cover for '{self.output}' mixes output bits 0 and 1 (on-set and off-set "
                "rows); a .names cover must list one phase only",
                SourceLoc(self.loc.path, line),
            )
        self.cubes.append(plane)

    def gate(self) -> Gate:
        """The SOP gate; a cover without rows has an empty ON-set, i.e. constant 0."""
        cover = Cover(tuple(self.cubes), onset=self.phase != "0")
        return Gate(self.output, "SOP", self.fanin, cover, self.loc)


class _BlifReader:
    """Line-driven state machine over the logical lines of one BLIF file."""

    def __init__(self, path: str | None, warnings: list[str] | None) -> None:
        self.path = path
        self.warnings = warnings
        name = Path(path).stem if path else "circuit"
        self.builder = CircuitBuilder(name, path)
        self.cover: _PendingCover | None = None
        self.mode = "body"  # body -> (exdc ->) done
        self.started = False  # a .model or any model content has been seen
        self.warned: set[str] = set()
        self.outputs: dict[str, int] = {}

    def loc(self, line: int | None) -> SourceLoc:
        return SourceLoc(self.path, line)

    def warn(self, line: int, message: str) -> None:
        if self.warnings is not None:
            self.warnings.append(f"{self.loc(line)}: warning: {message}")

    def feed(self, line: int, tokens: list[str]) -> None:
        """Handle one logical line."""
        if self.mode == "exdc":
            if tokens[0] == ".end":
                self.mode = "done"
            return
        head = tokens[0]
        if not head.startswith("."):
            self.cover_row(line, tokens)
            return
        self.finish_cover()
        if self.mode == "done":
            self.after_end(line, head)
        self.directive(line, head, tokens[1:])

    def cover_row(self, line: int, tokens: list[str]) -> None:
        if self.cover is None:
            where = "after .end" if self.mode == "done" else "outside a .names cover"
            shown = _shorten(" ".join(tokens))
            raise CircuitError(f"unexpected line '{shown}' {where}", self.loc(line))
        self.cover.add_row(tokens, line)

    def after_end(self, line: int, head: str) -> None:
        if head == ".model":
            raise CircuitError(
                "multiple models not supported (the file must hold one flat .model)",
                self.loc(line),
            )
        raise CircuitError(f"unexpected {head} after .end", self.loc(line))

    def directive(self, line: int, head: str, args: list[str]) -> None:
        if head in _UNSUPPORTED:
            raise CircuitError(_UNSUPPORTED[head], self.loc(line))
        if head in _IGNORED:
            if head not in self.warned:
                self.warned.add(head)
                self.warn(line, _IGNORED[head])
            return
        handler = _HANDLERS.get(head)
        if handler is None:
            raise CircuitError(f"unknown BLIF directive {head}", self.loc(line))
        handler(self, line, args)

    def on_model(self, line: int, args: list[str]) -> None:
        if self.started:
            raise CircuitError(
                "multiple models not supported (the file must hold one flat .model)",
                self.loc(line),
            )
        self.started = True
        if args:
            self.builder.name = args[0]

    def on_inputs(self, line: int, args: list[str]) -> None:
        self.started = True
        for signal in args:
            self.builder.add_input(signal, line)

    def on_outputs(self, line: int, args: list[str]) -> None:
        self.started = True
        for signal in args:
            if signal in self.outputs:
                raise CircuitError(
                    f"output '{signal}' is declared twice (first at line {self.outputs[signal]})",
                    self.loc(line),
                )
            self.outputs[signal] = line
            self.builder.add_output(signal, line)

    def on_names(self, line: int, args: list[str]) -> None:
        self.started = True
        if not args:
            raise CircuitError(".names needs at least an output signal", self.loc(line))
        self.cover = _PendingCover(args, line, self.loc(line))

    def on_conn(self, line: int, args: list[str]) -> None:
        """Yosys ``.conn driver driven`` (and ``.barbuf``): a plain buffer."""
        self.started = True
        if len(args) != 2:
            raise CircuitError(".conn needs exactly two signals: driver, driven", self.loc(line))
        gate = Gate(args[1], "SOP", (args[0],), Cover(("1",)), self.loc(line))
        self.builder.add_gate(gate)

    def on_exdc(self, line: int, args: list[str]) -> None:
        self.warn(
            line,
            "external don't-care network (.exdc) ignored: the care function is implemented exactly",
        )
        self.mode = "exdc"

    def on_end(self, line: int, args: list[str]) -> None:
        self.mode = "done"

    def finish_cover(self) -> None:
        cover, self.cover = self.cover, None
        if cover is None:
            return
        if not cover.cubes and cover.fanin:
            self.warn(cover.line, f"cover for '{cover.output}' has no rows: treated as constant 0")
        self.builder.add_gate(cover.gate())

    def build(self) -> Circuit:
        self.finish_cover()
        circuit = self.builder.build()
        if self.warnings is not None:
            self.warnings.extend(self.builder.warnings)
        return circuit


_HANDLERS = {
    ".model": _BlifReader.on_model,
    ".inputs": _BlifReader.on_inputs,
    ".outputs": _BlifReader.on_outputs,
    ".names": _BlifReader.on_names,
    ".conn": _BlifReader.on_conn,
    ".barbuf": _BlifReader.on_conn,
    ".exdc": _BlifReader.on_exdc,
    ".end": _BlifReader.on_end,
}


# a line that starts with a sequential directive (searched before parsing, see parse_blif)
_SEQUENTIAL_LINE = re.compile(r"^[ \t]*(\.latch|\.mlatch|\.start_kiss)(?=\s|$)", re.MULTILINE)


def _refuse_sequential(text: str, path: str | None) -> None:
    """Report a sequential file as sequential, whatever else is wrong with it: that is the
    root cause. (ISCAS-89 files written by e2fmt hold non-standard ``-`` constant rows before
    their first ``.latch``, which would otherwise be reported first.)"""
    match = _SEQUENTIAL_LINE.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        raise CircuitError(_UNSUPPORTED[match.group(1)], SourceLoc(path, line))


@paused_gc()
def parse_blif(
    text: str, path: str | None = None, warnings: list[str] | None = None, *, fast: bool = True
) -> Circuit:
    """Parse BLIF text into a validated Circuit (raises CircuitError with file:line).

    ``path`` is only used for messages and the default circuit name; warnings (ignored
    directives, empty covers, unused inputs) are appended to ``warnings`` when it is given.

    A valid file that uses only ``.model .inputs .outputs .names .end`` is read by a
    streamlined loop (:func:`_read_plain`); anything else, and every invalid file, by the
    reader above, which alone reports errors. ``fast=False`` skips the streamlined loop (the
    two give equal circuits; the tests compare them).
    """
    check_text(text, path)
    _refuse_sequential(text, path)
    if fast:
        circuit = _read_plain(text, path, warnings)
        if circuit is not None:
            return circuit
    reader = _BlifReader(path, warnings)
    for line, tokens in _logical_lines(text):
        reader.feed(line, tokens)
    return reader.build()


def _read_plain(text: str, path: str | None, warnings: list[str] | None) -> Circuit | None:
    """What :class:`_BlifReader` makes of ``text`` when the file is valid and uses only
    ``.model .inputs .outputs .names .end``, else None.

    The same logical lines, the same row checks and the same declarations, inlined into one
    loop (the reader spends ~10 calls per line), with the gates and outputs handed to the
    CircuitBuilder in bulk; equal covers share one Cover object. It gives up, rather than
    reporting, on anything unusual or wrong.
    """
    return plain_or_none(lambda found: _plain_circuit(text, path, found), warnings)


def _plain_circuit(text: str, path: str | None, found: list[str]) -> Circuit:
    """The loop of :func:`_read_plain`; raises NotPlain where the full reader must run (a
    directive other than those five, or anything unusual or wrong)."""
    builder = CircuitBuilder(Path(path).stem if path else "circuit", path)
    covers: dict[tuple[tuple[str, ...], bool], Cover] = {}
    outputs: dict[str, int] = {}
    gates: list[Gate] = []
    started = done = False
    output: str | None = None  # the output of the open .names cover
    fanin: tuple[str, ...] = ()
    width = names_line = 0
    cubes: list[str] = []
    phase: str | None = None

    def close() -> None:
        if not cubes and fanin:
            found.append(
                f"{SourceLoc(path, names_line)}: warning: cover for '{output}' has no rows: "
                "treated as constant 0"
            )
        key = (tuple(cubes), phase != "0")
        cover = covers.get(key)
        if cover is None:
            cover = covers[key] = Cover(*key)
        gates.append(Gate(output, "SOP", fanin, cover, SourceLoc(path, names_line)))  # type: ignore[arg-type]

    for line, tokens in _logical_lines(text):
        head = tokens[0]
        if head[0] != ".":
            if output is None:
                raise NotPlain
            if width:
                if len(tokens) != 2 or len(head) != width or head.strip("01-"):
                    raise NotPlain
                bit = tokens[1]
            else:
                if len(tokens) != 1:
                    raise NotPlain
                bit, head = head, ""
            if bit != phase:
                if phase is not None or (bit != "1" and bit != "0"):
                    raise NotPlain
                phase = bit
            cubes.append(head)
            continue
        if done:
            raise NotPlain
        if output is not None:
            close()
            output = None
        if head == ".names":
            if len(tokens) < 2:
                raise NotPlain
            started = True
            output, fanin = tokens[-1], tuple(tokens[1:-1])
            width, names_line, cubes, phase = len(fanin), line, [], None
        elif head == ".inputs":
            started = True
            for signal in tokens[1:]:
                builder.add_input(signal, line)
        elif head == ".outputs":
            started = True
            before = len(outputs)
            outputs.update(dict.fromkeys(tokens[1:], line))
            if len(outputs) - before < len(tokens) - 1:
                raise NotPlain  # an output declared twice
        elif head == ".model" and not started:
            started = True
            if len(tokens) > 1:
                builder.name = tokens[1]
        elif head == ".end":
            done = True
        else:
            raise NotPlain
    if output is not None:
        close()
    builder.add_gates(gates)
    builder.add_outputs((name, name, line) for name, line in outputs.items())
    circuit = builder.build()
    found.extend(builder.warnings)
    return circuit


# --------------------------------------------------------------------------------- writer

_BAD_NAME = re.compile(r"[\s#]|\\\Z")


def _check_names(circuit: Circuit) -> None:
    for signal in (*circuit.signals, *circuit.outputs):
        if not signal or _BAD_NAME.search(signal):
            raise CircuitError(
                f"cannot write BLIF: signal name {signal!r} is empty or contains whitespace, "
                "'#' or a trailing '\\'"
            )


def _symmetric_rows(gate: Gate) -> list[str]:
    """Cover rows for a symmetric op: one cube where that is possible, minterms otherwise."""
    k = len(gate.fanin)
    ones, zeros = "1" * k, "0" * k
    simple = {
        "CONST0": [],
        "CONST1": ["1"],
        "BUF": ["1 1"],
        "NOT": ["0 1"],
        "AND": [f"{ones} 1"],
        "NAND": [f"{ones} 0"],
        "OR": [f"{zeros} 0"],
        "NOR": [f"{zeros} 1"],
    }
    if gate.op in simple:
        return simple[gate.op]
    if k > _MAX_MINTERM_FANIN:
        raise CircuitError(
            f"cannot write BLIF: gate '{gate.name}' is a {k}-input {gate.op}, which needs "
            f"up to 2^{k} minterm rows; normalize first (decompose wide gates)",
            gate.loc,
        )
    profile = op_profile(gate.op, k)
    minterms = (format(m, f"0{k}b") for m in range(2**k))
    return [f"{m} 1" for m in minterms if profile[m.count("1")]]


def _sop_rows(gate: Gate) -> list[str]:
    """Rows of an SOP cover; empty covers are written so that no reader needs to guess."""
    assert gate.cover is not None
    k = len(gate.fanin)
    cover = gate.cover
    if not cover.cubes:
        # empty ON-set = 0, empty OFF-set = 1: write as one all-don't-care cube of the
        # opposite phase (no rows at all only for the n = 0 constant 0, as BLIF defines it)
        if cover.onset:
            return [] if k == 0 else [f"{'-' * k} 0"]
        return ["1"] if k == 0 else [f"{'-' * k} 1"]
    bit = "1" if cover.onset else "0"
    if k == 0:
        return [bit] * len(cover.cubes)
    return [f"{cube} {bit}" for cube in cover.cubes]


def _wrapped(head: str, names: tuple[str, ...] | list[str]) -> str:
    """``head name name ...`` split with ``\\`` continuations so lines stay readable."""
    lines: list[str] = []
    current = head
    for name in names:
        if len(current) + 1 + len(name) > _WRAP and current.strip() != head:
            lines.append(current + " \\")
            current = " " + name
        else:
            current = f"{current} {name}"
    lines.append(current)
    return "\n".join(lines)


def _output_buffers(circuit: Circuit) -> list[str]:
    """Buffers ``.names driver name`` for outputs that read a differently named signal."""
    taken = set(circuit.signals)
    blocks: list[str] = []
    for name, driver in zip(circuit.outputs, circuit.drivers, strict=True):
        if name == driver:
            continue
        if name in taken:
            raise CircuitError(
                f"cannot write BLIF: output '{name}' reads signal '{driver}', but '{name}' is "
                "already the name of another signal; rename the output"
            )
        taken.add(name)
        blocks.append(f".names {driver} {name}\n1 1")
    return blocks


def write_blif(circuit: Circuit) -> str:
    """BLIF text for a circuit: deterministic, one ``.names`` per gate (in circuit order).

    Symmetric ops become covers (AND ``11..1 1``, OR ``00..0 0``, XOR/XNOR/MAJ minterms up to
    10 inputs); outputs that alias another signal get a buffer, since BLIF has no aliases.
    """
    _check_names(circuit)
    model = "_".join(circuit.name.split()) or "circuit"
    parts = [
        f".model {model}",
        _wrapped(".inputs", circuit.inputs),
        _wrapped(".outputs", circuit.outputs),
    ]
    for gate in circuit.gates:
        rows = _sop_rows(gate) if gate.op == "SOP" else _symmetric_rows(gate)
        parts.append("\n".join([_wrapped(".names", (*gate.fanin, gate.name)), *rows]))
    parts.extend(_output_buffers(circuit))
    parts.append(".end")
    return "\n".join(parts) + "\n"
