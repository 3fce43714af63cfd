"""Downloads for `lfs-meta pull`: tracked objects' bytes in the working tree, exactly as the index
records them.

Each download streams into a part file next to its target, is checked against the entry (size,
every digest that can be computed, the version served) and only then renamed into place, so a
failure never leaves a file at the path. A part file left by an interrupted pull is resumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import fs, workers
from lfs_meta.drift import compare, scan
from lfs_meta.errors import Changed, NotFound, RemoteError, Unreachable, UserError, VersionGone
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.progress import Progress
from lfs_meta.providers import Chunk, Provider, Providers
from lfs_meta.worktree import digests, exclude, state

PULLED = "pulled"
PRESENT = "present"
FAILED = "failed"


class _WriteFailed(UserError):
    """The local disk refused a part file's bytes (full, read-only, quota)."""


class _TooLarge(UserError):
    """The store sent more bytes than the entry records: the download is stopped there."""


class _Cancelled(UserError):
    """The user interrupted the pull; the part file is kept for the next one."""


@dataclass(frozen=True)
class Result:
    path: str
    status: str
    size: int = 0
    verified: tuple[str, ...] = ()
    resumed: int = 0  # bytes of a kept part file that were not downloaded again
    message: str = ""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "status": self.status}
        if self.status == PULLED:
            out |= {"size": self.size, "verified": list(self.verified), "resumed_bytes": self.resumed}
        if self.message:
            out["message"] = self.message
        return out


def part_path(target: Path, entry: Entry) -> Path:
    """Where `target`'s download in progress lives: named for the content, so a part of other
    content (the entry changed since) is never resumed."""
    identity = json.dumps([entry.remote_url, entry.size, entry.etag, entry.version_id]).encode()
    tag = hashlib.sha256(identity).hexdigest()[:12]
    return target.with_name(f".{target.name}.{tag}{exclude.PART_SUFFIX}")


