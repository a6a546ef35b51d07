"""Fast reader for the regular shape of the YAML circuit format that the writers emit.

Composing YAML with libyaml costs ~40 µs per gate line (the node tree holds a Python object
with two position marks for every scalar), so a 10^6-gate file took over a minute. Files
written by :func:`~circuit2mlp.formats.yaml_format.write_yaml` (and by ``generate``, and the
circuit embedded in every weights file) have a rigid line structure::

    # comment lines at column 0, blank lines
    name: scalar
    inputs: [a, b,                      # a flow list, continued on indented lines
      c]
    outputs: [y, {alias: signal}]
    gates:                              # or: gates: {}
      g1: [and, a, b]                   # one gate per line, all at the same indentation
      g2: {cover: ["1-", "01"], inputs: [a, b], offset: true}

where every scalar is either plain, from the writer's plain alphabet, or double-quoted
printable ASCII without escapes. :func:`read_regular` reads exactly that shape with
line-anchored regular expressions and returns ``None`` for anything else: other YAML syntax,
other spacing, trailing comments, tabs, non-ASCII text, and also any *invalid* circuit. The
caller then runs the full composing reader, which is the only one that reports errors, so
every message (and its line) is the one it always was; a file only pays twice when it is
irregular or wrong.

What a plain scalar means is decided by PyYAML's own resolver (the one the full reader's
loader uses), so ``on``, ``0x1F`` or ``~`` are refused here exactly as there; a double-quoted
scalar without escapes is its text. The test suite checks that both readers give equal
circuits (and equal lines and warnings) on random circuits, and the same verdict on fuzzed
text.
"""

from __future__ import annotations

import re
from itertools import repeat
from pathlib import Path

import yaml
from yaml.nodes import ScalarNode

from circuit2mlp.errors import SourceLoc
from circuit2mlp.formats.text import NotPlain, plain_or_none
from circuit2mlp.ir import OPS, Circuit, CircuitBuilder, Cover, Gate

_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
# first characters for which the resolver may give a plain scalar a non-string tag
_RISKY = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)

_PLAIN = r"[A-Za-z0-9_$(][A-Za-z0-9_$().<>/+=@-]*"
_QUOTED = r'"[ !#-\[\]-~]*"'  # printable ASCII except " and \
_SCALAR = rf"(?:{_PLAIN}|{_QUOTED})"
_SCALARS = rf"{_SCALAR}(?:, {_SCALAR})*"
_ITEM = rf"(?:{_SCALAR}|\{{{_SCALAR}: {_SCALAR}\}})"
_ITEMS = re.compile(rf"(?:{_ITEM}(?:, {_ITEM})*)?")
_ITEM_PARTS = re.compile(rf"({_SCALAR})|\{{({_SCALAR}): ({_SCALAR})\}}")
_SCALAR_RE = re.compile(_SCALAR)
_SCALAR_FULL = re.compile(_SCALAR + r"\Z")
_TOP = re.compile(r"(name|inputs|outputs|gates):(?: (.*))?\Z")
_CUBES = r'"[01-]*"(?:, "[01-]*")*'
# one gate: name, then [op, fanin...] or {cover: [cubes], inputs: [fanin]} with an optional
# offset; the groups are name, op list, cubes, cover inputs, offset
_GATE_LINE = (
    rf"({_SCALAR}): (?:\[({_SCALARS})\]|\{{cover: \[((?:{_CUBES})?)\], "
    rf"inputs: \[((?:{_SCALARS})?)\](, offset: (?:true|false))?\}})"
)
# the characters of regular text: line feed and printable ASCII (no tab, CR, DEL, controls)
_REGULAR_BYTES = bytes([10, *range(32, 127)])
# tokens that need a closer look: quoted, or plain with a first character the resolver watches
_ODD_START = _RISKY | {'"'}
_ODD_ITEM = re.compile(r"(?:^|, )[" + re.escape("".join(sorted(_ODD_START))) + "]")


