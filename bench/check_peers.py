"""Checking tracked S3 objects for drift: lfs-meta against DVC and two raw boto3 floors.

For each N, N small objects are put in a local moto server under s3://bench/cohort/batchXX/
(50 directories), tracked once with ``lfs-meta track-remote --recursive`` and imported once with
``dvc import-url --no-download``. Two scenarios: unchanged, then 1% of the objects overwritten with
different content of the same size (same keys). In each, in turns:

* ``lfs-meta check --json`` (exit 1 on drift is expected)
* raw floor A: a boto3 script that pages ListObjectsV2 over the prefix and compares ETag and size
  with a JSON dict of the recorded values
* raw floor B: a boto3 script that HEADs every recorded object in 16 threads and compares the same
* ``dvc update --no-download data.dvc`` (data.dvc is put back as imported before every run, so every
  run has the same work to do)

Every tool gets 3 runs, except that a tool whose first run of a scenario takes longer than
``--slow`` seconds (default 30) is run only once there (moto pages LISTs in O(objects in the
bucket), so at 100k every tool is slow), and floor B is skipped above ``--head-max`` objects
(default 10,000: moto answers ~230 HEADs/s, so 100k HEADs take ~7 minutes a run).

Measured per run: wall time, peak RSS and CPU time of the command (``measure.run``), the requests
moto answered (counted from its werkzeug access log) and the CPU time moto used meanwhile (from
/proc: moto serves from one Python process, so near one CPU second per second means it is the
limit). Each tool's finding (how many objects drifted) is checked against what was overwritten.
Targets: lfs-meta <= 0.8x DVC and <= 1.2x the LIST floor.

    .venv/bin/python bench/check_peers.py [N ...] [--results FILE]   (default N: 3000 10000 100000)

``--results FILE`` appends the Markdown tables to FILE (for bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import measure
from track_peers import (
    DVC,
    LFS_META,
    MotoRequests,
    dvc_env,
    git_env,
    init_dvc_repo,
    init_repo,
    put_objects,
    ratio,
)

import emulators

BUCKET = "bench"
PREFIX = "cohort/"
DIRECTORIES = 50
LFS = "lfs-meta check"
FLOOR_LIST = "floor A: LIST + compare"
FLOOR_HEAD = "floor B: HEAD x16"
DVC_UPDATE = "dvc update --no-download"

# The two raw floors, written to the scratch directory and run with lfs-meta's own Python.
FLOOR_SCRIPT = '''\
"""Floor A (list) or B (head): how many recorded objects differ in ETag or size, and how many seen."""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

mode, recorded_path, bucket, prefix = sys.argv[1:5]
with open(recorded_path) as file:
    recorded = {key: tuple(value) for key, value in json.load(file).items()}
client = boto3.client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(max_pool_connections=16)
)
drift = seen = 0
if mode == "list":
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            seen += 1
            drift += recorded.get(item["Key"]) != (item["ETag"].strip('"'), item["Size"])
    drift += len(recorded) - seen  # recorded but not listed (missing); none in this benchmark
else:

    def head(key):
        answer = client.head_object(Bucket=bucket, Key=key)
        return recorded[key] != (answer["ETag"].strip('"'), answer["ContentLength"])

    with ThreadPoolExecutor(16) as pool:
        for changed in pool.map(head, recorded):
            seen += 1
            drift += changed
print(json.dumps({"seen": seen, "drift": drift}))
'''


@dataclass(frozen=True)
class Result:
    sample: measure.Sample
    runs: int


def alternate_adaptive(
    commands: Mapping[str, Callable[[], measure.Sample]], runs: int, slow: float
) -> dict[str, Result]:
    """``measure.alternate``, one round at a time, dropping after round 1 any command slower than
    ``slow`` seconds; medians of what each command ran."""
    samples: dict[str, list[measure.Sample]] = {name: [] for name in commands}
    for round_number in range(runs):
        active = {
            name: command
            for name, command in commands.items()
            if round_number == 0 or samples[name][0].seconds <= slow
        }
        if not active:
            break
        for name, sample in measure.alternate(active, runs=1).items():
            samples[name].append(sample)
    return {name: Result(measure.median(taken), len(taken)) for name, taken in samples.items()}


def dvc_dir_md5(dvc_file: Path) -> str:
    found = re.search(r"deps:\n- md5: (\S+)", dvc_file.read_text())
    return found.group(1) if found else ""


def etag(body: bytes) -> str:
    """moto's (and S3's) ETag of a single-part upload: the MD5 of the body."""
    return hashlib.md5(body).hexdigest()


@dataclass(frozen=True)
class Setup:
    """One N's objects, tracked by lfs-meta and imported by DVC, and what the floors compare with."""

    count: int
    scratch: Path
    lfs_repo: Path
    dvc_repo: Path
    lfs_env: Mapping[str, str]
    peer_env: Mapping[str, str]
    requests: MotoRequests
    server_pid: int
    recorded_path: Path
    floor_script: Path
    as_imported: str


