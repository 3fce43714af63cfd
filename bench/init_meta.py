"""Time `lfs-meta init-meta` (the whole process) on large indexes; print median seconds and peak RSS.

.venv/bin/python bench/init_meta.py [N]   (default 100,000 entries)

Two shapes: "listed" is what `track-remote --recursive` records from an S3 LIST (ETag, size, time)
plus a patient and a specimen; "full" adds a version id, two checksums and a content type.
Each is run 3 times writing META/ from nothing, then 3 times when META/ is already current.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3


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


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    lfs_meta = str(Path(sys.executable).parent / "lfs-meta")
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        for shape in ("listed", "full"):
            repo = Path(scratch) / shape
            (repo / ".lfs-meta").mkdir(parents=True)
            index = {f"data/{i:07d}.vcf.gz": entry(i, shape == "full") for i in range(count)}
            (repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index, indent=2, sort_keys=True))
            fresh, current = [], []
            for _ in range(RUNS):
                shutil.rmtree(repo / "META", ignore_errors=True)
                fresh.append(timed([lfs_meta, "init-meta"], repo))
                current.append(timed([lfs_meta, "init-meta"], repo))
            size = sum(path.stat().st_size for path in (repo / "META").iterdir())
            for label, runs in (("from nothing", fresh), ("already current", current)):
                seconds = statistics.median(s for s, _ in runs)
                print(
                    f"init-meta {shape:<6} {count:,} entries, {label:<15}: {seconds:.2f} s "
                    f"(median of {RUNS}), META/ {size / 1e6:.0f} MB"
                )
        print(f"peak RSS of any run: {max(rss for _, rss in fresh + current)} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
