"""A 1M-entry index through validate, check and init-meta: peak RSS (target: under 2 GB) and time.

.venv/bin/python bench/memory.py [N] [--results FILE]   (default 1,000,000 entries)

`check` runs against bench/list_server.py, a local read-only S3 endpoint holding the same N objects
(no emulator can be filled with a million objects in reasonable time); the floor beside it is a
raw boto3 loop over the same ListObjectsV2 pages comparing ETag and size with the index, read by
a bare json.load. Each command runs once at 1M entries (3 times, medians, below 200,000).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import list_server
import measure
from init_meta import entry
from list_server import BUCKET, key

import emulators

FLOOR = """
import json, sys, boto3
with open(sys.argv[1], "rb") as f:
    recorded = {e["remote_url"]: (e["etag"], e["size"]) for e in json.load(f).values()}
client = boto3.client("s3")
seen = drifted = 0
for page in client.get_paginator("list_objects_v2").paginate(
    Bucket=sys.argv[2], Prefix="run7/", PaginationConfig={"PageSize": 1000}
):
    for item in page.get("Contents", ()):
        url = f"s3://{sys.argv[2]}/" + item["Key"]
        if url in recorded:
            seen += 1
            drifted += recorded[url] != (item["ETag"].strip('"'), item["Size"])
print(seen, drifted)
"""


def write_index(path: Path, count: int) -> None:
    """LIST-shaped entries whose URLs are list_server's objects, in lfs-meta's canonical form."""
    with path.open("w", encoding="utf-8") as out:
        out.write("{\n")
        for i in range(count):
            value = entry(i, full=False) | {"remote_url": f"s3://{BUCKET}/{key(i)}"}
            body = json.dumps(value, indent=2, sort_keys=True).replace("\n", "\n  ")
            out.write(f'  "data/{i:07d}.vcf.gz": {body}{"," if i < count - 1 else ""}\n')
        out.write("}\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    runs = 1 if args.count >= 200_000 else measure.RUNS
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        repo = Path(scratch) / "repo"
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".lfs-meta").mkdir()
        index = repo / ".lfs-meta" / "metadata.json"
        write_index(index, args.count)
        port = emulators.free_port()
        server = list_server.launch(args.count, port)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            env = list_server.client_environment(endpoint)

            def requests() -> int:
                with urllib.request.urlopen(f"{endpoint}/__requests") as answer:
                    return int(answer.read())

            def with_requests(argv: list[str | Path]) -> Callable[[], measure.Sample]:
                return lambda: measure.run(argv, repo, env, requests=requests)

            lfs_meta = measure.BIN / "lfs-meta"
            python = measure.BIN / "python"
            medians = measure.alternate(
                {
                    "json.load (parse floor)": measure.command(
                        [python, "-c", "import json,sys; json.load(open(sys.argv[1], 'rb'))", index], repo
                    ),
                    "lfs-meta validate": measure.command([lfs_meta, "validate"], repo),
                    "lfs-meta check": with_requests([lfs_meta, "check"]),
                    "boto3 LIST loop (check floor)": with_requests([python, "-c", FLOOR, index, BUCKET]),
                    "lfs-meta init-meta": measure.command([lfs_meta, "init-meta"], repo),
                },
                runs=runs,
            )
            checked = medians["lfs-meta check"].stdout.decode().strip().splitlines()[-1]
            floor = medians["boto3 LIST loop (check floor)"].stdout.decode().strip()
            print(f"check says: {checked}; the floor says (seen, drifted): {floor}")
        finally:
            server.terminate()
            server.wait()
        size_mb = index.stat().st_size / 1e6
    rows = [
        [
            name,
            f"{sample.seconds:.1f}",
            f"{sample.rss_mb:,.0f}",
            "yes" if sample.rss_mb < 2048 else "NO",
            sample.requests or "",
        ]
        for name, sample in medians.items()
    ]
    how = "1 run" if runs == 1 else f"medians of {runs}"
    text = measure.table(
        f"{args.count:,} entries ({size_mb:.0f} MB index): whole process, {how}",
        ["command", "seconds", "peak RSS MB", "under 2 GB", "requests"],
        rows,
    )
    measure.write_results(args.results, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
