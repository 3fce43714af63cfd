"""The index under stress: concurrent writers, a writer killed mid-write, a full or read-only disk."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main
from lfs_meta.index import storage
from lfs_meta.index.entry import Entry

from conftest import BIN, lfs_meta, use_env

INDEX = Path(".lfs-meta") / "metadata.json"


def test_eight_processes_tracking_at_once_lose_nothing(
    git_repo: Path, s3_client: Any, s3_bucket: str, s3_emulator: Any, cli_env: dict[str, str]
) -> None:
    for writer in range(8):
        for number in range(50):
            key = f"w{writer}/sample{number}.vcf"
            s3_client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    env = {**cli_env, **s3_emulator.env}
    writers = [
        subprocess.Popen(
            [
                str(BIN / "lfs-meta"),
                "track-remote",
                f"s3://{s3_bucket}/w{writer}/",
                "--recursive",
                "--path-prefix",
                f"data/w{writer}",
                "--jobs",
                "4",
            ],
            cwd=git_repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in range(8)
    ]
    for process in writers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
    entries = storage.load(git_repo / INDEX)
    assert len(entries) == 400
    assert {path.split("/")[1] for path in entries} == {f"w{writer}" for writer in range(8)}
    assert lfs_meta(git_repo, cli_env, "validate").returncode == 0


def big_index(entries: int) -> bytes:
    return storage.dumps(
        {
            f"data/batch{n % 100}/sample{n}.vcf.gz": Entry(
                remote_url=f"s3://cohort/batch{n % 100}/sample{n}.vcf.gz", size=n, etag=f"{n:032x}"
            )
            for n in range(entries)
        }
    ).encode()


def test_a_writer_killed_mid_write_leaves_the_old_index_or_the_new_one(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = git_repo / INDEX
    path.parent.mkdir()
    old = big_index(50_000)  # ~23 MB: its write and fsync take long enough to be caught
    path.write_bytes(old)
    source = tmp_path / "new.vcf"
    source.write_bytes(b"new\n")
    caught_mid_write = 0
    for _ in range(2):
        writer = subprocess.Popen(
            [BIN / "lfs-meta", "track-remote", source.as_uri(), "--path", "new/file.vcf", "--force"],
            cwd=git_repo,
            env=cli_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while writer.poll() is None and not list(path.parent.glob(".metadata.json.*.tmp")):
            time.sleep(0.001)
        if writer.poll() is None:
            writer.send_signal(signal.SIGKILL)
            caught_mid_write += 1
        writer.wait(timeout=60)
        now = path.read_bytes()
        assert now == old or json.loads(now).keys() == json.loads(old).keys() | {"new/file.vcf"}
        assert not now or now == old or storage.problems_in(now) == []
    assert caught_mid_write >= 1, "the writer was never caught between its temporary file and the rename"
    leftovers = list(path.parent.glob(".metadata.json.*.tmp"))
    assert leftovers, "a killed writer's temporary file"
    # What a killed writer leaves is ignored by git, and the next command works.
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", ".lfs-meta"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert listed == ["?? .lfs-meta/.gitattributes", "?? .lfs-meta/.gitignore", "?? .lfs-meta/metadata.json"]
    assert lfs_meta(git_repo, cli_env, "untrack", "data/batch0/sample0.vcf.gz").returncode == 0


@contextlib.contextmanager
def small_filesystem(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); the injected faults cover it"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def seeded_repo(root: Path) -> Path:
    assert subprocess.run(["git", "init", "-q", str(root / "repo")], check=False).returncode == 0
    (root / "repo" / ".lfs-meta").mkdir()
    index_path = root / "repo" / INDEX
    index_path.write_bytes(big_index(20))
    return index_path


def test_a_full_disk_is_one_line_and_the_index_is_unchanged(tmp_path: Path, cli_env: dict[str, str]) -> None:
    with small_filesystem(tmp_path / "small", "256k") as small:
        index_path = seeded_repo(small)
        assert main(["validate", str(index_path)]) == 0
        with storage.locked(index_path):  # a repository used before: its lock file and .gitignore exist
            pass
        before = index_path.read_bytes()
        filler = small / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        source = tmp_path / "new.vcf"
        source.write_bytes(b"new\n")
        done = lfs_meta(index_path.parent.parent, cli_env, "track-remote", source.as_uri(), "--path", "n.vcf")
        assert done.returncode == 2, done.stdout + done.stderr
        assert (
            done.stderr
            == f"lfs-meta: error: {INDEX}: cannot write: No space left on device; it was not changed\n"
        )
        assert index_path.read_bytes() == before
        assert not list(index_path.parent.glob(".*.tmp"))


def test_a_read_only_file_system_is_one_line_and_the_index_is_unchanged(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    with small_filesystem(tmp_path / "small", "1m") as small:
        index_path = seeded_repo(small)
        before = index_path.read_bytes()
        assert subprocess.run(["mount", "-o", "remount,ro", str(small)], check=False).returncode == 0
        done = lfs_meta(index_path.parent.parent, cli_env, "untrack", "data/batch0/sample0.vcf.gz")
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (
            "lfs-meta: error: .lfs-meta: cannot lock the index: Read-only file system; "
            "lfs-meta writes its lock and temporary files there: make it writable\n"
        )
        assert index_path.read_bytes() == before


@pytest.mark.parametrize(
    ("where", "code"),
    [("open", errno.EROFS), ("open", errno.EACCES), ("fsync", errno.ENOSPC), ("fsync", errno.EDQUOT)],
)
def test_injected_write_faults_leave_the_index_as_it_was(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
    code: int,
) -> None:
    """The same faults without root: os.open/os.fsync of the temporary file fail as the kernel would."""
    use_env(monkeypatch, {})
    monkeypatch.chdir(git_repo)
    seeded = git_repo / INDEX
    seeded.parent.mkdir()
    seeded.write_bytes(big_index(20))
    before = seeded.read_bytes()
    real = getattr(os, where)

    def failing(*args: Any, **kwargs: Any) -> Any:
        target = str(args[0]) if where == "open" else ""
        if where == "fsync" or target.endswith(".tmp"):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, where, failing)
    assert main(["untrack", "data/batch0/sample0.vcf.gz"]) == 2
    monkeypatch.setattr(os, where, real)
    err = capsys.readouterr().err
    assert err == f"lfs-meta: error: {INDEX}: cannot write: {os.strerror(code)}; it was not changed\n"
    assert seeded.read_bytes() == before
    assert not list(seeded.parent.glob(".*.tmp"))
