"""What `lfs-meta pull` put in this working tree, and what has become of it since.

The record of each pulled file (the entry it came from, its sha256, and a stat snapshot) lives in
the git directory, in a journal that completed downloads append to, so an interrupted pull loses
nothing it finished; each pull rewrites it compacted. A file whose stat still matches its snapshot
is intact without being read, as git does for its own index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import fs, git
from lfs_meta.drift import compare
from lfs_meta.errors import UserError
from lfs_meta.index.entry import Entry
from lfs_meta.repo import Repo
from lfs_meta.worktree import digests, exclude

NOT_PULLED = "not_pulled"
PULLED = "pulled"
MODIFIED = "modified"
OUTDATED = "outdated"
STATES = (PULLED, MODIFIED, OUTDATED, NOT_PULLED)
JOURNAL_PATH = "lfs-meta/pulled.jsonl"  # in git's directory (a linked worktree's own)


@dataclass(frozen=True)
class Record:
    path: str
    entry: Entry  # the content fields of the entry the file was pulled from
    sha256: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: str, entry: Entry, sha256: str, info: os.stat_result) -> Record:
        content = Entry(
            remote_url=entry.remote_url,
            size=entry.size,
            etag=entry.etag,
            etag_kind=entry.etag_kind,
            version_id=entry.version_id,
            checksums=entry.checksums,
        )
        return cls(path, content, sha256, info.st_size, info.st_mtime_ns, info.st_ino)

    def unchanged_since(self, info: os.stat_result) -> bool:
        return (info.st_size, info.st_mtime_ns, info.st_ino) == (self.size, self.mtime_ns, self.inode)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "entry": self.entry.to_json(),
            "sha256": self.sha256,
            "stat": [self.size, self.mtime_ns, self.inode],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Record:
        size, mtime_ns, inode = (int(number) for number in data["stat"])  # type: ignore[attr-defined]
        entry = Entry.from_json(data["entry"])  # type: ignore[arg-type]
        return cls(str(data["path"]), entry, str(data["sha256"]), size, mtime_ns, inode)


@dataclass(frozen=True)
class Local:
    state: str
    detail: str = ""
    record: Record | None = None  # the file's record, refreshed when its stat had changed


def local_state(root: Path, path: str, entry: Entry, record: Record | None) -> Local:
    """How the working tree's file at `path` stands against the index entry (reads it only if needed)."""
    target = root / path
    try:
        info = fs.lstat(target, root)
    except (FileNotFoundError, NotADirectoryError):
        return Local(NOT_PULLED)
    except fs.UnsafePath as exc:
        return Local(MODIFIED, f"cannot be here: {exc}")
    if not stat.S_ISREG(info.st_mode):
        return Local(MODIFIED, "is not a regular file here (a directory or a link)")
    if record is None:
        return _unrecorded(root, path, entry, info)
    if not record.unchanged_since(info):
        if _sha256(root, path) != record.sha256:
            return Local(MODIFIED, "changed locally since it was pulled")
        record = Record.of(path, record.entry, record.sha256, info)
    if compare.changes(record.entry, entry):
        return Local(OUTDATED, "the index now records other content than was pulled", record)
    return Local(PULLED, record=record)


def _unrecorded(root: Path, path: str, entry: Entry, info: os.stat_result) -> Local:
    """A file lfs-meta did not pull (or a pull was killed before recording it): it counts as
    pulled only if it is provably the indexed content."""
    wanted = digests.expected(entry)
    if not wanted:
        return Local(MODIFIED, "was not pulled by lfs-meta, and the index has no digest to check it against")
    if info.st_size != entry.size:  # not read: the file may be far larger than the entry
        sizes = f"size {info.st_size} where {entry.size} was recorded"
        return Local(MODIFIED, f"differs from the index ({sizes})")
    with fs.open_file(root / path, root, os.O_RDONLY) as stream:
        verdict = digests.verify(entry, digests.of_stream(stream, wanted))
    if verdict.problems:
        return Local(MODIFIED, f"differs from the index ({verdict.problems[0]})")
    return Local(PULLED, record=Record.of(path, entry, verdict.sha256, info))


def _sha256(root: Path, path: str) -> str:
    with fs.open_file(root / path, root, os.O_RDONLY) as stream:
        return digests.of_stream(stream, set()).hexdigests()[digests.LOCAL]


@dataclass(frozen=True)
class Workspace:
    """A git working tree and the files in its git directory that `pull` keeps."""

    root: Path
    location: git.Location  # the journal is in its git_dir, the exclude file in its common_dir

    @property
    def journal(self) -> Path:
        return self.location.git_dir / JOURNAL_PATH

    def exclude_only(self, paths: Iterable[str]) -> None:
        """Make the exclude block list exactly `paths` (relative to `root`)."""
        exclude.write(self.location.common_dir, (self.location.prefix + path for path in paths))

    @classmethod
    def of(cls, repo: Repo) -> Workspace:
        found = repo.git_dirs
        if found is None:
            raise UserError(
                f"{repo.root.resolve()}: not a git working tree; pulled files are kept out of commits "
                "through git, so run this in a git repository (git init)"
            )
        return cls(repo.root.resolve(), found)

    def records(self) -> dict[str, Record]:
        """The last record of each path; a line torn by a crash is skipped."""
        records = {}
        try:
            with fs.open_file(self.journal, self.location.git_dir, os.O_RDONLY) as stream:
                for line in stream:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        record = Record.from_json(json.loads(line))
                        records[record.path] = record
        except FileNotFoundError:
            pass
        except OSError as exc:
            fix = "remove it and pull again"
            raise UserError(f"{self.journal}: cannot read: {exc.strerror}; {fix}") from None
        return records

    @contextlib.contextmanager
    def locked(self) -> Iterator[Journal]:
        """One pull at a time in this working tree; the journal to append to while it runs."""
        lock_path = self.journal.with_suffix(".lock")
        try:
            lock = fs.open_file(lock_path, self.location.git_dir, os.O_RDWR | os.O_CREAT, create_parents=True)
        except OSError as exc:
            raise UserError(f"{self.journal.parent}: cannot lock: {exc.strerror}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield Journal(self.journal, self.location.git_dir)

    def compact(self, records: Mapping[str, Record]) -> None:
        text = "".join(json.dumps(records[path].to_json()) + "\n" for path in sorted(records))
        fs.write_atomic(self.journal, text.encode(), self.location.git_dir)


class Journal:
    def __init__(self, path: Path, git_dir: Path) -> None:
        self.path = path
        self.git_dir = git_dir
        self._lock = threading.Lock()

    def append(self, record: Record) -> None:
        line = json.dumps(record.to_json()) + "\n"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        with self._lock, fs.open_file(self.path, self.git_dir, flags) as stream:
            stream.write(line.encode())
