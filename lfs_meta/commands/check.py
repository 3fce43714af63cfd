"""`lfs-meta check`: compare entries with their remote objects now; with --pre-push, the pushed index."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from lfs_meta import mergeconfig, providers
from lfs_meta.drift import compare, pushed, scan
from lfs_meta.drift.compare import Finding
from lfs_meta.errors import UserError
from lfs_meta.index import urls
from lfs_meta.index.layout import Passes
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.changed_only and not args.pre_push:
        raise UserError("--changed-only goes with --pre-push")
    if args.pre_push and (args.update or args.paths):
        raise UserError("--pre-push checks what is pushed; run --update or name PATHs without it")
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
