"""`lfs-meta status`: each entry's file in the working tree, and with --remote its object in the store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import check, drift, index, pulled
from lfs_meta.drift import Finding
from lfs_meta.entry import Entry
from lfs_meta.providers import Providers

_WORDS = {
    pulled.PULLED: "pulled",
    pulled.MODIFIED: "modified",
    pulled.OUTDATED: "outdated",
    pulled.NOT_PULLED: "not pulled",
}


@dataclass(frozen=True)
class Row:
    path: str
    local: pulled.Local
    remote: Finding | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "local": self.local.state}
        if self.local.detail:
            out["detail"] = self.local.detail
        if self.remote is not None:
            out["remote"] = self.remote.as_json()
        return out


def rows(root: Path, entries: Mapping[str, Entry], records: Mapping[str, pulled.Record]) -> list[Row]:
    return [
        Row(path, pulled.local_state(root, path, entry, records.get(path)))
        for path, entry in sorted(entries.items())
    ]


def fix(row: Row) -> str:
    if row.local.state == pulled.MODIFIED:
        return f"; 'lfs-meta pull --force {row.path}' puts back the indexed content"
    if row.local.state == pulled.OUTDATED:
        return f"; 'lfs-meta pull {row.path}' updates it"
    return ""


def report(found: Sequence[Row], as_json: bool) -> None:
    counts = dict.fromkeys(pulled.STATES, 0)
    for row in found:
        counts[row.local.state] += 1
    checked = [row.remote for row in found if row.remote is not None]
    if as_json:
        out: dict[str, object] = {"summary": counts, "entries": [row.as_json() for row in found]}
        if checked:
            out["remote_summary"] = drift.summary(checked)
        print(json.dumps(out, indent=2))
        return
    width = max(len(word) for word in _WORDS.values())
    for row in found:
        detail = f": {row.local.detail}{fix(row)}" if row.local.detail else ""
        remote = ""
        if row.remote is not None:
            remote = f"  [remote {row.remote.status.replace('_', ' ')}]"
        print(f"{_WORDS[row.local.state]:<{width}}  {row.path}{remote}{detail}")
    summary = ", ".join(f"{count} {_WORDS[state]}" for state, count in counts.items())
    print(f"{len(found)} tracked: {summary}")
    for finding in checked:
        if finding.status != drift.UNCHANGED:
            print(check.line(finding, update_hint=True))


def run(index_path: Path, paths: Sequence[str], remote: Providers | None, jobs: int, as_json: bool) -> int:
    entries = check.select(index.load(index_path), paths, index_path)
    workspace = pulled.Workspace.of(index_path.resolve().parent.parent)
    found = rows(workspace.root, entries, workspace.records())
    if remote is None:
        report(found, as_json)
        return 0
    findings = {finding.path: finding for finding in check.check(remote, entries, jobs)}
    found = [Row(row.path, row.local, findings[row.path]) for row in found]
    report(found, as_json)
    return check.exit_code(list(findings.values()), allow_unreachable=False, updated=())
