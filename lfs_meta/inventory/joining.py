"""`check --inventory`: the index's entries joined with the reports' rows, a batch of shards at a
time, each batch one pass over each report's spilled rows. An entry a report cannot speak for is
left to the usual check (HEAD/LIST): one it does not cover, one whose object changed after the
report was taken (or whose change time is not recorded), one pinned to a version that drifted
(whether that version still exists takes a request)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lfs_meta.drift import compare
from lfs_meta.drift.compare import Finding
from lfs_meta.index.entry import Entry
from lfs_meta.inventory import columns, table
from lfs_meta.inventory.manifest import Report, Source
from lfs_meta.inventory.table import Spill
from lfs_meta.progress import Progress

HOLD = 250_000  # entries held at once: each batch costs one pass over the spilled rows


@dataclass(frozen=True)
class Loaded:
    report: Report
    spill: Spill


@dataclass
class Joined:
    counts: Counter[str] = field(default_factory=Counter)  # findings decided by a report, by status
    findings: list[Finding] = field(default_factory=list)  # those not unchanged
    drifted: dict[str, Entry] = field(default_factory=dict)  # the recorded entries --update refreshes
    usual: dict[str, Entry] = field(default_factory=dict)  # left to the usual check


def check(
    loaded: Mapping[Source, Loaded],
    parts: Iterable[Mapping[str, Entry]],
    emit: Callable[[Finding], None] | None,
    hold: int = HOLD,
) -> Joined:
    """Every entry's finding from the reports, each given to `emit` (the unchanged ones too, when
    there is one), or the entry left to the usual check."""
    joined = Joined()
    batch: dict[str, Entry] = {}
    with Progress("checking") as progress:
        for part in parts:
            batch.update(part)
            if len(batch) >= hold:
                _batch(loaded, batch, emit, joined)
                progress.advance(len(batch))
                batch = {}
        _batch(loaded, batch, emit, joined)
        progress.advance(len(batch))
    return joined


def _batch(
    loaded: Mapping[Source, Loaded],
    batch: Mapping[str, Entry],
    emit: Callable[[Finding], None] | None,
    joined: Joined,
) -> None:
    taken = {source: _when(each.report.snapshot) for source, each in loaded.items()}
    wanted: dict[Source, list[tuple[str, str]]] = {}  # (path, object name)
    for path, entry in batch.items():
        located = columns.locate(entry.remote_url)
        if located is None or located[0] not in loaded or not speaks_for(taken[located[0]], entry):
            joined.usual[path] = entry
        else:
            wanted.setdefault(located[0], []).append((path, located[1]))
    found: list[Finding] = []
    for source, asked in wanted.items():
        report = loaded[source].report
        rows = loaded[source].spill.aligned([name for _, name in asked])
        same = table.unchanged(rows, _recorded(batch[path] for path, _ in asked))
        joined.counts[compare.UNCHANGED] += sum(same)
        if emit is not None:
            found += [
                Finding(path, compare.UNCHANGED) for (path, _), ok in zip(asked, same, strict=True) if ok
            ]
        others = [number for number, ok in enumerate(same) if not ok]
        chosen = rows.take(table.pyarrow().array(others, table.pyarrow().int64()))
        for number, row in zip(others, chosen.to_pylist(), strict=True):
            path, name = asked[number]
            finding = judge(report, path, batch[path], name, row if row["name"] is not None else None)
            if finding is None:
                joined.usual[path] = batch[path]
                continue
            joined.counts[finding.status] += 1
            found.append(finding)
            if finding.status != compare.UNCHANGED:
                joined.findings.append(finding)
            if finding.status == compare.MODIFIED:
                joined.drifted[finding.path] = batch[finding.path]
    if emit is not None:
        for finding in sorted(found, key=lambda finding: finding.path):
            emit(finding)


def _recorded(entries: Iterable[Entry]) -> table.Recorded:
    recorded = table.Recorded([], [], [], [], [])
    for entry in entries:
        recorded.sizes.append(entry.size)
        recorded.etags.append(entry.etag)
        recorded.versions.append(entry.version_id)
        recorded.md5s.append(entry.checksums.get("md5"))
        recorded.crc32cs.append(entry.checksums.get("crc32c"))
    return recorded


def speaks_for(taken: str, entry: Entry) -> bool:
    """Whether the report, taken at `taken` (to the second, 'Z'), was taken after the object's recorded
    change (a later change, or a later object, may be missing from it)."""
    recorded = entry.last_modified
    if recorded is None:
        return False
    if recorded.endswith("Z") and len(recorded) >= 20:  # the index's own form: compared to the second
        return recorded[:19] < taken[:19]
    moment = columns.moment(recorded)
    return moment is not None and moment.tzinfo is not None and _when(moment) < taken


def judge(
    report: Report, path: str, recorded: Entry, name: str, row: Mapping[str, Any] | None
) -> Finding | None:
    """The finding the report gives, or None when only the store can tell."""
    if row is None:
        if not report.coverage.covers(name):
            return None
        # Missing either way; whether a pinned version outlived the object is the store's to say.
        kept = f"; 'lfs-meta check {path}' says whether version {recorded.version_id} still exists"
        return Finding(
            path,
            compare.MISSING,
            reason=f"not in the store {_as_of(report)}{kept if recorded.version_id else ''}",
        )
    if row.get("size") is None:
        return None
    found = compare.changes(recorded, columns.entry(report, recorded.remote_url, row))
    if not found:
        return Finding(path, compare.UNCHANGED)
    if recorded.version_id:
        return None
    return Finding(path, compare.MODIFIED, found, _as_of(report))


def _as_of(report: Report) -> str:
    return f"as of the inventory report of {_when(report.snapshot)}"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
