"""`lfs-meta check`: compare entries with their remote objects now; with --pre-push, the pushed index."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from lfs_meta import mergeconfig, providers
from lfs_meta.drift import compare, pushed, scan
from lfs_meta.drift.compare import Finding
from lfs_meta.errors import UserError
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.index.layout import Passes
from lfs_meta.inventory import joining, reports
from lfs_meta.inventory.manifest import Report, Source, shown
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
    _print_drift(findings, updated, named)
    print(", ".join(f"{count} {status.replace('_', ' ')}" for status, count in counts.items()))
    if stats:
        made = ", ".join(f"{name} {count}" for name, count in requests.items()) or "none"
        print(f"requests: {made}", file=sys.stderr)


def _print_drift(findings: Iterable[Finding], updated: Sequence[str], named: Sequence[str]) -> None:
    """A line for each drifted entry not updated, with its fix, and what --update did."""
    accepted = set(updated)
    for finding in findings:
        if finding.status != compare.UNCHANGED and finding.path not in accepted:
            print(compare.describe(finding, update_hint=not updated))
    for path in updated:
        print(f"{path}: updated to the remote's current metadata")
    if named:
        entries = "entry" if len(named) == 1 else "entries"
        print(f"recorded the Azure storage account of {len(named)} unchanged {entries}")


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
    """The entries a report finds unchanged, from the report; what it finds changed or gone, from the
    store (a HEAD each); the entries it cannot speak for, from the usual check."""
    remotes = providers.Providers(
        providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    )
    with tempfile.TemporaryDirectory(prefix="lfs-meta-inventory-") as scratch:
        loaded = reports.load(remotes, args.inventory, Path(scratch), args.max_age)
        if not args.json:
            for each in loaded.values():
                print(_described(each.report, each.spill.rows))
        # Findings go to a file as they are found (a large index's are never held) and are printed
        # once nothing more can fail, so that --json always prints one whole document.
        with _Findings(Path(scratch) / "findings", enabled=args.json) as findings:
            judged = _judged(repo, args, remotes, loaded, findings)
            written = _update(repo, remotes, judged.checked) if args.update else []
            updated = [path for path in written if path not in judged.checked.named]
            named = [path for path in written if path in judged.checked.named]
            if args.json:
                findings.print(
                    {
                        "summary": judged.summary,
                        "reports": [
                            each.report.as_json() | {"objects": each.spill.rows} for each in loaded.values()
                        ],
                        "asked": judged.asked,
                        "without_report": judged.without,
                        "updated": updated,
                        "account_recorded": named,
                        "requests": remotes.request_counts(),
                    }
                )
    if not args.json:
        _report_drift(judged, updated, named)
    _note_unnamed(judged.checked, written)
    if args.stats:
        made = ", ".join(f"{name} {count}" for name, count in remotes.request_counts().items()) or "none"
        print(f"requests: {made}", file=sys.stderr)
    return compare.exit_code(judged.checked.findings, args.allow_unreachable, updated)


@dataclass(frozen=True)
class _Judged:
    checked: scan.Checked  # the findings the store gave (the drift), what --update refreshes
    summary: dict[str, int]  # every entry's status, counted
    asked: int  # entries the report found changed or gone, asked of the store
    without: int  # entries the report could not speak for, checked the usual way


def _judged(
    repo: Repo,
    args: argparse.Namespace,
    remotes: providers.Providers,
    loaded: Mapping[Source, joining.Loaded],
    findings: _Findings,
) -> _Judged:
    """Every entry judged, by the reports or the store; each finding given to `findings`."""
    columns = joining.Columns.of(loaded)
    if args.paths:
        chosen = repo.index.select(args.paths)
        shards: Iterable[joining.Shard] = [columns({path: e.to_json() for path, e in chosen.items()})]
    else:
        shards = Passes(repo.index).shaped(columns)  # a shard at a time, read by worker processes
    joined = joining.join(loaded, shards, findings.add if findings.file else None)
    many = not args.paths and len(joined.usual) > scan.HOLD  # then read again, a shard at a time
    wanted = [path for path, *_ in joined.pending] + ([] if many else joined.usual)
    recorded = repo.index.select(wanted) if wanted else {}
    decided = joining.decide(loaded, joined, recorded)
    for path in decided.unchanged:
        findings.add(Finding(path, compare.UNCHANGED))
    usual = decided.usual | ({} if many else {path: recorded[path] for path in joined.usual})
    checked = _also(
        _ask(remotes, decided.changed, args.jobs),
        scan.check_parts(remotes, scan.held(usual), args.jobs) if usual else None,
        _unspoken(repo, columns, remotes, args.jobs) if many else None,
    )
    for finding in checked.findings:
        findings.add(finding)
    counts = joined.counts + Counter(finding.status for finding in checked.findings)
    counts[compare.UNCHANGED] += len(decided.unchanged)
    summary = {status: counts[status] for status in compare.summary(())}
    return _Judged(checked, summary, len(decided.changed), len(usual) + (len(joined.usual) if many else 0))


def _unspoken(repo: Repo, columns: joining.Columns, remotes: providers.Providers, jobs: int) -> scan.Checked:
    """The usual check of the entries no report speaks for, read from the index a shard at a time."""
    passes = Passes(repo.index)
    return scan.check_parts(remotes, lambda keep: passes.shaped(joining.Unspoken(columns, keep)), jobs)


def _also(*parts: scan.Checked | None) -> scan.Checked:
    """The findings of checks of disjoint entries, as one check's."""
    done = [part for part in parts if part is not None]
    return scan.Checked(
        sorted((finding for part in done for finding in part.findings), key=lambda finding: finding.path),
        {path: entry for part in done for path, entry in part.drifted.items()},
        sum(part.unnamed for part in done),
        {path: entry for part in done for path, entry in part.recorded.items()},
        {path: entry for part in done for path, entry in part.named.items()},
    )


