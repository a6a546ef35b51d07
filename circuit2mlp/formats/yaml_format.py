"""The YAML circuit format: pleasant to write by hand, exact to round-trip (docs/yaml-format.md).

::

    name: full_adder            # optional (default: the file stem)
    inputs: [a, b, cin]
    outputs: [sum, cout]        # an item {out: signal} names an output that reads `signal`
    gates:
      t: [xor, a, b]            # op (case-insensitive), then the fan-in signals
      sum: [xor, t, cin]
      s: {cover: ["1-0", "011"], inputs: [a, b, cin]}          # SOP, ON-set cubes
      n: {cover: ["11"], inputs: [a, b], offset: true}          # SOP, OFF-set cubes

The text is *composed* (``yaml.compose`` with the safe loader, libyaml's when available), never
constructed: the node tree keeps a line number for every value, so each error points at its
line, and duplicate keys, which ``safe_load`` silently collapses to the last one, can be
reported. The npz weights file
embeds its circuit in this format, so :func:`write_yaml` handles every op and alias and
``parse_yaml(write_yaml(c)) == c``.

Composing costs ~40 µs per gate line, a minute per 10^6 gates, so text in the regular shape
the writers emit goes first to the line-oriented reader of :mod:`.yaml_fast`, which either
returns the same Circuit or hands over to the composing reader here (for anything
irregular, and for every error, so messages and lines are the ones below).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.formats.text import check_text
from circuit2mlp.formats.yaml_fast import read_regular
from circuit2mlp.ir import OPS, SYMMETRIC_OPS, Circuit, CircuitBuilder, Cover, Gate
from circuit2mlp.passes.normalize import paused_gc

# libyaml's composer is ~10x faster and exactly as safe (composing builds no Python objects)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE_TAG = "tag:yaml.org,2002:"
_STR = _CORE_TAG + "str"
_BOOL = _CORE_TAG + "bool"
_NULL = _CORE_TAG + "null"
_TOP_KEYS = ("name", "inputs", "outputs", "gates")
_COVER_KEYS = ("cover", "inputs", "offset")
_KNOWN_OPS = ", ".join(op.lower() for op in SYMMETRIC_OPS)

_MAX_DEPTH = 64  # the schema needs 4
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)

Pairs = dict[str, tuple[ScalarNode, Node]]


class _YamlReader:
    """Walks the composed node tree; every error carries the line of the node at fault."""

    def __init__(self, path: str | None, warnings: list[str] | None) -> None:
        self.path = path
        self.warnings = warnings

    def error(self, message: str, node: Node | yaml.Event | None) -> CircuitError:
        line = node.start_mark.line + 1 if node is not None else None
        return CircuitError(message, SourceLoc(self.path, line))

    # ---- scalars and containers

    def string(self, node: Node, what: str) -> str:
        """A string scalar; numbers, booleans, null, lists and mappings are refused."""
        if isinstance(node, ScalarNode) and node.tag == _STR:
            return node.value
        if _is_null(node):
            raise self.error(f"{what} is missing (empty value or null)", node)
        if isinstance(node, ScalarNode) and node.tag.startswith(_CORE_TAG):
            shown = node.value  # a number, boolean, date...: quoting makes it a string
            raise self.error(f"{what} must be a string, got {shown} (quote it: '{shown}')", node)
        if isinstance(node, ScalarNode):
            raise self.error(f"{what} must be a plain string, got a value tagged {node.tag}", node)
        raise self.error(f"{what} must be a string, got {_kind(node)}", node)

    def signal(self, node: Node, what: str = "signal name") -> str:
        """A signal name: any non-empty string (the IR's names, whatever a pass made of them,
        must round-trip through the npz's embedded YAML)."""
        name = self.string(node, what)
        if not name:
            raise self.error(f"{what} must not be empty", node)
        return name

    def sequence(self, node: Node, what: str, null_ok: bool = False) -> list[Node]:
        if null_ok and _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(f"{what} must be a list, got {_kind(node)}", node)
        return node.value

    def mapping(self, node: MappingNode, allowed: tuple[str, ...], what: str) -> Pairs:
        """Keys to (key node, value node); unknown and duplicate keys are errors."""
        pairs: Pairs = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"key in {what}")
            if key not in allowed:
                raise self.error(
                    f"unknown key '{key}' in {what} (allowed: {', '.join(allowed)})", key_node
                )
            self.check_unique(pairs, key, key_node, what)
            pairs[key] = (key_node, value_node)
        return pairs

    def check_unique(self, pairs: Pairs, key: str, key_node: Node, what: str) -> None:
        if key in pairs:
            first = pairs[key][0].start_mark.line + 1
            raise self.error(f"duplicate key '{key}' in {what} (first at line {first})", key_node)

    # ---- the document

    def read(self, text: str) -> Circuit:
        root = self.compose(text)
        if root is None:
            raise CircuitError(
                "empty YAML document: expected a mapping with inputs, outputs and gates",
                SourceLoc(self.path, 1),
            )
        if not isinstance(root, MappingNode):
            raise self.error(
                f"top level must be a mapping with keys {', '.join(_TOP_KEYS)}, got {_kind(root)}",
                root,
            )
        top = self.mapping(root, _TOP_KEYS, "the top-level mapping")
        for required in ("inputs", "outputs"):
            if required not in top:
                raise self.error(f"missing required key '{required}'", root)
        default = Path(self.path).stem if self.path else "circuit"
        name = self.string(top["name"][1], "name") if "name" in top else default
        builder = CircuitBuilder(name, self.path)
        self.add_inputs(builder, top["inputs"][1])
        if "gates" in top:
            self.add_gates(builder, top["gates"][1])
        self.add_outputs(builder, top["outputs"][1])
        circuit = builder.build()
        if self.warnings is not None:
            self.warnings.extend(builder.warnings)
        return circuit

    def compose(self, text: str) -> Node | None:
        """The node tree; syntax errors become CircuitErrors at the line YAML points to."""
        try:
            self.check_depth(text)
            return yaml.compose(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            detail = ": ".join(p for p in (exc.context, exc.problem) if p)
            raise CircuitError(f"YAML syntax error: {detail}", SourceLoc(self.path, line)) from None
        except yaml.reader.ReaderError:
            bad = _NON_PRINTABLE.search(text)
            where = (bad.start(), f"U+{ord(bad.group()):04X}") if bad else (0, "a character")
            raise CircuitError(
                f"YAML syntax error: {where[1]} is not allowed in YAML text (unprintable)",
                SourceLoc(self.path, text.count("\n", 0, where[0]) + 1),
            ) from None
        except yaml.YAMLError as exc:
            message = " ".join(str(exc).split())
            raise CircuitError(f"YAML syntax error: {message}", SourceLoc(self.path)) from None

    def check_depth(self, text: str) -> None:
        """Refuse absurd nesting before composing: libyaml's composer recurses in C and
        crashes the interpreter on ~10^4 nested ``[``. The event scan is iterative and cheap
        (a fifth of the composing time)."""
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, _OPEN):
                depth += 1
                if depth > _MAX_DEPTH:
                    raise self.error(f"YAML nesting deeper than {_MAX_DEPTH} levels", event)
            elif isinstance(event, _CLOSE):
                depth -= 1

    def add_inputs(self, builder: CircuitBuilder, node: Node) -> None:
        for item in self.sequence(node, "inputs", null_ok=True):
            builder.add_input(self.signal(item, "input name"), _line(item))

    def add_outputs(self, builder: CircuitBuilder, node: Node) -> None:
        seen: dict[str, int] = {}
        for item in self.sequence(node, "outputs", null_ok=True):
            name, driver = self.output_item(item)
            if name in seen:
                raise self.error(
                    f"output '{name}' is declared twice (first at line {seen[name]})", item
                )
            seen[name] = _line(item)
            builder.add_output(name, _line(item), driver)

    def output_item(self, item: Node) -> tuple[str, str]:
        """``name`` or ``{name: signal}``."""
        if isinstance(item, MappingNode):
            if len(item.value) != 1:
                raise self.error(
                    "an aliased output is a one-entry mapping {output_name: signal}, "
                    f"got {len(item.value)} entries",
                    item,
                )
            key, value = item.value[0]
            return self.signal(key, "output name"), self.signal(value, "output signal")
        if isinstance(item, ScalarNode):
            name = self.signal(item, "output name")
            return name, name
        raise self.error(
            "each output must be a signal name or a mapping {output_name: signal}, got a list",
            item,
        )

    def add_gates(self, builder: CircuitBuilder, node: Node) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.error(
                f"gates must be a mapping (gate name: definition), got {_kind(node)}", node
            )
        for key_node, value_node in node.value:
            name = self.signal(key_node, "gate name")
            loc = SourceLoc(self.path, _line(key_node))
            builder.add_gate(self.gate(name, value_node, loc))

    def gate(self, name: str, node: Node, loc: SourceLoc) -> Gate:
        if isinstance(node, SequenceNode):
            return self.op_gate(name, node, loc)
        if isinstance(node, MappingNode):
            return self.cover_gate(name, node, loc)
        raise self.error(
            f"gate '{name}' must be [op, inputs...] or {{cover: [...], inputs: [...]}}, "
            f"got {_kind(node)}",
            node,
        )

    def op_gate(self, name: str, node: SequenceNode, loc: SourceLoc) -> Gate:
        """``[op, fanin...]`` with a symmetric op."""
        if not node.value:
            raise self.error(f"gate '{name}' is an empty list; write [op, inputs...]", node)
        op_node, *fanin_nodes = node.value
        op = self.string(op_node, f"op of gate '{name}'").upper()
        if op == "SOP":
            raise self.error(
                f"gate '{name}': write SOP gates as {{cover: [...], inputs: [...]}}", op_node
            )
        if op not in OPS:
            raise self.error(
                f"unknown op '{op_node.value}' for gate '{name}' (known: {_KNOWN_OPS})", op_node
            )
        fanin = tuple(self.signal(n, f"input of gate '{name}'") for n in fanin_nodes)
        return Gate(name, op, fanin, None, loc)

    def cover_gate(self, name: str, node: MappingNode, loc: SourceLoc) -> Gate:
        """``{cover: [cubes], inputs: [fanin], offset: bool}``."""
        fields = self.mapping(node, _COVER_KEYS, f"gate '{name}'")
        if "cover" not in fields:
            raise self.error(f"gate '{name}' needs a 'cover' list (or write [op, inputs...])", node)
        fanin: tuple[str, ...] = ()
        if "inputs" in fields:
            items = self.sequence(fields["inputs"][1], f"inputs of gate '{name}'", null_ok=True)
            fanin = tuple(self.signal(n, f"input of gate '{name}'") for n in items)
        cubes = self.cubes(name, fields["cover"][1], len(fanin))
        offset = self.flag(fields["offset"][1], "offset") if "offset" in fields else False
        return Gate(name, "SOP", fanin, Cover(cubes, onset=not offset), loc)

    def cubes(self, name: str, node: Node, width: int) -> tuple[str, ...]:
        """Cube strings; an unquoted ``011`` is taken as written (the raw text, not a number)."""
        cubes: list[str] = []
        for item in self.sequence(node, f"cover of gate '{name}'", null_ok=True):
            if not isinstance(item, ScalarNode):
                raise self.error(f"cube of gate '{name}' must be a string, got {_kind(item)}", item)
            cube = item.value
            if len(cube) != width or cube.strip("01-"):
                raise self.error(
                    f"malformed cube '{cube}' in gate '{name}': need {width} character(s) "
                    "from 0, 1, - (one per input)",
                    item,
                )
            cubes.append(cube)
        return tuple(cubes)

    def flag(self, node: Node, what: str) -> bool:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return node.value.lower() in ("true", "yes", "on")
        raise self.error(f"{what} must be true or false, got {_kind(node)}", node)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return repr(node.value) if node.tag == _STR else (node.value or "null")


