"""Hostile remote URLs (tokens in fragments, queries and user names) and hand-edited numbers that
validate must refuse as every other command does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main
from lfs_meta.index import urls

from conftest import serving

INDEX = Path(".lfs-meta") / "metadata.json"
SECRET = "SeCrEt0123456789abcdef"


class _CountingHandler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_HEAD(self) -> None:
        self.seen.append(("HEAD", self.path))
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        self.send_response(500)
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A server on 127.0.0.1 that answers every HEAD, and remembers every request it was sent."""
    seen: list[tuple[str, str]] = []
    with serving(type("Handler", (_CountingHandler,), {"seen": seen})) as port:
        yield f"127.0.0.1:{port}", seen


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    return git_repo


# (URL after http://<host>, words the refusal holds); every one carries SECRET
HOSTILE = [
    pytest.param(f"/a.vcf#access_token={SECRET}&token_type=bearer", "fragment", id="fragment-token"),
    pytest.param(f"/a.vcf#{SECRET}", "fragment", id="fragment-bare"),
    pytest.param(f"/a.vcf?api_key={SECRET}", "credential (api_key)", id="api_key"),
    pytest.param(f"/a.vcf?dl=1&APIKEY={SECRET}", "credential (APIKEY)", id="apikey-upper"),
    pytest.param(f"/a.vcf?code={SECRET}", "credential (code)", id="oauth-code"),
    pytest.param(f"/a.vcf?id_token={SECRET}", "credential (id_token)", id="id_token"),
    pytest.param(f"/a.vcf?Refresh-Token={SECRET}", "credential (Refresh-Token)", id="refresh-token"),
    pytest.param(f"/a.vcf?key={SECRET}", "credential (key)", id="google-key"),
    pytest.param(f"/a.vcf?x-api-key={SECRET}", "credential (x-api-key)", id="x-api-key"),
    pytest.param(f"/a.vcf?private_token={SECRET}", "credential (private_token)", id="gitlab-token"),
    pytest.param(f"/a.vcf?%61ccess_token={SECRET}", "credential (access_token)", id="encoded-name"),
    pytest.param(f"/a.vcf?a=1;token={SECRET}", "credential (token)", id="semicolon"),
    pytest.param(f"/a.vcf;jsessionid={SECRET}", "credential (jsessionid)", id="path-session"),
    pytest.param(f"/a.vcf?X-Goog-Credential={SECRET}", "signed URL", id="goog-credential"),
    pytest.param(f"/a.vcf?x-amz-security-token={SECRET}", "signed URL", id="amz-session-token"),
    pytest.param(f"/a.vcf?x-oss-signature={SECRET}", "signed URL", id="oss-signature"),
    pytest.param(f"/a.vcf?Signature={SECRET}&Key-Pair-Id=K2JCJMDEHXQW5F", "signed URL", id="cloudfront"),
]


@pytest.mark.parametrize(("tail", "words"), HOSTILE)
def test_track_remote_refuses_before_any_request(
    repo: Path,
    web: tuple[str, list[tuple[str, str]]],
    capsys: pytest.CaptureFixture[str],
    tail: str,
    words: str,
) -> None:
    host, seen = web
    assert main(["track-remote", f"http://{host}{tail}", "--path", "a.vcf"]) == 2
    err = capsys.readouterr().err
    assert words in err and SECRET[4:] not in err
    assert seen == []
    assert not (repo / INDEX).exists()


