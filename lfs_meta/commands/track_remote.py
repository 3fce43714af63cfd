"""`lfs-meta track-remote`: record remote objects' metadata in the index; nothing is downloaded."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from lfs_meta import mergeconfig, providers, tracking
from lfs_meta.errors import RemoteError, UserError
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import printable
from lfs_meta.inventory import reports
from lfs_meta.progress import Progress
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    if sum(given is not None for given in (args.url, args.from_manifest, args.from_inventory)) != 1:
        raise UserError(
            "track-remote takes a URL, --from-manifest FILE or --from-inventory REPORT (one of them)"
        )
    if (args.recursive or args.from_inventory) and args.path:
        raise UserError("--path names one file; with --recursive or --from-inventory use --path-prefix DIR")
    if args.path_prefix and not (args.recursive or args.from_inventory):
        raise UserError("--path-prefix goes with --recursive or --from-inventory")
    if args.prefix and not args.from_inventory:
        raise UserError(
            "--prefix goes with --from-inventory; with a URL, name the prefix in it and add --recursive"
        )
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
    taken: datetime | None = None
    if args.from_inventory is not None:
        found, failed, taken = _from_inventory(repo, args, remotes)
    else:
        found, failed = tracking.gather(repo.root, request, remotes)
    if failed and request.url is not None and not request.recursive:
        raise RemoteError(failed[0][1])
    if failed:
        _report(tracking.Outcome(failed=failed), remotes.request_counts(), args.json)
        return 1
    outcome = repo.index.update([target.path for target, _ in found], tracking.record(found, request.force))
    _report(outcome, remotes.request_counts(), args.json)
    mergeconfig.note(repo.root)  # a change to commit, and so to merge
    if taken is not None and not args.json:
        print(
            f"recorded as the inventory report of {taken:%Y-%m-%dT%H:%M:%SZ} lists them; "
            "'lfs-meta check' shows what changed since"
        )
    single_refused = request.url is not None and not request.recursive and outcome.skipped
    return 1 if single_refused else 0


def _from_inventory(
    repo: Repo, args: argparse.Namespace, remotes: providers.Providers
) -> tuple[list[tuple[tracking.Target, Entry]], list[tuple[str, str]], datetime]:
    """The objects the report lists under --prefix, as --recursive would record them, with no listing."""
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    base = tracking.Target(args.from_inventory, "", args.patient, args.specimen)
    with tempfile.TemporaryDirectory(prefix="lfs-meta-inventory-") as scratch:
        (loaded,) = reports.load(remotes, [args.from_inventory], Path(scratch), args.max_age).values()
        with Progress("reading") as progress:
            found = tracking.placed(reports.objects_under(loaded, prefix), args.path_prefix, base, progress)
    return found, tracking.path_errors((target for target, _ in found), repo.root), loaded.report.snapshot


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