class Puller:
    def __init__(
        self,
        root: Path,
        providers: Providers,
        records: Mapping[str, state.Record],
        journal: state.Journal,
        *,
        force: bool,
        progress: Progress,
    ) -> None:
        self.root = root
        self.providers = providers
        self.records = records
        self.journal = journal
        self.force = force
        self.progress = progress
        self.stopped = threading.Event()
        self.recorded: dict[str, state.Record] = {}
        self._lock = threading.Lock()

    def pull(self, path: str, entry: Entry) -> Result:
        if self.stopped.is_set():
            return Result(path, FAILED, message=f"{path}: interrupted before it started")
        local = state.local_state(self.root, path, entry, self.records.get(path))
        if local.state == state.PULLED and local.record is not None:
            self._record(local.record, journal=local.record != self.records.get(path))
            self.progress.advance(entry.size)
            return Result(path, PRESENT)
        if local.state == state.MODIFIED and not self.force:
            self.progress.advance(entry.size)
            fix = "move it away, or pass --force to replace it with the indexed content"
            return Result(path, FAILED, message=f"{path}: {local.detail}; not pulled: {fix}")
        return self._download(path, entry)

    def _download(self, path: str, entry: Entry) -> Result:
        try:
            return self._download_inside(path, entry)
        except fs.UnsafePath as exc:
            return Result(path, FAILED, message=f"{path}: not pulled: {exc}")

    def _download_inside(self, path: str, entry: Entry) -> Result:
        target = self.root / path
        part = part_path(target, entry)
        try:
            fs.make_directories(target.parent, self.root)
            self._remove_other_parts(target, part)
            offset = self._resumable_bytes(part, entry.size)
        except OSError as exc:
            return Result(path, FAILED, message=f"{path}: cannot write in {target.parent}: {exc.strerror}")
        provider = self.providers.for_url(entry.remote_url)
        try:
            verdict = self._fetch(provider, entry, part, offset)
            if verdict.problems and offset:  # the kept part was not what it seemed: start again
                self._unlink(part)
                offset = 0
                verdict = self._fetch(provider, entry, part, offset)
        except (Changed, VersionGone, NotFound):
            self._unlink(part)
            return self._refused(path, entry)
        except Unreachable as exc:
            return Result(path, FAILED, message=f"{path}: {exc}; 'lfs-meta pull' again resumes it")
        except RemoteError as exc:
            return Result(path, FAILED, message=f"{path}: {exc}")
        except _Cancelled:
            return Result(path, FAILED, message=f"{path}: interrupted; 'lfs-meta pull' again resumes it")
        except (_WriteFailed, _TooLarge) as exc:
            self._unlink(part)
            return Result(path, FAILED, message=f"{path}: {exc}; nothing was written at {path}")
        except fs.UnsafePath:
            raise
        except UserError:  # e.g. credentials the store rejects: it stops the whole pull
            if not offset:
                self._unlink(part)
            raise
        if verdict.problems:
            self._unlink(part)
            return self._mismatch(path, entry, verdict)
        try:
            fs.replace(part, target, self.root)
            record = state.Record.of(path, entry, verdict.sha256, fs.lstat(target, self.root))
        except (OSError, fs.UnsafePath) as exc:
            self._unlink(part)
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            return Result(path, FAILED, message=f"{path}: cannot put the file in place: {reason}")
        self._record(record, journal=True)
        return Result(path, PULLED, entry.size, verdict.verified, resumed=offset)

    def _fetch(self, provider: Provider, entry: Entry, part: Path, offset: int) -> digests.Verdict:
        sums = digests.Digests(digests.expected(entry))
        served = None
        shown = part.relative_to(self.root)
        received = offset
        try:
            if offset:
                with fs.open_file(part, self.root, os.O_RDONLY) as kept:
                    sums = digests.of_stream(kept, digests.expected(entry))
                self.progress.advance(offset)
            with fs.open_file(part, self.root, os.O_WRONLY | os.O_APPEND | os.O_CREAT) as out:

                def write(chunk: Chunk) -> None:
                    nonlocal received
                    if self.stopped.is_set():
                        raise _Cancelled("interrupted")
                    received += len(chunk)
                    if received > entry.size:  # nothing past the recorded size is ever kept
                        raise _TooLarge(
                            f"{urls.redact(entry.remote_url)} is larger than recorded: the store sent more "
                            f"than the {entry.size} bytes the index records; if the object changed, "
                            "'lfs-meta check' shows how"
                        )
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise _WriteFailed(f"cannot write {shown}: {exc.strerror}") from None
                    sums.update(chunk)
                    self.progress.advance(len(chunk))

                if offset == 0 or offset < entry.size:
                    served = provider.download(entry.remote_url, entry, offset, write)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise _WriteFailed(f"cannot write {shown}: {exc.strerror}") from None
        verdict = digests.verify(entry, sums)
        if entry.version_id and served and served != entry.version_id:
            problem = f"version {served} was served where {entry.version_id} is pinned"
            return digests.Verdict((*verdict.problems, problem), (), verdict.sha256)
        # A web server may ignore If-Match and serve other bytes of the same size: with no digest to
        # check them by, its answer after the download must still be the entry's.
        web = entry.remote_url.startswith(("https:", "http:"))
        checkable = (entry.etag and entry.etag_kind != "weak") or entry.last_modified
        unverified = web and checkable and not verdict.problems and not digests.expected(entry)
        if unverified and not entry.same_content(provider.stat(entry.remote_url)):
            problem = "the server's answer after the download is not the recorded ETag and time"
            return digests.Verdict((problem,), (), verdict.sha256)
        return verdict

    def _resumable_bytes(self, part: Path, size: int) -> int:
        try:
            kept = fs.lstat(part, self.root)
        except FileNotFoundError:
            return 0
        if not stat.S_ISREG(kept.st_mode) or kept.st_size > size:
            fs.unlink(part, self.root)
            return 0
        return kept.st_size

    def _remove_other_parts(self, target: Path, keep: Path) -> None:
        """Parts for content the entry no longer names can never be finished."""
        prefix = f".{target.name}."
        for name in fs.listdir(target.parent, self.root):
            if name.startswith(prefix) and name.endswith(exclude.PART_SUFFIX) and name != keep.name:
                self._unlink(target.with_name(name))

    def _unlink(self, path: Path) -> None:
        with contextlib.suppress(OSError, UserError):
            fs.unlink(path, self.root)

    def _refused(self, path: str, entry: Entry) -> Result:
        finding = scan.one(self.providers, path, entry)
        self.progress.advance(entry.size)
        if finding.status == compare.UNCHANGED:
            return Result(path, FAILED, message=f"{path}: the object changed during the download; pull again")
        return Result(path, FAILED, message=f"{compare.describe(finding, update_hint=True)}; not pulled")

    def _mismatch(self, path: str, entry: Entry, verdict: digests.Verdict) -> Result:
        finding = scan.one(self.providers, path, entry)
        if finding.status != compare.UNCHANGED:
            return Result(path, FAILED, message=f"{compare.describe(finding, update_hint=True)}; not pulled")
        return Result(
            path,
            FAILED,
            message=f"{path}: the downloaded bytes do not match the index ({'; '.join(verdict.problems)}); "
            f"nothing was written at {path}; if the index is what is wrong, record the object again with "
            f"'lfs-meta track-remote {entry.remote_url} --path {path} --force'",
        )

    def _record(self, record: state.Record, journal: bool) -> None:
        with self._lock:
            self.recorded[record.path] = record
        if journal:
            try:
                self.journal.append(record)
            except OSError as exc:
                raise UserError(f"{self.journal.path}: cannot write: {exc.strerror}") from None

    def pull_all(self, entries: Mapping[str, Entry], jobs: int) -> list[Result]:
        """On Ctrl-C the pull stops at once (downloads in flight see `stopped` and give up)."""

        def pull(path: str) -> Result:
            return self.pull(path, entries[path])

        return workers.run_all(pull, sorted(entries), jobs, self.stopped)


def credentials_first(providers: Providers, entries: Iterable[Entry]) -> None:
    """Missing credentials stop the pull before it writes anything (a directory, a part file)."""
    buckets = {scan.bucket_root(entry.remote_url): entry.remote_url for entry in entries}
    for bucket, url in buckets.items():
        if bucket is not None:
            providers.for_url(url).credential_source(url)
