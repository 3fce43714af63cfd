"""`check --inventory`: the index's entries joined with the reports' rows, a batch of shards at a
time, each batch one pass over each report's spilled rows.

The entries are read in the worker processes as a few columns (`Columns`), never as Entry objects: a
row that says what the index records settles its entry there. The rest, few when little changed,
are judged one by one with their recorded entries (`decide`). A report is taken at its word only
for what is unchanged: what it says changed or is gone is asked of the store (one HEAD each), for a
snapshot can miss an upload under way when it was taken (S3 dates a multipart upload by its start).
An entry a report cannot speak for is left to the usual check (HEAD/LIST): one in a bucket no report
lists or under a prefix the report does not cover, and one whose object changed after the report
was taken (or whose change time is not recorded).
"""

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
from lfs_meta.inventory.table import Recorded, Spill
from lfs_meta.progress import Progress

HOLD = 500_000  # entries joined at once: each batch costs one pass over the spilled rows
Emit = Callable[[Finding], None]


@dataclass(frozen=True)
class Loaded:
    report: Report
    spill: Spill


@dataclass
class Shard:
    """A shard's entries as the join reads them: the entries a report can speak for, a column each
    (`sources` numbers the report), and the paths of the rest."""

    usual: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    recorded: Recorded = field(default_factory=Recorded)


@dataclass(frozen=True)
class Columns:
    """A shard's checked JSON values as a `Shard`; sent to the worker processes that read the shards."""

    taken: tuple[tuple[Source, str], ...]  # each report's bucket and when it was taken, by number

    @classmethod
    def of(cls, loaded: Mapping[Source, Loaded]) -> Columns:
        return cls(tuple((source, when(each.report.snapshot)) for source, each in loaded.items()))

    def __call__(self, data: dict[str, Mapping[str, Any]]) -> Shard:
        """`data`'s values are dropped as they are read: a one-file index's are never held twice."""
        shard = Shard()
        for path in list(data):
            value = data.pop(path)
            spoken = self.spoken(value)
            if spoken is None:
                shard.usual.append(path)
                continue
            shard.sources.append(spoken[0])
            shard.paths.append(path)
            shard.names.append(spoken[1])
            checksums = value.get("checksums") or {}
            shard.recorded.add(value["size"], value.get("etag"), value.get("version_id"), checksums)
        return shard

    def spoken(self, value: Mapping[str, Any]) -> tuple[int, str] | None:
        """(the number of the report that speaks for the entry, its object's name there), or None."""
        located = columns.locate(value["remote_url"])
        if located is None:
            return None
        for number, (source, taken) in enumerate(self.taken):
            if source == located[0]:
                return (number, located[1]) if speaks_for(taken, value) else None
        return None


@dataclass(frozen=True)
class Unspoken:
    """A shard's entries that no report speaks for (and that `keep` wants), as Entry objects: the
    usual check's, read a shard at a time when they are many (a report of another bucket, say)."""

    columns: Columns
    keep: Callable[[str], bool] | None = None

    def __call__(self, data: dict[str, Mapping[str, Any]]) -> dict[str, Entry]:
        return {
            path: Entry.from_json(value)
            for path, value in data.items()
            if (self.keep is None or self.keep(value["remote_url"])) and self.columns.spoken(value) is None
        }


def speaks_for(taken: str, value: Mapping[str, Any]) -> bool:
    """Whether a report taken at `taken` ('Z', to the second) was taken after the object's recorded
    change: a later change, or a later object, may be missing from it."""
    recorded = value.get("last_modified")
    if not isinstance(recorded, str):
        return False
    if recorded.endswith("Z") and len(recorded) >= 20:  # the index's own form, compared to the second
        return recorded[:19] < taken[:19]
    moment = columns.moment(recorded)
    return moment is not None and moment.tzinfo is not None and when(moment) < taken


