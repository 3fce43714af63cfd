"""One row per entry of a sharded index, so the rules that span shards are checked without reading them.

A note in git's directory (SQLite, one per fan-out) holds, for a set of shard blobs that passed
together, one row per entry: its path, shard, Unicode-normalized path, specimen and patient. A change
to a few shards is then checked against the rules that span shards (a file inside a tracked file,
Unicode twins, one patient per specimen) for the rows that came, by indexed queries against every
other row. That is enough because taking an entry away breaks none of these rules, and the note
only ever commits a set that passed. `validate --staged` brings the note to the staged blobs;
`Layout.update` to the work tree's files, whose stat it records, so that a later command reads only
the files changed since (or written too recently for their stat to be trusted) and parses only
those whose bytes changed. A missing or unusable note costs one full read, never a wrong answer;
an edit to the code that decides the rows starts it over.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfs_meta import codekey, gitnames, terminal
from lfs_meta.errors import UserError
from lfs_meta.index import attributes, paths, problem, rules, schema, shards, strictjson, urls
from lfs_meta.index.problem import Problem

NOTE_NAME = "index-{fanout}.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shard (
    number INTEGER PRIMARY KEY, blob TEXT NOT NULL,
    size INTEGER, mtime INTEGER, ctime INTEGER, inode INTEGER, seen INTEGER
);
CREATE TABLE IF NOT EXISTS entry (
    path TEXT PRIMARY KEY, number INTEGER, nfc TEXT, specimen TEXT, patient TEXT
);
CREATE INDEX IF NOT EXISTS entry_number ON entry (number);
CREATE INDEX IF NOT EXISTS entry_nfc ON entry (nfc) WHERE nfc IS NOT NULL;
CREATE INDEX IF NOT EXISTS entry_specimen ON entry (specimen) WHERE specimen IS NOT NULL;
"""
# A stat is trusted only once the file is older than when it was seen by more than this: a change
# within one tick of the file system's clock after that can leave size and times as they were (git
# calls such entries racily clean). Newer files are hashed, which costs a read, not a parse.
_SETTLED_NS = 2_000_000_000
_BUSY_SECONDS = 30.0  # another lfs-meta (a commit's hook) writing the note

Row = tuple[
    str, int, str | None, str | None, str | None
]  # path, shard, NFC when not ASCII, specimen, patient
Stat = tuple[int, int, int, int]  # size, mtime and ctime (ns), inode


@dataclass(frozen=True)
class Place:
    """Where a work tree's notes are (git's directory), and how git names a blob there."""

    directory: Path
    object_format: str  # sha1, or sha256


def stat_of(result: os.stat_result) -> Stat:
    return (result.st_size, result.st_mtime_ns, result.st_ctime_ns, result.st_ino)


def rows_of(references: Iterable[rules.Reference], number: int) -> list[Row]:
    """The rows of one shard's entries, each given as (path, specimen, patient) as recorded."""
    return [
        (
            path,
            number,
            None if path.isascii() else unicodedata.normalize("NFC", path),
            specimen if isinstance(specimen, str) else None,
            patient if isinstance(patient, str) else None,
        )
        for path, specimen, patient in references
    ]


def references_in(data: Any) -> Iterator[rules.Reference]:
    """(path, specimen, patient) of each entry of parsed shard data, however malformed."""
    if isinstance(data, dict):
        for path, entry in data.items():
            fields = entry if isinstance(entry, dict) else {}
            yield path, fields.get("specimen"), fields.get("patient")


