"""META/ for a sharded index: each resource type in parts, regenerated part by part as shards change.

Index shard k gives `DocumentReference-<k>.ndjson` (part 0 keeps the name g3t looks for,
`DocumentReference.ndjson`); the stubs (Patient, Specimen, and the gen3 profile's ResearchStudy and
ResearchSubject) are filed by the hash of their id at the same fan-out. Every part is sorted by
resource id. A note in git's directory (SQLite) keeps, for each index shard blob, the blob of its
DocumentReference part and the stub lines it contributes, so a commit that changes one shard maps
that shard's entries and rebuilds only the stub parts whose lines changed: the cost follows the
change. A missing or unusable note only means one full run.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from lfs_meta import codekey, config, fs, git, processes
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.fhir import mapping, meta, stamp
from lfs_meta.index import rows, shards, storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.layout import Layout
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo

DOCUMENTS = "DocumentReference"
NOTE_PATH = "lfs-meta/meta-parts.sqlite"  # inside git's directory, beside init-meta's note
_PART = re.compile(
    r"(DocumentReference|Patient|Specimen|ResearchStudy|ResearchSubject)(?:-([0-9a-f]{1,4}))?\.ndjson"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shard (number INTEGER PRIMARY KEY, blob TEXT NOT NULL, documents TEXT);
CREATE TABLE IF NOT EXISTS stub (number INTEGER, type TEXT, part INTEGER, id TEXT, line BLOB);
CREATE INDEX IF NOT EXISTS stub_part ON stub (type, part);
CREATE INDEX IF NOT EXISTS stub_number ON stub (number);
CREATE TABLE IF NOT EXISTS part (name TEXT PRIMARY KEY, type TEXT, part INTEGER, blob TEXT NOT NULL);
"""


def part_name(resource_type: str, number: int, fanout: int) -> str:
    if number == 0:
        return f"{resource_type}.ndjson"
    return f"{resource_type}-{shards.file_name(number, fanout).removesuffix('.json')}.ndjson"


def is_part_name(name: str) -> bool:
    """Whether `name` is a META/ file init-meta owns in a sharded layout (of any fan-out)."""
    return _PART.fullmatch(name) is not None


@dataclass(frozen=True)
class ShardOutput:
    documents: bytes  # the shard's DocumentReference part
    stubs: list[tuple[str, int, str, bytes]]  # (type, part, id, line) it contributes


def map_shard(entries: Mapping[str, Entry], settings: config.Config, fanout: int) -> ShardOutput:
    """One shard's DocumentReference part and stub lines; the same mapping as the one-file layout's."""
    if settings.profile == config.GEN3:
        from lfs_meta.fhir import gen3  # here: only the gen3 profile imports it

        files = gen3.ndjson_files(entries, settings.project)
    else:
        files = mapping.ndjson_files(entries, settings.version, settings.project)
    documents = bytes(_sorted_by_id(bytes(files.pop(DOCUMENTS))))
    stubs = []
    for resource_type, data in files.items():
        for line in bytes(data).splitlines(keepends=True):
            resource_id = orjson.loads(line)["id"]
            stubs.append((resource_type, shards.number_of(resource_id, fanout), resource_id, line))
    return ShardOutput(documents, stubs)


def _sorted_by_id(data: bytes) -> bytes:
    lines = sorted(data.splitlines(keepends=True), key=_resource_id)
    return b"".join(lines)


def _resource_id(line: bytes) -> str:
    return str(orjson.loads(line)["id"])


def stub_part(lines: Iterator[tuple[str, bytes]]) -> bytes:
    """A stub part from every line shards contribute to it: one line per id, sorted by id. A Specimen
    that one entry names with its patient and another without is written with the patient (the
    longer line), as the one-file layout does."""
    chosen: dict[str, bytes] = {}
    for resource_id, line in lines:
        held = chosen.get(resource_id)
        if held is None or (len(line), line) > (len(held), held):
            chosen[resource_id] = line
    return b"".join(chosen[resource_id] for resource_id in sorted(chosen))


