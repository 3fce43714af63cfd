"""`lfs-meta track-remote`: record remote objects' metadata in the index; nothing is downloaded."""

from __future__ import annotations

import argparse
import json
import sys

from lfs_meta import mergeconfig, providers, tracking
from lfs_meta.errors import RemoteError, UserError
from lfs_meta.index.problem import printable
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    if (args.url is None) == (args.from_manifest is None):
        raise UserError("track-remote takes a URL or --from-manifest FILE (one of them)")
    if args.recursive and args.path:
        raise UserError("--path names one file; with --recursive use --path-prefix DIR")
    if args.path_prefix and not args.recursive:
        raise UserError("--path-prefix goes with --recursive")
    request = tracking.Request(
        url=args.url,
        path=args.path,
        path_prefix=args.path_prefix,
        recursive=args.recursive,
        manifest=args.from_manifest,
        patient=args.patient,
        specimen=args.specimen,
        force=args.force,
        jobs=args.jobs,
    )
    options = providers.Options(
        credentials=args.credentials, endpoint_url=args.endpoint_url, hash_local=args.hash
    )
    remotes = providers.Providers(options)
    tracking.check_references(request.patient, request.specimen)
    found, failed = tracking.gather(repo.root, request, remotes)
    if failed and request.manifest is None and not request.recursive:
        raise RemoteError(failed[0][1])
    if failed:
        _report(tracking.Outcome(failed=failed), remotes.request_counts(), args.json)
        return 1
    outcome = repo.index.update([target.path for target, _ in found], tracking.record(found, request.force))
    _report(outcome, remotes.request_counts(), args.json)
    mergeconfig.note(repo.root)  # a change to commit, and so to merge
    single_refused = request.url is not None and not request.recursive and outcome.skipped
    return 1 if single_refused else 0


def _report(outcome: tracking.Outcome, requests: dict[str, int], as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "tracked": outcome.tracked,
                    "unchanged": outcome.unchanged,
                    "skipped": outcome.skipped,
                    "failed": [{"path": path, "error": error} for path, error in outcome.failed],
                    "requests": requests,
                },
                indent=2,
            )
        )
        return
    for path in outcome.skipped:
        print(
            f"{path}: already tracked with other metadata; kept (use --force to overwrite)", file=sys.stderr
        )
    for path, error in outcome.failed:  # a listed key may hold a newline: one line each all the same
        print(printable(f"{path}: {error}"), file=sys.stderr)
    made = ", ".join(f"{name} {count}" for name, count in requests.items()) or "none"
    status = "; index unchanged" if outcome.failed else ""
    counts = {name: len(getattr(outcome, name)) for name in ("tracked", "unchanged", "skipped", "failed")}
    summary = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(f"{summary}; requests: {made}{status}")
