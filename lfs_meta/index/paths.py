"""What an index key (a repo-relative path) may look like."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable

from lfs_meta.gitnames import HFS_IGNORED, HFS_IGNORED_RE, NTFS_TRAILING
from lfs_meta.terminal import BEYOND_C0, UNPRINTABLE

MAX_PATH_LENGTH = 4096  # bytes in UTF-8, as PATH_MAX counts them
MAX_SEGMENT_BYTES = 255  # NAME_MAX: a longer name is ENAMETOOLONG on Linux and macOS
RESERVED_DIRS = (".git", ".lfs-meta")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A segment of 64 characters or more may be over 255 bytes in UTF-8 (none shorter can be); anchored
# at a segment's start, or the search would try again from every character of a long one.
_LONG_SEGMENT = re.compile(r"(?<![^/\n])[^/\n]{64,}")
_RENAME = "track-remote --path NAME tracks an object under another name"
_DRIVE = re.compile(r"^[A-Za-z]:")
# A segment ends at '/', at the end, or (in `all_plain`'s one string of many paths) at a newline,
# which no plain path contains. The one regex refuses what NTFS takes for '.git' (and '.lfs-meta' first)
# exactly as `all_path_problems` does; a segment holding a character HFS+ ignores always takes the
# full check.
_END = r"(?:/|\n|\Z)"
_NTFS_TAIL = r"[. ]*(?::[^/\n]*)?"


def _plain(allowed: str) -> str:
    """The one regex of a plain path whose segments hold only `allowed` (a class's inside)."""
    segment = rf"(?!(?:\.|\.\.|(?:\.git|git~1){_NTFS_TAIL}){_END})[{allowed}]{{1,255}}"
    return rf"(?!\.lfs-meta{_NTFS_TAIL}{_END})(?![a-z]:){segment}(?:/{segment})*"


# ASCII paths, nearly all, match a regex of ASCII classes, compiled at once; the Unicode one (its
# case-insensitive classes cost milliseconds to compile, on every hook's start) only when needed.
_ASCII = _plain(r"\x20-\x2e\x30-\x5b\x5d-\x7e")
_PLAIN_ASCII_PATH = re.compile(_ASCII, re.IGNORECASE)
_PLAIN_ASCII_PATHS = re.compile(rf"{_ASCII}(?:\n{_ASCII})*", re.IGNORECASE)


@functools.cache
def _plain_unicode(many: bool) -> re.Pattern[str]:
    one = _plain(rf"^\x00-\x1f\x7f{BEYOND_C0}\\/{HFS_IGNORED}")
    return re.compile(rf"{one}(?:\n{one})*" if many else one, re.IGNORECASE)


def path_problems(path: str) -> list[tuple[str, str]]:
    """(what is wrong, how to fix it) for one index key; empty when it is a usable path."""
    plain = _PLAIN_ASCII_PATH if path.isascii() else _plain_unicode(many=False)
    if _fits(path) and plain.fullmatch(path) and _segments_fit(path):
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
        and (joined.isascii() or all(map(_fits, paths)))
        and joined.count("\n") == len(paths) - 1  # no newline inside a path
        and bool((_PLAIN_ASCII_PATHS if joined.isascii() else _plain_unicode(many=True)).fullmatch(joined))
        and _segments_fit(joined)
    )


def _fits(path: str) -> bool:
    return len(path) <= MAX_PATH_LENGTH and (
        path.isascii() or len(path.encode("utf-8", "surrogatepass")) <= MAX_PATH_LENGTH
    )


def _segments_fit(text: str) -> bool:
    """Whether no segment of `text` (paths, or paths joined by newlines, that the plain regex took:
    none over 255 characters) is over 255 bytes in UTF-8."""
    if text.isascii():
        return True
    return all(
        len(found.group().encode("utf-8", "surrogatepass")) <= MAX_SEGMENT_BYTES
        for found in _LONG_SEGMENT.finditer(text)
    )


def all_path_problems(path: str) -> list[tuple[str, str]]:
    fix = "write a repo-relative POSIX path such as data/sample.vcf"
    if not path:
        return [("path is empty", fix)]
    if not _fits(path):
        return [(f"path is longer than {MAX_PATH_LENGTH} bytes in UTF-8", fix)]
    problems = []
    if _CONTROL.search(path):
        problems.append(("path contains NUL or control characters", fix))
    # The rest of what terminal.printable escapes, so a path that passes prints as it is.
    if found := sorted({f"\\u{ord(c):04x}" for c in UNPRINTABLE.findall(path) if c > "\x7f"}):
        problems.append(
            (
                f"path contains C1 control, bidi control or lone surrogate characters ({', '.join(found)}), "
                "which can drive a terminal or disguise the name",
                f"rename it without them; {_RENAME}",
            )
        )
    if "\\" in path:
        problems.append(("path contains a backslash", "use '/' between directories"))
    if path.startswith("/") or _DRIVE.match(path):
        problems.append(("path is absolute", fix))
    segments = path.strip("/").split("/") if path.startswith("/") else path.split("/")
    if "" in segments:
        problems.append(("path has an empty segment ('//' or a trailing '/')", fix))
    if "." in segments or ".." in segments:
        problems.append(("path contains '.' or '..'", fix))
    for segment in segments:
        if len(segment) >= 64 and (size := len(segment.encode("utf-8", "surrogatepass"))) > MAX_SEGMENT_BYTES:
            problems.append(
                (
                    f"path segment '{segment[:40]}...' is {size} bytes in UTF-8, over the "
                    f"{MAX_SEGMENT_BYTES} a file name may have",
                    f"shorten it; {_RENAME}",
                )
            )
    lowered = [segment.lower() for segment in segments]
    if lowered[0] in RESERVED_DIRS or ".git" in lowered:
        problems.append(("path points inside .git/ or .lfs-meta/", "track files outside those directories"))
        return problems
    return problems + _look_alike_problems(segments)


def _look_alike_problems(segments: list[str]) -> list[tuple[str, str]]:
    """Segments that macOS (HFS+) or Windows (NTFS) take for .git or .lfs-meta, as git's verify_path
    refuses them under core.protectHFS and core.protectNTFS."""
    fix = "rename it; git itself refuses to check out such a path on macOS and Windows"
    problems = []
    for depth, segment in enumerate(segments):
        reserved = RESERVED_DIRS if depth == 0 else (".git",)
        lowered = segment.lower()
        hfs = HFS_IGNORED_RE.sub("", lowered)
        ntfs = NTFS_TRAILING.sub("", lowered)
        if hfs != lowered and hfs in reserved:
            shown = segment.encode("ascii", "backslashreplace").decode()
            message = f"path segment '{shown}' is {hfs} on macOS, which ignores its invisible characters"
            problems.append((message, fix))
        elif ntfs != lowered and ntfs in reserved:
            why = "':' starts a stream name" if ":" in segment else "it drops trailing dots and spaces"
            problems.append((f"path segment {segment!r} is {ntfs} on Windows ({why})", fix))
        elif ntfs == "git~1":
            problems.append((f"path segment {segment!r} is .git on Windows (its 8.3 short name)", fix))
    return problems


def normalization_twins(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, twin) pairs of different paths that are one file where names are Unicode-normalized
    (macOS): 'café' written precomposed (NFC) and decomposed (NFD)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if not path.isascii():
            groups[unicodedata.normalize("NFC", path)].append(path)
    twins = [sorted(group) for group in groups.values() if len(group) > 1]
    return [(path, group[0]) for group in twins for path in group[1:]]


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
