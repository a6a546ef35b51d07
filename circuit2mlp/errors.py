"""User-facing errors.

Every problem caused by the user's input (a malformed file, an undefined signal, a bad option
value) is raised as a :class:`UserError`. The CLI turns it into exactly one line on stderr and
exit status 2, so no traceback ever reaches the user for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    """Where something was defined: a file path and a 1-based line number (either may be None)."""

    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        path = self.path if self.path is not None else "<input>"
        return f"{path}:{self.line}" if self.line is not None else path


class UserError(Exception):
    """Bad input or usage: reported as one line, exit status 2."""

    exit_code = 2

    def __init__(self, message: str, loc: SourceLoc | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        text = " ".join(self.message.split())  # always one line
        return f"{self.loc}: error: {text}" if self.loc is not None else f"error: {text}"


class CircuitError(UserError):
    """A circuit file that cannot be parsed or does not describe a valid combinational circuit."""


class NetworkFileError(UserError):
    """A weights file that is corrupt, foreign, or does not match its circuit."""
