"""`lfs-meta checksum`: fill in the MD5 (and SHA-256) entries lack, from the cheapest honest source."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
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

    failed: dict[str, str] = field(default_factory=dict)  # set through fail(), from worker threads
    lacking: dict[str, Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # report rows that could not be used
    read_bytes: int = 0
    interrupted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, path: str, why: str) -> None:
        with self.lock:
            self.failed[path] = why

    def failed_now(self) -> dict[str, str]:
        with self.lock:
            return dict(self.failed)


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
    if args.s3_batch_manifest is not None:  # a Compute checksum job computes one algorithm: MD5
        lacking_md5 = {path: entry for path, entry in needing.items() if filling.lacking(entry, ["md5"])}
        return _write_batch_manifests(repo, args.s3_batch_manifest, lacking_md5)
    outcome = Outcome()
    # The signals are taken until the recorder has written what it holds: a second Ctrl-C cannot
    # cut that write short.
    with _stopping_signals() as stopped_by, filling.Recorder(repo.index.update) as recorder:
        try:
            if args.from_report is None:
                _from_store(remotes, needing, recorder, outcome, _ASKED_PER_READ * args.jobs)
            else:
                _from_report(
                    remotes, args.from_report, needing, recorder=recorder, outcome=outcome, jobs=args.jobs
                )
            recorder.flush()
            if args.read:
                remaining = _still_lacking(needing, recorder.entries, outcome.failed_now(), wanted)
                _read(remotes, remaining, wanted, recorder=recorder, outcome=outcome, jobs=args.jobs)
        except KeyboardInterrupt:
            outcome.interrupted = True
    outcome.lacking = _still_lacking(needing, recorder.entries, outcome.failed_now(), wanted)
    _report(outcome, recorder, wanted, remotes.operation_counts(), args.json)
    if outcome.interrupted:
        return 128 + stopped_by[0]
    return 1 if outcome.failed or outcome.lacking or outcome.problems else 0


@contextlib.contextmanager
def _stopping_signals() -> Iterator[list[int]]:
    """Ctrl-C, and a kill (SIGTERM) unless it is ignored, stop the run once, keeping the hashes found
    so far; later ones are ignored until they are written. Yields the number of the one that came."""
    came = [signal.SIGINT.value]

    def stop(number: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            came[0] = number
            raise KeyboardInterrupt

    stopping = threading.Event()
    numbers = [signal.SIGINT] + (
        [signal.SIGTERM] if signal.getsignal(signal.SIGTERM) != signal.SIG_IGN else []
    )
    before = {number: signal.signal(number, stop) for number in numbers}
    try:
        yield came
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def _still_lacking(
    entries: Mapping[str, Entry],
    written: Mapping[str, Entry],
    failed: Mapping[str, str],
    wanted: tuple[str, ...],
) -> dict[str, Entry]:
    """Each entry, as the index now records it, that has not failed and still lacks a wanted hash."""
    now = {path: written.get(path, entry) for path, entry in entries.items() if path not in failed}
    return {path: entry for path, entry in now.items() if filling.lacking(entry, wanted)}


def _from_store(
    remotes: providers.Providers,
    needing: Mapping[str, Entry],
    recorder: filling.Recorder,
    outcome: Outcome,
    jobs: int,
) -> None:
    """One metadata request per S3 object: what the store knows of its whole content, no byte read.

    Only S3 answers a HEAD with more than its LIST pages carry (uploaders' user metadata, full-object
    checksums); GCS's and Azure's listings carry their MD5s, already recorded when the entry was
    tracked, and web servers and local files report none: asking them would cost a request each
    and find nothing."""
    asked_of = sorted(
        path for path, entry in needing.items() if providers.module_name(entry.remote_url) == "s3"
    )

    def ask(path: str) -> None:
        recorded = needing[path]
        try:
            current = remotes.for_url(recorded.remote_url).stat(recorded.remote_url, recorded.version_id)
        except RemoteError as exc:
            outcome.fail(path, str(exc))
            return
        found = filling.from_store(recorded, current)
        if found is None:
            fix = f"run 'lfs-meta check --update {shlex.quote(path)}' first"
            outcome.fail(path, f"the object changed since it was tracked; {fix}")
        elif found:
            recorder.add(path, recorded, found, "store")

    with Progress("asking S3", total=len(asked_of)) as progress:

        def asked(path: str) -> None:
            ask(path)
            progress.advance()

        workers.run_all(asked, asked_of, jobs)


def _from_report(
    remotes: providers.Providers,
    url: str,
    needing: Mapping[str, Entry],
    *,
    recorder: filling.Recorder,
    outcome: Outcome,
    jobs: int,
) -> None:
    """The hashes a Compute checksum job computed, each only for an entry whose object it read: the
    version the entry pins or the ETag it records; a row naming another version of an unpinned entry
    only if that version still has the entry's size and ETag (one HEAD)."""
    by_object = report.objects(needing)
    rows, outcome.problems = report.read(remotes, url, by_object.keys())
    taken: dict[str, tuple[Entry, dict[str, str]]] = {}
    refused: dict[str, str] = {}
    to_confirm = []
    for row in rows:
        for path in by_object[(row.bucket, row.key)]:
            entry = needing[path]
            verdict = s3batch.check_row(row, entry)
            hashes = {name: value for name, value in (("md5", row.md5), ("sha256", row.sha256)) if value}
            if verdict.outcome == "record":
                taken[path] = (entry, hashes)
                recorder.add(path, entry, hashes, "report")
            elif verdict.outcome == "confirm" and row.version_id:
                to_confirm.append((path, entry, row.version_id, hashes))
            elif verdict.outcome == "confirm":
                refused[path] = "the report names neither the version nor the ETag the job read"
            else:
                refused[path] = verdict.reason

    def confirm(item: tuple[str, Entry, str, dict[str, str]]) -> None:
        path, entry, version, hashes = item
        try:
            current = remotes.for_url(entry.remote_url).stat(entry.remote_url, version)
        except RemoteError as exc:
            refused[path] = str(exc)
            return
        if entry.same_content(current) and entry.version_id in (None, current.version_id):
            taken[path] = (entry, hashes)
            recorder.add(path, entry, hashes, "report")
        else:
            refused[path] = f"version {version}, which the job read, is not the content the entry records"

    workers.run_all(confirm, to_confirm, _ASKED_PER_READ * jobs)
    for path, why in refused.items():
        if path not in taken:  # a retried task's later row may have succeeded
            outcome.fail(path, f"not taken from the report: {why}")


