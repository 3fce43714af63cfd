"""Tracking a whole S3 prefix without downloading it: lfs-meta against DVC and git-annex.

For each N, N small objects are put under s3://bench/cohort/ in a fresh bucket of a local moto
server. Then, against that server, in turns (3 runs each, every run in a fresh scratch repository):

* ``lfs-meta track-remote s3://bench/cohort/ --recursive --path-prefix data --json``
* ``dvc import-url --no-download s3://bench/cohort/ data --fs-config endpointurl=<endpoint>``
  (after ``git init`` and ``dvc init``)
* ``git annex addurl --fast --raw --batch`` fed the N path-style object URLs on stdin
  (after ``git init`` and ``git annex init``; the objects are put with a public-read ACL,
  because moto answers anonymous HEADs of private objects with 403)

Measured per run: wall time and peak RSS of the command (``measure.run``) and the requests moto
answered (counted from its werkzeug access log). Printed: median seconds, median requests, peak RSS
(median of the runs) and lfs-meta's time over DVC's, against the targets requests <= ceil(N/1000)+3
and time <= 0.8x DVC.

    .venv/bin/python bench/track_peers.py [N ...] [--results FILE]   (default N: 3000 10000)

``--results FILE`` appends the Markdown tables to FILE (for bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import measure

import emulators

BUCKET = "bench"
PREFIX = "cohort/"
DVC = measure.PEERS / "dvc"
LFS_META = measure.BIN / "lfs-meta"

# werkzeug colours the request line of every status but 200 (404 yellow, 403 red, 201/204/206
# magenta...) with ANSI escapes inside the quotes; a pattern that expects the method right after
# the quote misses those lines (DVC's 404 HEADs, for one). This one counts them.
_MOTO_REQUEST = re.compile(rb'"(?:\x1b\[[0-9;]*m)*(?:GET|HEAD|PUT|POST|DELETE|PATCH|OPTIONS) [^"]*" \d{3}')


class MotoRequests:
    """Requests moto has answered so far, read incrementally from its access log.

    werkzeug logs a request before it writes the response, so by the time a client has exited, all
    of its requests are in the log.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.offset = 0
        self.count = 0

    def __call__(self) -> int:
        with self.log_path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        end = chunk.rfind(b"\n") + 1  # only whole lines; a partial one is read next time
        self.count += len(_MOTO_REQUEST.findall(chunk[:end]))
        self.offset += end
        return self.count


def git_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus an identity for the commits git-annex and DVC make, and no analytics."""
    return {
        **base,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
        "DVC_NO_ANALYTICS": "1",
    }


def dvc_env(s3_env: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The S3 environment for DVC: s3fs (aiobotocore) refuses AWS_CONFIG_FILE=/dev/null ("could
    not be found"), so both AWS files point at an empty file instead, which means the same."""
    empty = scratch / "aws-empty"
    empty.touch()
    return git_env(
        {
            **os.environ,
            **s3_env,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        }
    )


def put_objects(client: Any, bucket: str, keys: Sequence[str], body: Callable[[str], bytes]) -> None:
    """Put every key in 16 threads, public-read so that git-annex can HEAD them anonymously."""
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda key: client.put_object(Bucket=bucket, Key=key, Body=body(key), ACL="public-read"),
                keys,
            )
        )


def init_repo(path: Path, env: Mapping[str, str], *extra: Sequence[str | Path]) -> Path:
    path.mkdir(parents=True)
    for argv in (["git", "init", "-q"], *extra):
        subprocess.run([str(part) for part in argv], cwd=path, env=dict(env), check=True, capture_output=True)
    return path


def init_dvc_repo(path: Path, env: Mapping[str, str]) -> Path:
    return init_repo(
        path,
        env,
        [DVC, "init", "-q"],
        [DVC, "config", "core.analytics", "false"],
        [DVC, "config", "core.check_update", "false"],
    )


