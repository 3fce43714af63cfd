"""pull and status without a cloud: file:// and a local web server; the exclude block; bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from lfs_meta import fs
from lfs_meta.cli import main
from lfs_meta.index.storage import load
from lfs_meta.progress import Progress, human_bytes
from lfs_meta.worktree import download, exclude

from conftest import BIN, commit_all, git, usage_error

INDEX = Path(".lfs-meta") / "metadata.json"


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    return git_repo


def track_file(tmp_path: Path, name: str, body: bytes, path: str) -> None:
    source = tmp_path / "store" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(body)
    assert main(["track-remote", source.as_uri(), "--path", path, "--hash"]) == 0


NAMES = ["data/a[1].vcf", "data/what?.txt", "data/star*.bam", "data/#hash", "data/!bang", "data/trailing "]


def test_the_exclude_block_matches_exactly_the_pulled_paths(git_repo: Path) -> None:
    block = exclude.with_block("# mine\n*.log\n", NAMES)
    (git_repo / ".git" / "info").mkdir(exist_ok=True)
    (git_repo / ".git" / "info" / "exclude").write_text(block)
    siblings = ["data/a1.vcf", "data/whatX.txt", "data/star-other.bam", "data/hash", "data/trailing"]
    for name in NAMES + siblings:
        (git_repo / name).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / name).write_text("x")
    listed = git(git_repo, "status", "--porcelain", "-z", "--untracked-files=all").stdout.split("\0")
    assert sorted(filter(None, listed)) == sorted(f"?? {name}" for name in siblings)
    assert git(git_repo, "check-ignore", "-q", "x.log").returncode == 0  # the user's own lines still work


def test_the_block_is_replaced_not_repeated_and_user_lines_are_kept() -> None:
    once = exclude.with_block("# mine\n*.log\n", ["b", "a"])
    assert once.startswith("# mine\n*.log\n" + exclude.BEGIN + "\n")
    assert exclude.with_block(once, ["b", "a"]) == once
    shrunk = exclude.with_block(once, [])
    assert "/a" not in shrunk.splitlines() and shrunk.startswith("# mine\n*.log\n")
    assert shrunk.count(exclude.BEGIN) == 1


def test_pull_and_status_from_file_urls(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    track_file(tmp_path, "b.vcf", b"beta\n", "data/b.vcf")
    commit_all(repo, {}, "track")
    assert main(["pull", "--all"]) == 0
    assert (repo / "data" / "a.vcf").read_bytes() == b"alpha\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""

    # A file that is the indexed content but that this clone did not pull (copied in, or a pull killed
    # before recording it) is recognised by its digest, not downloaded again.
    journal = Path(git(repo, "rev-parse", "--git-path", "lfs-meta/pulled.jsonl").stdout.strip())
    (repo / journal).unlink()
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["pulled"] == 2
    assert main(["pull", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["present"] == 2
    assert len((repo / journal).read_text().splitlines()) == 2


def test_an_index_below_the_top_of_the_repository(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = git_repo / "projects" / "cohort"
    (project / ".lfs-meta").mkdir(parents=True)
    monkeypatch.chdir(project)
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    commit_all(git_repo, {}, "track")
    assert main(["pull", "--all"]) == 0
    assert (project / "data" / "a.vcf").read_bytes() == b"alpha\n"
    assert git(git_repo, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert "/projects/cohort/data/a.vcf" in (git_repo / ".git" / "info" / "exclude").read_text().splitlines()


def test_a_path_committed_to_git_is_never_overwritten(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    (repo / "data").mkdir()
    (repo / "data" / "a.vcf").write_bytes(b"committed by someone\n")
    commit_all(repo, {}, "both")
    capsys.readouterr()
    assert main(["pull", "data/a.vcf"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "data/a.vcf: is committed to git itself; 'git rm --cached data/a.vcf' to let lfs-meta manage it, "
        "or 'lfs-meta untrack data/a.vcf'\n"
    )
    assert (repo / "data" / "a.vcf").read_bytes() == b"committed by someone\n"


def test_a_directory_that_cannot_be_written_leaves_nothing(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    (repo / "data").mkdir()
    (repo / "data").chmod(0o555)
    try:
        assert main(["pull", "data/a.vcf"]) == 1
    finally:
        (repo / "data").chmod(0o755)
    err = capsys.readouterr().err
    assert err.startswith("data/a.vcf: ") and "Permission denied" in err and err.count("\n") == 1
    assert list((repo / "data").iterdir()) == []


def test_a_full_disk_leaves_nothing_at_the_path(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    track_file(tmp_path, "a.vcf", b"alpha\n" * 100_000, "data/a.vcf")
    target = repo / "data" / "a.vcf"
    target.parent.mkdir()
    part = download.part_path(target, load(repo / INDEX)["data/a.vcf"])
    opened = fs.open_file

    def on_a_full_disk(path: Path, within: Path, flags: int, **options: bool) -> BinaryIO:
        if path == part and flags & os.O_APPEND:
            return open("/dev/full", "ab", buffering=0)  # every write fails with ENOSPC
        return opened(path, within, flags, **options)

    monkeypatch.setattr(fs, "open_file", on_a_full_disk)
    assert main(["pull", "data/a.vcf"]) == 1
    err = capsys.readouterr().err
    shown = part.relative_to(repo)
    assert (
        err
        == f"data/a.vcf: cannot write {shown}: No space left on device; nothing was written at data/a.vcf\n"
    )
    assert list(target.parent.iterdir()) == []


def test_a_file_where_a_directory_is_needed_is_reported(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    (repo / "data").write_text("a file, not a directory")
    assert main(["pull", "data/a.vcf"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("data/a.vcf: cannot write in data") or "data/a.vcf: cannot write in" in err, err
    assert (repo / "data").read_text() == "a file, not a directory"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pull"], "pull takes PATHs or --all (one of them)"),
        (["pull", "--all", "data/a.vcf"], "pull takes PATHs or --all (one of them)"),
        (["pull", "nowhere"], "not tracked: nowhere; see 'lfs-meta ls'"),
        (["status", "nowhere"], "not tracked: nowhere; see 'lfs-meta ls'"),
        (["pull", "--all", "--jobs", "0"], "--jobs: must be a whole number of at least 1"),
    ],
)
def test_usage_errors_are_one_line(
    repo: Path, tmp_path: Path, argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    capsys.readouterr()
    assert expected in usage_error(argv, capsys)
    assert not (repo / "data").exists()


def test_outside_a_git_repository_pull_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    track_file(tmp_path, "a.vcf", b"alpha\n", "data/a.vcf")
    capsys.readouterr()
    for argv in (["pull", "--all"], ["status"]):
        assert "not a git working tree; " in usage_error(argv, capsys)
    assert not (plain / "data").exists()


def test_progress_in_bytes() -> None:
    assert [human_bytes(n) for n in (0, 999, 1500, 12_345_678, 4 * 10**12, 7 * 10**15)] == [
        "0 B",
        "999 B",
        "1.5 kB",
        "12.3 MB",
        "4.0 TB",
        "7000.0 TB",
    ]
    assert Progress("pulling", total=2000, in_bytes=True)._text().endswith("0 B/2.0 kB")


class _Server(ThreadingHTTPServer):
    bodies: dict[str, bytes]
    stall: threading.Event  # while clear, /big.bam stops after its first half
    ranges: list[str]
    active = 0
    most_active = 0
    lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _etag(self, body: bytes) -> str:
        return f'"{hashlib.md5(body).hexdigest()}"'

    def do_HEAD(self) -> None:
        body = self.server.bodies[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", self._etag(body))
        self.end_headers()

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.active += 1
            server.most_active = max(server.most_active, server.active)
        try:
            self._serve(server.bodies[self.path])
        finally:
            with server.lock:
                server.active -= 1

    def _serve(self, body: bytes) -> None:
        start = 0
        if "Range" in self.headers:
            self.server.ranges.append(f"{self.path} {self.headers['Range']}")
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("ETag", self._etag(body))
        self.end_headers()
        time.sleep(0.2)  # long enough for downloads to overlap
        if self.path == "/big.bam" and not self.server.stall.is_set():
            self.wfile.write(body[start : len(body) // 2])
            self.wfile.flush()
            self.server.stall.wait(30)
            return
        self.wfile.write(body[start:])


@pytest.fixture
def web() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.bodies = {f"/small{i}.txt": f"small file {i}\n".encode() for i in range(6)}
    server.bodies["/big.bam"] = os.urandom(3_000_000)
    server.stall, server.ranges = threading.Event(), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stall.set()
    server.shutdown()
    server.server_close()


def test_an_interrupted_pull_keeps_what_it_finished_and_resumes_the_rest(
    repo: Path, web: _Server, cli_env: dict[str, str]
) -> None:
    base = f"http://127.0.0.1:{web.server_address[1]}"
    for name in web.bodies:
        assert main(["track-remote", base + name, "--path", "data" + name]) == 0
    commit_all(repo, {}, "track")
    process = subprocess.Popen(
        [BIN / "lfs-meta", "pull", "--all", "--jobs", "3"],
        cwd=repo,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not any(part.stat().st_size >= 1_500_000 for part in (repo / "data").glob(".big.bam.*")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    while len([p for p in (repo / "data").glob("small*.txt")]) < 6:
        assert time.monotonic() < deadline, "the small files never arrived"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "interrupted; 6 file(s) are in place, and 'lfs-meta pull' again resumes the rest" in err
    assert "Traceback" not in err
    assert not (repo / "data" / "big.bam").exists()
    assert 2 <= web.most_active <= 3  # parallel, and never more than --jobs
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""

    web.stall.set()
    done = subprocess.run(
        [BIN / "lfs-meta", "pull", "--all", "--json"],
        cwd=repo,
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["summary"] == {"pulled": 1, "present": 6, "failed": 0, "bytes": 3_000_000}
    assert web.ranges == ["/big.bam bytes=1500000-"]
    assert (repo / "data" / "big.bam").read_bytes() == web.bodies["/big.bam"]
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""