def prepare(
    count: int, scratch: Path, s3: emulators.S3Emulator, requests: MotoRequests, server_pid: int
) -> Setup:
    lfs_env = {**os.environ, **s3.env}
    peer_env = dvc_env(s3.env, scratch)
    lfs_repo = init_repo(scratch / f"lfs-meta-{count}", git_env(os.environ))
    dvc_repo = init_dvc_repo(scratch / f"dvc-{count}", peer_env)
    source = f"s3://{BUCKET}/{PREFIX}"
    tracked = measure.run(
        [LFS_META, "track-remote", source, "--recursive", "--path-prefix", "data", "--json"],
        lfs_repo,
        lfs_env,
        requests=requests,
    )
    endpoint = f"endpointurl={s3.endpoint_url}"
    imported = measure.run(
        [DVC, "import-url", "--no-download", source, "data", "--fs-config", endpoint],
        dvc_repo,
        peer_env,
        requests=requests,
    )
    print(
        f"N={count:,}: tracked by lfs-meta in {tracked.seconds:.1f} s ({tracked.requests} requests), "
        f"imported by DVC in {imported.seconds:.1f} s ({imported.requests} requests)",
        flush=True,
    )
    keys = object_keys(count)
    recorded_path = scratch / f"recorded-{count}.json"
    recorded_path.write_text(json.dumps({key: [etag(key.encode()), len(key)] for key in keys}))
    floor_script = scratch / "floor.py"
    floor_script.write_text(FLOOR_SCRIPT)
    return Setup(
        count,
        scratch,
        lfs_repo,
        dvc_repo,
        lfs_env,
        peer_env,
        requests,
        server_pid,
        recorded_path,
        floor_script,
        (dvc_repo / "data.dvc").read_text(),
    )


def object_keys(count: int) -> list[str]:
    return [f"{PREFIX}batch{i % DIRECTORIES:02d}/sample{i:06d}.vcf.gz" for i in range(count)]


def scenario_commands(
    setup: Setup, expected: int, problems: list[str], head_max: int
) -> dict[str, Callable[[], measure.Sample]]:
    """The commands to time in one scenario; each notes in ``problems`` a finding other than
    ``expected`` drifted objects."""
    count = setup.count

    def counted(argv: Sequence[str | Path], cwd: Path, env: Mapping[str, str]) -> measure.Sample:
        return measure.run(argv, cwd, env, requests=setup.requests, server_pid=setup.server_pid)

    dvc_file = setup.dvc_repo / "data.dvc"

    def lfs_check() -> measure.Sample:
        sample = counted([LFS_META, "check", "--json"], setup.lfs_repo, setup.lfs_env)
        summary = json.loads(sample.stdout)["summary"]
        if summary["modified"] != expected or summary["unchanged"] != count - expected:
            problems.append(f"lfs-meta check found {summary}, expected {expected} modified")
        return sample

    def floor(mode: str) -> Callable[[], measure.Sample]:
        def run() -> measure.Sample:
            argv: list[str | Path] = [
                sys.executable,
                setup.floor_script,
                mode,
                setup.recorded_path,
                BUCKET,
                PREFIX,
            ]
            sample = counted(argv, setup.scratch, setup.lfs_env)
            found = json.loads(sample.stdout)
            if found != {"seen": count, "drift": expected}:
                problems.append(f"floor {mode} found {found}, expected {expected} drifted")
            return sample

        return run

    def dvc_update() -> measure.Sample:
        dvc_file.write_text(setup.as_imported)
        before = dvc_dir_md5(dvc_file)
        sample = counted([DVC, "update", "--no-download", "data.dvc"], setup.dvc_repo, setup.peer_env)
        if (dvc_dir_md5(dvc_file) != before) != bool(expected):
            problems.append(f"dvc update: directory hash changed is not {bool(expected)}")
        return sample

    commands = {LFS: lfs_check, FLOOR_LIST: floor("list")}
    if count <= head_max:
        commands[FLOOR_HEAD] = floor("head")
    commands[DVC_UPDATE] = dvc_update
    return commands


