"""Shared fuzzing machinery: the seed corpus, byte-level mutators and the outcome oracle.

Used by ``tests/test_fuzz.py`` (driven by hypothesis, small budget) and by
``benchmarks/fuzz.py`` (driven by ``random.Random``, long campaign), so the two exercise exactly
the same mutations. Every mutator takes a ``random.Random``: hypothesis supplies one through
``st.randoms()`` (so its choices are recorded and replayable), the campaign a seeded one.

The oracle is the reliability contract of the project: feeding *anything* to a parser gives
either a valid :class:`Circuit` or a :class:`UserError` whose message is one line. A valid
circuit must also survive the exact YAML round trip (``parse_yaml(write_yaml(c)) == c``),
which catches parsers that accept garbage and build an IR that later stages would choke on.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from circuit2mlp.errors import UserError
from circuit2mlp.formats import EXTENSIONS, load_circuit, parse_circuit
from circuit2mlp.formats.yaml_format import parse_yaml, write_yaml
from circuit2mlp.ir import Circuit

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "circuits"
FORMATS = ("blif", "bench", "yaml")


@dataclass(frozen=True)
class Seed:
    """One real circuit file of the corpus: the starting point of mutations."""

    name: str
    fmt: str
    data: bytes


def load_seeds(root: Path = CORPUS) -> list[Seed]:
    """Every circuit file under ``root`` (sorted, so runs are reproducible)."""
    seeds = []
    for path in sorted(root.rglob("*")):
        fmt = EXTENSIONS.get(path.suffix.lower())
        if fmt is not None and path.is_file():
            seeds.append(Seed(str(path.relative_to(root)), fmt, path.read_bytes()))
    return seeds


# ------------------------------------------------------------------------------ mutators

# Tokens that mean something to at least one of the three grammars, plus troublemakers.
SPECIAL_TOKENS: tuple[bytes, ...] = (
    b".names",
    b".inputs",
    b".outputs",
    b".model",
    b".end",
    b".latch",
    b".subckt",
    b".exdc",
    b".conn",
    b".area",
    b"\\",
    b"#",
    b"=",
    b"(",
    b")",
    b",",
    b"INPUT(",
    b"OUTPUT(",
    b"AND(",
    b"DFF(",
    b"vdd",
    b"gnd",
    b"inputs:",
    b"outputs:",
    b"gates:",
    b"cover:",
    b"offset: true",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!python/object:os.system",
    b"!!binary",
    b"? ",
    b"|",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"'",
    b'"',
    b"\t",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\x7f",
    b"\xef\xbb\xbf",  # byte-order mark
    b"\xe2\x80\xa8",  # U+2028 line separator
    b"\xff",
    b"\xc3",  # truncated UTF-8 sequence
    b"\xed\xa0\x80",  # an encoded surrogate (invalid UTF-8)
    b"0",
    b"1",
    b"-",
    b"01-",
    b"1 1",
    b"-1",
    b"99999999999999999999",
    b"null",
    b"~",
    b"true",
    b"and",
    b"xor",
    b"maj",
    b"sop",
    b"const1",
)


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def delete_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    start = rng.randrange(len(lines))
    del lines[start : start + rng.choice((1, 1, 1, 2, 5))]
    return b"\n".join(lines)


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return b"\n".join(lines)


def swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _token_spans(data: bytes) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, byte in enumerate(data):
        if byte in b" \t\r\n,()[]{}:=":
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(data)))
    return spans


def swap_tokens(data: bytes, rng: random.Random) -> bytes:
    spans = _token_spans(data)
    if len(spans) < 2:
        return data
    (a0, a1), (b0, b1) = sorted(rng.sample(spans, 2))
    return data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]


def replace_token(data: bytes, rng: random.Random) -> bytes:
    spans = _token_spans(data)
    if not spans:
        return data
    a0, a1 = rng.choice(spans)
    return data[:a0] + _random_token(rng) + data[a1:]


def delete_token(data: bytes, rng: random.Random) -> bytes:
    spans = _token_spans(data)
    if not spans:
        return data
    a0, a1 = rng.choice(spans)
    return data[:a0] + data[a1:]


def insert_token(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + _random_token(rng) + data[at:]


def _random_token(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind < 6:
        return rng.choice(SPECIAL_TOKENS)
    if kind < 8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    if kind < 9:
        return huge_name(rng)
    return rng.choice((b"x", b"n", b"g", b"N")) + str(rng.randrange(100)).encode()


def huge_name(rng: random.Random) -> bytes:
    """A signal name of 10^3 .. 10^5 characters (ASCII or multibyte UTF-8)."""
    unit = rng.choice((b"a", b"Z9_", "é".encode(), "名".encode(), b"x.y"))
    return unit * rng.choice((1_000, 10_000, 100_000))


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.randrange(1, 9)):
        i = rng.randrange(len(out))
        out[i] = rng.randrange(256) if rng.random() < 0.7 else out[i] ^ (1 << rng.randrange(8))
    return bytes(out)


def non_utf8(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    bad = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff", b"\xf4\x90"))
    return data[:at] + bad + data[at:]


def splice(data: bytes, rng: random.Random, other: bytes | None = None) -> bytes:
    """Head of this file + tail of another (possibly in another format)."""
    other = data if other is None else other
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def case_flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randrange(1, 40))
    chunk = data[i:j]
    return data[:i] + (chunk.upper() if rng.random() < 0.5 else chunk.lower()) + data[j:]


def line_endings(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\n", rng.choice((b"\r\n", b"\r", b"\n\n", b" \\\n", b"\x85")))


MUTATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    delete_lines,
    duplicate_line,
    swap_lines,
    swap_tokens,
    replace_token,
    delete_token,
    insert_token,
    truncate,
    flip_bytes,
    non_utf8,
    splice,
    case_flip,
    line_endings,
)


def mutate(data: bytes, rng: random.Random, others: list[Seed] | None = None) -> bytes:
    """Apply 1 to 4 random mutations (splicing with a random other seed when given)."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        mutator = rng.choice(MUTATORS)
        if mutator is splice and others:
            data = splice(data, rng, rng.choice(others).data)
        else:
            data = mutator(data, rng)
    return data


