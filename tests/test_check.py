"""lfs-meta check against the emulators: every kind of drift, its cost, and --update."""

from __future__ import annotations

import importlib
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lfs_meta import processes
from lfs_meta.cli import main
from lfs_meta.drift import scan
from lfs_meta.index.layout import Layout
from lfs_meta.providers import Providers

import emulators
from conftest import Store, use_env

INDEX = Path(".lfs-meta") / "metadata.json"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {finding["path"]: finding["status"] for finding in result["findings"]}


@pytest.fixture
def repo(git_repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def test_every_kind_of_drift_on_every_store(
    repo: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("same.vcf", "grown.vcf", "same-size.vcf", "deleted.vcf", "alone/x.vcf"):
        store.put(f"d/{name}", b"original")
    assert main(["track-remote", store.url("d/"), "--recursive", "--path-prefix", "data"]) == 0
    capsys.readouterr()
    code, result = run(capsys, "check")
    assert (code, set(statuses(result).values())) == (0, {"unchanged"})

    store.put("d/grown.vcf", b"original plus more")
    store.put("d/same-size.vcf", b"ORIGINAL")
    store.delete("d/deleted.vcf")
    code, result = run(capsys, "check")
    assert code == 1
    assert statuses(result) == {
        "data/same.vcf": "unchanged",
        "data/grown.vcf": "modified",
        "data/same-size.vcf": "modified",
        "data/deleted.vcf": "missing",
        "data/alone/x.vcf": "unchanged",
    }
    same_size = next(f for f in result["findings"] if f["path"] == "data/same-size.vcf")
    assert [c["field"] for c in same_size["changes"] if c["field"] != "version_id"][:1] == ["etag"]
    assert result["summary"] == {
        "unchanged": 2,
        "modified": 2,
        "version_gone": 0,
        "missing": 1,
        "unreachable": 0,
    }

    assert main(["check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("data/deleted.vcf: missing: ")
    assert "data/grown.vcf: modified: size 8 -> 18, etag " in lines[1]
    assert lines[1].endswith("; run 'lfs-meta check --update data/grown.vcf' to accept")
    assert lines[-1] == "2 unchanged, 2 modified, 0 version gone, 1 missing, 0 unreachable"


def test_directories_listed_apart_at_once_find_every_kind_of_drift(
    repo: Path,
    store: Store,
    listings: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With 2 keys a page, three directories of 2 cost 3 pages apart as together: listed apart.
    module = importlib.import_module(f"lfs_meta.providers.{store.provider}")
    monkeypatch.setattr(module, "_PAGE_SIZE", 2)
    monkeypatch.setattr(scan, "LIST_PAGE", 2)
    for name in ("a/1.vcf", "a/2.vcf", "b/1.vcf", "b/deep/2.vcf", "c/1.vcf", "c/2.vcf"):
        store.put(f"d/{name}", b"original")
    assert main(["track-remote", store.url("d/"), "--recursive", "--path-prefix", "d"]) == 0
    capsys.readouterr()
    listings.clear()
    store.put("d/a/2.vcf", b"changed")
    store.delete("d/c/1.vcf")
    code, result = run(capsys, "check")
    assert code == 1
    assert statuses(result) == {
        "d/a/1.vcf": "unchanged",
        "d/a/2.vcf": "modified",
        "d/b/1.vcf": "unchanged",
        "d/b/deep/2.vcf": "unchanged",
        "d/c/1.vcf": "missing",
        "d/c/2.vcf": "unchanged",
    }
    assert sorted(url.rpartition("/d/")[2] for url in listings) == ["a/", "b/", "c/"]


def test_update_accepts_drift_but_not_missing(
    repo: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.put("u/a.vcf", b"one")
    store.put("u/b.vcf", b"two")
    assert main(["track-remote", store.url("u/"), "--recursive", "--patient", "Patient/9"]) == 0
    capsys.readouterr()
    store.put("u/a.vcf", b"three")
    code, result = run(capsys, "check", "--update")
    assert (code, result["updated"]) == (0, ["a.vcf"])
    entry = json.loads((repo / INDEX).read_text())["a.vcf"]
    assert (entry["size"], entry["patient"]) == (5, "Patient/9")
    assert run(capsys, "check")[0] == 0
    store.delete("u/b.vcf")
    code, result = run(capsys, "check", "--update")
    assert (code, result["updated"], statuses(result)["b.vcf"]) == (1, [], "missing")


def test_one_object_under_two_paths_is_found_and_updated_for_both(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put("twice/a.vcf", b"one")
    store.put("twice/b.vcf", b"two")
    assert main(["track-remote", store.url("twice/"), "--recursive"]) == 0
    assert main(["track-remote", store.url("twice/a.vcf"), "--path", "copy/a.vcf"]) == 0
    capsys.readouterr()
    store.put("twice/a.vcf", b"three")
    checked = sum(run(capsys, "check")[1]["requests"].values())
    code, result = run(capsys, "check", "--update")
    assert statuses(result) == {"a.vcf": "modified", "b.vcf": "unchanged", "copy/a.vcf": "modified"}
    assert (code, result["updated"]) == (0, ["a.vcf", "copy/a.vcf"])
    assert sum(result["requests"].values()) == checked + 1  # one HEAD for the object both paths record
    index = json.loads((repo / INDEX).read_text())
    assert index["a.vcf"]["size"] == index["copy/a.vcf"]["size"] == 5


@pytest.fixture
def s3_repo(git_repo: Path, s3_emulator: emulators.S3Emulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, s3_emulator.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def test_pinned_version_deleted(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    pinned = s3_client.put_object(Bucket=s3_bucket, Key="v/a.vcf", Body=b"v1")["VersionId"]
    s3_client.put_object(Bucket=s3_bucket, Key="v/b.vcf", Body=b"v1")
    assert main(["track-remote", f"s3://{s3_bucket}/v/", "--recursive"]) == 0  # versions from the listing
    newer = s3_client.put_object(Bucket=s3_bucket, Key="v/b.vcf", Body=b"v2")["VersionId"]
    s3_client.put_object(Bucket=s3_bucket, Key="v/a.vcf", Body=b"v2")
    s3_client.delete_object(Bucket=s3_bucket, Key="v/a.vcf", VersionId=pinned)
    capsys.readouterr()
    code, result = run(capsys, "check")
    assert code == 1
    assert statuses(result) == {"a.vcf": "version_gone", "b.vcf": "modified"}
    gone = next(f for f in result["findings"] if f["path"] == "a.vcf")
    assert gone["reason"] == f"version {pinned} no longer exists"
    code, result = run(capsys, "check", "--update")
    assert (code, result["updated"]) == (0, ["a.vcf", "b.vcf"])
    assert json.loads((s3_repo / INDEX).read_text())["b.vcf"]["version_id"] == newer


def test_stopped_store_is_unreachable_not_drift(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = emulators.start_moto(tmp_path)
    try:
        s3 = emulators.describe_s3(server)
        client = emulators.make_s3_client(s3)
        client.create_bucket(Bucket="soon-gone")
        client.put_object(Bucket="soon-gone", Key="a.vcf", Body=b"x")
        use_env(monkeypatch, s3.env)
        monkeypatch.chdir(git_repo)
        assert main(["track-remote", "s3://soon-gone/a.vcf"]) == 0
    finally:
        server.stop()
    capsys.readouterr()
    code, result = run(capsys, "check")
    assert code == 1
    assert statuses(result) == {"a.vcf": "unreachable"}
    assert "cannot reach the S3 endpoint" in result["findings"][0]["reason"]
    assert run(capsys, "check", "--allow-unreachable")[0] == 0


def test_every_store_unreachable_is_not_drift(
    repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put("gone/a.vcf", b"x")
    store.put("gone/b.vcf", b"y")
    assert main(["track-remote", store.url("gone/"), "--recursive"]) == 0
    capsys.readouterr()
    closed = f"127.0.0.1:{emulators.free_port()}"  # nothing listens: what a stopped emulator looks like
    use_env(
        monkeypatch, {name: re.sub(r"127\.0\.0\.1:\d+", closed, value) for name, value in store.env.items()}
    )
    code, result = run(capsys, "check")
    assert (code, statuses(result)) == (1, {"a.vcf": "unreachable", "b.vcf": "unreachable"})
    assert result["summary"]["missing"] == result["summary"]["modified"] == 0
    before = (repo / INDEX).read_bytes()
    code, result = run(capsys, "check", "--update")
    assert (code, result["updated"], (repo / INDEX).read_bytes()) == (1, [], before)


class _SlowDown(BaseHTTPRequestHandler):
    requests: list[str]

    def do_HEAD(self) -> None:
        self.requests.append(self.command)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_s3() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_SlowDown,), {"requests": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_throttling_is_retried_then_unreachable(
    s3_repo: Path, throttling_s3: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, seen = throttling_s3
    (s3_repo / INDEX.parent).mkdir()
    (s3_repo / INDEX).write_text(
        json.dumps(
            {
                "a.vcf": {"remote_url": "s3://busy/a.vcf", "size": 1},
                "b.vcf": {"remote_url": "s3://busy/b.vcf", "size": 1},
            }
        )
    )
    code, result = run(capsys, "check", "--endpoint-url", endpoint)
    assert code == 1
    assert set(statuses(result).values()) == {"unreachable"}
    assert "S3 kept failing after retries (SlowDown)" in result["findings"][0]["reason"]
    # The first request (is the bucket versioned?) is retried by boto3, then given up on.
    assert len(seen) >= 4 and set(seen) == {"GET /busy?versioning"}
    assert result["requests"] == {"s3": len(seen)}


@pytest.fixture(scope="session")
def ten_thousand(s3_emulator: emulators.S3Emulator) -> list[str]:
    """10,000 keys in 50 directories, in listing order."""
    client = emulators.make_s3_client(s3_emulator)
    client.create_bucket(Bucket="ten-thousand")
    keys = sorted(f"cohort/batch{i % 50:02d}/sample{i:05d}.vcf" for i in range(10_000))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket="ten-thousand", Key=key, Body=key.encode()), keys))
    return keys


def test_request_bounds_for_2000_and_10000_unchanged_entries(
    s3_repo: Path, ten_thousand: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = run(capsys, "track-remote", "s3://ten-thousand/cohort/", "--recursive")
    # 10 LIST pages and 1 GetBucketVersioning; the check lists the bucket once, not per directory
    assert (code, len(result["tracked"]), result["requests"]) == (0, 10_000, {"s3": 11})
    code, result = run(capsys, "check")
    assert (code, result["summary"]["unchanged"], result["requests"]) == (0, 10_000, {"s3": 11})
    assert result["requests"]["s3"] <= 13

    keep = {key.removeprefix("cohort/") for key in ten_thousand[:2000]}  # the first 2 pages
    index_file = s3_repo / INDEX
    data = json.loads(index_file.read_text())
    index_file.write_text(json.dumps({path: entry for path, entry in data.items() if path in keep}))
    code, result = run(capsys, "check")
    assert (code, result["summary"]["unchanged"], result["requests"]) == (0, 2000, {"s3": 3})


def test_a_sharded_index_past_what_check_holds_is_checked_in_passes_at_the_same_cost(
    s3_repo: Path,
    ten_thousand: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 200 keys a page: 50 directories of 200 are as cheap apart (50 listings) as together.
    monkeypatch.setattr(scan, "LIST_PAGE", 200)
    assert run(capsys, "track-remote", "s3://ten-thousand/cohort/", "--recursive")[0] == 0
    assert main(["reshard", "--fanout", "4"]) == 0
    shard = next((s3_repo / INDEX.parent / "shards-4").glob("*.json"))
    data = json.loads(shard.read_text())
    drifted = sorted(data)[-1]
    data[drifted]["size"] += 1
    shard.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    capsys.readouterr()
    passes = []
    hold = [scan.HOLD]
    real_parts = scan.check_parts

    def counted(providers: Providers, parts: scan.Parts, jobs: int) -> Any:
        def each(keep: scan.Keep | None) -> Any:
            passes.append(hold[0])
            return parts(keep)

        return real_parts(providers, each, jobs, hold[0])

    monkeypatch.setattr(scan, "check_parts", counted)
    held = run(capsys, "check")
    hold[0] = 2500
    in_passes = run(capsys, "check")
    assert passes == [scan.HOLD] + [2500] * 6  # one pass to plan, then 5 batches of 12 listings or fewer
    assert in_passes == held
    code, result = held
    assert (code, result["requests"], result["summary"]["unchanged"]) == (1, {"s3": 51}, 9999)
    assert statuses(result)[drifted] == "modified"
    reads = []
    real_read = Layout.read

    def counted_read(self: Layout, path: Path) -> Any:
        reads.append(path)
        return real_read(self, path)

    monkeypatch.setattr(Layout, "read", counted_read)
    monkeypatch.setattr(processes, "MIN_PARTS", 10_000)  # read here, where they are counted
    code, result = run(capsys, "check", "--update")
    assert (code, result["updated"]) == (0, [drifted])
    # 6 passes over 4 shards, then the drifted entry's shard alone is read again to rewrite it.
    assert (len(reads), reads[-1].name) == (6 * 4 + 1, shard.name)
    assert json.loads(shard.read_text())[drifted]["size"] == data[drifted]["size"] - 1
    hold[0] = scan.HOLD
    code, result = run(capsys, "check")
    assert (code, result["summary"]["unchanged"]) == (0, 10000)
    shard.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    capsys.readouterr()
    assert main(["reshard", "--fanout", "1"]) == 0
    capsys.readouterr()
    passes.clear()
    hold[0] = 2500
    assert run(capsys, "check") == held
    assert passes == [2500]  # the one file is one part: held whole, read once


def test_sparse_entries_use_head_not_list(
    s3_repo: Path, ten_thousand: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (s3_repo / INDEX.parent).mkdir()
    picked = ten_thousand[::2500]  # 4 entries spread over 10,000 keys
    (s3_repo / INDEX).write_text(
        json.dumps({key: {"remote_url": f"s3://ten-thousand/{key}", "size": len(key)} for key in picked})
    )
    code, result = run(capsys, "check")
    assert (code, result["summary"]["unchanged"]) == (0, 4)
    assert result["requests"]["s3"] <= 4 + 2  # never much more than one HEAD each


def test_stats_and_paths(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("d/a.vcf", "d/b.vcf", "e.vcf"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    assert main(["track-remote", f"s3://{s3_bucket}/", "--recursive"]) == 0
    capsys.readouterr()
    assert main(["check", "d", "--stats"]) == 0
    out = capsys.readouterr()
    assert out.out == "2 unchanged, 0 modified, 0 version gone, 0 missing, 0 unreachable\n"
    assert out.err == "requests: s3 2\n"
    assert main(["check", "nope"]) == 2
    assert "not tracked: nope" in capsys.readouterr().err


class _Stalling(BaseHTTPRequestHandler):
    """Takes every request and answers none until `release` is set."""

    arrived: threading.Event
    release: threading.Event

    def do_GET(self) -> None:
        self.arrived.set()
        self.release.wait(60)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_ctrl_c_stops_a_check_at_once_while_requests_hang(git_repo: Path, cli_env: dict[str, str]) -> None:
    arrived, release = threading.Event(), threading.Event()
    handler = type("H", (_Stalling,), {"arrived": arrived, "release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (git_repo / INDEX).parent.mkdir()
    entries = {
        f"d{i}/{n}.vcf": {"remote_url": f"s3://stall/d{i}/{n}.vcf", "size": 1} for i in range(3) for n in "ab"
    }
    (git_repo / INDEX).write_text(json.dumps(entries))
    env = {name: value for name, value in cli_env.items() if not name.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "test-key-id",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
    }
    process = subprocess.Popen(
        ["lfs-meta", "check"],
        cwd=git_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert arrived.wait(30), process.communicate(timeout=5)
        process.send_signal(signal.SIGINT)
        # The requests still hang (for 60 s, then 3 retries): only a check that stops at once gets here.
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
        release.set()
        server.shutdown()
    assert (process.returncode, out) == (130, "")
    assert err == "lfs-meta: interrupted; nothing was changed\n"
