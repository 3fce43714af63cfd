"""`lfs-meta check`: compare entries with their remote objects now; with --pre-push, the pushed index."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from lfs_meta import mergeconfig, providers
from lfs_meta.drift import compare, pushed, scan
from lfs_meta.drift.compare import Finding
from lfs_meta.errors import UserError
from lfs_meta.index import urls
from lfs_meta.index.layout import Passes
from lfs_meta.inventory import joining, reports
from lfs_meta.inventory.manifest import Report
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.changed_only and not args.pre_push:
        raise UserError("--changed-only goes with --pre-push")
    if args.pre_push and (args.update or args.paths):
        raise UserError("--pre-push checks what is pushed; run --update or name PATHs without it")
    if args.inventory and args.pre_push:
        raise UserError("--inventory checks the index here; the pre-push check asks the stores")
    if args.max_age is not None and not args.inventory:
        raise UserError("--max-age goes with --inventory")
    if args.inventory:
        return _with_inventory(repo, args)
    parts: scan.Parts
    if args.pre_push or args.paths:
        chosen = (
            pushed.entries(repo, os.environ, args.changed_only)
            if args.pre_push
            else repo.index.select(args.paths)
        )
        parts = scan.held(chosen)
    else:
        parts = Passes(repo.index)  # a shard at a time: a large index is never held whole
    options = providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    remotes = providers.Providers(options)
    checked = scan.check_parts(remotes, parts, args.jobs)
    findings = checked.findings
    written = _update(repo, remotes, checked) if args.update else []
    updated = [path for path in written if path not in checked.named]
    named = [path for path in written if path in checked.named]
    _report(findings, remotes.request_counts(), args.json, args.stats, updated, named=named)
    _note_unnamed(checked, written)
    code = compare.exit_code(findings, args.allow_unreachable, updated)
    if args.pre_push and code:
        _refuse_push(findings, args.allow_unreachable)
    if args.pre_push:  # a hook: a clone that pushes will merge
        mergeconfig.note(repo.root)
    return code


def _update(repo: Repo, remotes: providers.Providers, checked: scan.Checked) -> list[str]:
    """The drifted entries anew and the unchanged az://container/blob ones naming their account, at once."""
    fresh = scan.refresh(remotes, checked.drifted) | checked.named
    recorded = {**checked.drifted, **checked.recorded}
    return repo.index.update(fresh.keys(), scan.accept(recorded, fresh)) if fresh else []


def _note_unnamed(checked: scan.Checked, written: Sequence[str]) -> None:
    recorded = {**checked.drifted, **checked.recorded}
    left = checked.unnamed - sum(1 for path in written if urls.names_no_account(recorded[path].remote_url))
    if left:
        print(
            f"lfs-meta: note: {left} entr{'y names' if left == 1 else 'ies name'} no Azure storage account "
            "(az://container/blob, resolved from each user's environment); "
            "'lfs-meta check --update' records the account that serves them (on Azure's public "
            "cloud; on another, track the blob's https:// URL instead)",
            file=sys.stderr,
        )


def _report(
    findings: Sequence[Finding],
    requests: Mapping[str, int],
    as_json: bool,
    stats: bool,
    updated: Sequence[str],
    *,
    named: Sequence[str],
) -> None:
    counts = compare.summary(findings)
    if as_json:
        print(
            json.dumps(
                {
                    "summary": counts,
                    "findings": [f.as_json() for f in findings],
                    "updated": list(updated),
                    "account_recorded": list(named),
                    "requests": dict(requests),
                },
                indent=2,
            )
        )
        return
    accepted = set(updated)
    for finding in findings:
        if finding.status != compare.UNCHANGED and finding.path not in accepted:
            print(compare.describe(finding, update_hint=not updated))
    for path in updated:
        print(f"{path}: updated to the remote's current metadata")
    if named:
        entries = "entry" if len(named) == 1 else "entries"
        print(f"recorded the Azure storage account of {len(named)} unchanged {entries}")
    print(", ".join(f"{count} {status.replace('_', ' ')}" for status, count in counts.items()))
    if stats:
        made = ", ".join(f"{name} {count}" for name, count in requests.items()) or "none"
        print(f"requests: {made}", file=sys.stderr)


