"""The only reader and writer of .lfs-meta/metadata.json: validated, canonical, atomic, locked."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from lfs_meta import fs, gcpause
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import attributes, rules, strictjson
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem, json_pointer

INDEX_PATH = Path(".lfs-meta") / "metadata.json"
# Written next to the index the first time lfs-meta locks it, so the lock file and
# the temporary file of an interrupted write never show up in `git status`.
GITIGNORE_LINES = ("/*.lock", "/.*.tmp")

T = TypeVar("T")


def find_root(start: Path) -> Path:
    """The directory whose .lfs-meta/ holds the index of the repository `start` is in: the nearest
    with a .lfs-meta/, up to the top of the git working tree; `start` itself outside git."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / INDEX_PATH.parent).is_dir() or (directory / ".git").exists():
            return directory
    return start


def _trusted(path: Path) -> Path:
    """Where the walk to the index's directory starts: the directory holding it, below which no link
    is followed."""
    return path.parent.parent


def check_file(path: Path) -> list[Problem]:
    """Every problem with the index file at `path`."""
    try:
        return _read_checked(path)[1]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; pass the index path (default {INDEX_PATH})") from None


def load(path: Path) -> dict[str, Entry]:
    """The index at `path`, or an empty one when the file does not exist yet."""
    try:
        data, problems = _read_checked(path)
    except FileNotFoundError:
        return {}
    return entries(data, problems, str(path))


def load_values(path: Path) -> dict[str, Any]:
    """The index at `path` as checked JSON values, no Entry made; empty when there is none yet."""
    try:
        data, problems = _read_checked(path)
    except FileNotFoundError:
        return {}
    if problems:
        raise failure(problems, str(path))
    return dict(data)


def loads(raw: bytes, name: str) -> dict[str, Entry]:
    """An index from bytes (e.g. a git blob) that only `name` identifies."""
    return entries(*parse_checked(raw), name)


def entries(data: Any, problems: list[Problem], name: str) -> dict[str, Entry]:
    """The entries of parsed index data; CheckFailed naming `name` when it has `problems`."""
    if problems:
        raise failure(problems, name)
    with gcpause.paused():
        # Each parsed value is dropped as its Entry is made, so the two are never all held at once.
        return {key: Entry.from_json(data.pop(key)) for key in list(data)}


def problems_in(raw: bytes) -> list[Problem]:
    """Every problem with an index file's bytes; empty when it is valid."""
    return parse_checked(raw)[1]


def failure(problems: list[Problem], name: str) -> CheckFailed:
    count = len(problems)
    return CheckFailed(f"{problems[0].format(name)} ({count} problem(s); run 'lfs-meta validate' for all)")


def read(path: Path) -> bytes | Problem:
    """The index file's bytes, or the problem that it is too big to read; FileNotFoundError when missing."""
    try:
        with open(path, "rb", buffering=0, opener=_nonblocking) as stream:
            info = os.fstat(stream.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(info.st_mode):  # a FIFO or /dev/zero, e.g. through a committed link
                raise UserError(f"{path}: is not a regular file; the index must be one")
            too_big = strictjson.size_problem(info.st_size)
            if too_big:  # not even read: reading could exhaust memory
                return too_big
            return stream.read(info.st_size + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; pass the index file inside it") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _nonblocking(name: str, flags: int) -> int:
    """Opening a FIFO must not wait for a writer."""
    return os.open(name, flags | os.O_NONBLOCK)


def _read_checked(path: Path) -> tuple[Any, list[Problem]]:
    raw = read(path)
    if isinstance(raw, Problem):
        return None, [raw]
    return parse_checked(raw)


def parse_checked(raw: bytes) -> tuple[Any, list[Problem]]:
    """An index file's data (None when unusable) and every problem with it."""
    with gcpause.paused():
        return _parse_and_check(raw)


def _parse_and_check(raw: bytes) -> tuple[Any, list[Problem]]:
    if attributes.is_lfs_pointer(raw):
        message = (
            'is a git-lfs pointer, not the index: a .gitattributes rule (such as git lfs track "*.json") '
            "sends the index through git-lfs"
        )
        return None, [Problem(message, attributes.FIX)]
    parsed = strictjson.parse(raw)
    if parsed.data is None:
        return None, parsed.problems
    located = {p.pointer for p in parsed.problems}
    later = [p for p in rules.find_problems(parsed.data) if p.pointer not in located]
    return parsed.data, _in_document_order(parsed.data, parsed.problems + later)


def _in_document_order(data: Any, problems: list[Problem]) -> list[Problem]:
    if not problems or not isinstance(data, dict):
        return problems
    rank = {json_pointer([key]): i for i, key in enumerate(data)}

    def entry_rank(problem: Problem) -> int:
        pointer = problem.pointer or ""
        return rank.get("/" + pointer.split("/")[1], -1) if pointer else -1

    return sorted(problems, key=entry_rank)


def dumps(index: Mapping[str, Entry]) -> str:
    """Canonical text: sorted keys, two-space indent, UTF-8 as is, one trailing newline."""
    data = {path: entry.to_json() for path, entry in index.items()}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def update(path: Path, change: Callable[[dict[str, Entry]], T]) -> T:
    """Apply `change` to the index under an exclusive lock and write the result atomically.

    If `change` raises, or the result is invalid, the file is left byte-for-byte as it was.
    """
    with locked(path):
        index = load(path)
        result = change(index)
        text = dumps(index)
        problems = problems_in(text.encode("utf-8", "surrogatepass"))
        if problems:
            raise CheckFailed(f"{problems[0].format(str(path))}; the index was not changed")
        with contextlib.suppress(FileNotFoundError):
            if path.read_text(encoding="utf-8") == text:
                return result
        fs.write_atomic(path, text.encode("utf-8"), _trusted(path))
        return result


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index; waits for other lfs-meta processes."""
    within = _trusted(path)
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock = fs.open_file(lock_path, within, os.O_RDWR | os.O_CREAT, create_parents=True)
    except OSError as exc:
        raise _cannot_lock(path, exc) from None
    with lock:
        try:
            _ensure_companions(path.parent, within)
        except OSError as exc:
            raise _cannot_lock(path, exc) from None
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _cannot_lock(path: Path, exc: OSError) -> UserError:
    needed = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
    fix = f"lfs-meta writes its lock and temporary files there: {needed}"
    return UserError(f"{path.parent}: cannot lock the index: {exc.strerror}; {fix}")


def _ensure_companions(directory: Path, within: Path) -> None:
    """.lfs-meta/.gitignore (the lock and temporary files) and .lfs-meta/.gitattributes (no filters)."""
    if directory.name != INDEX_PATH.parent.name:
        return
    attributes.ensure(directory, within, attributes.INDEX_RULES)
    ensure_gitignore(directory, within)


def ensure_gitignore(directory: Path, within: Path) -> None:
    """`directory`/.gitignore for the lock and temporary files, unless one is there."""
    try:
        created = fs.open_file(directory / ".gitignore", within, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    with created:
        created.write("".join(line + "\n" for line in GITIGNORE_LINES).encode())
