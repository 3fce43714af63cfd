"""Deciding drift: pure functions from recorded entries and remote state to findings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lfs_meta.index.entry import Entry, keeping_checksums

UNCHANGED = "unchanged"
MODIFIED = "modified"
MISSING = "missing"
VERSION_GONE = "version_gone"
UNREACHABLE = "unreachable"
DRIFT = (MODIFIED, VERSION_GONE, MISSING)


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)  # one per entry checked: a million at a time
class Finding:
    path: str
    status: str
    changes: tuple[Change, ...] = ()
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "status": self.status}
        if self.changes:
            out["changes"] = [dataclasses.asdict(change) for change in self.changes]
        if self.reason:
            out["reason"] = self.reason
        return out


def changes(recorded: Entry, current: Entry) -> tuple[Change, ...]:
    """Fields both sides know that differ. A listing that reports no version id or checksums
    (S3 LIST) is compared on what it does report: size and ETag change with every new content."""
    found = []
    if recorded.size != current.size:
        found.append(Change("size", str(recorded.size), str(current.size)))
    for name in ("etag", "version_id"):
        old, new = getattr(recorded, name), getattr(current, name)
        if old and new and old != new:
            found.append(Change(name, old, new))
    for algorithm in sorted(set(recorded.checksums) & set(current.checksums)):
        old, new = recorded.checksums[algorithm], current.checksums[algorithm]
        if old != new:
            found.append(Change(f"checksums.{algorithm}", old, new))
    return tuple(found)


def accepted(recorded: Entry, current: Entry) -> Entry:
    """The entry after `check --update`: the store's metadata now, the user's own fields kept, and the
    checksums computed earlier only while they still describe the content."""
    return dataclasses.replace(
        keeping_checksums(recorded, current),
        remote_url=recorded.remote_url,
        patient=recorded.patient,
        specimen=recorded.specimen,
        extra=recorded.extra,
    )


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys((UNCHANGED, MODIFIED, VERSION_GONE, MISSING, UNREACHABLE), 0)
    for finding in findings:
        counts[finding.status] += 1
    return counts


def changed_paths(before: Mapping[str, Entry], after: Mapping[str, Entry]) -> list[str]:
    """Paths added or modified from `before` to `after` (the entries a push introduces)."""
    return sorted(path for path, entry in after.items() if before.get(path) != entry)


def describe(finding: Finding, update_hint: bool) -> str:
    """One line for a finding that is not unchanged, with its fix."""
    if finding.status in (MODIFIED, VERSION_GONE):
        what = ", ".join(f"{c.field} {c.old} -> {c.new}" for c in finding.changes)
        gone = f"; {finding.reason}" if finding.reason else ""
        fix = f"; run 'lfs-meta check --update {finding.path}' to accept" if update_hint else ""
        return f"{finding.path}: {finding.status.replace('_', ' ')}: {what}{gone}{fix}"
    if finding.status == MISSING:
        fix = f"restore the object or run 'lfs-meta untrack {finding.path}'"
        return f"{finding.path}: missing: {finding.reason}; {fix}"
    return f"{finding.path}: unreachable: {finding.reason}"


def exit_code(findings: Sequence[Finding], allow_unreachable: bool, updated: Sequence[str]) -> int:
    """1 when any entry drifted (and was not updated) or, unless allowed, could not be reached."""
    accepted = set(updated)
    for finding in findings:
        if finding.status == UNREACHABLE and not allow_unreachable:
            return 1
        if finding.status in DRIFT and finding.path not in accepted:
            return 1
    return 0