def _refuse_push(findings: Sequence[Finding], allow_unreachable: bool) -> None:
    drifted = [f.path for f in findings if f.status in compare.DRIFT]
    unreachable = [f.path for f in findings if f.status == compare.UNREACHABLE and not allow_unreachable]
    named = ", ".join(drifted + unreachable)
    print(
        f"lfs-meta: push refused: remote objects changed or could not be checked: {named}. "
        "Accept their current state with 'lfs-meta check --update' and commit, "
        "or skip this check once with 'SKIP=lfs-meta-drift git push'",
        file=sys.stderr,
    )


def _with_inventory(repo: Repo, args: argparse.Namespace) -> int:
    """The findings the reports give, and the usual check's for the entries they cannot speak for."""
    remotes = providers.Providers(
        providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    )
    with tempfile.TemporaryDirectory(prefix="lfs-meta-inventory-") as scratch:
        loaded = reports.load(remotes, args.inventory, Path(scratch), args.max_age)
        columns = joining.Columns.of(loaded)
        if args.paths:
            chosen = repo.index.select(args.paths)
            shards: Iterable[joining.Shard] = [columns({path: e.to_json() for path, e in chosen.items()})]
        else:
            shards = Passes(repo.index).shaped(columns)  # a shard at a time, read by worker processes
        findings = _Findings(sys.stdout) if args.json else None  # begun once nothing can be refused
        if findings is None:
            for each in loaded.values():
                print(_described(each.report, each.spill.rows))
        joined = joining.join(loaded, shards, findings.add if findings else None)
        wanted = joined.usual + [path for path, *_ in joined.pending]
        recorded = repo.index.select(wanted) if wanted else {}
        decided = joining.decide(loaded, joined, recorded)
    usual = {path: recorded[path] for path in joined.usual} | decided.usual
    checked = scan.check_parts(remotes, scan.held(usual), args.jobs) if usual else None
    drift = decided.findings + (checked.findings if checked else [])
    if findings is not None:
        for finding in drift:
            findings.add(finding)
    drifted = decided.drifted | (checked.drifted if checked else {})
    written = (
        _update(
            repo,
            remotes,
            scan.Checked(
                [], drifted, 0, checked.recorded if checked else {}, checked.named if checked else {}
            ),
        )
        if args.update
        else []
    )
    counts = joined.counts + Counter(finding.status for finding in drift)
    summary = {status: counts[status] for status in compare.summary(())}
    requests = remotes.request_counts()
    if findings is not None:
        findings.close(
            {
                "summary": summary,
                "reports": [each.report.as_json() | {"objects": each.spill.rows} for each in loaded.values()],
                "without_report": len(usual),
                "updated": written,
                "requests": dict(requests),
            }
        )
    else:
        _report_drift(drift, written, summary, len(usual))
    if args.stats:
        made = ", ".join(f"{name} {count}" for name, count in requests.items()) or "none"
        print(f"requests: {made}", file=sys.stderr)
    return compare.exit_code(drift, args.allow_unreachable, written)


def _described(report: Report, rows: int) -> str:
    age = reports.age_text(datetime.now(UTC) - report.snapshot)
    files = f"{len(report.files)} {report.file_format.upper()} file{'s' if len(report.files) != 1 else ''}"
    return (
        f"inventory report of {report.source_url} taken {report.snapshot:%Y-%m-%dT%H:%M:%SZ} ({age} ago): "
        f"{files}, {rows} objects; covers {report.coverage.describe()}"
    )


def _report_drift(
    drift: Sequence[Finding], updated: Sequence[str], summary: Mapping[str, int], without: int
) -> None:
    accepted = set(updated)
    for finding in sorted(drift, key=lambda finding: finding.path):
        if finding.status != compare.UNCHANGED and finding.path not in accepted:
            print(compare.describe(finding, update_hint=not updated))
    for path in updated:
        print(f"{path}: updated to the remote's current metadata")
    if without:
        entries = "entry" if without == 1 else "entries"
        print(
            f"{without} {entries} checked with the store, not the report: tracked or changed after it, "
            "outside what it covers, or pinned to a version"
        )
    print(", ".join(f"{count} {status.replace('_', ' ')}" for status, count in summary.items()))


class _Findings:
    """The JSON output, its findings written as they are found: a large index's are never held."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        out.write('{\n  "findings": [')

    def add(self, finding: Finding) -> None:
        self.out.write(("," if self.count else "") + "\n    " + json.dumps(finding.as_json()))
        self.count += 1

    def close(self, rest: Mapping[str, object]) -> None:
        self.out.write("\n  ],\n" + json.dumps(rest, indent=2)[2:] + "\n")
