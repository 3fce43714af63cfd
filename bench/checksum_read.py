"""`lfs-meta checksum --read` against the single-core MD5 floor and a plain boto3 read, on moto.

.venv/bin/python bench/checksum_read.py [MB ...] [--results FILE]   (default 256 and 1024 MB)

For each size, one multipart object in a local moto server, tracked (its ETag is no MD5).
Measured in turns, medians of 3, in one run:
- the floor: hashlib MD5 over bytes already in memory, 1 MiB at a time, one core;
- a plain boto3 streaming read (get_object, iter_chunks of 1 MiB), and the same loop hashing MD5;
- `lfs-meta checksum --read --jobs 1` (MD5), whole process, and its read alone: the whole process
  less `lfs-meta checksum` without --read on the same index (start-up, boto3, one HEAD, the report);
- the same with --sha256 (MD5 and SHA-256 in one pass, each hash in its own thread).
Then peak RSS with 8 objects of 128 MiB read at once (--jobs 1, 4 and 8).
Goal: the read alone at 80% of the floor or more per stream; peak RSS under 100 MB at any size.
moto builds a whole response before its first byte (about 0.13 s per 256 MiB here), a wait no client
can overlap with hashing: the plain boto3 read measures it, and the last rate leaves it out.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import measure

import emulators

BUCKET = "checksum-bench"
PART = 64 * 1024 * 1024
FLOOR = """
import hashlib, sys, time
data = bytes(range(256)) * (1 << 12)  # 1 MiB, hashed as often as the object has MiB
count = int(sys.argv[1]) >> 20
digest = hashlib.md5(usedforsecurity=False)
started = time.perf_counter()
for _ in range(count):
    digest.update(data)
print(f"{(count << 20) / (time.perf_counter() - started) / 1e6:.0f}")
"""
BOTO3 = """
import hashlib, sys, time, boto3
client = boto3.client("s3")
digest = hashlib.md5(usedforsecurity=False) if sys.argv[3] == "md5" else None
started = time.perf_counter()
body = client.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"]
first_byte = time.perf_counter() - started
size = 0
for chunk in body.iter_chunks(1 << 20):
    size += len(chunk)
    if digest:
        digest.update(chunk)
print(f"{size / (time.perf_counter() - started) / 1e6:.0f} {first_byte:.3f}")
"""


def upload(env: dict[str, str], key: str, size: int) -> None:
    """A multipart object of `size` bytes, streamed from a generator: never all in this process."""
    script = f"""