def _plain_is_string(token: str, cache: dict[str, bool] = {}) -> bool:  # noqa: B006
    """True when YAML reads the plain scalar ``token`` as a string (not a bool, number...)."""
    if token[0] not in _RISKY:
        return True
    known = cache.get(token)
    if known is None:
        known = _RESOLVER.resolve(ScalarNode, token, (True, False)) == _STR
        if len(cache) < 4096:
            cache[token] = known
    return known


def _value(token: str) -> str:
    """The string a scalar token stands for; NotPlain if it is not a non-empty string."""
    if token[0] == '"':
        if len(token) == 2:
            raise NotPlain
        return token[1:-1]
    if not _plain_is_string(token):
        raise NotPlain
    return token


def _scalars(text: str) -> list[str]:
    """Tokens of ``a, "b c", d`` (already validated), quoted ones with their quotes."""
    if '"' not in text:
        return text.split(", ")
    return _SCALAR_RE.findall(text)


class _RegularReader:
    def __init__(self, text: str, path: str | None) -> None:
        self.lines = text.split("\n")
        self.path = path

    def read(self, warnings: list[str] | None) -> Circuit:
        top = self.top_level()
        if "inputs" not in top or "outputs" not in top:
            raise NotPlain
        name = Path(self.path).stem if self.path else "circuit"
        if "name" in top:
            token = top["name"][2]
            if token is None or not _SCALAR_FULL.match(token):
                raise NotPlain
            name = token[1:-1] if token[0] == '"' else token
            if token[0] != '"' and not _plain_is_string(token):
                raise NotPlain
        builder = CircuitBuilder(name, self.path)
        for item, _, line in self.flow_list(*top["inputs"]):
            if item is None:
                raise NotPlain
            builder.add_input(item, line)
        if "gates" in top:
            self.add_gates(builder, *top["gates"])
        outputs = [
            (item, driver, line) if item is not None else (*driver, line)
            for item, driver, line in self.flow_list(*top["outputs"])
        ]
        if len({name for name, _, _ in outputs}) < len(outputs):
            raise NotPlain  # an output declared twice
        builder.add_outputs(outputs)
        circuit = builder.build()
        if warnings is not None:
            warnings.extend(builder.warnings)
        return circuit

    def top_level(self) -> dict[str, tuple[int, int, str | None]]:
        """Top-level key -> (its 1-based line, the last line of its value, the value text on
        the key's line or None). A block (``gates:``) ends at the first unindented line."""
        top: dict[str, tuple[int, int, str | None]] = {}
        lines = self.lines
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            i += 1
            if not line or line[0] == "#":
                continue
            match = _TOP.match(line)
            if match is None or match.group(1) in top:
                raise NotPlain
            key, value, first = match.group(1), match.group(2), i
            if value is None:
                while i < n and lines[i][:1] == " ":
                    i += 1
            elif value[:1] == "[":
                while not lines[i - 1].endswith("]"):
                    if i >= n or lines[i][:1] != " ":
                        raise NotPlain
                    i += 1
            top[key] = (first, i, value)
        return top

    def flow_list(
        self, first: int, last: int, value: str | None
    ) -> list[tuple[str | None, str | tuple[str, str], int]]:
        """Items of the flow list on lines first..last: (name, name, line) for a scalar,
        (None, (name, signal), line) for a one-entry mapping."""
        if value == "[]":
            return []
        if value is None or value[:1] != "[":
            raise NotPlain  # a null or block list: rare, left to the full reader
        lines = self.lines
        out: list[tuple[str | None, str | tuple[str, str], int]] = []
        for number in range(first, last + 1):
            body = value[1:] if number == first else lines[number - 1].lstrip(" ")
            if number == last:
                if not body.endswith("]"):
                    raise NotPlain
                body = body[:-1]
            elif not body.endswith(","):
                raise NotPlain
            else:
                body = body[:-1]
            if not body:
                raise NotPlain
            if not _ITEMS.fullmatch(body):
                raise NotPlain
            if "{" not in body:
                if _ODD_ITEM.search(body):
                    tokens = [_value(token) for token in _scalars(body)]
                else:
                    tokens = body.split(", ")
                out.extend(zip(tokens, tokens, repeat(number, len(tokens)), strict=True))
                continue
            for scalar, key, signal in _ITEM_PARTS.findall(body):
                if scalar:
                    item = _value(scalar)
                    out.append((item, item, number))
                else:
                    out.append((None, (_value(key), _value(signal)), number))
        return out

    def add_gates(self, builder: CircuitBuilder, first: int, last: int, value: str | None) -> None:
        """The gate lines after the ``gates:`` line ``first`` up to line ``last``."""
        if value is not None:
            if value != "{}":
                raise NotPlain
            return
        block = self.lines[first:last]
        if not block:
            return
        indent = len(block[0]) - len(block[0].lstrip(" "))
        text = "\n".join(block)
        rows = re.compile(rf"^ {{{indent}}}{_GATE_LINE}$", re.M).findall(text)
        if len(rows) != len(block):
            raise NotPlain
        names = [row[0] for row in rows]
        if not _ODD_START.isdisjoint({name[0] for name in names}):
            names = [_value(name) for name in names]
        ops: dict[str, str] = {}
        covers: dict[tuple[str, str], tuple[Cover, int]] = {}
        kinds: list[tuple[str, Cover | None]] = []
        fanins: list[tuple[str, ...]] = []
        for _, items, cubes, cover_inputs, offset in rows:
            if items:
                tokens = _scalars(items) if '"' in items else items.split(", ")
                op = ops.get(tokens[0])
                if op is None:
                    op = ops[tokens[0]] = _op(tokens[0])
                kinds.append((op, None))
                fanins.append(tuple(tokens[1:]))
                continue
            fanin = tuple(_scalars(cover_inputs)) if cover_inputs else ()
            known = covers.get((cubes, offset))
            if known is None:
                known = covers[cubes, offset] = _cover(cubes, offset)
            if known[1] >= 0 and known[1] != len(fanin):
                raise NotPlain  # a cube of the wrong width
            kinds.append(("SOP", known[0]))
            fanins.append(fanin)
        fanins = _resolve(fanins)
        path = self.path
        builder.add_gates(
            [
                Gate(name, op, fanin, cover, SourceLoc(path, line))
                for line, name, (op, cover), fanin in zip(
                    range(first + 1, last + 1), names, kinds, fanins, strict=True
                )
            ]
        )