class Note:
    """What the last run wrote, per index shard blob, under one settings-and-code key."""

    def __init__(self, connection: sqlite3.Connection, key: str) -> None:
        self.db = connection
        rows.start_over(self.db, _SCHEMA, key)

    @classmethod
    def open(cls, git_dirs: git.Location | None, key: str) -> Note:
        """The note in git's directory; a corrupt one is started over; an empty one in memory without
        git or when that cannot be written."""
        targets = [git_dirs.git_dir / NOTE_PATH] if git_dirs is not None else []
        for target in [*targets, *targets]:  # the note, then the note made anew
            try:
                target.parent.mkdir(exist_ok=True)
                if not target.is_symlink():
                    return cls(sqlite3.connect(target, isolation_level=None), key)
            except (OSError, sqlite3.Error) as exc:
                if not rows.is_corrupt(exc):
                    break  # locked, read-only, ...: this run goes without it
                with contextlib.suppress(OSError):
                    target.unlink()
        return cls(sqlite3.connect(":memory:", isolation_level=None), key)

    def shards(self) -> dict[int, tuple[str, str | None]]:
        """Shard number -> (its blob, its DocumentReference part's blob) as last mapped."""
        return {n: (blob, documents) for n, blob, documents in self.db.execute("SELECT * FROM shard")}

    def replace(
        self, number: int, blob: str | None, documents: str | None, output: ShardOutput | None
    ) -> set[tuple[str, int]]:
        """Record shard `number` as `blob` (None: gone), with its DocumentReference part's blob; the
        stub parts whose lines that changes."""
        old = set(self.db.execute("SELECT type, part, id, line FROM stub WHERE number = ?", (number,)))
        self.db.execute("DELETE FROM stub WHERE number = ?", (number,))
        self.db.execute("DELETE FROM shard WHERE number = ?", (number,))
        if blob is not None and output is not None:
            self.db.execute("INSERT INTO shard VALUES (?, ?, ?)", (number, blob, documents))
            self.db.executemany(
                "INSERT INTO stub VALUES (?, ?, ?, ?, ?)", [(number, *stub) for stub in output.stubs]
            )
        new = set(output.stubs) if blob is not None and output is not None else set()
        # Only the lines that came or went: a shard names thousands of stubs, a commit changes few.
        return {(resource_type, part) for resource_type, part, _, _ in old ^ new}

    def parts(self) -> dict[tuple[str, int], str]:
        """Each stub part that has lines, as (type, part) -> the blob last written for it."""
        return {
            (resource_type, part): blob
            for resource_type, part, blob in self.db.execute("SELECT type, part, blob FROM part")
        }

    def record_part(self, resource_type: str, part: int, name: str, blob: str | None) -> None:
        self.db.execute("DELETE FROM part WHERE name = ?", (name,))
        if blob is not None:
            self.db.execute("INSERT INTO part VALUES (?, ?, ?, ?)", (name, resource_type, part, blob))

    def lines(self, resource_type: str, part: int) -> Iterator[tuple[str, bytes]]:
        yield from self.db.execute(
            "SELECT id, line FROM stub WHERE type = ? AND part = ?", (resource_type, part)
        )


ReadShards = Callable[[list[int]], Iterator[tuple[int, bytes, str]]]  # (number, bytes, name as shown)
Put = Callable[[str, bytes | None], None]  # a META/ file's name and the bytes it must hold (None: none)


def plan(
    fanout: int,
    settings: config.Config,
    note: Note,
    *,
    shard_ids: Mapping[int, str],
    present_ids: Mapping[str, str],
    read: ReadShards,
    put: Put,
    object_format: str,
) -> dict[str, str | None]:
    """Bring the note to `shard_ids` (each index shard's blob id now), mapping only the shards whose
    blob changed; `present_ids` are the META/ files' blob ids now. Each file that is not what it
    must be is given to `put` as soon as it is made, so that only one is held at a time; the result
    is every file's expected blob id (None: must not exist). The caller commits the note's
    transaction once the files are written."""
    recorded = note.shards()
    changed = [n for n, blob in shard_ids.items() if recorded.get(n, ("", None))[0] != blob]
    expected: dict[str, str | None] = {}

    def regenerated(name: str, data: bytes | None) -> None:
        expected[name] = None if data is None else codekey.blob_id(data, object_format)
        if present_ids.get(name) != expected[name]:
            put(name, data)

    def mapped(numbers: list[int]) -> Iterator[tuple[int, ShardOutput]]:
        parts = ((number, raw, name, fanout, settings) for number, raw, name in read(numbers))
        return processes.ordered(_map_part, parts, len(numbers))

    touched: set[tuple[str, int]] = set()
    note.db.execute("BEGIN")
    for number, output in mapped(changed):
        documents = codekey.blob_id(output.documents, object_format) if output.documents else None
        touched |= note.replace(number, shard_ids[number], documents, output)
        regenerated(part_name(DOCUMENTS, number, fanout), output.documents or None)
    for number in recorded.keys() - shard_ids.keys():
        touched |= note.replace(number, None, None, None)
        regenerated(part_name(DOCUMENTS, number, fanout), None)
    done = set(expected)
    for number, (_, documents) in note.shards().items():
        expected.setdefault(part_name(DOCUMENTS, number, fanout), documents)
    # A stub part is rebuilt from the note's rows when its lines changed or it is not as written.
    # The parts come from the part table: every part with lines has its row there, since each one
    # whose lines change is touched and recorded (scanning the stubs would cost the whole index).
    written = note.parts()
    for resource_type, part in sorted(written.keys() | touched):
        name = part_name(resource_type, part, fanout)
        if (resource_type, part) not in touched and present_ids.get(name) == written[resource_type, part]:
            expected[name] = written[resource_type, part]
            continue
        stubs = stub_part(note.lines(resource_type, part))
        regenerated(name, stubs or None)
        note.record_part(resource_type, part, name, expected[name])
    # A DocumentReference part not as noted (edited, lost, or never written) is mapped again.
    redo = [
        n
        for n in shard_ids
        if (name := part_name(DOCUMENTS, n, fanout)) not in done and present_ids.get(name) != expected[name]
    ]
    for number, output in mapped(redo):
        put(part_name(DOCUMENTS, number, fanout), output.documents or None)
    for name in present_ids:
        if is_part_name(name) and name not in expected:
            regenerated(name, None)  # a part of another fan-out, or of nothing now
    return expected


