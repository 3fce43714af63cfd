"""track-remote end to end through the CLI, the same scenarios on every cloud emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

from conftest import Store, use_env

INDEX = Path(".lfs-meta") / "metadata.json"


@pytest.fixture
def repo(git_repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def track(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["track-remote", *args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out) if out.out.strip() else {}


def entries(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / INDEX).read_text())
    return data


def test_single_object(repo: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    body = b"ACGT" * 1000
    store.put("runs/r1/a.bam", body)
    code, result = track(
        capsys,
        store.url("runs/r1/a.bam"),
        "--path",
        "data/a.bam",
        "--patient",
        "Patient/7",
        "--specimen",
        "Specimen/s-7",
    )
    assert (code, result["tracked"], result["requests"]) == (0, ["data/a.bam"], {store.provider: 1})
    entry = entries(repo)["data/a.bam"]
    assert (entry["remote_url"], entry["size"]) == (store.url("runs/r1/a.bam"), len(body))
    assert entry["etag"] and entry["last_modified"].endswith("Z")
    assert (entry["patient"], entry["specimen"]) == ("Patient/7", "Specimen/s-7")
    if store.scheme == "s3":
        assert (entry["etag"], entry["etag_kind"]) == (hashlib.md5(body).hexdigest(), "md5")
    if store.scheme == "gs":
        assert entry["checksums"]["md5"] == hashlib.md5(body).hexdigest()
    assert main(["validate"]) == 0


def test_prefix(repo: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("runs/r1/a.vcf", "runs/r1/sub/b.vcf", "runs/r2/c.vcf", "other/d.vcf"):
        store.put(key, key.encode())
    code, result = track(capsys, store.url("runs/"), "--recursive", "--path-prefix", "data/runs")
    # S3 asks once whether the bucket is versioned: its plain LIST pages carry no version ids.
    listing = 2 if store.provider == "s3" else 1
    assert (code, result["requests"]) == (0, {store.provider: listing})
    found = entries(repo)
    assert sorted(found) == ["data/runs/r1/a.vcf", "data/runs/r1/sub/b.vcf", "data/runs/r2/c.vcf"]
    assert found["data/runs/r1/sub/b.vcf"]["remote_url"] == store.url("runs/r1/sub/b.vcf")
    assert found["data/runs/r1/sub/b.vcf"]["size"] == len(b"runs/r1/sub/b.vcf")


def test_manifest(repo: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.put("x.vcf", b"x")
    store.put("y.vcf", b"yy")
    (repo / "files.csv").write_text(
        f"url,path,patient\n{store.url('x.vcf')},data/x.vcf,Patient/1\n{store.url('y.vcf')},data/y.vcf,\n"
    )
    code, result = track(capsys, "--from-manifest", "files.csv", "--jobs", "2")
    assert (code, result["requests"]) == (0, {store.provider: 2})
    found = entries(repo)
    assert (found["data/x.vcf"]["patient"], found["data/y.vcf"]["size"]) == ("Patient/1", 2)


def test_missing_object_and_container(repo: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    for url in (store.url("nope.vcf"), f"{store.scheme}://no-such-container-lfs/a.vcf"):
        assert main(["track-remote", url]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"lfs-meta: error: {url}: ") and err.count("\n") == 1
    assert "no-such-container-lfs" in err.partition(": ")[2].partition(": ")[2]
    assert not (repo / INDEX).exists()
