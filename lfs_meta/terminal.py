"""What reaches a terminal: every character of outside text that a terminal would act on, escaped.

Keys, ETags, version ids, paths and servers' messages can hold ESC sequences, C1 controls (U+009B is
CSI), bidi overrides that reorder what is shown, or lone surrogates. `printable` writes each as
\\uXXXX. `guarded` applies the same rule to every write to stdout and stderr while a command runs, so
no message depends on its author remembering to call it; only '\\n' and '\\t' (TSV) pass as they are.
JSON output stays valid: JSON text never holds these characters raw outside a string, and in a string
\\uXXXX is the same character.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

# Beyond C0 and DEL: C1 controls, bidi overrides and isolates, lone surrogates (a regex class's inside).
BEYOND_C0 = "\x80-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
UNPRINTABLE = re.compile(f"[\x00-\x1f\x7f{BEYOND_C0}]")
ERASE_LINE = "\r\x1b[K"  # the one control lfs-meta sends: progress.py redraws its line with it


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f{BEYOND_C0}]")  # UNPRINTABLE but newline and tab


def printable(text: str) -> str:
    """`text` with every character a terminal would act on written as \\uXXXX: one line, always."""
    return UNPRINTABLE.sub(_escaped, text)


def safe_lines(text: str) -> str:
    """`printable`, keeping newlines and tabs: what every write to stdout and stderr goes through."""
    if text.isprintable() or text == "\n":  # nearly every write: no character to look for
        return text
    return UNSAFE.sub(_escaped, text)


class SafeStream:
    """A text stream that writes through `safe_lines`; everything else is the wrapped stream's."""

    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        # ERASE_LINE written on its own passes: the one control lfs-meta sends, and harmless.
        self.wrapped.write(text if text == ERASE_LINE else safe_lines(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding...
        return getattr(self.wrapped, name)


@contextmanager
def guarded() -> Iterator[None]:
    """stdout and stderr through `safe_lines` until the block ends, then as they were."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (
        stream if isinstance(stream, SafeStream) else cast(TextIO, SafeStream(stream)) for stream in saved
    )
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