def _cover(cubes: str, offset: str) -> tuple[Cover, int]:
    """The Cover of ``cover: [cubes]`` (quoted cube text) and its cube width (-1: no cubes)."""
    cube_list = tuple(c[1:-1] for c in cubes.split(", ")) if cubes else ()
    widths = {len(c) for c in cube_list}
    if len(widths) > 1:
        raise NotPlain
    width = widths.pop() if widths else -1
    return Cover(cube_list, onset=offset != ", offset: true"), width


def _resolve(fanins: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Fan-in tokens as names: checked once per distinct token; quoted ones unquoted."""
    distinct = set().union(*fanins)
    odd = [t for t in distinct if t[0] in _ODD_START]
    if not odd:
        return fanins
    values = {t: _value(t) for t in odd}
    values = {t: v for t, v in values.items() if v != t}
    if not values:
        return fanins
    return [tuple(values.get(t, t) for t in fanin) for fanin in fanins]


def _op(token: str) -> str:
    op = _value(token).upper()
    if op not in OPS or op == "SOP":
        raise NotPlain
    return op


def read_regular(text: str, path: str | None, warnings: list[str] | None) -> Circuit | None:
    """The circuit in ``text`` if the text has the regular shape and is valid, else None
    (then the full reader must run: it alone reports errors)."""
    if not text.isascii() or text.encode("ascii").translate(None, _REGULAR_BYTES):
        return None
    return plain_or_none(_RegularReader(text, path).read, warnings)
