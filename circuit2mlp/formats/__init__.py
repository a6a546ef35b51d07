"""Circuit file formats: BLIF, ISCAS ``.bench`` and the project's YAML format.

:func:`load_circuit` is the one entry point the CLI uses: it picks the parser from the file
extension and turns every file-system problem (missing file, directory, unreadable, not UTF-8,
unknown extension) into a one-line :class:`CircuitError` naming the file, so bad input never
shows a traceback. Parsers append warnings (unused inputs, ignored directives) to the optional
``warnings`` list instead of printing, so the caller decides whether the user sees them.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from pathlib import Path

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.formats.bench import parse_bench, write_bench
from circuit2mlp.formats.blif import parse_blif, write_blif
from circuit2mlp.formats.yaml_format import parse_yaml, write_yaml
from circuit2mlp.ir import Circuit

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "VERILOG_EXTENSIONS",
    "format_for_path",
    "load_circuit",
    "parse_bench",
    "parse_blif",
    "parse_circuit",
    "parse_yaml",
    "write_bench",
    "write_blif",
    "write_circuit",
    "write_yaml",
]

FORMATS = ("blif", "bench", "yaml")
EXTENSIONS = {".blif": "blif", ".bench": "bench", ".yaml": "yaml", ".yml": "yaml"}
# Verilog is read from a file only (Yosys synthesizes it to BLIF; see formats/verilog.py), so
# it is not one of the text FORMATS that parse_circuit/write_circuit take.
VERILOG_EXTENSIONS = (".v", ".sv")

Parser = Callable[[str, str | None, list[str] | None], Circuit]
_PARSERS: dict[str, Parser] = {"blif": parse_blif, "bench": parse_bench, "yaml": parse_yaml}
_WRITERS: dict[str, Callable[[Circuit], str]] = {
    "blif": write_blif,
    "bench": write_bench,
    "yaml": write_yaml,
}


def _normalize_format(fmt: str) -> str:
    name = fmt.lower().lstrip(".")
    name = EXTENSIONS.get("." + name, name)
    if name not in FORMATS:
        raise CircuitError(f"unknown circuit format '{fmt}' (known: {', '.join(FORMATS)})")
    return name


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The format a file name implies (by extension, case-insensitive)."""
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        shown = f"'{suffix}'" if suffix else "none"
        known = ", ".join([*EXTENSIONS, *VERILOG_EXTENSIONS])
        raise CircuitError(
            f"unknown circuit file extension {shown} (known: {known})",
            SourceLoc(os.fspath(path)),
        )
    return EXTENSIONS[suffix]


def _read_bytes(path: Path, shown: str) -> bytes:
    loc = SourceLoc(shown)
    if path.is_dir():
        raise CircuitError("is a directory, not a circuit file", loc)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CircuitError("no such file", loc) from None
    except IsADirectoryError:
        raise CircuitError("is a directory, not a circuit file", loc) from None
    except OSError as exc:
        raise CircuitError(f"cannot read file ({exc.strerror or exc})", loc) from None


def _decode(data: bytes, shown: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); bad bytes are reported by line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CircuitError(
            f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column})",
            SourceLoc(shown, line),
        ) from None


def load_circuit(path: str | os.PathLike[str], warnings: list[str] | None = None) -> Circuit:
    """Read and parse a circuit file, choosing the format by extension
    (.blif, .bench, .yaml/.yml; .v/.sv through Yosys, the ``verilog`` extra).
    Raises CircuitError (one line, naming the file)."""
    shown = os.fspath(path)
    if Path(shown).suffix.lower() in VERILOG_EXTENSIONS:
        from circuit2mlp.formats.verilog import parse_verilog

        return parse_verilog(shown, warnings)
    data = _read_bytes(Path(shown), shown)
    fmt = format_for_path(shown)
    return _PARSERS[fmt](_decode(data, shown), shown, warnings)


def parse_circuit(
    text: str, fmt: str, path: str | None = None, warnings: list[str] | None = None
) -> Circuit:
    """Parse circuit text in format ``fmt`` (one of FORMATS; ``yml`` and a leading dot are
    accepted). ``path`` is only used in messages and for the default circuit name."""
    return _PARSERS[_normalize_format(fmt)](text, path, warnings)


def write_circuit(circuit: Circuit, fmt: str) -> str:
    """Circuit text in format ``fmt``; raises CircuitError when the format cannot express the
    circuit (e.g. SOP covers in .bench: normalize first)."""
    return _WRITERS[_normalize_format(fmt)](circuit)