ASK_ONE_BY_ONE = 1000  # more changed than this (a mass rewrite, say): the usual check lists when it pays


def _ask(remotes: providers.Providers, changed: Mapping[str, Entry], jobs: int) -> scan.Checked | None:
    """The store's own findings for what a report found changed or gone: one HEAD each, or for many,
    the usual check's LIST where a page finds more of them than it costs."""
    if not changed:
        return None
    if len(changed) > ASK_ONE_BY_ONE:
        return scan.check_parts(remotes, scan.held(changed), jobs)
    return scan.by_head(remotes, changed, jobs)


def _described(report: Report, rows: int) -> str:
    age = reports.age_text(datetime.now(UTC) - report.snapshot)
    files = f"{len(report.files)} {report.file_format.upper()} file{'s' if len(report.files) != 1 else ''}"
    return (
        f"inventory report of {shown(report.source_url)} taken {joining.when(report.snapshot)} ({age} ago): "
        f"{files}, {rows} objects; covers {shown(report.coverage.describe())}"
    )


def _report_drift(judged: _Judged, updated: Sequence[str], named: Sequence[str]) -> None:
    _print_drift(judged.checked.findings, updated, named)
    if judged.asked:
        entries = "entry" if judged.asked == 1 else "entries"
        print(
            f"{judged.asked} {entries} the report found changed or gone, asked of the store (one HEAD each)"
        )
    if judged.without:
        entries = "entry" if judged.without == 1 else "entries"
        print(
            f"{judged.without} {entries} checked with the store, not the report: tracked or changed after "
            "it, or outside what it covers"
        )
    print(", ".join(f"{count} {status.replace('_', ' ')}" for status, count in judged.summary.items()))


class _Findings:
    """The JSON output's findings, written to a file as they are found, printed whole at the end."""

    def __init__(self, path: Path, *, enabled: bool) -> None:
        self.file: TextIO | None = path.open("w", encoding="utf-8") if enabled else None
        self.count = 0

    def __enter__(self) -> _Findings:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def add(self, finding: Finding) -> None:
        if self.file is not None:
            self.file.write(("," if self.count else "") + "\n    " + json.dumps(finding.as_json()))
            self.count += 1

    def print(self, rest: Mapping[str, object]) -> None:
        assert self.file is not None
        self.file.close()
        sys.stdout.write('{\n  "findings": [')
        with open(self.file.name, encoding="utf-8") as written:
            shutil.copyfileobj(written, sys.stdout)
        sys.stdout.write("\n  ],\n" + json.dumps(rest, indent=2)[2:] + "\n")
