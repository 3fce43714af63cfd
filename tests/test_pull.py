"""lfs-meta pull and status against the three emulators: verified downloads, drift, versions, resuming."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main
from lfs_meta.index.storage import load
from lfs_meta.worktree import download, exclude

import emulators
from conftest import S3Object, Store, commit_all, git, use_env

INDEX = Path(".lfs-meta") / "metadata.json"
CONTENT = {
    "d/a.vcf": b"##fileformat=VCFv4.2\n" * 50,
    "d/b.bam": bytes(range(256)) * 4000,
    "d/sub/c.txt": b"",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def by_path(result: dict[str, Any], key: str = "results") -> dict[str, dict[str, Any]]:
    return {item["path"]: item for item in result[key]}


BODY_OPERATIONS = {"s3": "GetObject", "gcs": "GET media", "azure": "GET blob"}


def downloads(store: Store, result: dict[str, Any]) -> int:
    """Object bodies the store served, counted under its own operation name."""
    count: int = result["requests"].get(store.provider, {}).get(BODY_OPERATIONS[store.provider], 0)
    return count


def part_files(repo: Path) -> list[Path]:
    return sorted(repo.rglob(f"*{exclude.PART_SUFFIX}"))


@pytest.fixture
def repo(git_repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def track_all(store: Store, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for key, body in CONTENT.items():
        store.put(key, body)
    assert main(["track-remote", store.url("d/"), "--recursive", "--path-prefix", "data"]) == 0
    commit_all(repo, {}, "track")
    capsys.readouterr()


def test_pull_verifies_every_file_and_keeps_git_status_clean(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    code, result = run(capsys, "status")
    assert code == 0 and result["summary"]["not_pulled"] == 3

    code, result = run(capsys, "pull", "--all")
    assert code == 0, result
    # One GET per object; Azure's SDK asks for an empty blob twice (its ranged GET gets 416 first).
    assert downloads(store, result) == (4 if store.provider == "azure" else 3), result["requests"]
    assert result["summary"] == {
        "pulled": 3,
        "present": 0,
        "failed": 0,
        "bytes": sum(map(len, CONTENT.values())),
    }
    for key, body in CONTENT.items():
        assert (repo / "data" / key.removeprefix("d/")).read_bytes() == body
    verified = by_path(result)["data/b.bam"]["verified"]
    assert verified[0] == "size" and "md5" in verified, verified
    if store.provider == "gcs":
        assert "crc32c" in verified
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert part_files(repo) == []

    code, result = run(capsys, "status")
    assert (code, result["summary"]["pulled"]) == (0, 3)
    code, again = run(capsys, "pull", "--all")
    assert (code, again["summary"]["present"], again["summary"]["pulled"]) == (0, 3, 0)
    assert downloads(store, again) == 0, again["requests"]


def test_a_drifted_object_is_refused_and_nothing_is_left_at_the_path(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    store.put("d/a.vcf", b"someone else's content")
    code = main(["pull", "data/a.vcf"])
    out = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out.err
    [line] = out.err.splitlines()
    assert line.startswith("data/a.vcf: modified: size 1050 -> 22"), line
    assert line.endswith("; run 'lfs-meta check --update data/a.vcf' to accept; not pulled")
    assert not (repo / "data" / "a.vcf").exists()
    assert part_files(repo) == []

    store.delete("d/b.bam")
    code, result = run(capsys, "pull", "data/b.bam")
    assert code == 1
    assert by_path(result)["data/b.bam"]["message"].startswith("data/b.bam: missing: ")
    assert not (repo / "data" / "b.bam").exists()


def test_status_tells_every_local_state_and_remote_drift(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    assert main(["pull", "data/a.vcf", "data/b.bam"]) == 0
    (repo / "data" / "b.bam").write_bytes(b"edited by hand")
    capsys.readouterr()

    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pulled      data/a.vcf"
    assert lines[1].startswith("modified    data/b.bam: changed locally since it was pulled; ")
    assert lines[2] == "not pulled  data/sub/c.txt"
    assert lines[3] == "3 tracked: 1 pulled, 1 modified, 0 outdated, 1 not pulled"

    store.put("d/sub/c.txt", b"now it has content")
    code, result = run(capsys, "status", "--remote")
    assert code == 1
    rows = by_path(result, "entries")
    assert {path: (row["local"], row["remote"]["status"]) for path, row in rows.items()} == {
        "data/a.vcf": ("pulled", "unchanged"),
        "data/b.bam": ("modified", "unchanged"),
        "data/sub/c.txt": ("not_pulled", "modified"),
    }

    # A local edit is never overwritten silently; --force puts the indexed content back.
    assert main(["pull", "data/b.bam"]) == 1
    assert (repo / "data" / "b.bam").read_bytes() == b"edited by hand"
    assert main(["pull", "--force", "data/b.bam"]) == 0
    assert (repo / "data" / "b.bam").read_bytes() == CONTENT["d/b.bam"]


def test_an_outdated_file_is_replaced_after_the_index_moves_on(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    assert main(["pull", "data/a.vcf"]) == 0
    store.put("d/a.vcf", b"version two\n")
    assert main(["check", "--update", "data/a.vcf"]) == 0
    capsys.readouterr()
    code, result = run(capsys, "status", "data/a.vcf")
    assert by_path(result, "entries")["data/a.vcf"]["local"] == "outdated"
    code, result = run(capsys, "pull", "data/a.vcf")
    assert (code, result["summary"]["pulled"]) == (0, 1)
    assert (repo / "data" / "a.vcf").read_bytes() == b"version two\n"


def test_a_kept_part_file_is_resumed_and_a_bad_one_is_started_again(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    body = CONTENT["d/b.bam"]
    target = repo / "data" / "b.bam"
    entry = load(repo / INDEX)["data/b.bam"]
    target.parent.mkdir(parents=True)
    part = download.part_path(target, entry)
    part.write_bytes(body[:400_000])
    code, result = run(capsys, "pull", "data/b.bam")
    assert code == 0 and target.read_bytes() == body
    assert by_path(result)["data/b.bam"]["resumed_bytes"] == 400_000
    assert not part.exists()

    target.unlink()
    part.write_bytes(b"\0" * 1000)  # not the object's first bytes: verification fails, then a full download
    code, result = run(capsys, "pull", "data/b.bam")
    assert code == 0 and target.read_bytes() == body
    assert by_path(result)["data/b.bam"]["resumed_bytes"] == 0
    assert part_files(repo) == []


def test_an_unreachable_store_leaves_nothing_and_says_how_to_resume(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    track_all(store, repo, capsys)
    dead = f"127.0.0.1:{emulators.free_port()}"
    variables = {
        "s3": {"AWS_ENDPOINT_URL": f"http://{dead}"},
        "gcs": {"STORAGE_EMULATOR_HOST": f"http://{dead}"},
        "azure": {
            "AZURE_STORAGE_CONNECTION_STRING": emulators.azure_connection_string(
                f"http://{dead}/devstoreaccount1"
            )
        },
    }[store.provider]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    code, result = run(capsys, "pull", "data/a.vcf")
    assert code == 1
    message = by_path(result)["data/a.vcf"]["message"]
    assert message.startswith("data/a.vcf: ") and message.endswith("'lfs-meta pull' again resumes it")
    assert "unreachable" in message or "cannot" in message, message
    assert not (repo / "data" / "a.vcf").exists()


def test_a_pinned_version_is_fetched_after_the_object_is_overwritten(
    git_repo: Path,
    s3_client: Any,
    s3_bucket: str,
    track_s3: Callable[..., S3Object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    tracked = track_s3("v/a.vcf", b"first version\n", path="data/a.vcf")
    pinned = load(git_repo / INDEX)["data/a.vcf"].version_id
    assert pinned
    tracked.put(b"second, longer version\n")

    code, result = run(capsys, "pull", "data/a.vcf")
    assert code == 0, result
    assert (git_repo / "data" / "a.vcf").read_bytes() == b"first version\n"
    assert "md5" in by_path(result)["data/a.vcf"]["verified"]

    s3_client.delete_object(Bucket=s3_bucket, Key="v/a.vcf", VersionId=pinned)
    (git_repo / "data" / "a.vcf").unlink()
    code, result = run(capsys, "pull", "data/a.vcf")
    assert code == 1
    assert by_path(result)["data/a.vcf"]["message"].startswith("data/a.vcf: version gone: ")
    assert not (git_repo / "data" / "a.vcf").exists()


def test_a_wrong_digest_in_the_index_stops_the_file(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    track_all(store, repo, capsys)
    index = json.loads((repo / INDEX).read_text())
    index["data/a.vcf"]["checksums"] = {**index["data/a.vcf"].get("checksums", {}), "sha256": "0" * 64}
    (repo / INDEX).write_text(json.dumps(index))
    code, result = run(capsys, "pull", "data/a.vcf")
    assert code == 1
    message = by_path(result)["data/a.vcf"]["message"]
    expected = hashlib.sha256(CONTENT["d/a.vcf"]).hexdigest()
    assert f"sha256 {expected} where {'0' * 64} was recorded" in message
    assert "nothing was written at data/a.vcf" in message
    assert not (repo / "data" / "a.vcf").exists()
    assert part_files(repo) == []


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_s3_checksums_are_verified_as_s3_computes_them(
    git_repo: Path, track_s3: Callable[..., S3Object], algorithm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body = b"123456789"  # the CRC catalogue's check input: CRC-32C of it is e3069283
    # botocore computes CRC32C only with awscrt installed; the published check value is given instead.
    given = {
        "ChecksumAlgorithm": "CRC32C",
        "ChecksumCRC32C": base64.b64encode(bytes.fromhex("e3069283")).decode(),
    }
    checksum = given if algorithm == "CRC32C" else {"ChecksumAlgorithm": algorithm}
    track_s3("c/a.bam", body, path="data/a.bam", **checksum)
    name = algorithm.lower()
    assert name in load(git_repo / INDEX)["data/a.bam"].checksums
    code, result = run(capsys, "pull", "--all")
    assert code == 0, result
    assert by_path(result)["data/a.bam"]["verified"] == ["size", *sorted({"md5", name})]


@pytest.fixture
def one_s3_object(track_s3: Callable[..., S3Object]) -> str:
    """The URL of one object tracked as deep/dir/a.vcf in `git_repo`, the working directory."""
    return track_s3("deep/dir/a.vcf", b"abc").url


def test_missing_credentials_stop_the_pull_before_it_writes_anything(
    git_repo: Path, one_s3_object: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["pull", "--all"]) == 2
    assert capsys.readouterr().err.startswith(f"lfs-meta: error: {one_s3_object}: no AWS credentials found; ")
    assert not (git_repo / "deep").exists()


class _RejectsCredentials(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<Error><Code>InvalidAccessKeyId</Code><Message>The key does not exist.</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_rejected_credentials_stop_the_pull_and_leave_no_part_file(
    git_repo: Path, one_s3_object: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RejectsCredentials)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = main(["pull", "--all", "--endpoint-url", f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
    assert code == 2
    assert capsys.readouterr().err.startswith(
        f"lfs-meta: error: {one_s3_object}: AWS rejected the credentials (InvalidAccessKeyId); "
    )
    assert part_files(git_repo) == []