def nfiles(dvc_file: Path) -> int:
    found = re.search(r"nfiles: (\d+)", dvc_file.read_text())
    return int(found.group(1)) if found else -1


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def bench_one(count: int, scratch: Path, annex_jobs: int) -> tuple[list[list[object]], list[str]]:
    server = emulators.start_moto(scratch)
    try:
        s3 = emulators.describe_s3(server)
        client = emulators.make_s3_client(s3)
        client.create_bucket(Bucket=BUCKET)
        keys = [f"{PREFIX}sample{i:06d}.vcf.gz" for i in range(count)]
        started = time.perf_counter()
        put_objects(client, BUCKET, keys, str.encode)
        print(f"N={count:,}: put in {time.perf_counter() - started:.0f} s", flush=True)
        urls = "".join(f"{s3.endpoint_url}/{BUCKET}/{key}\n" for key in keys).encode()

        requests = MotoRequests(server.log_path)
        lfs_env = {**os.environ, **s3.env}
        peer_env = dvc_env(s3.env, scratch)
        plain_env = git_env(os.environ)
        runs = {"lfs-meta": 0, "DVC": 0, "git-annex": 0}
        problems: list[str] = []

        def fresh(tool: str) -> Path:
            """A new repository directory for this run; the previous run's is deleted."""
            shutil.rmtree(scratch / f"{tool}-{count}-{runs[tool]}", ignore_errors=True)
            runs[tool] += 1
            return scratch / f"{tool}-{count}-{runs[tool]}"

        def lfs_meta() -> measure.Sample:
            repo = init_repo(fresh("lfs-meta"), plain_env)
            argv: list[str | Path] = [LFS_META, "track-remote", f"s3://{BUCKET}/{PREFIX}", "--recursive"]
            sample = measure.run([*argv, "--path-prefix", "data", "--json"], repo, lfs_env, requests=requests)
            tracked = len(json.loads(sample.stdout)["tracked"])
            if tracked != count:
                problems.append(f"lfs-meta tracked {tracked} of {count}")
            return sample

        def dvc() -> measure.Sample:
            repo = init_dvc_repo(fresh("DVC"), peer_env)
            sample = measure.run(
                [
                    DVC,
                    "import-url",
                    "--no-download",
                    f"s3://{BUCKET}/{PREFIX}",
                    "data",
                    "--fs-config",
                    f"endpointurl={s3.endpoint_url}",
                ],
                repo,
                peer_env,
                requests=requests,
            )
            if (found := nfiles(repo / "data.dvc")) != count:
                problems.append(f"DVC data.dvc has nfiles {found}, not {count}")
            return sample

        def annex() -> measure.Sample:
            repo = init_repo(
                fresh("git-annex"),
                plain_env,
                ["git", "annex", "init", "-q", "bench"],
                # moto listens on 127.0.0.1, which git-annex refuses to reach by default.
                ["git", "config", "annex.security.allowed-ip-addresses", "127.0.0.1"],
            )
            jobs = ["--jobs", str(annex_jobs)] if annex_jobs > 1 else []
            sample = measure.run(
                ["git", "annex", "addurl", "--fast", "--raw", "--batch", *jobs],
                repo,
                plain_env,
                stdin=urls,
                requests=requests,
            )
            added = sample.stdout.count(b" ok\n")
            if added != count:
                problems.append(f"git-annex added {added} of {count} URLs")
            return sample

        medians = measure.alternate({"lfs-meta": lfs_meta, "DVC": dvc, "git-annex": annex})
        for tool, last in runs.items():
            shutil.rmtree(scratch / f"{tool}-{count}-{last}", ignore_errors=True)
    finally:
        server.stop()

    target_requests = math.ceil(count / 1000) + 3
    lfs, dvc_median = medians["lfs-meta"], medians["DVC"]
    rows: list[list[object]] = []
    for tool, sample in medians.items():
        rows.append(
            [
                tool,
                f"{count:,}",
                f"{sample.seconds:.2f}",
                sample.requests,
                f"{sample.rss_mb:.0f}",
                ratio(sample.seconds, dvc_median.seconds) if tool == "lfs-meta" else "",
            ]
        )
    verdicts = [
        f"N={count:,}: lfs-meta requests {lfs.requests} (target <= {target_requests}): "
        + ("met" if lfs.requests <= target_requests else "MISSED"),
        f"N={count:,}: lfs-meta time {ratio(lfs.seconds, dvc_median.seconds)}x DVC (target <= 0.8x): "
        + ("met" if lfs.seconds <= 0.8 * dvc_median.seconds else "MISSED"),
        *(f"N={count:,}: problem: {problem}" for problem in problems),
    ]
    return rows, verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("counts", nargs="*", type=int, default=[3000, 10_000], metavar="N")
    parser.add_argument("--results", type=Path, help="append the Markdown tables to this file")
    parser.add_argument(
        "--annex-jobs", type=int, default=1, help="git annex addurl --jobs (default 1: no --jobs)"
    )
    args = parser.parse_args(argv)

    rows: list[list[object]] = []
    verdicts: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        for count in args.counts:
            found_rows, found_verdicts = bench_one(count, Path(scratch), args.annex_jobs)
            rows += found_rows
            verdicts += found_verdicts
    annex = f" --jobs {args.annex_jobs}" if args.annex_jobs > 1 else ""
    text = measure.table(
        f"Tracking an S3 prefix: lfs-meta, DVC, git-annex ({measure.RUNS} runs in turns, medians)",
        ["tool", "N", "median s", "median requests", "peak RSS MB", "time lfs-meta / DVC"],
        rows,
    )
    notes = [
        f"Machine: {measure.machine()}. Emulator: moto_server (local); requests counted from its "
        f"access log. git-annex: `addurl --fast --raw --batch{annex}`.",
        "",
        *(f"- {verdict}" for verdict in verdicts),
        "",
    ]
    print("\n".join(notes))
    print(f"(whole run {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    measure.write_results(args.results, [text, *notes])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
