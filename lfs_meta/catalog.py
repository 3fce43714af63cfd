"""`validate --staged` of a sharded index at the cost of the change, not of the index.

A note in git's directory (SQLite) holds, for the shard blobs last validated, one row per entry:
its path, shard, Unicode-normalized path, specimen and patient. A commit's hook then parses only the
shards whose staged blob differs, and checks the rules that span shards (a file inside a tracked
file, Unicode twins, one patient per specimen) for the entries that came or changed in them, with
indexed queries against every other row. That is enough because the note only ever holds a set of
shards that passed together (when the staged index has a problem, nothing is recorded, so the next
run checks the same entries again), and taking an entry away breaks none of these rules.
A fresh clone, an unusable note, or a change to the code that checks pays one full check.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lfs_meta import git, gitnames
from lfs_meta.errors import UserError
from lfs_meta.fhir import stamp
from lfs_meta.index import attributes, paths, rules, schema, shards, storage, strictjson, urls
from lfs_meta.index import layout as layouts
from lfs_meta.index import problem as problems
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo

NOTE_PATH = "lfs-meta/index-{fanout}.sqlite"  # inside git's directory
_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shard (number INTEGER PRIMARY KEY, blob TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entry (
    path TEXT PRIMARY KEY, number INTEGER, nfc TEXT, specimen TEXT, patient TEXT
);
CREATE INDEX IF NOT EXISTS entry_number ON entry (number);
CREATE INDEX IF NOT EXISTS entry_nfc ON entry (nfc) WHERE nfc IS NOT NULL;
CREATE INDEX IF NOT EXISTS entry_specimen ON entry (specimen) WHERE specimen IS NOT NULL;
"""
Results = list[tuple[str, list[Problem]]]


def validate_staged(repo: Repo) -> Results:
    """Every problem with the staged sharded index, file by file."""
    try:
        return _validate_staged(repo)
    except sqlite3.Error as exc:
        raise UserError(
            f"{_note_path(repo)}: the note of checked shards is unusable ({exc}); remove it (it is "
            "only a cache) and run again"
        ) from None


def _note_path(repo: Repo) -> str:
    location = repo.git_dirs
    return str(location.git_dir / "lfs-meta") if location else "lfs-meta's note"


def _validate_staged(repo: Repo) -> Results:
    layout = repo.index
    directory = _relative(layout.shard_directory, repo.root)
    staged = git.staged_blob_ids(repo.root, [directory])
    shard_ids: dict[int, str] = {}
    results: dict[str, list[Problem]] = {}
    for name, blob in staged.items():
        file_name = name.rpartition("/")[2]
        number = shards.number_of_file(file_name, layout.fanout)
        if number is not None and name == f"{directory}/{file_name}":
            shard_ids[number] = blob
        elif not file_name.startswith("."):  # .gitattributes, .gitignore, and what a full run skips too
            results[f"{name} (staged)"] = [Problem(f"not a shard of {directory}", "git rm --cached it")]
    if not shard_ids:
        raise UserError(f"no staged {directory}/ here; run from the repository root after 'git add'")
    also = git.staged_blob_ids(repo.root, [storage.INDEX_PATH.as_posix()])
    if also:
        fix = "'git rm --cached' the layout you moved away from (see 'lfs-meta reshard')"
        results[f"{storage.INDEX_PATH.as_posix()} (staged)"] = [
            Problem(f"staged beside {directory}/: a commit must hold the index in one layout", fix)
        ]
    db = _open(repo, layout.fanout, _code_key())
    recorded = dict(db.execute("SELECT number, blob FROM shard"))
    changed = sorted(n for n, blob in shard_ids.items() if recorded.get(n) != blob)
    db.execute("BEGIN")
    fresh = not recorded
    references: list[rules.Reference] = []
    came: list[Row] = []
    for number, raw in _blobs(repo.root, {n: shard_ids[n] for n in changed}):
        shown = f"{directory}/{shards.file_name(number, layout.fanout)} (staged)"
        data, results[shown] = layouts.parse_shard(raw, number, layout.fanout)
        rows = _rows(data, number)
        changes = _replace(db, number, shard_ids[number], rows)
        if fresh:
            references.extend((path, specimen, patient) for path, _, _, specimen, patient in rows)
        else:
            came += changes
    for number in recorded.keys() - shard_ids.keys():
        _replace(db, number, None, [])
    cross = (
        rules.cross_file_problems(references, lambda path: shards.number_of(path, layout.fanout))
        if fresh
        else _cross_problems(db, came)
    )
    for path, problem in cross:
        shown = (
            f"{directory}/{shards.file_name(shards.number_of(path, layout.fanout), layout.fanout)} (staged)"
        )
        results.setdefault(shown, []).append(problem)
    db.execute("ROLLBACK" if any(results.values()) else "COMMIT")
    for number in shard_ids:
        results.setdefault(f"{directory}/{shards.file_name(number, layout.fanout)} (staged)", [])
    return sorted(results.items())


def _code_key() -> str | None:
    """What the rows and the checks mean: the source of the modules that decide them (a rule a new
    version adds must see every row again, not only the changed ones)."""
    deciding = [
        rules,
        paths,
        urls,
        strictjson,
        schema,
        problems,
        attributes,
        gitnames,
        layouts,
        shards,
        storage,
    ]
    return stamp.fingerprint([sys.modules[__name__], *deciding])


