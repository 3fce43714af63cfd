"""What an index key (a repo-relative path) may look like."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

MAX_PATH_LENGTH = 4096
RESERVED_DIRS = (".git", ".lfs-meta")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# A segment ends at '/', at the end, or (in `all_plain`'s one string of many paths) at a newline,
# which no plain path contains.
_PLAIN_SEGMENT = r"(?!(?:\.|\.\.|\.git)(?:/|\n|\Z))[^\x00-\x1f\x7f\\/]+"
_PLAIN = rf"(?!\.lfs-meta(?:/|\n|\Z))(?![a-z]:){_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*"
_PLAIN_PATH = re.compile(_PLAIN, re.IGNORECASE)
_PLAIN_PATHS = re.compile(rf"{_PLAIN}(?:\n{_PLAIN})*", re.IGNORECASE)


def path_problems(path: str) -> list[tuple[str, str]]:
    """(what is wrong, how to fix it) for one index key; empty when it is a usable path."""
    if len(path) <= MAX_PATH_LENGTH and _PLAIN_PATH.fullmatch(path):
        return []  # the usual path, accepted by one regex: a large index has one per entry
    return all_path_problems(path)


def all_plain(paths: Collection[str]) -> bool:
    """Whether every path is accepted by `path_problems`' one regex: one match over them all, not one
    per path (a large index has hundreds of thousands)."""
    if not paths:
        return True
    joined = "\n".join(paths)
    return (
        max(map(len, paths)) <= MAX_PATH_LENGTH
        and joined.count("\n") == len(paths) - 1  # no newline inside a path
        and bool(_PLAIN_PATHS.fullmatch(joined))
    )


def all_path_problems(path: str) -> list[tuple[str, str]]:
    fix = "write a repo-relative POSIX path such as data/sample.vcf"
    if not path:
        return [("path is empty", fix)]
    if len(path) > MAX_PATH_LENGTH:
        return [(f"path is longer than {MAX_PATH_LENGTH} characters", fix)]
    problems = []
    if _CONTROL.search(path):
        problems.append(("path contains NUL or control characters", fix))
    if "\\" in path:
        problems.append(("path contains a backslash", "use '/' between directories"))
    if path.startswith("/") or _DRIVE.match(path):
        problems.append(("path is absolute", fix))
    segments = path.strip("/").split("/") if path.startswith("/") else path.split("/")
    if "" in segments:
        problems.append(("path has an empty segment ('//' or a trailing '/')", fix))
    if "." in segments or ".." in segments:
        problems.append(("path contains '.' or '..'", fix))
    lowered = [segment.lower() for segment in segments]
    if lowered[0] in RESERVED_DIRS or ".git" in lowered:
        problems.append(("path points inside .git/ or .lfs-meta/", "track files outside those directories"))
    return problems


def nesting_conflicts(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, ancestor) pairs where a tracked file would also have to be a directory."""
    tracked = set(paths)
    if tracked.isdisjoint(_directories(tracked)):
        return []
    conflicts = []
    for path in sorted(tracked):
        slash = path.find("/")
        while slash != -1:
            if path[:slash] in tracked:
                conflicts.append((path, path[:slash]))
                break
            slash = path.find("/", slash + 1)
    return conflicts


def _directories(paths: Iterable[str]) -> set[str]:
    """Every directory holding one of `paths` at any depth: found level by level from the few distinct
    parents, not from every path's every ancestor."""
    found: set[str] = set()
    level = {path.rpartition("/")[0] for path in paths} - {""}
    while level:
        found |= level
        level = {directory.rpartition("/")[0] for directory in level} - found - {""}
    return found
