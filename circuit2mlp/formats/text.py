"""Checks shared by the parsers on the text they are given.

:func:`~circuit2mlp.formats.load_circuit` decodes files strictly, but the parsers are public
and also read text that never was a file: the circuit embedded in a weights file comes back
from a numpy string array, which can hold any code point. A lone surrogate (U+D800..U+DFFF)
is not a character: it cannot be encoded as UTF-8, so libyaml, the YAML writer and every
output file would fail on it with a raw ``UnicodeEncodeError``. It is refused up front, with
its line, like any other malformed input.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from circuit2mlp.errors import CircuitError, SourceLoc
from circuit2mlp.ir import Circuit

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, path: str | None) -> None:
    """Raise CircuitError (file:line) if ``text`` holds a code point UTF-8 cannot encode."""
    if text.isascii():
        return
    bad = _SURROGATE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise CircuitError(
            f"text holds a lone surrogate U+{ord(bad.group()):04X} at column {column}, which "
            "is not a character (the text was not decoded from valid UTF-8)",
            SourceLoc(path, line),
        )


class NotPlain(Exception):
    """A fast reader gives up: the text needs the full reader, which alone reports errors."""


def plain_or_none(
    read: Callable[[list[str]], Circuit], warnings: list[str] | None
) -> Circuit | None:
    """``read(found)`` -- a fast reader collecting its warnings in ``found`` -- or None when it
    gives up (:class:`NotPlain`) or the circuit is invalid (the full reader then runs and
    reports). Warnings reach ``warnings`` only from a reading that succeeded, so a file is
    never warned about twice."""
    found: list[str] = []
    try:
        circuit = read(found)
    except (NotPlain, CircuitError):
        return None
    if warnings is not None:
        warnings.extend(found)
    return circuit
