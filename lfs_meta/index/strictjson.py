"""Strict JSON reading: everything `json.loads` lets through silently, reported as problems."""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from lfs_meta.index.problem import Problem, json_pointer

MAX_INDEX_BYTES = 1 << 30
MAX_DEPTH = 64

_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class NonFinite:
    """Stands in for a number that cannot be read as one (NaN and Infinity, which JSON does not have;
    1e999999, which a float holds only as infinity; an integer too long to convert), so it can be
    located."""

    def __init__(self, message: str, fix: str) -> None:
        self.message = message
        self.fix = fix


@dataclass
class _Hooks:
    duplicates: dict[int, list[str]] = field(default_factory=dict)
    non_finite: bool = False

    def object_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            repeated = []
            for key, _ in pairs:
                if key in seen and key not in repeated:
                    repeated.append(key)
                seen.add(key)
            self.duplicates[id(obj)] = repeated
        return obj

    def constant(self, name: str) -> NonFinite:
        self.non_finite = True
        return NonFinite(f"{name} is not a JSON number", "write a finite number")

    def number(self, text: str) -> float | NonFinite:
        value = float(text)
        if math.isfinite(value):
            return value
        self.non_finite = True
        shown = text if len(text) <= 30 else text[:27] + "..."
        return NonFinite(
            f"{shown} is too large for a number (it would be read as infinity)",
            "write a finite number (under 'extra', a string can hold any value)",
        )

    def integer(self, text: str) -> int | NonFinite:
        try:
            return int(text)
        except ValueError:  # over Python's limit on the digits of an integer
            self.non_finite = True
            digits = len(text.lstrip("-"))
            limit = sys.get_int_max_str_digits()
            return NonFinite(
                f"unreadable number: an integer of {digits:,} digits, over the {limit:,}-digit limit",
                "write a shorter number (under 'extra', a string can hold any value)",
            )


@dataclass
class Parsed:
    data: Any
    problems: list[Problem]


def parse(raw: bytes, max_bytes: int = MAX_INDEX_BYTES) -> Parsed:
    """Parse an index file's bytes; `data` is None when the text is not usable JSON."""
    too_big = size_problem(len(raw), max_bytes)
    if too_big:
        return Parsed(None, [too_big])
    fast = parse_canonical(raw)  # before decoding: the text would be one more copy of the file held
    if fast is not None:
        return Parsed(fast, [])
    text = _decode(raw)
    if isinstance(text, Problem):
        return Parsed(None, [text])
    hooks = _Hooks()
    try:
        data = _loads(text, hooks)
    except json.JSONDecodeError as exc:
        return Parsed(None, [_syntax_problem(exc)])
    except RecursionError:
        return Parsed(None, [_too_deep(pointer=None)])
    except ValueError as exc:
        return Parsed(None, [Problem(f"unreadable number: {exc}", "write sizes as plain integers")])
    problems: list[Problem] = []
    if hooks.duplicates or hooks.non_finite or _SURROGATE_ESCAPE.search(raw):
        problems.extend(_located_problems(data, hooks))
    return Parsed(data, problems)


def _loads(text: str, hooks: _Hooks) -> Any:
    """Every number that is no finite float or readable integer becomes a NonFinite."""
    read = functools.partial(
        json.loads,
        text,
        object_pairs_hook=hooks.object_pairs,
        parse_constant=hooks.constant,
        parse_float=hooks.number,
    )
    try:
        return read()
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
    # An integer over Python's digit limit: read again, each integer through Python code (slower),
    # to say where it is.
    hooks.duplicates.clear()
    hooks.non_finite = False
    return read(parse_int=hooks.integer)


def parse_canonical(raw: bytes) -> Any | None:
    """The parse of an index as lfs-meta writes it (sorted keys, two-space indent), 2x faster than
    the strict reader; None for any other text, which the strict reader then reads.

    orjson alone is not strict: it keeps one of two duplicate keys and reads integers beyond 64 bits
    as floats. Text that is exactly orjson's own writing of what it read has neither.
    """
    try:
        data = orjson.loads(raw)
        written = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return data if raw.startswith(written) and raw[len(written) :] in (b"", b"\n") else None


def size_problem(size: int, max_bytes: int = MAX_INDEX_BYTES) -> Problem | None:
    if size <= max_bytes:
        return None
    return Problem(
        f"file is {size:,} bytes, over the {max_bytes:,}-byte limit for an index",
        "check that this is the lfs-meta index and not a data file",
    )


def _decode(raw: bytes) -> str | Problem:
    if not raw.strip():
        return Problem("file is empty", "an index with no entries is written as {}")
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            return Problem(
                f"file starts with a {encoding} byte-order mark",
                "save it as UTF-8 without a BOM",
            )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return Problem(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
            line=line,
            column=column,
        )


def _syntax_problem(exc: json.JSONDecodeError) -> Problem:
    return Problem(
        f"invalid JSON: {exc.msg}",
        "fix the syntax (no comments, no trailing commas, double-quoted keys)",
        line=exc.lineno,
        column=exc.colno,
    )


def _too_deep(pointer: str | None) -> Problem:
    return Problem(
        f"nested more than {MAX_DEPTH} levels deep",
        "keep values under 'extra' shallow",
        pointer=pointer,
    )


def walk(data: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) in `data`, depth first, without recursion."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))


def depth_problems(data: Any, prefix: tuple[str | int, ...]) -> list[Problem]:
    """Nesting below MAX_DEPTH counted from the document root; `data` sits at `prefix`."""
    for path, _ in walk(data):
        if len(prefix) + len(path) > MAX_DEPTH:
            return [_too_deep(json_pointer(prefix + path[:1]))]
    return []


def _located_problems(data: Any, hooks: _Hooks) -> Iterator[Problem]:
    for path, value in walk(data):
        if isinstance(value, dict):
            for key in hooks.duplicates.get(id(value), ()):
                yield Problem(
                    f"duplicate key {key!r} (JSON keeps only the last one)",
                    "merge the two into one",
                    pointer=json_pointer((*path, key)),
                )
            for key in value:
                if _SURROGATE.search(key):
                    yield _surrogate_problem((*path, key), "key")
        elif isinstance(value, NonFinite):
            yield Problem(value.message, value.fix, pointer=json_pointer(path))
        elif isinstance(value, str) and _SURROGATE.search(value):
            yield _surrogate_problem(path, "value")


def _surrogate_problem(path: tuple[str | int, ...], what: str) -> Problem:
    return Problem(
        f"{what} contains an unpaired UTF-16 surrogate escape",
        "write the character itself or a valid \\uXXXX pair",
        pointer=json_pointer(path),
    )