def test_a_user_name_is_a_user_not_part_of_the_host(
    repo: Path, web: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    host, seen = web
    assert main(["track-remote", f"http://{SECRET}@{host}/a.vcf", "--path", "a.vcf"]) == 2
    err = capsys.readouterr().err
    assert "carries a user name" in err and SECRET[4:] not in err
    assert seen == []
    assert urls.redact(f"https://{SECRET}@example.org/x") == f"https://{SECRET[:4]}****@example.org/x"


def test_a_plain_url_with_a_query_still_tracks(
    repo: Path, web: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    host, seen = web
    url = f"http://{host}/a.vcf?download=1&keyword=x"
    assert main(["track-remote", url, "--path", "a.vcf"]) == 0
    assert seen == [("HEAD", "/a.vcf?download=1&keyword=x")]
    assert json.loads((repo / INDEX).read_text())["a.vcf"]["remote_url"] == url


def _validate_url(repo: Path, capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, list[Any]]:
    """validate --json of an index of one hand-edited entry at a.vcf: exit code, output, problems."""
    (repo / INDEX).parent.mkdir()
    (repo / INDEX).write_text(json.dumps({"a.vcf": {"remote_url": url, "size": 1}}))
    code, out = _validate(repo, capsys)
    return code, out, json.loads(out)["problems"]


def _validate(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


@pytest.mark.parametrize(
    "url",
    [
        f"https://example.org/a.vcf#access_token={SECRET}",
        f"https://example.org/a.vcf?api_key={SECRET}",
        f"https://example.org/a.vcf?Code={SECRET}",
        f"https://{SECRET}@example.org/a.vcf",
        f"https://x-access-token:{SECRET}@example.org/a.vcf",
        f"http://example.org/a.vcf;JSESSIONID={SECRET}",
        f"file://{SECRET}@localhost/data/a.vcf",
        f"file:///data/a.vcf#{SECRET}",
        f"s3://my-bucket/a.vcf#access_token={SECRET}",
        f"gs://my-bucket/a.vcf?id_token={SECRET}",
    ],
)
def test_validate_refuses_a_hand_edited_url_and_never_prints_the_secret(
    repo: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, problems = _validate_url(repo, capsys, url)
    assert code == 1 and problems
    assert {p["pointer"] for p in problems} == {"/a.vcf/remote_url"}
    assert SECRET[4:] not in out
    # Every other command reads the index through the same check: META/ never gets the URL.
    assert main(["init-meta"]) == 1
    err = capsys.readouterr().err
    assert SECRET[4:] not in err
    assert not (repo / "META").exists()


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        (f"https://h/a?access_token={SECRET}&x=1", SECRET),
        (f"https://h/a?X-Amz-Credential=AKIA{SECRET}&X-Amz-Signature={SECRET}", SECRET),
        (f"https://h/a#access_token={SECRET}", SECRET),
        (f"https://h/a#{SECRET}", SECRET),
        (f"https://{SECRET}@h/a", SECRET),
        (f"https://oauth2:{SECRET}@h/a", SECRET),
        (f"https://h/a;jsessionid={SECRET}?x=1", SECRET),
        (f"https://h/a?x-goog-credential={SECRET}", SECRET),
        (f"https://h/a?client_secret={SECRET}", SECRET),
    ],
)
def test_redact_hides_every_credential(url: str, hidden: str) -> None:
    shown = urls.redact(url)
    assert hidden[4:] not in shown
    assert shown.startswith(url.partition(":")[0] + "://")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/data/a.vcf?download=1&sort=asc",
        "s3://profile@my-bucket/a.vcf",
        "file:///data/a%20b.vcf",
        "https://example.org/a.vcf?",
    ],
)
def test_redact_leaves_a_url_without_secrets_as_it_is(url: str) -> None:
    assert urls.redact(url) == url