def _open(repo: Repo, fanout: int, key: str | None) -> sqlite3.Connection:
    """The note, or an empty one in memory when git's directory cannot hold it or the code cannot be
    fingerprinted; a corrupt note is started over."""
    location = repo.git_dirs
    path = NOTE_PATH.format(fanout=fanout)
    targets = [location.git_dir / path] if location is not None and key is not None else []
    for target in [*targets, *targets]:  # the note; the note made anew
        try:
            return _connect(target, key or "")
        except (OSError, sqlite3.Error) as exc:
            if not is_corrupt(exc):
                break  # locked, read-only, ...: this run goes without it
            with contextlib.suppress(OSError):
                target.unlink()
    return _connect(None, key or "")


def is_corrupt(exc: Exception) -> bool:
    """Whether a note failed for being no database (worth starting over), not for being busy."""
    return isinstance(exc, sqlite3.DatabaseError) and any(
        words in str(exc) for words in ("not a database", "malformed")
    )


def _connect(path: Path | None, key: str) -> sqlite3.Connection:
    if path is not None:
        path.parent.mkdir(exist_ok=True)
        if path.is_symlink():
            raise OSError(f"{path} is a link")
    connection = sqlite3.connect(path or ":memory:", isolation_level=None)
    start_over(connection, _SCHEMA, key)
    return connection


def start_over(connection: sqlite3.Connection, schema: str, key: str) -> None:
    """Make a note's tables `schema`'s, empty, unless they were made under `key`. Other code's tables
    are dropped, not emptied: they may have other columns."""
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
        connection.executescript(schema)
        connection.execute("INSERT INTO state VALUES (?)", (key,))


def _blobs(root: Path, ids: dict[int, str]) -> Iterator[tuple[int, bytes]]:
    numbers = list(ids)
    for number, (_, raw) in zip(numbers, git.blobs_in_turns(root, [ids[n] for n in numbers]), strict=True):
        yield number, raw or b""


Row = tuple[str, int, str | None, Any, Any]  # path, shard, NFC form when not ASCII, specimen, patient


def _rows(data: Any, number: int) -> list[Row]:
    if not isinstance(data, dict):
        return []
    rows = []
    for path, entry in data.items():
        fields = entry if isinstance(entry, dict) else {}
        nfc = None if path.isascii() else unicodedata.normalize("NFC", path)
        specimen, patient = fields.get("specimen"), fields.get("patient")
        rows.append(
            (
                path,
                number,
                nfc,
                specimen if isinstance(specimen, str) else None,
                patient if isinstance(patient, str) else None,
            )
        )
    return rows


def _replace(db: sqlite3.Connection, number: int, blob: str | None, rows: Iterable[Row]) -> list[Row]:
    """Record shard `number` as `blob` holding `rows` (None: gone); the rows that came or changed.
    Only those are written: a shard holds thousands of entries, a commit changes few."""
    old = {
        row[0]: row
        for row in db.execute(
            "SELECT path, number, nfc, specimen, patient FROM entry WHERE number = ?", (number,)
        )
    }
    new = {row[0]: row for row in rows} if blob is not None else {}
    came = [row for path, row in new.items() if old.get(path) != row]
    db.executemany(
        "DELETE FROM entry WHERE path = ? AND number = ?",
        [(path, number) for path, row in old.items() if new.get(path) != row],
    )
    db.execute("DELETE FROM shard WHERE number = ?", (number,))
    if blob is not None:
        db.execute("INSERT INTO shard VALUES (?, ?)", (number, blob))
        # OR IGNORE: a path in two shards is one misplaced entry, which its shard's check reports.
        db.executemany("INSERT OR IGNORE INTO entry VALUES (?, ?, ?, ?, ?)", came)
    return came


def _cross_problems(db: sqlite3.Connection, came: list[Row]) -> Iterator[tuple[str, Problem]]:
    """The rules across shards for the entries that came or changed, each against every other row."""
    seen: set[tuple[str, str]] = set()
    for path, number, nfc, specimen, patient in came:
        for found in _row_problems(db, number, path=path, nfc=nfc, specimen=specimen, patient=patient):
            key = (found[0], found[1].message)
            if key not in seen:
                seen.add(key)
                yield found


def _row_problems(
    db: sqlite3.Connection,
    number: int,
    *,
    path: str,
    nfc: str | None,
    specimen: str | None,
    patient: str | None,
) -> Iterator[tuple[str, Problem]]:
    slash = path.find("/")
    while slash != -1:
        ancestor = path[:slash]
        if db.execute("SELECT 1 FROM entry WHERE path = ? AND number != ?", (ancestor, number)).fetchone():
            yield path, rules.nesting_problem(path, ancestor)
            break
        slash = path.find("/", slash + 1)
    # Below `path` + "/" and above `path` + "0" ("0" follows "/"): the paths inside it, by the index.
    inside = db.execute(
        "SELECT path FROM entry WHERE path > ? AND path < ? AND number != ?", (path + "/", path + "0", number)
    )
    for (below,) in inside.fetchall():
        yield below, rules.nesting_problem(below, path)
    if nfc is not None:
        for (twin,) in db.execute(
            "SELECT path FROM entry WHERE nfc = ? AND path != ? AND number != ?", (nfc, path, number)
        ):
            later, first = sorted((path, twin), reverse=True)
            yield later, rules.twin_problem(later, first)
    if specimen is not None and patient is not None:
        other = db.execute(
            "SELECT path, patient FROM entry WHERE specimen = ? AND patient IS NOT NULL AND patient != ? "
            "AND number != ? LIMIT 1",
            (specimen, patient, number),
        ).fetchone()
        if other:
            yield path, rules.specimen_problem(path, other[0], specimen, other[1], patient)


def _relative(path: Path, root: Path) -> str:
    """As git names it; lexical, so a link in the way is not followed (git reads its own index)."""
    return Path(os.path.relpath(path, root)).as_posix()
