"""Time `lfs-meta init-meta` (the whole process) on large indexes; print median seconds and peak RSS.

.venv/bin/python bench/init_meta.py [N] [--results FILE]   (default 100,000 entries)

Two shapes: "listed" is what `track-remote --recursive` records from an S3 LIST (ETag, size, time)
plus a patient and a specimen; "full" adds a version id, two checksums and a content type.
Each is run 3 times writing META/ from nothing and 3 times when META/ is already current, in turns.
Target: <= 2 s at 100,000 entries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import measure

TARGET_SECONDS = 2.0


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

            def from_nothing(repo: Path = repo) -> measure.Sample:
                shutil.rmtree(repo / "META", ignore_errors=True)
                return measure.run([lfs_meta, "init-meta"], repo)

            medians = measure.alternate(
                {
                    "from nothing": from_nothing,
                    "already current": measure.command([lfs_meta, "init-meta"], repo),
                }
            )
            size = sum(path.stat().st_size for path in (repo / "META").iterdir())
            for label, sample in medians.items():
                met = "yes" if sample.seconds <= TARGET_SECONDS else "NO"
                rows.append(
                    [
                        shape,
                        f"{args.count:,}",
                        label,
                        f"{sample.seconds:.2f}",
                        met,
                        f"{sample.rss_mb:.0f}",
                        f"{size / 1e6:.0f} MB",
                    ]
                )
    text = measure.table(
        f"init-meta: whole process, medians of {measure.RUNS}",
        ["shape", "entries", "META/", "seconds", f"<= {TARGET_SECONDS:g} s", "peak RSS MB", "NDJSON"],
        rows,
    )
    measure.write_results(args.results, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
