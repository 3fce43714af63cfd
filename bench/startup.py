"""Hook start-up: whole `lfs-meta` processes on a one-entry index, as a user and as each hook runs them,
against check-jsonschema's whole process on the same file with our schema.

.venv/bin/python bench/startup.py [--results FILE]

Commands take turns, 10 runs each; the table shows medians. Target: validate and init-meta --check
<= 0.6x check-jsonschema. The hook rows (--staged, --pre-push) are the start-up every commit and push
pays; they are compared with earlier runs of this script, not with a peer.
"""

from __future__ import annotations

import argparse
import os
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
        index = _committed_repository(repo)
        lfs_meta = measure.BIN / "lfs-meta"
        # What pre-commit passes the drift hook on a push of HEAD: nothing changed, so no request is made.
        pushed = {**os.environ, "PRE_COMMIT_FROM_REF": "HEAD", "PRE_COMMIT_TO_REF": "HEAD"}
        schema = measure.ROOT / "schemas" / "metadata.schema.json"
        medians = measure.alternate(
            {
                "lfs-meta validate": measure.command([lfs_meta, "validate"], repo),
                "lfs-meta init-meta --check": measure.command([lfs_meta, "init-meta", "--check"], repo),
                "hook: lfs-meta validate --staged": measure.command([lfs_meta, "validate", "--staged"], repo),
                "hook: lfs-meta init-meta --hook --staged": measure.command(
                    [lfs_meta, "init-meta", "--hook", "--staged"], repo
                ),
                "hook: lfs-meta check --pre-push --changed-only": measure.command(
                    [lfs_meta, "check", "--pre-push", "--changed-only"], repo, pushed
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


def _committed_repository(repo: Path) -> Path:
    """A repository whose one commit holds a one-entry index and its META/, all staged as committed."""
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".lfs-meta").mkdir()
    index = repo / ".lfs-meta" / "metadata.json"
    index.write_text(TINY)
    subprocess.run([measure.BIN / "lfs-meta", "init-meta"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run(["git", *identity, "commit", "-q", "-m", "index"], cwd=repo, check=True)
    return index


if __name__ == "__main__":
    raise SystemExit(main())