def random_bytes(rng: random.Random, max_size: int = 512) -> bytes:
    """Unstructured input: raw bytes, or printable soup made of grammar tokens."""
    if rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(max_size)))
    parts = [
        rng.choice((*SPECIAL_TOKENS, b" ", b"\n", b"a", b"b")) for _ in range(rng.randrange(64))
    ]
    return b"".join(parts)


# ------------------------------------------------------------------ pathological inputs


def deep_yaml(depth: int, kind: str = "flow") -> bytes:
    """Nesting ``depth`` levels deep: flow lists, flow mappings or block lists."""
    if kind == "flow":
        return b"inputs: " + b"[" * depth + b"a" + b"]" * depth + b"\noutputs: [a]\n"
    if kind == "map":
        return b"inputs: " + b"{a: " * depth + b"b" + b"}" * depth + b"\noutputs: [a]\n"
    return b"inputs:\n  " + b"- " * depth + b"a\noutputs: [a]\n"  # compact block lists


def alias_bomb(levels: int = 9) -> bytes:
    """The YAML 'billion laughs' shape: each anchor lists the previous one nine times (9^9
    leaves if anything expanded it), inside the ``inputs`` list of an otherwise fine file."""
    items = [b"x", b"&a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = b", ".join([b"*a%d" % (i - 1)] * 9)
        items.append(b"&a%d [%s]" % (i, refs))
    return b"inputs: [" + b", ".join(items) + b"]\noutputs: [x]\n"


def million_lines(fmt: str, n: int = 1_000_000) -> bytes:
    """A syntactically plausible file with ``n`` lines: a chain of buffers (BLIF, .bench) or
    a long gate mapping (YAML). Checks that parsing stays linear and never recurses per line."""
    if fmt == "blif":
        head = b".model big\n.inputs g0\n.outputs g%d\n" % (n // 2)
        body = b"".join(b".names g%d g%d\n1 1\n" % (i, i + 1) for i in range(n // 2))
        return head + body + b".end\n"
    if fmt == "bench":
        head = b"INPUT(g0)\nOUTPUT(g%d)\n" % (n - 2)
        return head + b"".join(b"g%d = NOT(g%d)\n" % (i + 1, i) for i in range(n - 2))
    head = b"inputs: [g0]\noutputs: [g%d]\ngates:\n" % (n - 3)
    return head + b"".join(b"  g%d: [not, g%d]\n" % (i + 1, i) for i in range(n - 3))


def pathological(rng: random.Random, fmt: str, scale: int = 1) -> bytes:
    """One of the hand-made nasty shapes. ``scale`` 1 keeps every input parseable in well under
    a second (for tests); the campaign uses 10, i.e. up to 10^6 nesting levels and 2x10^5-line
    files."""
    choice = rng.randrange(6)
    if choice == 0:
        depth = rng.choice((10, 65, 1_000, 10_000 * scale))
        return deep_yaml(depth, rng.choice(("flow", "map", "block")))
    if choice == 1:
        return alias_bomb(rng.randrange(2, 10))
    if choice == 2:
        name = huge_name(rng)
        return {
            "blif": b".model m\n.inputs " + name + b"\n.outputs " + name + b"\n.end\n",
            "bench": b"INPUT(" + name + b")\nOUTPUT(y)\ny = NOT(" + name + b")\n",
            "yaml": b"inputs: [" + name + b"]\noutputs: [" + name + b"]\n",
        }[fmt]
    if choice == 3:  # a very long logical line
        k = rng.choice((100, 1_000 * scale))
        if fmt == "blif":
            ins = b" \\\n".join(b"x%d" % i for i in range(k))
            return b".model w\n.inputs " + ins + b"\n.outputs y\n.names " + ins + b" y\n.end\n"
        if fmt == "bench":
            decl = b"".join(b"INPUT(x%d)\n" % i for i in range(k))
            return decl + b"OUTPUT(y)\ny = AND(" + b", ".join(b"x%d" % i for i in range(k)) + b")\n"
        args = b", ".join(b"x%d" % i for i in range(k))
        return b"inputs: [" + args + b"]\noutputs: [y]\ngates:\n  y: [xor, " + args + b"]\n"
    if choice == 4:  # many cover rows / wide cubes
        k = rng.choice((1, 16, 64))
        rows = b"".join(
            bytes(rng.choice(b"01-") for _ in range(k)) + b" 1\n" for _ in range(rng.randrange(200))
        )
        ins = b" ".join(b"x%d" % i for i in range(k))
        return b".model c\n.inputs " + ins + b"\n.outputs y\n.names " + ins + b" y\n" + rows
    return million_lines(fmt, rng.choice((10, 1_000, 2_000 * scale)))


# ------------------------------------------------------------------------------- oracle


class ContractViolation(AssertionError):
    """A parser outcome that is neither a valid circuit nor a clean one-line UserError."""


def check_error(exc: UserError) -> str:
    """A UserError must render as exactly one non-empty line starting with a location or
    ``error:``. Returns the line."""
    line = str(exc)
    if not line or "\n" in line or "\r" in line:
        raise ContractViolation(f"error message is not one line: {line!r}")
    if "error: " not in line:
        raise ContractViolation(f"error message has no 'error:' tag: {line!r}")
    return line


def check_circuit(circuit: object) -> Circuit:
    """A parse result must be a Circuit that round-trips exactly through the YAML writer."""
    if not isinstance(circuit, Circuit):
        raise ContractViolation(f"parser returned {type(circuit).__name__}, not a Circuit")
    again = parse_yaml(write_yaml(circuit))
    if again != circuit:
        raise ContractViolation("circuit does not survive the YAML round trip")
    return circuit


def outcome(run: Callable[[], object]) -> str:
    """``"valid"`` or ``"error"`` for an acceptable outcome; anything else propagates (a crash,
    or a ContractViolation)."""
    try:
        result = run()
    except UserError as exc:
        check_error(exc)
        return "error"
    check_circuit(result)
    return "valid"


def outcome_of_load(run: Callable[[], object]) -> str:
    """Like :func:`outcome` for ``Network.load``: a Network, or one clean error line."""
    from circuit2mlp.network import Network

    try:
        network = run()
    except UserError as exc:
        check_error(exc)
        return "error"
    if not isinstance(network, Network):
        raise ContractViolation(f"load returned {type(network).__name__}, not a Network")
    return "valid"


def parse_text(data: bytes, fmt: str, path: str = "fuzz") -> Callable[[], object]:
    """The in-memory entry point: text decoded leniently (surrogate escapes keep odd bytes
    visible as lone surrogates, which the parsers must also survive)."""
    text = data.decode("utf-8", errors="surrogateescape")
    return lambda: parse_circuit(text, fmt, path + "." + fmt)


def parse_file(data: bytes, fmt: str, folder: str | os.PathLike[str]) -> Callable[[], object]:
    """The file entry point (load_circuit): decoding, BOMs and extension dispatch included."""

    def run() -> object:
        fd, name = tempfile.mkstemp(suffix="." + fmt, dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return load_circuit(name)
        finally:
            os.unlink(name)

    return run


# ------------------------------------------------------------------- weights files


def random_array(rng: random.Random) -> object:
    """A small array of a random dtype and shape (never an object array)."""
    import numpy as np

    dtype = rng.choice(("<f4", "<f8", "<i8", "<i4", "|b1", "<U5", "|S3", "<c8", "<f2", "|u1"))
    shape = tuple(rng.randrange(0, 5) for _ in range(rng.randrange(0, 3)))
    size = int(np.prod(shape)) if shape else 1
    values = [rng.choice((0, 1, -1, 2, 0.5, 1e30, float("nan"), float("inf"))) for _ in range(size)]
    if dtype[1] in "US":
        values = [str(v) for v in values]
    elif dtype[1] in "iub":
        values = [0 if v != v or abs(v) > 1e9 else int(v) for v in values]
        if dtype[1] == "u":
            values = [abs(v) for v in values]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array(values, dtype=dtype).reshape(shape)


def mutate_npz(arrays: dict, rng: random.Random) -> dict:
    """An array-level mutation of a weights file's members: what a buggy exporter or a
    hand-edit produces, rather than bit rot. Returns a new dict (inputs untouched)."""
    out = dict(arrays)
    for _ in range(rng.choice((1, 1, 2, 3))):
        # a mutation that numpy refuses (e.g. 2**62 into an int32 array) is skipped
        with contextlib.suppress(OverflowError, ValueError, TypeError):
            _mutate_member(out, rng)
    return out


def _mutate_member(out: dict, rng: random.Random) -> None:
    import json

    import numpy as np

    name = rng.choice(sorted(out)) if out else "format"
    value = out.get(name)
    kind = rng.randrange(9)
    if kind == 0:
        out.pop(name, None)
    elif kind == 1:
        out[name] = random_array(rng)
    elif kind == 2 and value is not None and value.dtype.kind == "f" and value.size:
        value = value.copy()
        value.flat[rng.randrange(value.size)] = rng.choice((np.nan, np.inf, -np.inf, 1e38))
        out[name] = value
    elif kind == 3 and value is not None and value.ndim >= 1:
        out[name] = value[: rng.randrange(value.shape[0] + 1)]
    elif kind == 4 and value is not None and value.ndim == 2:
        out[name] = value.T
    elif kind == 5 and len(out) > 1:
        other = rng.choice(sorted(out))
        out[name], out[other] = out[other], out[name]
    elif kind == 6:
        try:
            meta = json.loads(str(out.get("meta", "{}")))
        except ValueError:
            meta = {}
        if isinstance(meta, dict):
            key = rng.choice(("sparsity", "seed", "gates", "method", "source_sha256", "x"))
            meta[key] = rng.choice((None, -1, 3, 2**70, "3", [1], {"a": 1}, 1.5, True))
            out["meta"] = np.array(json.dumps(meta))
    elif kind == 7 and "circuit" in out:
        text = str(out["circuit"]).encode("utf-8", "surrogatepass")
        out["circuit"] = np.array(mutate(text, rng).decode("utf-8", "surrogateescape"))
    elif kind == 8 and value is not None and value.dtype.kind in "iu" and value.size:
        value = value.copy()
        value.flat[rng.randrange(value.size)] = rng.choice((-1, 0, 1, 2**31, 2**62))
        out[name] = value


def npz_bytes(arrays: dict) -> bytes:
    """``np.savez`` of the arrays (never pickles: object arrays are not produced)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
