"""Every command costs the change, not the index (issue 27): commands given one path, and a one-file
change from the command to the commit, at each size, the one file against the sharded layout, whole
process, medians of measure.RUNS runs in turns.

.venv/bin/python bench/paths.py [COUNT ...] [--results FILE]     (default: 10,000 300,000 1,000,000)

Measured in each of bench/shards.py's repositories (`build`: "listed" entries, committed):
- `ls PATH`, `status PATH` and `check PATH` of one tracked file (check against bench/list_server.py,
  one HEAD), `track-remote` of one file:// object to a new path, and `untrack` of it again;
- the whole cycle: `track-remote` of one object, `git add -A`, then the commit's hooks
  (`validate --staged`, `init-meta --hook --staged`, `git add META`, `init-meta --hook --staged`),
  then `git reset --hard` for the next run: lfs-meta's seconds summed, its largest peak RSS;
- the first `track-remote` in a repository whose note of rows (.git/lfs-meta) is missing, as after a
  clone (one run): it reads every shard once.

Goal: at the largest size, sharded, each command at most 2x its time at the smallest size, under 1 s
and under 150 MB peak RSS; the whole cycle under 2 s.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import measure
import shards

SECONDS_TARGET = 1.0
CYCLE_TARGET = 2.0
RSS_TARGET_MB = 150
SCALING_TARGET = 2.0
NEW_PATH = "new/bench-object.vcf"
COMMANDS = ("ls", "status", "check", "track-remote", "untrack")


def cycle(repo: Path, source: Path) -> measure.Sample:
    """One file tracked and committed through the hooks, from a clean HEAD; undone afterwards."""
    steps = [
        shards.expect(
            measure.run([shards.LFS_META, "track-remote", source.as_uri(), "--path", NEW_PATH], repo),
            "tracked 1",
            "track-remote",
        )
    ]
    shards.git(repo, "add", "-A")
    steps.append(
        shards.expect(
            measure.run([shards.LFS_META, "validate", "--staged"], repo), "file(s) valid", "validate --staged"
        )
    )
    steps.append(measure.run([shards.LFS_META, "init-meta", "--hook", "--staged"], repo))
    shards.git(repo, "add", "META")
    steps.append(measure.run([shards.LFS_META, "init-meta", "--hook", "--staged"], repo))
    shards.git(repo, "reset", "-q", "--hard", "HEAD")
    return measure.Sample(
        sum(step.seconds for step in steps),
        max(step.rss_mb for step in steps),
        b"".join(step.stdout for step in steps),
    )


def commands_of(
    repo: Path, source: Path, env: dict[str, str], requests: Callable[[], int], pid: int
) -> dict[str, Callable[[], measure.Sample]]:
    path = shards.path_of(0)
    lfs_meta = shards.LFS_META
    return {
        "ls": measure.command([lfs_meta, "ls", path], repo),
        "status": measure.command([lfs_meta, "status", path], repo),
        "check": functools.partial(
            measure.run, [lfs_meta, "check", path], repo, env, requests=requests, server_pid=pid
        ),
        "track-remote": measure.command(
            [lfs_meta, "track-remote", source.as_uri(), "--path", NEW_PATH], repo
        ),
        "untrack": measure.command([lfs_meta, "untrack", NEW_PATH], repo),
    }


def first_track(repo: Path, source: Path) -> measure.Sample:
    """`track-remote` with no note of rows, as in a fresh clone; undone afterwards."""
    shutil.rmtree(repo / ".git" / "lfs-meta", ignore_errors=True)
    sample = measure.run([shards.LFS_META, "track-remote", source.as_uri(), "--path", NEW_PATH], repo)
    shards.expect(sample, "tracked 1", "track-remote")
    shards.git(repo, "reset", "-q", "--hard", "HEAD")
    return sample


def rows(
    count: int, built: dict[str, shards.Built], scratch: Path
) -> tuple[list[list[object]], dict[str, measure.Sample]]:
    """One row per command: the one file and the sharded layout in turns; and the sharded samples."""
    source = scratch / "object.bin"
    source.write_bytes(b"one object, tracked and untracked in turns\n")
    firsts = {layout: first_track(built[layout].repo, source) for layout in shards.LAYOUTS}
    with shards.store(count) as (env, requests, pid):
        by_layout = {
            layout: commands_of(built[layout].repo, source, env, requests, pid) for layout in shards.LAYOUTS
        }
        # Command by command, each in both layouts: track-remote's entry is untracked before the next run.
        medians = measure.alternate(
            {
                f"{command}{shards.SEP}{layout}": by_layout[layout][command]
                for command in COMMANDS
                for layout in shards.LAYOUTS
            }
        )
    for layout in shards.LAYOUTS:
        medians[f"whole cycle{shards.SEP}{layout}"] = measure.median(
            [cycle(built[layout].repo, source) for _ in range(measure.RUNS)]
        )
        medians[f"first track-remote, no note{shards.SEP}{layout}"] = firsts[layout]
    path = shards.path_of(0)
    shards.expect(medians[f"check{shards.SEP}sharded"], "1 unchanged", "check PATH")
    shards.expect(medians[f"ls{shards.SEP}sharded"], path, "ls PATH")
    found: list[list[object]] = []
    sharded: dict[str, measure.Sample] = {}
    for command in dict.fromkeys(name.partition(shards.SEP)[0] for name in medians):
        single, split = (medians[f"{command}{shards.SEP}{layout}"] for layout in shards.LAYOUTS)
        sharded[command] = split
        found.append(
            [
                f"{count:,}",
                command,
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
        if command.startswith("first"):
            continue
        ratio = sample.seconds / by_count[smallest][command].seconds
        seconds = CYCLE_TARGET if command == "whole cycle" else SECONDS_TARGET
        met = ratio <= SCALING_TARGET and sample.seconds < seconds and sample.rss_mb < RSS_TARGET_MB
        lines.append(
            f"- `{command}`, sharded: {sample.seconds:.2f} s and {sample.rss_mb:.0f} MB at {largest:,} "
            f"entries, {ratio:.2f}x its time at {smallest:,} (goal: at most {SCALING_TARGET:.0f}x, under "
            f"{seconds:.0f} s and {RSS_TARGET_MB} MB): {'met' if met else 'missed'}"
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
            found, sharded[count] = rows(count, shards.build(Path(scratch), count), Path(scratch))
            table += found
    texts = [
        measure.table(
            f"one path, one change: seconds and peak RSS MB, medians of {measure.RUNS} runs in turns "
            "(the first track-remote: 1 run)",
            ["entries", "command", "fan-out", "one file s", "one file MB", "sharded s", "sharded MB"],
            table,
        ),
        goal(sharded),
    ]
    measure.write_results(args.results, texts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
