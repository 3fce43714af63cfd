"""`lfs-meta checksum`: fill in the MD5 (and SHA-256) entries lack, from the cheapest honest source."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from lfs_meta import providers, workers
from lfs_meta.checksum import filling, reading
from lfs_meta.errors import RemoteError, UserError
from lfs_meta.index.entry import Entry
from lfs_meta.progress import Progress, human_bytes
from lfs_meta.repo import Repo


@dataclass
class Outcome:
    """What a run could not do, by path, and the bytes it read."""

    failed: dict[str, str] = field(default_factory=dict)
    lacking: dict[str, Entry] = field(default_factory=dict)
    read_bytes: int = 0
    interrupted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    try:
        _from_store(remotes, needing, recorder, outcome, args.jobs)
        recorder.flush()
        remaining = _still_lacking(needing, recorder.found, outcome.failed, wanted)
        if args.read:
            _read(remotes, remaining, recorder, outcome, args.jobs)
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
    return 1 if outcome.failed or outcome.lacking else 0


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


def _read(
    remotes: providers.Providers,
    entries: Mapping[str, Entry],
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
                hashes = reading.read_hashes(remotes, entry, progress.advance, stopped)
            except reading.Stopped:
                return
            except RemoteError as exc:
                outcome.failed[path] = str(exc)
                return
            with outcome.lock:
                outcome.read_bytes += entry.size
            recorder.add(path, entry, hashes, "read")

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
                    "interrupted": outcome.interrupted,
                    "requests": {name: dict(counts) for name, counts in requests.items()},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
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