def bench_one(
    count: int, scratch: Path, runs: int, slow: float, head_max: int
) -> tuple[list[list[object]], list[str]]:
    server = emulators.start_moto(scratch)
    rows: list[list[object]] = []
    verdicts: list[str] = []
    try:
        s3 = emulators.describe_s3(server)
        client = emulators.make_s3_client(s3)
        client.create_bucket(Bucket=BUCKET)
        keys = object_keys(count)
        started = time.perf_counter()
        put_objects(client, BUCKET, keys, str.encode)
        print(f"N={count:,}: put in {time.perf_counter() - started:.0f} s", flush=True)
        setup = prepare(count, scratch, s3, MotoRequests(server.log_path), server.pid)
        for scenario in ("unchanged", "1% overwritten"):
            expected = 0
            if scenario != "unchanged":
                changed = keys[::100]
                put_objects(client, BUCKET, changed, lambda key: key.encode()[::-1])
                expected = len(changed)
            problems: list[str] = []
            results = alternate_adaptive(scenario_commands(setup, expected, problems, head_max), runs, slow)
            rows += scenario_rows(count, scenario, results)
            verdicts += scenario_verdicts(count, scenario, results, problems)
            if count > head_max:
                verdicts.append(
                    f"N={count:,} {scenario}: floor B skipped (N > --head-max {head_max:,}); "
                    f"it makes N HEADs, {count:,} requests"
                )
    finally:
        server.stop()
    return rows, verdicts


def scenario_rows(count: int, scenario: str, results: Mapping[str, Result]) -> list[list[object]]:
    lfs = results[LFS].sample
    rows: list[list[object]] = []
    for tool, result in results.items():
        sample = result.sample
        rows.append(
            [
                tool,
                f"{count:,}",
                scenario,
                result.runs,
                f"{sample.seconds:.2f}",
                sample.requests,
                f"{sample.rss_mb:.0f}",
                f"{sample.cpu:.1f}",
                f"{sample.server_cpu:.1f}",
                ratio(lfs.seconds, results[DVC_UPDATE].sample.seconds) if tool == LFS else "",
                ratio(lfs.seconds, results[FLOOR_LIST].sample.seconds) if tool == LFS else "",
            ]
        )
    return rows


def scenario_verdicts(
    count: int, scenario: str, results: Mapping[str, Result], problems: Sequence[str]
) -> list[str]:
    lfs = results[LFS].sample.seconds
    dvc = results[DVC_UPDATE].sample.seconds
    floor = results[FLOOR_LIST].sample.seconds
    where = f"N={count:,} {scenario}"
    busy = {name: result.sample.server_cpu / result.sample.seconds for name, result in results.items()}
    return [
        f"{where}: moto was busy (CPU s / wall s) {busy[LFS]:.0%} of lfs-meta's run, "
        f"{busy[DVC_UPDATE]:.0%} of DVC's",
        f"{where}: lfs-meta {ratio(lfs, dvc)}x DVC (target <= 0.8x): "
        + ("met" if lfs <= 0.8 * dvc else "MISSED"),
        f"{where}: lfs-meta {ratio(lfs, floor)}x LIST floor (target <= 1.2x): "
        + ("met" if lfs <= 1.2 * floor else "MISSED"),
        *(f"{where}: problem: {problem}" for problem in dict.fromkeys(problems)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("counts", nargs="*", type=int, default=[3000, 10_000, 100_000], metavar="N")
    parser.add_argument("--results", type=Path, help="append the Markdown tables to this file")
    parser.add_argument("--runs", type=int, default=measure.RUNS, help="runs per tool (default 3)")
    parser.add_argument(
        "--slow", type=float, default=30.0, help="run a tool once if its first run takes longer (s)"
    )
    parser.add_argument("--head-max", type=int, default=10_000, help="skip floor B above this N")
    args = parser.parse_args(argv)

    rows: list[list[object]] = []
    verdicts: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        for count in args.counts:
            found_rows, found_verdicts = bench_one(count, Path(scratch), args.runs, args.slow, args.head_max)
            rows += found_rows
            verdicts += found_verdicts
    text = measure.table(
        "Checking tracked S3 objects for drift: lfs-meta, raw boto3 floors, DVC (runs in turns, medians)",
        [
            "tool",
            "N",
            "scenario",
            "runs",
            "median s",
            "median requests",
            "peak RSS MB",
            "own CPU s",
            "moto CPU s",
            "lfs-meta / DVC",
            "lfs-meta / LIST floor",
        ],
        rows,
    )
    notes = [
        f"Machine: {measure.machine()}. Emulator: moto_server (local); requests counted from its "
        f"access log. Whole run: {time.perf_counter() - started:.0f} s.",
        "",
        *(f"- {verdict}" for verdict in verdicts),
        "",
    ]
    print("\n".join(notes))
    measure.write_results(args.results, [text, *notes])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