class Note:
    """The rows of one set of shard blobs, changed in one transaction (`open` begins it)."""

    def __init__(self, connection: sqlite3.Connection, object_format: str) -> None:
        self.db = connection
        self.object_format = object_format

    @classmethod
    @contextlib.contextmanager
    def open(cls, place: Place | None, fanout: int) -> Iterator[Note]:
        """The note for `fanout` at `place`, in a transaction committed when the block ends without an
        exception and rolled back when it raises. In memory (so empty: a full read) without a place,
        when the code cannot be fingerprinted, or when git's directory cannot hold it or it stays
        busy; a corrupt note is started over."""
        connection, shown = _connect(place, fanout, _code_key())
        try:
            yield cls(connection, place.object_format if place else "sha1")
            if connection.in_transaction:
                # Not recorded (a full disk): the next run reads again what this one did, no more.
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise UserError(f"{shown}: {exc}; remove it (it is only a cache) and run again") from None
        finally:
            with contextlib.suppress(sqlite3.Error):
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                connection.close()

    def abandon(self) -> None:
        """Keep the note as it was: what this run recorded did not pass."""
        self.db.execute("ROLLBACK")

    def blob_id(self, data: bytes) -> str:
        return codekey.blob_id(data, self.object_format)

    def blobs(self) -> dict[int, str]:
        """Shard number -> the blob its rows are of."""
        return dict(self.db.execute("SELECT number, blob FROM shard"))

    def settled(self, number: int, stat: Stat) -> bool:
        """Whether shard `number`'s file is, by its stat, the blob recorded for it."""
        held = self.db.execute(
            "SELECT size, mtime, ctime, inode, seen FROM shard WHERE number = ?", (number,)
        ).fetchone()
        if held is None or held[4] is None or tuple(held[:4]) != stat:
            return False
        seen: int = held[4]
        return max(stat[1], stat[2]) < seen - _SETTLED_NS

    def saw(self, number: int, stat: Stat) -> None:
        """Shard `number`'s file, as recorded, has `stat` now."""
        self.db.execute(
            "UPDATE shard SET size = ?, mtime = ?, ctime = ?, inode = ?, seen = ? WHERE number = ?",
            (*stat, time.time_ns(), number),
        )

    def saw_written(self, stats: Mapping[int, Stat]) -> None:
        """`saw` for files just written: a failure (a full disk, which also ends the transaction)
        stops the recording and only means those files are hashed next time."""
        with contextlib.suppress(sqlite3.Error):
            for number, stat in stats.items():
                self.saw(number, stat)

    def replace(self, number: int, blob: str | None, rows: Iterable[Row]) -> list[Row]:
        """Record shard `number` as `blob` holding `rows` (None: gone), its stat unknown; the rows
        that came or changed. Only those are written: a shard holds thousands of entries, a change
        touches few."""
        old = {
            row[0]: row
            for row in self.db.execute(
                "SELECT path, number, nfc, specimen, patient FROM entry WHERE number = ?", (number,)
            )
        }
        new = {row[0]: row for row in rows} if blob is not None else {}
        came = [row for path, row in new.items() if old.get(path) != row]
        self.db.executemany(
            "DELETE FROM entry WHERE path = ? AND number = ?",
            [(path, number) for path, row in old.items() if new.get(path) != row],
        )
        self.db.execute("DELETE FROM shard WHERE number = ?", (number,))
        if blob is not None:
            self.db.execute("INSERT INTO shard (number, blob) VALUES (?, ?)", (number, blob))
            # OR IGNORE: a path in two shards is one misplaced entry, which its shard's check reports.
            self.db.executemany("INSERT OR IGNORE INTO entry VALUES (?, ?, ?, ?, ?)", came)
        return came

    def numbers_under(self, directories: Iterable[str]) -> set[int]:
        """The shards holding an entry below any of `directories`."""
        found: set[int] = set()
        for directory in directories:
            below = directory.rstrip("/") + "/"
            # Below `below` and above it with "0" (which follows "/") for "/": the paths inside it.
            found.update(
                number
                for (number,) in self.db.execute(
                    "SELECT DISTINCT number FROM entry WHERE path > ? AND path < ?", (below, below[:-1] + "0")
                )
            )
        return found

    def problems(self, came: Iterable[Row]) -> Iterator[tuple[str, Problem]]:
        """The rules across shards for the rows that came or changed, each against every other row."""
        seen: set[tuple[str, str]] = set()
        for row in came:
            for found in self._row_problems(*row):
                key = (found[0], found[1].message)
                if key not in seen:
                    seen.add(key)
                    yield found

    def _row_problems(
        self, path: str, number: int, nfc: str | None, specimen: str | None, patient: str | None
    ) -> Iterator[tuple[str, Problem]]:
        slash = path.find("/")
        while slash != -1:
            ancestor = path[:slash]
            query = "SELECT 1 FROM entry WHERE path = ? AND number != ?"
            if self.db.execute(query, (ancestor, number)).fetchone():
                yield path, rules.nesting_problem(path, ancestor)
                break
            slash = path.find("/", slash + 1)
        inside = self.db.execute(
            "SELECT path FROM entry WHERE path > ? AND path < ? AND number != ?",
            (path + "/", path + "0", number),
        )
        for (below,) in inside.fetchall():
            yield below, rules.nesting_problem(below, path)
        if nfc is not None:
            for (twin,) in self.db.execute(
                "SELECT path FROM entry WHERE nfc = ? AND path != ? AND number != ?", (nfc, path, number)
            ):
                later, first = sorted((path, twin), reverse=True)
                yield later, rules.twin_problem(later, first)
        if specimen is not None and patient is not None:
            other = self.db.execute(
                "SELECT path, patient FROM entry WHERE specimen = ? AND patient IS NOT NULL "
                "AND patient != ? AND number != ? LIMIT 1",
                (specimen, patient, number),
            ).fetchone()
            if other:
                yield path, rules.specimen_problem(path, other[0], specimen, other[1], patient)


