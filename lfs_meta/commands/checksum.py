"""`lfs-meta checksum`: fill in the MD5 (and SHA-256) entries lack, from the cheapest honest source."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lfs_meta import fs, providers, workers
from lfs_meta.checksum import filling, reading, report, s3batch
from lfs_meta.errors import RemoteError, UserError
from lfs_meta.fhir import meta
from lfs_meta.index.entry import Entry
from lfs_meta.progress import Progress, human_bytes
from lfs_meta.providers import s3
from lfs_meta.repo import Repo


@dataclass
class Outcome:
    """What a run could not do, by path, and the bytes it read."""

    failed: dict[str, str] = field(default_factory=dict)
    lacking: dict[str, Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # report rows that could not be used
    read_bytes: int = 0
    interrupted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


# A metadata request holds no buffer: many more of them go at once than reads.
_ASKED_PER_READ = 4
_SOURCES = {
    "store": "from the store's metadata",
    "report": "from the S3 Batch Operations report",
    "read": "read",
}


def run(repo: Repo, args: argparse.Namespace) -> int:
    if sum((args.read, args.s3_batch_manifest is not None, args.from_report is not None)) > 1:
        raise UserError("--read, --s3-batch-manifest and --from-report go one at a time")
    wanted = ("md5", "sha256") if args.sha256 else ("md5",)
    needing = {
        path: entry for path, entry in repo.index.select(args.paths).items() if filling.lacking(entry, wanted)
    }
    remotes = providers.Providers(
        providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    )
    recorder = filling.Recorder(repo.index.update)
    outcome = Outcome()
    if args.s3_batch_manifest is not None:
        return _write_batch_manifests(repo, args.s3_batch_manifest, needing)
    try:
        if args.from_report is None:
            _from_store(remotes, needing, recorder, outcome, _ASKED_PER_READ * args.jobs)
        else:
            _from_report(remotes, args.from_report, needing, recorder, outcome)
        recorder.flush()
        remaining = _still_lacking(needing, recorder.found, outcome.failed, wanted)
        if args.read:
            _read(remotes, remaining, wanted, recorder=recorder, outcome=outcome, jobs=args.jobs)
            recorder.flush()
            remaining = _still_lacking(remaining, recorder.found, outcome.failed, wanted)
    except KeyboardInterrupt:
        outcome.interrupted = True
        remaining = {}
    finally:
        recorder.flush()
    outcome.lacking = remaining
    _report(outcome, recorder, wanted, remotes.operation_counts(), args.json)
    if outcome.interrupted:
        return 130
    return 1 if outcome.failed or outcome.lacking or outcome.problems else 0


def _still_lacking(
    entries: Mapping[str, Entry],
    found: Mapping[str, Mapping[str, str]],
    failed: Mapping[str, str],
    wanted: tuple[str, ...],
) -> dict[str, Entry]:
    return {
        path: entry
        for path, entry in entries.items()
        if path not in failed
        and filling.lacking(
            dataclasses.replace(entry, checksums={**entry.checksums, **found.get(path, {})}), wanted
        )
    }


def _from_store(
    remotes: providers.Providers,
    needing: Mapping[str, Entry],
    recorder: filling.Recorder,
    outcome: Outcome,
    jobs: int,
) -> None:
    """One metadata request per object: what the store knows of its whole content, no byte read."""

    def ask(path: str) -> None:
        recorded = needing[path]
        try:
            current = remotes.for_url(recorded.remote_url).stat(recorded.remote_url, recorded.version_id)
        except RemoteError as exc:
            outcome.failed[path] = str(exc)
            return
        found = filling.from_store(recorded, current)
        if found is None:
            outcome.failed[path] = (
                f"the object changed since it was tracked; run 'lfs-meta check --update {path}' first"
            )
        elif found:
            recorder.add(path, recorded, found, "store")

    with Progress("asking the stores", total=len(needing)) as progress:

        def asked(path: str) -> None:
            ask(path)
            progress.advance()

        workers.run_all(asked, sorted(needing), jobs)


def _from_report(
    remotes: providers.Providers,
    url: str,
    needing: Mapping[str, Entry],
    recorder: filling.Recorder,
    outcome: Outcome,
) -> None:
    """The MD5s a Compute checksum job computed, each only for an entry whose object it was: the
    version the entry pins or the ETag it records, else confirmed by one HEAD now."""
    rows, outcome.problems = report.read(remotes, url)
    for path, entry, row in report.matches(rows, needing):
        verdict = s3batch.check_row(row, entry)
        if verdict.outcome == "confirm":
            try:
                current = remotes.for_url(entry.remote_url).stat(entry.remote_url, row.version_id)
            except RemoteError as exc:
                outcome.failed[path] = str(exc)
                continue
            if not entry.same_content(current) or entry.version_id not in (None, current.version_id):
                verdict = s3batch.Verdict("refuse", "the object is no longer the one the entry records")
        if verdict.outcome == "refuse":
            outcome.failed[path] = f"not taken from the report: {verdict.reason}"
            continue
        hashes = {name: value for name, value in (("md5", row.md5), ("sha256", row.sha256)) if value}
        outcome.failed.pop(path, None)  # a later row of a retried task succeeded
        recorder.add(path, entry, hashes, "report")


def _write_batch_manifests(repo: Repo, output: Path, needing: Mapping[str, Entry]) -> int:
    """The CSV manifest(s) of a Compute checksum job for the S3 objects lacking an MD5: one per
    bucket, and per objects with and without a pinned version, as a job's manifest must be."""
    objects = []
    for entry in needing.values():
        if entry.remote_url.startswith("s3://"):
            _, bucket, key = s3.split(entry.remote_url)
            objects.append((bucket, key, entry.version_id))
    written = s3batch.manifests(sorted(set(objects)))
    for number, manifest in enumerate(written):
        path = output if len(written) == 1 else output.with_name(f"{output.stem}-{number + 1}{output.suffix}")
        fs.write_atomic(path, manifest.text.encode(), meta.trusted_directory(path, repo.root))
        count, fields = manifest.text.count("\n"), ", ".join(manifest.fields)
        print(f"{meta.shown(path)}: {count} object(s) in bucket {manifest.bucket}; fields {fields}")
    others = len(needing) - len(objects)
    if others:
        print(
            f"lfs-meta: {others} other entries lacking an MD5 are not in S3; "
            "'lfs-meta checksum --read' reads them",
            file=sys.stderr,
        )
    if not written:
        print("lfs-meta: no S3 object lacks an MD5; no manifest written", file=sys.stderr)
    return 0


