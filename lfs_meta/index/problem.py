from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lfs_meta.terminal import printable

__all__ = ["Problem", "describe", "json_pointer", "printable"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, located by JSON pointer or by line and column."""

    message: str
    fix: str | None = None
    pointer: str | None = None
    line: int | None = None
    column: int | None = None

    def format(self, filename: str) -> str:
        if self.line is not None:
            where = f"{filename}:{self.line}:{self.column}:"
        elif self.pointer:
            where = f"{filename}: {self.pointer}:"
        else:
            where = f"{filename}:"
        text = f"{where} {self.message}"
        if self.fix:
            text = f"{text}; {self.fix}"
        return printable(text)

    def as_json(self, filename: str) -> dict[str, Any]:
        return {
            "file": filename,
            "pointer": self.pointer,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "fix": self.fix,
        }


def json_pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer; '' is the whole document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def describe(value: Any) -> str:
    """A short, safe description of a JSON value for messages (never a 50 MB repr)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        text = str(value)
        return f"the number {text if len(text) <= 30 else text[:27] + '...'}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