def _code_key() -> str | None:
    """What the rows and the checks mean: the source of the modules that decide them."""
    from lfs_meta.index import layout, storage  # they import this module

    deciding = [
        rules,
        paths,
        urls,
        strictjson,
        schema,
        problem,
        attributes,
        gitnames,
        shards,
        storage,
        layout,
        terminal,  # the characters paths refuses
    ]
    return codekey.fingerprint([sys.modules[__name__], *deciding], schema.source())


def _connect(place: Place | None, fanout: int, key: str | None) -> tuple[sqlite3.Connection, str]:
    """The note in a transaction, and its name for messages; an empty one in memory when it cannot
    be kept. A corrupt note is started over."""
    targets = [place.directory / NOTE_NAME.format(fanout=fanout)] if place and key else []
    for target in [*targets, *targets]:  # the note; the note made anew
        try:
            target.parent.mkdir(exist_ok=True)
            if target.is_symlink():
                break
            connection = sqlite3.connect(target, isolation_level=None, timeout=_BUSY_SECONDS)
            try:
                start_over(connection, _SCHEMA, key or "")
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:
                connection.close()
                raise
            return connection, str(target)
        except (OSError, sqlite3.Error) as exc:
            if not is_corrupt(exc):
                break  # locked, read-only, ...: this run goes without it
            with contextlib.suppress(OSError):
                target.unlink()
    connection = sqlite3.connect(":memory:", isolation_level=None)
    start_over(connection, _SCHEMA, key or "")
    connection.execute("BEGIN")
    return connection, "lfs-meta's note of index rows"


def is_corrupt(exc: Exception) -> bool:
    """Whether a note failed for being no database (worth starting over), not for being busy."""
    return isinstance(exc, sqlite3.DatabaseError) and any(
        words in str(exc) for words in ("not a database", "malformed")
    )


def start_over(connection: sqlite3.Connection, schema_text: str, key: str) -> None:
    """Make a note's tables `schema_text`'s, empty, unless they were made under `key`. Other code's
    tables are dropped, not emptied: they may have other columns."""
    try:
        held = [row[0] for row in connection.execute("SELECT key FROM state")]
    except sqlite3.OperationalError:  # no such table or column
        held = []
    if held != [key]:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        connection.executescript("".join(f'DROP TABLE "{table}";' for table in tables))
        connection.executescript(schema_text)
        connection.execute("INSERT INTO state VALUES (?)", (key,))
