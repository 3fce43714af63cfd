"""What an index key (a repo-relative path) may look like."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_PATH_LENGTH = 4096
RESERVED_DIRS = (".git", ".lfs-meta")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_PLAIN_SEGMENT = r"(?!(?:\.|\.\.|\.git)(?:/|$))[^\x00-\x1f\x7f\\/]+"
_PLAIN_PATH = re.compile(
    rf"(?!\.lfs-meta(?:/|$))(?![a-z]:){_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*", re.IGNORECASE
)


def path_problems(path: str) -> list[tuple[str, str]]:
    """(what is wrong, how to fix it) for one index key; empty when it is a usable path."""
    if len(path) <= MAX_PATH_LENGTH and _PLAIN_PATH.fullmatch(path):
        return []  # the usual path, accepted by one regex: a large index has one per entry
    return all_path_problems(path)


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
    conflicts = []
    for path in sorted(tracked):
        slash = path.find("/")
        while slash != -1:
            if path[:slash] in tracked:
                conflicts.append((path, path[:slash]))
                break
            slash = path.find("/", slash + 1)
    return conflicts
