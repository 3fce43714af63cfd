"""`lfs-meta validate` against check-jsonschema (the usual pre-commit schema hook, given our schema)
and against a bare `json.load` of the same file (the floor: nothing validates faster than it parses).

.venv/bin/python bench/validate.py [N ...] [--results FILE]   (default 1000 10000 100000 1000000)

Every run is a whole process, as a hook runs; the three commands take turns, 3 runs each (1 for
check-jsonschema at 1M entries, which takes minutes), and the table shows medians.
Targets at 100k entries: <= 0.5x check-jsonschema, <= 4x the bare parse.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import measure
from init_meta import entry

SCHEMA = measure.ROOT / "schemas" / "metadata.schema.json"
PARSE = "import json, sys\nwith open(sys.argv[1], 'rb') as f: json.load(f)"


def write_index(path: Path, count: int) -> None:
    """The canonical form lfs-meta writes, with every field an entry can have but `extra`."""
    with path.open("w", encoding="utf-8") as out:
        out.write("{\n")
        for i in range(count):
            comma = "," if i < count - 1 else ""
            body = json.dumps(entry(i, full=True), indent=2, sort_keys=True).replace("\n", "\n  ")
            out.write(f'  "data/{i:07d}.vcf.gz": {body}{comma}\n')
        out.write("}\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        work = Path(scratch)
        for count in args.counts:
            index = work / f"index-{count}.json"
            write_index(index, count)
            commands = {
                "lfs-meta validate": measure.command([measure.BIN / "lfs-meta", "validate", index], work),
                "json.load": measure.command([measure.BIN / "python", "-c", PARSE, index], work),
            }
            peer = {
                "check-jsonschema": measure.command(
                    [measure.PEERS / "check-jsonschema", "--schemafile", SCHEMA, index], work
                )
            }
            if count >= 1_000_000:
                medians = measure.alternate(commands) | measure.alternate(peer, runs=1)
            else:
                medians = measure.alternate(commands | peer)
            ours = medians["lfs-meta validate"]
            size_mb = index.stat().st_size / 1e6
            for name, sample in medians.items():
                rows.append(
                    [
                        name,
                        f"{count:,}",
                        f"{size_mb:.0f} MB",
                        f"{sample.seconds:.2f}",
                        f"{sample.rss_mb:.0f}",
                        f"{ours.seconds / sample.seconds:.2f}x" if name != "lfs-meta validate" else "",
                    ]
                )
            index.unlink()
    text = measure.table(
        "validate: whole process, medians",
        ["command", "entries", "file", "seconds", "peak RSS MB", "lfs-meta / this"],
        rows,
    )
    measure.write_results(args.results, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
