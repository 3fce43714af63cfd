"""The only reader and writer of .lfs-meta/metadata.json: validated, canonical, atomic, locked."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from lfs_meta import checks, gcpause, reader
from lfs_meta.entry import Entry
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.problem import Problem, json_pointer

INDEX_PATH = Path(".lfs-meta") / "metadata.json"
# Written next to the index the first time lfs-meta locks it, so the lock file and
# the temporary file of an interrupted write never show up in `git status`.
GITIGNORE_LINES = ("/*.lock", "/.*.tmp")

T = TypeVar("T")


def find_index(start: Path) -> Path:
    """The index of the repository `start` is in: the nearest .lfs-meta/ up to the git root."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / INDEX_PATH
        if candidate.parent.is_dir() or (directory / ".git").exists():
            return candidate
    return start / INDEX_PATH


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
    return _entries(data, problems, str(path))


def loads(raw: bytes, name: str) -> dict[str, Entry]:
    """An index from bytes (e.g. a git blob) that only `name` identifies."""
    return _entries(*_parse_checked(raw), name)


def _entries(data: Any, problems: list[Problem], name: str) -> dict[str, Entry]:
    if problems:
        raise failure(problems, name)
    with gcpause.paused():
        # Each parsed value is dropped as its Entry is made, so the two are never all held at once.
        return {key: Entry.from_json(data.pop(key)) for key in list(data)}


def problems_in(raw: bytes) -> list[Problem]:
    """Every problem with an index file's bytes; empty when it is valid."""
    return _parse_checked(raw)[1]


def failure(problems: list[Problem], name: str) -> CheckFailed:
    count = len(problems)
    return CheckFailed(f"{problems[0].format(name)} ({count} problem(s); run 'lfs-meta validate' for all)")


def read(path: Path) -> bytes | Problem:
    """The index file's bytes, or the problem that it is too big to read; FileNotFoundError when missing."""
    try:
        too_big = reader.size_problem(path.stat().st_size)
        if too_big:  # not even read: reading could exhaust memory
            return too_big
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; pass the index file inside it") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _read_checked(path: Path) -> tuple[Any, list[Problem]]:
    raw = read(path)
    if isinstance(raw, Problem):
        return None, [raw]
    return _parse_checked(raw)


def _parse_checked(raw: bytes) -> tuple[Any, list[Problem]]:
    with gcpause.paused():
        return _parse_and_check(raw)


def _parse_and_check(raw: bytes) -> tuple[Any, list[Problem]]:
    parsed = reader.parse(raw)
    if parsed.data is None:
        return None, parsed.problems
    located = {p.pointer for p in parsed.problems}
    later = [p for p in checks.find_problems(parsed.data) if p.pointer not in located]
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
        write_atomic(path, text.encode("utf-8"))
        return result


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index; waits for other lfs-meta processes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _ensure_gitignore(path.parent)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        needed = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
        fix = f"lfs-meta writes its lock and temporary files there: {needed}"
        raise UserError(f"{path.parent}: cannot lock the index: {exc.strerror}; {fix}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | bytearray, durable: bool = True) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a mix.

    `durable` also waits until the bytes are on disk, so a crash cannot leave the new name with
    missing content; files that are regenerated from the index anyway skip that wait (as git does
    for the files it checks out).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = None  # a new file gets 0o666 less the umask, like any other
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror}; it was not changed") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: cannot write: {exc.strerror}; it was not changed") from None
        raise
    if durable:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_gitignore(directory: Path) -> None:
    gitignore = directory / ".gitignore"
    if directory.name == INDEX_PATH.parent.name and not gitignore.exists():
        gitignore.write_text("".join(line + "\n" for line in GITIGNORE_LINES), encoding="utf-8")