@paused_gc()
def parse_yaml(
    text: str, path: str | None = None, warnings: list[str] | None = None, *, fast: bool = True
) -> Circuit:
    """Parse the YAML circuit format into a validated Circuit (raises CircuitError with
    file:line). Unused inputs are reported through ``warnings`` when it is given.

    Text in the regular shape the writers emit is read by a line-oriented fast reader
    (:mod:`circuit2mlp.formats.yaml_fast`); anything else, and every invalid circuit, by the
    composing reader, which alone reports errors. ``fast=False`` skips the fast reader (the
    two give equal circuits; the tests compare them)."""
    check_text(text, path)
    if fast:
        circuit = read_regular(text, path, warnings)
        if circuit is not None:
            return circuit
    return _YamlReader(path, warnings).read(text)


# --------------------------------------------------------------------------------- writer

# plain (unquoted) only for names that cannot be misread in a flow collection
_PLAIN = re.compile(r"[A-Za-z0-9_$(][A-Za-z0-9_$().<>/+=@-]*\Z")
_RESOLVER = yaml.resolver.Resolver()
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def _scalar(text: str) -> str:
    """``text`` as a YAML flow scalar that reads back as exactly this string."""
    if _PLAIN.match(text) and _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR:
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def _escape(char: str) -> str:
    """One character inside a double-quoted scalar: printable ones as they are, the rest
    (controls, line and paragraph separators, tabs...) as YAML escapes."""
    if char in '\\"':
        return "\\" + char
    if char == " " or not (_NON_PRINTABLE.match(char) or char.isspace()):
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _flow_field(key: str, items: list[str], width: int = 98) -> str:
    """``key: [a, b, c]``, continued on indented lines so no line passes ``width`` (unless a
    single item is that long)."""
    lines: list[str] = []
    current = f"{key}: ["
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        if len(current) + len(piece) > width and current.strip()[-1] != "[":
            lines.append(current.rstrip())
            current = "  "
        current += piece + " "
    if not items:
        current += "]"
    lines.append(current.rstrip())
    return "\n".join(lines)