def _write_batch_manifests(repo: Repo, output: Path, needing: Mapping[str, Entry]) -> int:
    """The CSV manifest(s) of a Compute checksum job for the S3 objects lacking an MD5: one per
    bucket, and per objects with and without a pinned version, as a job's manifest must be."""
    objects = []
    for entry in needing.values():
        if entry.remote_url.startswith("s3://"):
            _, bucket, key = s3.split(entry.remote_url)
            objects.append((bucket, key, entry.version_id))
    written = s3batch.manifests(sorted(set(objects), key=lambda o: (o[0], o[1], o[2] or "")))
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

        def advance(count: int) -> None:
            with outcome.lock:
                outcome.read_bytes += count
            progress.advance(count)

        def read(path: str) -> None:
            entry = entries[path]
            try:
                hashes = reading.read_hashes(remotes, entry, wanted, advance, stopped)
            except reading.Stopped:
                return
            except RemoteError as exc:
                outcome.fail(path, str(exc))
                return
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
    found = recorder.found  # closed: no worker adds to it any more
    failed = outcome.failed_now()  # a worker still finishing after an interrupt may add a failure
    lacking_bytes = sum(entry.size for entry in outcome.lacking.values())
    if as_json:
        print(
            json.dumps(
                {
                    "recorded": {path: dict(found[path]) for path in sorted(found)},
                    "sources": dict(recorder.sources),
                    "read_bytes": outcome.read_bytes,
                    "failed": [{"path": path, "error": error} for path, error in sorted(failed.items())],
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
    for path, error in sorted(failed.items()):
        print(f"{path}: {error}", file=sys.stderr)
    names = " and ".join(wanted)
    sources = [f"{count} {_SOURCES[source]}" for source, count in sorted(recorder.sources.items())]
    if outcome.read_bytes:
        sources.append(f"{human_bytes(outcome.read_bytes)} read in all")
    entries = "entry" if len(found) == 1 else "entries"
    counts = f"{len(failed)} failed, {len(outcome.lacking)} still lacking"
    how = f" ({', '.join(sources)})" if sources else ""
    print(f"{names} recorded for {len(found)} {entries}{how}, {counts}")
    if outcome.interrupted:
        print(
            "lfs-meta: interrupted; the hashes found so far are recorded, and the same command again "
            "does the rest",
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