def test_redaction_in_track_remote_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A refused URL is named in the error redacted, however many reasons it is refused for."""
    url = f"https://{SECRET}:{SECRET}@/a.vcf?token={SECRET}#{SECRET}"
    assert main(["track-remote", url, "--path", "a.vcf"]) == 2
    err = capsys.readouterr().err
    assert "SeCr****:SeCr****@/a.vcf?token=SeCr****#SeCr****" in err and SECRET[4:] not in err
    (repo / INDEX).parent.mkdir()
    (repo / INDEX).write_text(json.dumps({"a.vcf": {"remote_url": url, "size": 1}}))
    code, out = _validate(repo, capsys)
    messages = [p["message"] for p in json.loads(out)["problems"]]
    assert code == 1 and SECRET[4:] not in out
    assert [
        any(words in m for m in messages) for words in ("password", "(token)", "no host", "fragment")
    ] == [True] * 4


NUMBERS = [
    pytest.param('{"n": 1e999999}', "/a/extra/n", "infinity", id="overflow"),
    pytest.param('{"n": [1, -1E+400]}', "/a/extra/n/1", "infinity", id="negative-overflow-in-list"),
    pytest.param('{"n": {"m": Infinity}}', "/a/extra/n/m", "not a JSON number", id="infinity-literal"),
    pytest.param('{"n": NaN}', "/a/extra/n", "not a JSON number", id="nan-literal"),
    pytest.param('{"n": ' + "9" * 5000 + "}", "/a/extra/n", "5,000 digits", id="integer-too-long"),
]


@pytest.mark.parametrize(("extra", "pointer", "words"), NUMBERS)
def test_validate_refuses_numbers_no_command_can_write(
    repo: Path, capsys: pytest.CaptureFixture[str], extra: str, pointer: str, words: str
) -> None:
    (repo / INDEX).parent.mkdir()
    text = (
        '{"a": {"remote_url": "s3://my-bucket/a", "size": 1, "extra": ' + extra + "}, "
        '"b": {"remote_url": "s3://my-bucket/b", "size": 2}}'
    )
    (repo / INDEX).write_text(text)
    code, out = _validate(repo, capsys)
    problems = json.loads(out)["problems"]
    assert code == 1
    assert [(p["pointer"], words in p["message"]) for p in problems] == [(pointer, True)]
    # ls --json refuses the same index rather than print what JSON does not have.
    assert main(["ls", "--json"]) == 1
    listed = capsys.readouterr()
    assert "Infinity" not in listed.out and "NaN" not in listed.out and listed.out == ""
    assert pointer in listed.err
    # A writer says the same, and leaves the file as it was.
    assert main(["untrack", "b"]) == 1
    assert pointer in capsys.readouterr().err
    assert (repo / INDEX).read_text() == text


def test_a_size_that_overflows_is_one_located_problem(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / INDEX).parent.mkdir()
    (repo / INDEX).write_text('{"a": {"remote_url": "s3://my-bucket/a", "size": 1e999999}}')
    code, out = _validate(repo, capsys)
    assert code == 1
    assert [p["pointer"] for p in json.loads(out)["problems"]] == ["/a/size"]


def test_what_validate_accepts_in_extra_every_command_handles(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Large integers, large and tiny floats, 64 levels of nesting, any characters: listed and kept."""
    deep: Any = 1
    for _ in range(60):  # below 'a', 'extra', 'n' and 'deep': 64 levels in all
        deep = [deep]
    extra = {
        "big": 10**4000,
        "float": 1.5e300,
        "negative": -(2**70),
        "deep": deep,
        "text": "caf\u00e9 \U0001f9ec",
        "\u00e9\U0001f9ec": "key",
    }
    (repo / INDEX).parent.mkdir()
    index = {
        "a": {"remote_url": "s3://my-bucket/a", "size": 1, "extra": {"n": extra}},
        "b": {"remote_url": "s3://my-bucket/b", "size": 2},
    }
    (repo / INDEX).write_text(json.dumps(index))
    code, out = _validate(repo, capsys)
    assert (code, json.loads(out)["problems"]) == (0, [])
    assert main(["ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["extra"]["n"] == extra
    assert main(["untrack", "b"]) == 0
    capsys.readouterr()
    assert json.loads((repo / INDEX).read_text()) == {"a": index["a"]}
    assert main(["validate"]) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("patient", "Patient/1\n"),
        ("specimen", "Specimen/S\n"),
        ("content_type", "text/plain\n"),
        ("content_type", "text/plain; x=\u001b[31m"),
        ("content_type", "text/plain;\tx"),
        ("checksums", {"md5": "0123456789abcdef0123456789abcdef\n"}),
    ],
)
def test_a_trailing_newline_or_control_is_refused_by_validate_as_by_the_schema(
    repo: Path, capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    """Python's '$' matches before a final newline, ECMA's (the compiled validator's) does not: the
    two must agree, or META/ gets a Patient whose id ends in a newline."""
    (repo / INDEX).parent.mkdir()
    (repo / INDEX).write_text(json.dumps({"a": {"remote_url": "s3://my-bucket/a", "size": 1, field: value}}))
    code, out = _validate(repo, capsys)
    problems = json.loads(out)["problems"]
    assert code == 1 and [p["pointer"].startswith(f"/a/{field}") for p in problems] == [True]
    assert main(["init-meta"]) == 1
    capsys.readouterr()
    assert not (repo / "META").exists()


@pytest.mark.parametrize(
    "url",
    [
        "s3://my-bucket/a\u009b31m.vcf",  # C1 CSI
        "s3://my-bucket/a\u202egnp.exe",  # a bidi override
        "https://example.org/x\u2066.vcf",  # a bidi isolate
        "s3://my-bucket/a\u001b[31m.vcf",
    ],
)
def test_a_url_holding_what_a_terminal_acts_on_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, _, problems = _validate_url(repo, capsys, url)
    assert code == 1
    assert [p["pointer"] for p in problems] == ["/a.vcf/remote_url"]
    assert "control character" in problems[0]["message"]


def test_a_key_with_a_space_is_a_url_the_index_takes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / INDEX).parent.mkdir()
    (repo / INDEX).write_text(
        json.dumps({"a b.vcf": {"remote_url": "s3://my-bucket/run 7/a b.vcf", "size": 1}})
    )
    assert _validate(repo, capsys)[0] == 0


@pytest.mark.parametrize(
    "query", ["code=BRCA1", "session=3", "key=sample_id", "pass=1", "token", "sort=asc&auth=basic"]
)
def test_ordinary_parameters_that_share_a_credentials_name_are_kept(query: str) -> None:
    assert urls.url_problems(f"https://example.org/a.vcf?{query}") == []
