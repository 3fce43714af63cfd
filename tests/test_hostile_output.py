"""Names and values from outside (bucket keys, ETags, version ids, index entries) never reach a terminal
raw: every line lfs-meta prints holds no C0 control but newline and tab, no DEL, no C1 control, no bidi
override or isolate, no lone surrogate; and `validate` refuses them where the index keeps them."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from lfs_meta import terminal
from lfs_meta.cli import main
from lfs_meta.progress import Progress

from conftest import BIN, S3Object, serving

INDEX = Path(".lfs-meta") / "metadata.json"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# An ESC sequence (red, then clear screen), C1 CSI (U+009B) and NEL, bidi override and isolate.
NASTY = "\x1b[31m\x1b[2J\x9b2J\x85\u202egnp.exe\u2066x\u2069"


def assert_safe(text: str) -> None:
    assert not RAW.search(text), repr(text)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert_safe(out)
    assert_safe(err)
    return code, out, err


def write_index(repo: Path, data: dict[str, Any]) -> None:
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    return git_repo


# The one place: stdout and stderr while a command runs.


def test_every_write_is_escaped_but_newlines_and_tabs() -> None:
    stream = io.StringIO()
    guarded = terminal.SafeStream(stream)
    print(f"a\tb{NASTY}\r\x07\x7f\ud800", file=guarded)
    assert stream.getvalue() == (
        "a\tb\\u001b[31m\\u001b[2J\\u009b2J\\u0085\\u202egnp.exe\\u2066x\\u2069\\u000d\\u0007\\u007f\\ud800\n"
    )


def test_guarded_streams_are_put_back(capsys: pytest.CaptureFixture[str]) -> None:
    before = sys.stdout, sys.stderr
    with terminal.guarded():
        assert isinstance(sys.stdout, terminal.SafeStream) and isinstance(sys.stderr, terminal.SafeStream)
        print(NASTY)
        print(NASTY, file=sys.stderr)
    assert (sys.stdout, sys.stderr) == before
    out, err = capsys.readouterr()
    assert out == err == terminal.printable(NASTY) + "\n"


def test_json_through_the_guard_stays_valid_and_round_trips() -> None:
    value = {f"k{NASTY}\ud800": [f"v{NASTY}\t\n\\u001b", "é\u2028"]}
    for ascii_only in (True, False):
        stream = io.StringIO()
        with_guard = terminal.SafeStream(stream)
        with_guard.write(json.dumps(value, indent=2, ensure_ascii=ascii_only))
        assert_safe(stream.getvalue())
        assert json.loads(stream.getvalue()) == value


def test_progress_still_draws_through_the_guard() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    with Progress(f"listing{NASTY}", total=1, stream=terminal.SafeStream(screen)) as progress:  # type: ignore[arg-type]
        progress.advance()
    drawn = screen.getvalue()
    assert drawn.startswith("\r\x1b[Klisting\\u001b[31m") and drawn.endswith("1/1\r\x1b[K")
    assert_safe(drawn.replace(terminal.ERASE_LINE, ""))


def test_progress_bar_on_a_pty(repo: Path, tmp_path: Path) -> None:
    """A real terminal on stderr: the bar is drawn and erased, the names printed are escaped."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "x.bin").write_bytes(b"abc")
    write_index(repo, {f"a{NASTY[:5]}.bin": {"remote_url": f"file://{source}/x.bin", "size": 3}})
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [BIN / "lfs-meta", "validate"], cwd=repo, stdout=subprocess.PIPE, stderr=follower, check=False
        )
        assert done.returncode == 1
        assert_safe(done.stdout.decode())
        assert "a\\u001b[31m.bin" in done.stdout.decode()
        write_index(repo, {"x.bin": {"remote_url": f"file://{source}/x.bin", "size": 3}})
        pulled = subprocess.run(
            [BIN / "lfs-meta", "pull", "--all"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=follower,
            check=False,
        )
        assert pulled.returncode == 0, pulled.stdout
        os.close(follower)
        follower = -1
        screen = b""
        while chunk := _read(leader):
            screen += chunk
    finally:
        for fd in (leader, follower):
            if fd >= 0:
                os.close(fd)
    assert b"\r\x1b[Kpulling: [" in screen and screen.endswith(b"\r\x1b[K")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other end is closed
        return b""


# validate: such characters in paths, etag and version_id; a segment too long to be a file name.


@pytest.mark.parametrize(
    ("key", "field", "value", "pointer", "words"),
    [
        (
            "data/a\x1b[2J.vcf",
            None,
            None,
            "/data~1a\\u001b[2J.vcf",
            "path contains NUL or control characters",
        ),
        ("data/a\x9b2J.vcf", None, None, "/data~1a\\u009b2J.vcf", "path contains C1 control, bidi control"),
        ("data/a\u202egnp.exe", None, None, "/data~1a\\u202egnp.exe", "(\\u202e)"),
        ("data/\u2066a\u2069.vcf", None, None, "/data~1\\u2066a\\u2069.vcf", "(\\u2066, \\u2069)"),
        ("data/" + "a" * 256, None, None, "/data~1" + "a" * 256, "is 256 bytes in UTF-8, over the 255"),
        ("data/" + "é" * 128, None, None, "/data~1" + "é" * 128, "is 256 bytes in UTF-8, over the 255"),
        ("a.vcf", "etag", "abc\x1b]0;owned\x07", "/a.vcf/etag", "contains control or bidi characters"),
        ("a.vcf", "etag", "abc\x9b31m", "/a.vcf/etag", "write the ETag as the store reports it"),
        ("a.vcf", "version_id", "v1\u202e", "/a.vcf/version_id", "write the version id as the store reports"),
        ("a.vcf", "version_id", "v1\x85", "/a.vcf/version_id", "contains control or bidi characters"),
        ("a.vcf", "etag", "abc\n", "/a.vcf/etag", "contains control or bidi characters"),  # not '$'
        ("a.vcf", "version_id", "v1\n", "/a.vcf/version_id", "contains control or bidi characters"),
    ],
)
def test_validate_refuses(
    repo: Path,
    key: str,
    field: str | None,
    value: str | None,
    pointer: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry: dict[str, Any] = {"remote_url": "s3://my-bucket/a.vcf", "size": 1}
    if field:
        entry[field] = value
    write_index(repo, {key: entry, "ok.vcf": {"remote_url": "s3://my-bucket/ok.vcf", "size": 1}})
    code, out, _ = run(["validate"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "1 problem(s) in 1 of 1 file(s)"
    assert (
        len(lines) == 2 and lines[0].startswith(f".lfs-meta/metadata.json: {pointer}: ") and words in lines[0]
    )
    assert "; " in lines[0].partition(f"{pointer}: ")[2]  # the fix follows the message
    code, out, _ = run(["validate", "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and [p["pointer"] for p in report["problems"]] == [json_pointer(key, field)]


def json_pointer(key: str, field: str | None) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1") + (f"/{field}" if field else "")


def test_a_255_byte_segment_and_plain_unicode_pass(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_index(
        repo,
        {
            "data/" + "a" * 255: {
                "remote_url": "s3://my-bucket/a",
                "size": 1,
                "etag": "abc",
                "version_id": "v",
            },
            "data/" + "é" * 127 + "a": {"remote_url": "s3://my-bucket/b", "size": 1},
            "données/ünï/日本\u2028.vcf": {"remote_url": "s3://my-bucket/c", "size": 1},
        },
    )
    assert run(["validate"], capsys)[0] == 0


def test_every_command_reading_a_hostile_index_refuses_it_in_safe_lines(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_index(
        repo,
        {
            f"data/{NASTY}.vcf": {"remote_url": "s3://my-bucket/a.vcf", "size": 3, "etag": f"e{NASTY}"},
            "data/" + "b" * 300: {"remote_url": "s3://my-bucket/b.vcf", "size": 3, "version_id": NASTY},
        },
    )
    for argv in (["ls"], ["ls", "--json"], ["status"], ["check"], ["pull", "--all"], ["validate"]):
        code, out, err = run(argv, capsys)
        assert code == 1, argv
        assert "\\u001b[31m" in out + err and "\\u202egnp.exe" in out + err
        assert "Traceback" not in err


# What a store sends: a bucket's keys, a web server's ETag.


@pytest.fixture
def s3_here(s3_repo: Path) -> Path:
    return s3_repo


def test_track_remote_refuses_hostile_keys_in_one_safe_line_each(
    s3_here: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [
        f"run/red{NASTY[:5]}.bin",
        "run/csi\x9b2J.bin",
        "run/bidi\u202egnp.exe",
        "run/ok.bin",
    ]
    for key in keys:
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    code, out, err = run(["track-remote", "--recursive", f"s3://{s3_bucket}/run/"], capsys)
    assert code == 1 and not (s3_here / INDEX).exists()
    refused = err.splitlines()  # the path, and for ESC the URL too: one line each
    assert {line.split(":")[0] for line in refused} == {
        "red\\u001b[31m.bin",  # paths are relative to the prefix listed
        "csi\\u009b2J.bin",
        "bidi\\u202egnp.exe",
    }
    assert out.endswith("; index unchanged\n")
    code, out, _ = run(["track-remote", "--recursive", f"s3://{s3_bucket}/run/", "--json"], capsys)
    assert code == 1 and {failed["path"] for failed in json.loads(out)["failed"]} == {
        key[4:] for key in keys[:3]
    }
    code, _, err = run(["track-remote", f"s3://{s3_bucket}/{keys[2]}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "\\u202e" in err
    # Under a name of the user's own too: the URL itself would carry the override into the index.
    code, _, err = run(["track-remote", f"s3://{s3_bucket}/{keys[2]}", "--path", "run/bidi.exe"], capsys)
    assert code == 2 and err.count("\n") == 1 and "control character" in err and "\\u202e" in err


def test_a_directorys_hostile_names_are_refused_one_line_each(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bucket"
    source.mkdir()
    names = ["nl\nlfs-meta: tracked 1 file", f"esc{NASTY[:5]}.bin", "bidi\u202egnp.exe", "ok.bin"]
    for name in names:
        (source / name).write_bytes(b"x")
    code, out, err = run(["track-remote", "--recursive", source.as_uri() + "/"], capsys)
    assert code == 1 and not (repo / INDEX).exists()
    assert sorted(line.split(":")[0] for line in err.splitlines()) == [
        "bidi\\u202egnp.exe",
        "esc\\u001b[31m.bin",
        "nl\\u000alfs-meta",
    ]
    assert out.count("\n") == 1


def test_ls_json_escapes_what_a_valid_index_may_hold(
    track_s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tracked: S3Object = track_s3("data/a.vcf")
    index = json.loads((tracked.repo / INDEX).read_text())
    extra = {f"note{NASTY}": [NASTY, "\U0001f600 é"]}  # `extra` is the user's: kept as written
    index["data/a.vcf"]["extra"] = extra
    write_index(tracked.repo, index)
    assert run(["validate"], capsys)[0] == 0
    code, out, _ = run(["ls", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["extra"] == extra
    code, out, _ = run(["ls"], capsys)
    assert code == 0 and out.startswith("1  data/a.vcf  s3://")


class _Web(BaseHTTPRequestHandler):
    etag: dict[str, str]

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        if self.headers.get("If-Match", self.etag["now"]) != self.etag["now"]:
            self.send_response(412)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._answer()
        self.wfile.write(b"abc")

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.send_header("ETag", self.etag["now"])  # sent as latin-1: \x9b is the byte C1 CSI
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, dict[str, str]]]:
    etag = {"now": '"v1"'}
    with serving(type("Handler", (_Web,), {"etag": etag})) as port:
        yield f"http://127.0.0.1:{port}/a.bin", etag


def test_a_servers_hostile_etag_is_printed_escaped_and_never_recorded(
    repo: Path, web: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, etag = web
    assert run(["track-remote", url, "--path", "a.bin"], capsys)[0] == 0
    recorded = (repo / INDEX).read_bytes()
    etag["now"] = '"v2\x1b[31m\x9b2J\x85"'
    for argv in (["check"], ["status", "--remote"]):
        code, out, err = run(argv, capsys)
        assert code == 1 and "v2\\u001b[31m\\u009b2J\\u0085" in out + err, (argv, out, err)
    code, out, _ = run(["check", "--json"], capsys)
    assert code == 1 and json.loads(out)["findings"][0]["changes"][0]["new"] == "v2\x1b[31m\x9b2J\x85"
    code, out, err = run(["pull", "a.bin"], capsys)
    assert code == 1 and not (repo / "a.bin").exists()
    code, out, err = run(["check", "--update"], capsys)
    assert code == 1 and "contains control or bidi characters" in err and "not changed" in err
    code, out, err = run(["track-remote", url, "--path", "b.bin"], capsys)
    assert code == 1 and err.count("\n") == 1 and "/b.bin/etag" in err
    assert (repo / INDEX).read_bytes() == recorded