def _gate_value(gate: Gate) -> str:
    fanin = [_scalar(s) for s in gate.fanin]
    if gate.cover is None:
        return "[" + ", ".join([gate.op.lower(), *fanin]) + "]"
    cubes = ", ".join(f'"{cube}"' for cube in gate.cover.cubes)
    text = f"{{cover: [{cubes}], inputs: [{', '.join(fanin)}]"
    return text + (", offset: true}" if not gate.cover.onset else "}")


def write_yaml(circuit: Circuit) -> str:
    """The circuit in the YAML format: deterministic (gates in circuit order, one flow-style
    line each) and exact: ``parse_yaml(write_yaml(c)) == c``."""
    outputs = [
        _scalar(n) if n == d else f"{{{_scalar(n)}: {_scalar(d)}}}"
        for n, d in zip(circuit.outputs, circuit.drivers, strict=True)
    ]
    lines = [
        "# circuit2mlp circuit (format: docs/yaml-format.md)",
        f"name: {_scalar(circuit.name)}",
        _flow_field("inputs", [_scalar(s) for s in circuit.inputs]),
        _flow_field("outputs", outputs),
        "gates:" if circuit.gates else "gates: {}",
    ]
    lines.extend(f"  {_scalar(g.name)}: {_gate_value(g)}" for g in circuit.gates)
    return "\n".join(lines) + "\n"
