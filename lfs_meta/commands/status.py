"""`lfs-meta status`: each entry's file in the working tree, and with --remote its object in the store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import providers
from lfs_meta.drift import compare, scan
from lfs_meta.drift.compare import Finding
from lfs_meta.index.entry import Entry
from lfs_meta.repo import Repo
from lfs_meta.worktree import state

_WORDS = {
    state.PULLED: "pulled",
    state.MODIFIED: "modified",
    state.OUTDATED: "outdated",
    state.NOT_PULLED: "not pulled",
}


@dataclass(frozen=True)
class Row:
    path: str
    local: state.Local
    remote: Finding | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "local": self.local.state}
        if self.local.detail:
            out["detail"] = self.local.detail
        if self.remote is not None:
            out["remote"] = self.remote.as_json()
        return out


def rows(root: Path, entries: Mapping[str, Entry], recorded: Mapping[str, state.Record]) -> list[Row]:
    return [
        Row(path, state.local_state(root, path, entry, recorded.get(path)))
        for path, entry in sorted(entries.items())
    ]


def fix(row: Row) -> str:
    if row.local.state == state.MODIFIED:
        return f"; 'lfs-meta pull --force {row.path}' puts back the indexed content"
    if row.local.state == state.OUTDATED:
        return f"; 'lfs-meta pull {row.path}' updates it"
    return ""


def report(found: Sequence[Row], as_json: bool) -> None:
    counts = dict.fromkeys(state.STATES, 0)
    for row in found:
        counts[row.local.state] += 1
    checked = [row.remote for row in found if row.remote is not None]
    if as_json:
        out: dict[str, object] = {"summary": counts, "entries": [row.as_json() for row in found]}
        if checked:
            out["remote_summary"] = compare.summary(checked)
        print(json.dumps(out, indent=2))
        return
    width = max(len(word) for word in _WORDS.values())
    for row in found:
        detail = f": {row.local.detail}{fix(row)}" if row.local.detail else ""
        remote = ""
        if row.remote is not None:
            remote = f"  [remote {row.remote.status.replace('_', ' ')}]"
        print(f"{_WORDS[row.local.state]:<{width}}  {row.path}{remote}{detail}")
    summary = ", ".join(f"{count} {_WORDS[local]}" for local, count in counts.items())
    print(f"{len(found)} tracked: {summary}")
    for finding in checked:
        if finding.status != compare.UNCHANGED:
            print(compare.describe(finding, update_hint=True))


def run(repo: Repo, args: argparse.Namespace) -> int:
    entries = repo.index.select(args.paths)
    workspace = state.Workspace.of(repo)
    found = rows(workspace.root, entries, workspace.records())
    if not args.remote:
        report(found, args.json)
        return 0
    remote = providers.Providers(
        providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    )
    findings = {finding.path: finding for finding in scan.check(remote, entries, args.jobs)}
    found = [Row(row.path, row.local, findings[row.path]) for row in found]
    report(found, args.json)
    return compare.exit_code(list(findings.values()), allow_unreachable=False, updated=())
