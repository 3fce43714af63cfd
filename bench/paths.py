"""Commands given one path cost its shard, not the index: `ls PATH` and `status PATH` (which share
`Layout.select` with `check PATH` and `pull PATH`) at each size, the one file against the sharded
layout, whole process, medians of measure.RUNS runs in turns.

.venv/bin/python bench/paths.py [COUNT ...] [--results FILE]     (default: 10,000 300,000 1,000,000)

Goal (issue 27): at the largest size, sharded, each command at most 2x its time at the smallest size,
under 1 s and under 150 MB peak RSS. The repositories are bench/shards.py's (`build`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import measure
import shards

SECONDS_TARGET = 1.0
RSS_TARGET_MB = 150
SCALING_TARGET = 2.0


def rows(count: int, built: dict[str, shards.Built]) -> tuple[list[list[object]], dict[str, measure.Sample]]:
    """One row per command: the one file and the sharded layout in turns; and the sharded samples."""
    path = shards.path_of(count // 2)
    commands = {
        f"{command}{shards.SEP}{layout}": measure.command(
            [shards.LFS_META, command, path], built[layout].repo
        )
        for command in ("ls", "status")
        for layout in shards.LAYOUTS
    }
    medians = measure.alternate(commands)
    found: list[list[object]] = []
    sharded: dict[str, measure.Sample] = {}
    for command in ("ls", "status"):
        single, split = (medians[f"{command}{shards.SEP}{layout}"] for layout in shards.LAYOUTS)
        shards.expect(split, path, f"{command} PATH")
        sharded[command] = split
        found.append(
            [
                f"{count:,}",
                f"{command} PATH",
                built["sharded"].fanout,
                f"{single.seconds:.2f}",
                f"{single.rss_mb:.0f}",
                f"{split.seconds:.2f}",
                f"{split.rss_mb:.0f}",
            ]
        )
    return found, sharded


def goal(by_count: dict[int, dict[str, measure.Sample]]) -> str:
    smallest, largest = min(by_count), max(by_count)
    lines = []
    for command, sample in by_count[largest].items():
        ratio = sample.seconds / by_count[smallest][command].seconds
        met = ratio <= SCALING_TARGET and sample.seconds < SECONDS_TARGET and sample.rss_mb < RSS_TARGET_MB
        lines.append(
            f"- `{command} PATH`, sharded: {sample.seconds:.2f} s and {sample.rss_mb:.0f} MB at {largest:,} "
            f"entries, {ratio:.2f}x its time at {smallest:,} (goal: at most {SCALING_TARGET:.0f}x, under "
            f"{SECONDS_TARGET:.0f} s and {RSS_TARGET_MB} MB): {'met' if met else 'missed'}"
        )
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[10_000, 300_000, 1_000_000])
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    print(f"machine: {measure.machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    table: list[list[object]] = []
    sharded: dict[int, dict[str, measure.Sample]] = {}
    for count in args.counts:
        with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
            print(f"== {count:,} entries: building in {scratch}", flush=True)
            found, sharded[count] = rows(count, shards.build(Path(scratch), count))
            table += found
    texts = [
        measure.table(
            f"commands given one path, seconds and peak RSS MB, medians of {measure.RUNS} runs in turns",
            ["entries", "command", "fan-out", "one file s", "one file MB", "sharded s", "sharded MB"],
            table,
        ),
        goal(sharded),
    ]
    measure.write_results(args.results, texts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