def _read(
    remotes: providers.Providers,
    entries: Mapping[str, Entry],
    wanted: tuple[str, ...],
    *,
    recorder: filling.Recorder,
    outcome: Outcome,
    jobs: int,
) -> None:
    """One streaming read per object, hashed as it arrives, each recorded (in batches) as it ends."""
    stopped = threading.Event()
    with Progress("reading", total=sum(e.size for e in entries.values()), in_bytes=True) as progress:

        def read(path: str) -> None:
            entry = entries[path]
            try:
                hashes = reading.read_hashes(remotes, entry, wanted, progress.advance, stopped)
            except reading.Stopped:
                return
            except RemoteError as exc:
                outcome.failed[path] = str(exc)
                return
            with outcome.lock:
                outcome.read_bytes += entry.size
            missing = filling.lacking(entry, wanted)  # the ETag may be the MD5 already
            recorder.add(path, entry, {name: hashes[name] for name in missing}, "read")

        workers.run_all(read, sorted(entries, key=lambda path: -entries[path].size), jobs, stopped)


def _report(
    outcome: Outcome,
    recorder: filling.Recorder,
    wanted: tuple[str, ...],
    requests: Mapping[str, Mapping[str, int]],
    as_json: bool,
) -> None:
    found = recorder.found
    lacking_bytes = sum(entry.size for entry in outcome.lacking.values())
    if as_json:
        print(
            json.dumps(
                {
                    "recorded": {path: dict(found[path]) for path in sorted(found)},
                    "sources": dict(recorder.sources),
                    "read_bytes": outcome.read_bytes,
                    "failed": [
                        {"path": path, "error": error} for path, error in sorted(outcome.failed.items())
                    ],
                    "lacking": {
                        "objects": len(outcome.lacking),
                        "bytes": lacking_bytes,
                        "paths": sorted(outcome.lacking),
                    },
                    "report_problems": outcome.problems,
                    "interrupted": outcome.interrupted,
                    "requests": {name: dict(counts) for name, counts in requests.items()},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for problem in outcome.problems:
        print(f"lfs-meta: {problem}", file=sys.stderr)
    for path, error in sorted(outcome.failed.items()):
        print(f"{path}: {error}", file=sys.stderr)
    names = " and ".join(wanted)
    sources = [f"{count} {_SOURCES[source]}" for source, count in sorted(recorder.sources.items())]
    if outcome.read_bytes:
        sources.append(human_bytes(outcome.read_bytes))
    entries = "entry" if len(found) == 1 else "entries"
    counts = f"{len(outcome.failed)} failed, {len(outcome.lacking)} still lacking"
    how = f" ({', '.join(sources)})" if sources else ""
    print(f"{names} recorded for {len(found)} {entries}{how}, {counts}")
    if outcome.interrupted:
        print(
            "lfs-meta: interrupted; what finished is recorded, and 'lfs-meta checksum --read' reads the rest",
            file=sys.stderr,
        )
    elif outcome.lacking:
        count, size = len(outcome.lacking), human_bytes(lacking_bytes)
        print(
            f"lfs-meta: {count} object(s) ({size}) have no {names} that their store knows; "
            f"'lfs-meta checksum --read' reads each once ({count} GET requests, {size}, nothing written "
            "to disk), or for S3 objects see --s3-batch-manifest",
            file=sys.stderr,
        )