def refresh(
    repo: Repo, request: meta.Request, settings: config.Config, output: Path, within: Path
) -> meta.Outcome | None:
    """meta.refresh for a sharded index; None when none is staged (with `request.staged`)."""
    try:
        return _refresh(repo, request, settings, output, within)
    except sqlite3.Error as exc:
        where = git_dirs.git_dir / NOTE_PATH if (git_dirs := _git_dirs(repo)) else NOTE_PATH
        raise UserError(f"{where}: unusable ({exc}); remove it (it is only a cache) and run again") from None


def _refresh(
    repo: Repo, request: meta.Request, settings: config.Config, output: Path, within: Path
) -> meta.Outcome | None:
    layout = repo.index
    if output.name != f"{DOCUMENTS}.ndjson":
        raise UserError(
            f"--output {output}: with a sharded index the parts' names are fixed; "
            f"name the directory's {DOCUMENTS}.ndjson"
        )
    git_dirs = _git_dirs(repo)
    object_format = git_dirs.object_format if git_dirs else "sha1"
    code = meta.code_fingerprint(settings.profile, sys.modules[__name__])
    key = stamp.key(f"parts {layout.fanout}", settings, [output], code or os.urandom(16).hex())
    note = Note.open(git_dirs if code else None, key)
    source = (
        _Staged(repo, layout, output) if request.staged else _OnDisk(layout, output, within, object_format)
    )
    if request.staged and not source.shard_ids():
        return None  # no index in this commit: nothing to compare, as with the one file
    present = source.meta_ids()
    writes = _Writes(within, request.check_only)
    try:
        expected = plan(
            layout.fanout,
            settings,
            note,
            shard_ids=source.shard_ids(),
            present_ids=present,
            read=source.read,
            put=lambda name, data: writes.put(output.parent / name, data),
            object_format=object_format,
        )
        if request.check_only:
            note.db.execute("ROLLBACK")
        else:
            writes.finish()
            note.db.execute("COMMIT")
    finally:
        writes.discard()
    unstaged = (
        [output.parent / name for name, blob in expected.items() if present.get(name) != blob]
        if request.compare_staged
        else []
    )
    return meta.Outcome(
        writes.resources or {output: None}, writes.rewrite, sorted(unstaged), request.check_only
    )


class _Writes:
    """META/ files written aside as they are made, and renamed into place only once all are made:
    a failure while making them leaves META/ as it was, and only one file's bytes are held at a
    time. (A rename failing at the end leaves some parts new; running again completes them.)"""

    def __init__(self, within: Path, check_only: bool) -> None:
        self.within, self.check_only = within, check_only
        self.resources: dict[Path, int | None] = {}  # each file put: its resources (None: must not exist)
        self.rewrite: list[Path] = []  # those that differ on disk
        self.aside: dict[Path, Path | None] = {}  # file -> its new bytes' file (None: to remove)

    def put(self, path: Path, data: bytes | None) -> None:
        self.resources[path] = None if data is None else meta.count(data)
        if meta.holds(path, data, self.within):
            return
        self.rewrite.append(path)
        if not self.check_only:
            self.aside[path] = (
                None if data is None else fs.write_aside(path, data, self.within, durable=False)
            )

    def finish(self) -> None:
        for path, made in list(self.aside.items()):
            try:
                if made is None:
                    fs.unlink(path, self.within)
                else:
                    fs.replace(made, path, self.within)
            except OSError as exc:
                raise UserError(
                    f"{path}: cannot write: {exc.strerror}; run 'lfs-meta init-meta' again"
                ) from None
            del self.aside[path]

    def discard(self) -> None:
        for made in self.aside.values():
            if made is not None:
                with contextlib.suppress(OSError):
                    fs.unlink(made, self.within)


