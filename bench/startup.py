"""Hook start-up: the whole `lfs-meta validate` and `lfs-meta init-meta --check` process on a one-entry
index, against check-jsonschema's whole process on the same file with our schema.

.venv/bin/python bench/startup.py [--results FILE]

Commands take turns, 10 runs each; the table shows medians. Target: <= 0.6x check-jsonschema.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import measure

TINY = '{"data/a.vcf": {"remote_url": "s3://cohort-bucket/a.vcf", "size": 1}}\n'
RUNS = 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        repo = Path(scratch)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / ".lfs-meta").mkdir()
        index = repo / ".lfs-meta" / "metadata.json"
        index.write_text(TINY)
        subprocess.run([measure.BIN / "lfs-meta", "init-meta"], cwd=repo, check=True, capture_output=True)
        schema = measure.ROOT / "schemas" / "metadata.schema.json"
        medians = measure.alternate(
            {
                "lfs-meta validate": measure.command([measure.BIN / "lfs-meta", "validate"], repo),
                "lfs-meta init-meta --check": measure.command(
                    [measure.BIN / "lfs-meta", "init-meta", "--check"], repo
                ),
                "check-jsonschema": measure.command(
                    [measure.PEERS / "check-jsonschema", "--schemafile", schema, index], repo
                ),
            },
            runs=RUNS,
        )
    peer = medians["check-jsonschema"].seconds
    rows = [
        [name, f"{sample.seconds:.3f}", f"{sample.rss_mb:.0f}", f"{sample.seconds / peer:.2f}x"]
        for name, sample in medians.items()
    ]
    text = measure.table(
        f"hook start-up on a 1-entry index: whole process, median of {RUNS}",
        ["command", "seconds", "peak RSS MB", "/ check-jsonschema"],
        rows,
    )
    measure.write_results(args.results, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
