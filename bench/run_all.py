"""`make bench`: every benchmark in turn; their tables replace the measured part of bench/RESULTS.md.

.venv/bin/python bench/run_all.py [--quick]   (--quick: small sizes only, to try the scripts)

RESULTS.md keeps what is written below its NOTES marker (analysis, before/after figures); everything
above it is this run's: the machine, the date and the tables.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import measure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
NOTES = "<!-- notes: kept by run_all.py -->"
FULL = [
    ["validate.py"],
    ["startup.py"],
    ["init_meta.py", "100000"],
    ["track_peers.py", "3000", "10000"],
    ["check_peers.py", "3000", "10000", "100000"],
    ["memory.py", "1000000"],
    ["checksum_read.py", "256", "1024"],
    ["inventory.py", "1000000", "10000000"],
]
QUICK = [
    ["validate.py", "1000", "10000"],
    ["startup.py"],
    ["init_meta.py", "10000"],
    ["track_peers.py", "300"],
    ["check_peers.py", "300"],
    ["memory.py", "20000"],
    ["checksum_read.py", "64"],
    ["inventory.py", "20000"],
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        tables = Path(scratch) / "tables.md"
        for script, *rest in QUICK if args.quick else FULL:
            print(f"== {script} {' '.join(rest)}", flush=True)
            subprocess.run([sys.executable, HERE / script, *rest, "--results", tables], cwd=HERE, check=True)
        measured = tables.read_text(encoding="utf-8")
    notes = RESULTS.read_text(encoding="utf-8").partition(NOTES)[2] if RESULTS.exists() else "\n"
    RESULTS.write_text(
        f"# Benchmark results\n\nMachine: {measure.machine()}. Produced by `make bench`"
        f"{' --quick' if args.quick else ''}; every figure is a whole process.\n\n"
        f"{measured}{NOTES}{notes}",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