import os, boto3
from boto3.s3.transfer import TransferConfig
class Source:
    def __init__(self):
        self.left, self.block = {size}, os.urandom(1 << 20)
    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return (self.block * (n // len(self.block) + 1))[:n]
client = boto3.client("s3")
config = TransferConfig(multipart_threshold={PART}, multipart_chunksize={PART}, max_concurrency=2)
client.upload_fileobj(Source(), "{BUCKET}", "{key}", Config=config)
"""
    subprocess.run([measure.PYTHON, "-c", script], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[256, 1024], metavar="MB")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        server = emulators.start_moto(Path(scratch))
        try:
            env = {**os.environ, **emulators.describe_s3(server).env}
            subprocess.run(
                [measure.PYTHON, "-c", f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')"],
                env=env,
                check=True,
            )
            for megabytes in args.sizes:
                rows.append(measure_size(Path(scratch), env, megabytes, server.pid))
            parallel = measure_parallel(Path(scratch), env, server.pid)
        finally:
            server.stop()
    text = measure.table(
        "checksum --read, one stream (MB/s; 1 MB = 10^6 bytes): medians of 3, in turns",
        [
            "object",
            "MD5 floor (in memory)",
            "boto3 read",
            "boto3 read + MD5",
            "moto's first byte, s",
            "lfs-meta, whole process",
            "lfs-meta, the read alone",
            "of the floor",
            "the read from the first byte",
            "with --sha256, the read alone",
            "peak RSS MB",
            "moto CPU s",
        ],
        rows,
    )
    measure.write_results(args.results, [text, parallel])
    return 0


def measure_parallel(scratch: Path, env: dict[str, str], server_pid: int) -> str:
    """Peak RSS with several objects read at once: 8 multipart objects of 128 MiB, --jobs 1, 4, 8."""
    for number in range(8):
        upload(env, f"many/{number}.bam", 128 << 20)
    repo = scratch / "repo-many"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    lfs_meta = measure.BIN / "lfs-meta"
    track: list[str | Path] = [lfs_meta, "track-remote", f"s3://{BUCKET}/many/", "--recursive"]
    subprocess.run(track, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    index = repo / ".lfs-meta" / "metadata.json"
    lacking = index.with_name("lacking.json")
    shutil.copyfile(index, lacking)

    def read(jobs: int) -> measure.Sample:
        shutil.copyfile(lacking, index)
        argv: list[str | Path] = [lfs_meta, "checksum", "--read", "--jobs", str(jobs)]
        return measure.run(argv, repo, env, server_pid=server_pid)

    medians = measure.alternate({str(jobs): functools.partial(read, jobs) for jobs in (1, 4, 8)})
    rows = [
        [
            f"--jobs {jobs}",
            f"{sample.seconds:.2f}",
            f"{(8 * 128 << 20) / sample.seconds / 1e6:.0f}",
            f"{sample.rss_mb:.0f}",
        ]
        for jobs, sample in medians.items()
    ]
    return measure.table(
        "checksum --read of 8 objects of 128 MiB at once: medians of 3, in turns",
        ["jobs", "seconds", "MB/s, all streams", "peak RSS MB"],
        rows,
    )


def measure_size(scratch: Path, env: dict[str, str], megabytes: int, server_pid: int) -> list[object]:
    size = megabytes << 20
    key = f"run/{megabytes}.bam"
    upload(env, key, size)
    repo = scratch / f"repo-{megabytes}"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    lfs_meta = measure.BIN / "lfs-meta"
    subprocess.run(
        [lfs_meta, "track-remote", f"s3://{BUCKET}/{key}", "--path", "x.bam"], cwd=repo, env=env, check=True
    )
    index = repo / ".lfs-meta" / "metadata.json"
    lacking = index.with_name("lacking.json")
    shutil.copyfile(index, lacking)

    def read() -> measure.Sample:
        shutil.copyfile(lacking, index)  # each run reads: the last one recorded the MD5
        return measure.run([lfs_meta, "checksum", "--read", "--jobs", "1"], repo, env, server_pid=server_pid)

    def read_both() -> measure.Sample:
        shutil.copyfile(lacking, index)
        argv: list[str | Path] = [lfs_meta, "checksum", "--read", "--sha256", "--jobs", "1"]
        return measure.run(argv, repo, env, server_pid=server_pid)

    def all_but_the_read() -> measure.Sample:
        shutil.copyfile(lacking, index)
        return measure.run([lfs_meta, "checksum"], repo, env)

    def python(script: str, *argv: str) -> measure.Sample:
        return measure.run([measure.PYTHON, "-c", script, *argv], repo, env)

    medians = measure.alternate(
        {
            "floor": lambda: python(FLOOR, str(size)),
            "boto3": lambda: python(BOTO3, BUCKET, key, "-"),
            "boto3 md5": lambda: python(BOTO3, BUCKET, key, "md5"),
            "read": read,
            "read both": read_both,
            "all but the read": all_but_the_read,
        }
    )
    floor = float(medians["floor"].stdout)
    plain, first_byte = medians["boto3"].stdout.decode().split()
    hashed = medians["boto3 md5"].stdout.decode().split()[0]
    whole = size / medians["read"].seconds / 1e6
    rest = medians["all but the read"].seconds
    alone = size / (medians["read"].seconds - rest) / 1e6
    streaming = size / (medians["read"].seconds - rest - float(first_byte)) / 1e6
    both = size / (medians["read both"].seconds - rest) / 1e6
    return [
        f"{megabytes} MiB",
        f"{floor:.0f}",
        plain,
        hashed,
        f"{float(first_byte):.2f}",
        f"{whole:.0f}",
        f"{alone:.0f}",
        f"{alone / floor:.0%}",
        f"{streaming:.0f} ({streaming / floor:.0%})",
        f"{both:.0f} ({both / floor:.0%})",
        f"{max(medians['read'].rss_mb, medians['read both'].rss_mb):.0f}",
        f"{medians['read'].server_cpu:.1f}",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
