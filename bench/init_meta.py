"""Time `lfs-meta init-meta` (the whole process) on large indexes; print median seconds and peak RSS.

.venv/bin/python bench/init_meta.py [N] [--results FILE]   (default 100,000 entries)

Two shapes: "listed" is what `track-remote --recursive` records from an S3 LIST (ETag, size, time)
plus a patient and a specimen; "full" adds a version id, two checksums and a content type.
The index and META/ sit in a git repository, staged. Each shape is run 3 times in turns: writing
META/ from nothing; with META/ current but no note of it (.git/lfs-meta/init-meta.json deleted, so
the index is mapped and compared in full); with META/ current and noted (what every commit's hook
meets while the index does not change), by hand and as the hook (--hook --staged); and a bare
`json.load` of the same index as the floor. Then the "listed" run is split into its
phases, timed inside one process (median of 3), to show where the time goes.
Target: <= 2 s at 100,000 entries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import measure

TARGET_SECONDS = 2.0

LOAD = "import json, sys; json.load(open(sys.argv[1]))"
# What `lfs-meta init-meta` does from nothing, phase by phase, with the library's own functions.
PHASES_SCRIPT = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from lfs_meta.index import rules
from lfs_meta.fhir import mapping
from lfs_meta import gcpause
from lfs_meta.index import strictjson
from lfs_meta.index.entry import Entry
times = {"start-up: imports": time.perf_counter() - started}
def phase(name, work):
    began = time.perf_counter()
    result = work()
    times[name] = time.perf_counter() - began
    return result
with gcpause.paused():
    raw = phase("read the file", Path(sys.argv[1]).read_bytes)
    data = phase("parse (strict reader)", lambda: strictjson.parse(raw).data)
    phase("semantic and schema checks", lambda: rules.find_problems(data))
    entries = phase("build entries", lambda: {key: Entry.from_json(value) for key, value in data.items()})
    phase("DocumentReference lines", lambda: mapping.document_lines(entries, mapping.R5, ""))
    phase("Patient stubs", lambda: mapping.ndjson(mapping.patients(entries)))
    phase("Specimen stubs", lambda: mapping.ndjson(mapping.specimens(entries)))
print(json.dumps(times))
"""


def entry(i: int, full: bool) -> dict[str, object]:
    name = f"batch{i % 100:03d}/sample{i:07d}.vcf.gz"
    out: dict[str, object] = {
        "remote_url": f"s3://cohort-bucket/run7/{name}",
        "size": 5_000_000_000 + i,
        "etag": f"{i:032x}",
        "etag_kind": "md5",
        "last_modified": "2026-01-31T12:00:00Z",
        "patient": f"Patient/p{i % 5000}",
        "specimen": f"Specimen/s{i % 20000}",
    }
    if full:
        out |= {
            "version_id": f"v{i:020d}",
            "checksums": {"sha256": f"{i:064x}", "crc32c": f"{i % 2**32:08x}"},
            "content_type": "application/gzip",
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", nargs="?", type=int, default=100_000)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    lfs_meta = measure.BIN / "lfs-meta"
    rows = []
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        for shape in ("listed", "full"):
            repo = Path(scratch) / shape
            (repo / ".lfs-meta").mkdir(parents=True)
            index = {f"data/{i:07d}.vcf.gz": entry(i, shape == "full") for i in range(args.count)}
            (repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index, indent=2, sort_keys=True))
            del index
            # A repository as users have it: the index and META/ committed (so staged as they are).
            setup: list[list[str | Path]] = [
                ["git", "init", "-q"],
                [lfs_meta, "init-meta"],
                ["git", "add", "-A"],
            ]
            for argv in setup:
                subprocess.run(argv, cwd=repo, capture_output=True, check=True)
            note = repo / ".git" / "lfs-meta" / "init-meta.json"

            def from_nothing(repo: Path = repo) -> measure.Sample:
                shutil.rmtree(repo / "META", ignore_errors=True)
                return measure.run([lfs_meta, "init-meta"], repo)

            def without_note(repo: Path = repo, note: Path = note) -> measure.Sample:
                note.unlink(missing_ok=True)
                return measure.run([lfs_meta, "init-meta"], repo)

            index_path = repo / ".lfs-meta" / "metadata.json"
            medians = measure.alternate(
                {
                    "from nothing": from_nothing,
                    "current, not noted": without_note,
                    "current": measure.command([lfs_meta, "init-meta"], repo),
                    "current, hook --staged": measure.command(
                        [lfs_meta, "init-meta", "--hook", "--staged"], repo
                    ),
                    "json.load floor": measure.command([measure.PYTHON, "-c", LOAD, index_path], repo),
                }
            )
            if shape == "listed":
                phases = phase_rows(index_path, medians["from nothing"].seconds)
            size = sum(path.stat().st_size for path in (repo / "META").iterdir())
            floor = medians.pop("json.load floor").seconds
            for label, sample in medians.items():
                met = "yes" if sample.seconds <= TARGET_SECONDS else "NO"
                rows.append(
                    [
                        shape,
                        f"{args.count:,}",
                        label,
                        f"{sample.seconds:.2f}",
                        met,
                        f"{floor:.2f}",
                        f"{sample.seconds / floor:.1f}x",
                        f"{sample.rss_mb:.0f}",
                        f"{size / 1e6:.0f} MB",
                    ]
                )
    text = measure.table(
        f"init-meta: whole process, medians of {measure.RUNS}",
        [
            "shape",
            "entries",
            "META/",
            "seconds",
            f"<= {TARGET_SECONDS:g} s",
            "json.load s",
            "/ json.load",
            "peak RSS MB",
            "NDJSON",
        ],
        rows,
    )
    phase_text = measure.table(
        f'init-meta from nothing, "listed" shape, {args.count:,} entries, phase by phase: one process, '
        f"median of {measure.RUNS}",
        ["phase", "seconds", "share"],
        phases,
    )
    measure.write_results(args.results, [text, phase_text])
    return 0


def phase_rows(index_path: Path, whole: float) -> list[list[object]]:
    """Median seconds per phase; what the phases leave of the whole process's `whole` seconds is the
    interpreter's start, comparing with META/ and writing it."""
    runs = [
        json.loads(
            subprocess.run(
                [measure.PYTHON, "-c", PHASES_SCRIPT, index_path], capture_output=True, check=True
            ).stdout
        )
        for _ in range(measure.RUNS)
    ]
    medians = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    medians["the rest: interpreter start, compare and write META/"] = max(whole - sum(medians.values()), 0)
    total = sum(medians.values())
    rows: list[list[object]] = [
        [name, f"{seconds:.2f}", f"{seconds / total:.0%}"] for name, seconds in medians.items()
    ]
    rows.append(["whole process", f"{total:.2f}", "100%"])
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
