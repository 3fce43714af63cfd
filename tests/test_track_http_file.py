from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

from conftest import serving, usage_error

INDEX = Path(".lfs-meta") / "metadata.json"


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]
    failures_left: dict[str, int]

    def do_HEAD(self) -> None:
        self.seen.append(("HEAD", self.path))
        if self.path == "/redirect":
            self._answer(302, Location="/data/a.vcf")
        elif self.path == "/data/a.vcf":
            self._answer(
                200,
                **{
                    "Content-Length": "123456789012",
                    "ETag": 'W/"v1-abc"',
                    "Content-Type": "text/x-vcf",
                    "Last-Modified": "Wed, 21 Oct 2025 07:28:00 GMT",
                },
            )
        elif self.path == "/strong.bam":
            self._answer(200, **{"Content-Length": "10", "ETag": '"d41d8cd98f00b204e9800998ecf8427e"'})
        elif self.path == "/flaky.bam" and self.failures_left["flaky"] > 0:
            self.failures_left["flaky"] -= 1
            self._answer(503)
        elif self.path == "/flaky.bam":
            self._answer(200, **{"Content-Length": "7"})
        elif self.path == "/no-length":
            self._answer(200)
        else:
            self._answer(404)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        self._answer(500)

    def _answer(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen, "failures_left": {"flaky": 2}})
    with serving(handler) as port:
        yield f"http://127.0.0.1:{port}", seen


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    return git_repo


def entries(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / INDEX).read_text())
    return data


def test_http_head_follows_redirects_and_never_gets(
    repo: Path, web: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, seen = web
    assert main(["track-remote", f"{base}/redirect", "--path", "data/a.vcf", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == {"http": 2}
    assert seen == [("HEAD", "/redirect"), ("HEAD", "/data/a.vcf")]
    assert entries(repo)["data/a.vcf"] == {
        "remote_url": f"{base}/redirect",
        "size": 123456789012,
        "etag": "v1-abc",
        "etag_kind": "weak",
        "content_type": "text/x-vcf",
        "last_modified": "2025-10-21T07:28:00Z",
    }


def test_http_strong_etag_is_opaque(repo: Path, web: tuple[str, list[tuple[str, str]]]) -> None:
    base, _ = web
    assert main(["track-remote", f"{base}/strong.bam"]) == 0
    assert entries(repo)["strong.bam"]["etag_kind"] == "opaque"


def test_http_retries_server_errors(
    repo: Path, web: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, seen = web
    assert main(["track-remote", f"{base}/flaky.bam", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == {"http": 3}
    assert seen == [("HEAD", "/flaky.bam")] * 3


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/gone.vcf", 1, "not found (HTTP 404)"),
        ("/no-length", 1, "the server reports no Content-Length"),
    ],
)
def test_http_errors(
    repo: Path,
    web: tuple[str, list[tuple[str, str]]],
    path: str,
    code: int,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, seen = web
    assert main(["track-remote", base + path, "--path", "x.vcf"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and err.startswith(f"lfs-meta: error: {base}{path}: ")
    assert all(method == "HEAD" for method, _ in seen)
    assert not (repo / INDEX).exists()


def test_http_unreachable(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = closed.server_port
    closed.server_close()
    assert main(["track-remote", f"http://127.0.0.1:{port}/a.vcf"]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_signed_url_is_refused_before_any_request(
    repo: Path, web: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, seen = web
    assert (
        main(["track-remote", f"{base}/data/a.vcf?X-Amz-Signature=abcdef0123456789", "--path", "a.vcf"]) == 2
    )
    err = capsys.readouterr().err
    assert "signed URL" in err and "abcdef0123456789" not in err
    assert seen == []


def test_file_url_with_local_hash(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "store" / "sample one.vcf"
    data.parent.mkdir()
    data.write_bytes(b"x" * 5000)
    url = data.as_uri()
    assert main(["track-remote", url, "--hash", "--path", "data/one.vcf"]) == 0
    entry = entries(repo)["data/one.vcf"]
    assert entry["remote_url"] == url and "%20" in url
    assert (entry["size"], entry["checksums"]) == (5000, {"sha256": hashlib.sha256(b"x" * 5000).hexdigest()})
    assert entry["last_modified"].endswith("Z")


def test_file_directory_recursive(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "store"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.bam").write_bytes(b"12")
    (root / "top.csv").write_bytes(b"1")
    assert main(["track-remote", root.as_uri(), "--recursive", "--path-prefix", "mirror"]) == 0
    found = entries(repo)
    assert sorted(found) == ["mirror/a/b/x.bam", "mirror/top.csv"]
    assert found["mirror/a/b/x.bam"]["remote_url"] == (root / "a" / "b" / "x.bam").as_uri()


def test_missing_file(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track-remote", (tmp_path / "nope.vcf").as_uri()]) == 1
    assert (
        capsys.readouterr().err
        == f"lfs-meta: error: {(tmp_path / 'nope.vcf').as_uri()}: no such file; check the path\n"
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["track-remote"], "takes a URL, --from-manifest FILE or --from-inventory REPORT (one of them)"),
        (["track-remote", "s3://bkt/a", "--prefix", "d"], "--prefix goes with --from-inventory"),
        (
            ["track-remote", "s3://bkt/a", "--recursive", "--path", "x"],
            "with --recursive or --from-inventory use --path-prefix",
        ),
        (["track-remote", "s3://bkt/a", "--path-prefix", "x"], "--path-prefix goes with --recursive"),
        (["track-remote", "s3://bkt/a", "--jobs", "0"], "must be a whole number of at least 1"),
        (["track-remote", "s3://bkt/a", "--patient", "Specimen/1"], "is not a FHIR Patient reference"),
        (["track-remote", "s3://bkt/a", "--path", "../a"], "--path '../a': path contains '.' or '..'"),
        (["track-remote", "ftp://h/a"], "scheme 'ftp'"),
        (["track-remote", "--from-manifest", "missing.csv"], "missing.csv: cannot read the manifest"),
    ],
)
def test_usage_errors(repo: Path, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(argv, capsys)
    assert words in err and err.startswith("lfs-meta")


def test_manifest_with_wrong_header(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m.csv").write_text("link,where\ns3://bkt/a,a\n")
    assert main(["track-remote", "--from-manifest", "m.csv"]) == 2
    assert "the header must name url" in capsys.readouterr().err