def _git_dirs(repo: Repo) -> git.Location | None:
    try:
        return repo.git_dirs
    except git.GitError:
        return None


class _Staged:
    """The index shards and META/ as staged: what the commit records."""

    def __init__(self, repo: Repo, layout: Layout, output: Path) -> None:
        self.root = repo.root
        self.shard_directory = _relative(layout.shard_directory, repo.root)
        meta_directory = _relative(output.parent, repo.root)
        self.fanout = layout.fanout
        ids = git.staged_blob_ids(repo.root, [self.shard_directory, meta_directory])
        self.shards: dict[int, str] = {}
        self.meta: dict[str, str] = {}
        for name, blob in ids.items():
            directory, _, file_name = name.rpartition("/")
            number = shards.number_of_file(file_name, self.fanout)
            if directory == self.shard_directory and number is not None:
                self.shards[number] = blob
            elif directory == meta_directory and is_part_name(file_name):
                self.meta[file_name] = blob

    def shard_ids(self) -> dict[int, str]:
        return self.shards

    def meta_ids(self) -> dict[str, str]:
        return self.meta

    def read(self, numbers: list[int]) -> Iterator[tuple[int, bytes, str]]:
        found = git.blobs_in_turns(self.root, [self.shards[n] for n in numbers])
        for number, (_, raw) in zip(numbers, found, strict=True):
            shown = f"{self.shard_directory}/{shards.file_name(number, self.fanout)} (staged)"
            if isinstance(raw, Problem):  # its size was asked first: not read
                raise CheckFailed(f"{storage.failure([raw], shown)}; META/ was left as it was")
            if raw is not None:
                yield number, raw, shown


class _OnDisk:
    """The index shards and META/ in the working tree; every file is read and hashed once."""

    def __init__(self, layout: Layout, output: Path, within: Path, object_format: str) -> None:
        self.layout, self.output, self.within, self.object_format = layout, output, within, object_format
        self.raw: dict[int, bytes] = {}

    def shard_ids(self) -> dict[int, str]:
        ids = {}
        for number, path, raw in self.layout.raw_shards():
            ids[number] = codekey.blob_id(self._readable(path, raw), self.object_format)
        return ids

    def meta_ids(self) -> dict[str, str]:
        ids = {}
        try:
            names = fs.listdir(self.output.parent, self.within)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UserError(f"{meta.shown(self.output.parent)}: cannot read: {exc.strerror}") from None
        for name in names:
            if is_part_name(name):
                try:
                    ids[name] = codekey.blob_id(
                        fs.read_bytes(self.output.parent / name, self.within), self.object_format
                    )
                except FileNotFoundError:
                    continue
        return ids

    def read(self, numbers: list[int]) -> Iterator[tuple[int, bytes, str]]:
        for number in numbers:
            path = self.layout.path_of(number)
            yield number, self._readable(path, self.layout.read(path)), str(path)

    def _readable(self, path: Path, raw: bytes | Problem) -> bytes:
        if isinstance(raw, Problem):
            where = meta.shown(self.output.parent)
            raise CheckFailed(f"{storage.failure([raw], str(path))}; {where}/ was left as it was")
        return raw


def _map_part(part: tuple[int, bytes, str, int, config.Config]) -> tuple[int, ShardOutput]:
    """One shard's bytes parsed, checked and mapped: the work `processes.ordered` spreads."""
    number, raw, name, fanout, settings = part
    return number, map_shard(_entries(raw, number, fanout, name), settings, fanout)


def _entries(raw: bytes, number: int, fanout: int, name: str) -> dict[str, Entry]:
    from lfs_meta.index import layout

    data, problems = layout.parse_shard(raw, number, fanout)
    try:
        return storage.entries(data, problems, name)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}; META/ was left as it was") from None


def _relative(path: Path, root: Path) -> str:
    """As git names it: lexical, so a link on the way is not followed (git's index is what is read)."""
    relative = Path(os.path.relpath(path, root))
    if relative.parts[:1] == ("..",):
        raise UserError(f"--output {path} is outside the repository; --staged needs it inside")
    return relative.as_posix()