@dataclass
class Joined:
    counts: Counter[str] = field(default_factory=Counter)  # findings decided by the reports, by status
    usual: list[str] = field(default_factory=list)  # paths left to the usual check
    pending: list[tuple[str, int, str, dict[str, Any] | None]] = field(default_factory=list)
    # ^ (path, report number, object name, its row or None) of each entry a row did not settle


def join(
    loaded: Mapping[Source, Loaded], shards: Iterable[Shard], emit: Emit | None, hold: int = HOLD
) -> Joined:
    """Every entry settled by its row (each given to `emit`, when there is one), pending, or usual."""
    spilled = list(loaded.values())
    joined = Joined()
    batch = [Shard() for _ in spilled]
    held = 0
    with Progress("checking") as progress:
        for shard in shards:
            joined.usual += shard.usual
            _take(batch, shard)
            held += len(shard.paths)
            progress.advance(len(shard.paths) + len(shard.usual))
            if held >= hold:
                _settle(spilled, batch, emit, joined)
                batch, held = [Shard() for _ in spilled], 0
        _settle(spilled, batch, emit, joined)
    return joined


def _take(batch: list[Shard], shard: Shard) -> None:
    """A shard's entries into the batch of each one's report."""
    by_source: dict[int, list[int]] = {}
    for at, source in enumerate(shard.sources):
        by_source.setdefault(source, []).append(at)
    for source, numbers in by_source.items():
        into = batch[source]
        every = len(numbers) == len(shard.paths)
        into.paths.extend(shard.paths if every else [shard.paths[at] for at in numbers])
        into.names.extend(shard.names if every else [shard.names[at] for at in numbers])
        into.recorded.extend(shard.recorded, None if every else numbers)


def _settle(spilled: list[Loaded], batch: list[Shard], emit: Emit | None, joined: Joined) -> None:
    for number, (each, part) in enumerate(zip(spilled, batch, strict=True)):
        if not part.paths:
            continue
        rows = each.spill.aligned(part.names)
        settled = table.unchanged(rows, part.recorded)
        joined.counts[compare.UNCHANGED] += sum(settled)
        if emit is not None:
            for path in sorted(path for path, same in zip(part.paths, settled, strict=True) if same):
                emit(Finding(path, compare.UNCHANGED))
        others = [at for at, same in enumerate(settled) if not same]
        for at, row in zip(others, table.taken(rows, others), strict=True):
            joined.pending.append(
                (part.paths[at], number, part.names[at], row if row["name"] is not None else None)
            )


@dataclass
class Decided:
    unchanged: list[str] = field(default_factory=list)  # their rows say nothing changed after all
    changed: dict[str, Entry] = field(default_factory=dict)  # the report says they changed or are gone
    usual: dict[str, Entry] = field(default_factory=dict)  # left to the usual check


UNCHANGED, CHANGED, UNKNOWN = "unchanged", "changed", "unknown"


def decide(loaded: Mapping[Source, Loaded], joined: Joined, recorded: Mapping[str, Entry]) -> Decided:
    """What the reports say of the entries no row settled, with their `recorded` entries."""
    reports = [each.report for each in loaded.values()]
    decided = Decided()
    for path, number, name, row in sorted(joined.pending, key=lambda pending: pending[0]):
        verdict = judge(reports[number], recorded[path], name, row)
        if verdict == UNCHANGED:
            decided.unchanged.append(path)
        elif verdict == CHANGED:
            decided.changed[path] = recorded[path]
        else:
            decided.usual[path] = recorded[path]
    return decided


def judge(report: Report, recorded: Entry, name: str, row: Mapping[str, Any] | None) -> str:
    """UNCHANGED, CHANGED (modified, version gone or missing: which, the store says) or UNKNOWN (the
    report cannot say: an object it does not cover, a row without a size)."""
    if row is None:
        return CHANGED if report.coverage.covers(name) else UNKNOWN
    if row.get("size") is None:
        return UNKNOWN
    return (
        CHANGED if compare.changes(recorded, columns.entry(report, recorded.remote_url, row)) else UNCHANGED
    )


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
