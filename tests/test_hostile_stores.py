"""Stores that lie (a local server answering as S3 or Cloud Storage would not), keys with spaces in
real emulators, a link swapped while lfs-meta looks at it, and linked .gitattributes (real git)."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

import pytest

from lfs_meta import fs
from lfs_meta.cli import main

from conftest import S3Object, commit_all, git, lfs_meta, use_env

Pages = Callable[[str, str | None], tuple[list[str], str | None]]  # (prefix, token) -> (keys, next token)


class _Store(BaseHTTPRequestHandler):
    """ListObjectsV2 (S3, path style) and objects.list (Cloud Storage JSON API) from `pages`."""

    pages: Pages
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path.startswith("/storage/v1/b/"):
            keys, token = self.pages(query.get("prefix", ""), query.get("pageToken"))
            items = [{"name": key, "size": "1", "etag": "CAE=", "generation": "1"} for key in keys]
            self._send(
                "application/json",
                json.dumps({"items": items, **({"nextPageToken": token} if token else {})}),
            )
        elif "versioning" in query:
            self._send(
                "application/xml",
                '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
            )
        else:
            keys, token = self.pages(query.get("prefix", ""), query.get("continuation-token"))
            encoded = query.get("encoding-type") == "url"  # botocore asks for it, and decodes keys
            contents = "".join(
                f"<Contents><Key>{escape(quote(key) if encoded else key)}</Key><Size>1</Size>"
                f"<ETag>&quot;{'0' * 32}&quot;</ETag><LastModified>2025-01-01T00:00:00Z</LastModified>"
                "</Contents>"
                for key in keys
            )
            more = "<IsTruncated>false</IsTruncated>"
            if token is not None:
                more = (
                    f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
                )
            encoding = "<EncodingType>url</EncodingType>" if encoded else ""
            self._send(
                "application/xml",
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>'
                f"{encoding}{more}{contents}</ListBucketResult>",
            )

    def _send(self, kind: str, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hostile(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Pages], list[str]]]:
    """Serve `pages` as an S3 endpoint (AWS_ENDPOINT_URL) and a Cloud Storage one (STORAGE_EMULATOR_HOST)
    on 127.0.0.1; the requests it got are returned."""
    servers = []

    def serve(pages: Pages) -> list[str]:
        requests: list[str] = []
        handler = type("Handler", (_Store,), {"pages": staticmethod(pages), "requests": requests})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        endpoint = f"http://127.0.0.1:{server.server_port}"
        use_env(
            monkeypatch,
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "STORAGE_EMULATOR_HOST": endpoint,
            },
        )
        return requests

    monkeypatch.chdir(git_repo)
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def one_error(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 1) -> str:
    assert main(list(argv)) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_key_outside_the_listed_prefix_is_refused_and_nothing_is_recorded(
    hostile: Callable[[Pages], list[str]], scheme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile(lambda prefix, token: ([f"{prefix}ok.bin", "other/evil\x1b[31m"], None))
    err = one_error(capsys, "track-remote", f"{scheme}://bkt/data/", "--recursive", "--path-prefix", "data")
    assert "listed 'other/evil\\x1b[31m', which is outside the prefix 'data/' it was asked for" in err
    assert "\x1b" not in err
    assert not Path(".lfs-meta/metadata.json").exists()


@pytest.mark.parametrize("scheme", ["s3", "gs"])
@pytest.mark.parametrize("tokens", [["A", "A"], ["A", "B", "A"]], ids=["twice", "cycle"])
def test_a_listing_that_repeats_its_token_stops_with_one_line(
    hostile: Callable[[Pages], list[str]], scheme: str, tokens: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cycle: dict[str | None, str] = {
        None: tokens[0],
        **dict(zip(tokens, tokens[1:] + tokens[:1], strict=True)),
    }

    def pages(prefix: str, token: str | None) -> tuple[list[str], str | None]:
        return [f"{prefix}{token or 'first'}-{len(requests)}.bin"], cycle[token]

    requests = hostile(pages)
    err = one_error(capsys, "track-remote", f"{scheme}://bkt/run/", "--recursive")
    assert "repeated a continuation token it had sent before, so the listing would never end" in err
    assert len(requests) <= len(tokens) + 3
    assert not Path(".lfs-meta/metadata.json").exists()


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_listing_that_sends_the_same_page_again_stops(
    hostile: Callable[[Pages], list[str]], scheme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    counter = iter(range(10**6))
    requests = hostile(lambda prefix, token: ([f"{prefix}a.bin", f"{prefix}b.bin"], f"t{next(counter)}"))
    err = one_error(capsys, "track-remote", f"{scheme}://bkt/run/", "--recursive")
    assert "sent the same page of keys twice, so the listing would never end" in err
    assert len(requests) <= 4


def test_an_s3_page_that_says_more_follow_without_a_token_is_refused(
    hostile: Callable[[Pages], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    hostile(lambda prefix, token: ([f"{prefix}a.bin"], ""))  # IsTruncated, an empty token
    err = one_error(capsys, "track-remote", "s3://bkt/run/", "--recursive")
    assert "said more keys follow but sent no continuation token, so the listing would end short" in err


def test_a_key_with_a_space_is_tracked_listed_validated_and_pulled(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("run/a b.bin", "run/c.bin"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    assert main(["track-remote", f"s3://{s3_bucket}/run/", "--recursive", "--path-prefix", "data"]) == 0
    index = json.loads(Path(".lfs-meta/metadata.json").read_text())
    assert index["data/a b.bin"]["remote_url"] == f"s3://{s3_bucket}/run/a b.bin"  # the key as S3 names it
    assert main(["validate"]) == 0
    assert main(["pull", "data/a b.bin"]) == 0
    assert Path("data/a b.bin").read_bytes() == b"run/a b.bin"
    assert main(["track-remote", f"s3://{s3_bucket}/run/a b.bin"]) == 0  # default path: the key
    assert "run/a b.bin" in json.loads(Path(".lfs-meta/metadata.json").read_text())
    capsys.readouterr()


def test_a_link_swapped_back_before_readlink_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with fs.directory(tmp_path, tmp_path) as parent, pytest.raises(fs.UnsafePath) as refused:
        # What the open saw (ELOOP: a link) is gone by the time it is looked at: a directory again.
        fs._refuse_link(parent, "data", Path("data"), was_link=True)
    assert str(refused.value).startswith("data: is a symbolic link (changing while lfs-meta looked at it)")


def test_readlink_failing_after_lstat_is_refused_and_the_other_files_are_pulled(
    track_s3: Callable[..., S3Object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name in ("a/x.bin", "b/y.bin"):
        track_s3(name)
    os.symlink(tmp_path, "a")  # swapped in by someone else, and (readlink says) back again

    def swapped_back(*args: Any, **kwargs: Any) -> str:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "readlink", swapped_back)
    assert main(["pull", "--all", "--jobs", "8"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "a/x.bin: cannot be here: a: is a symbolic link (changing while lfs-meta looked at it)" in err
    assert err.count("\n") == 1
    assert Path("b/y.bin").read_bytes() == b"x"


LFS_RULES = "*.json filter=lfs diff=lfs merge=lfs -text\n*.ndjson filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture
def lfs_repo(git_repo: Path, cli_env: dict[str, str], tmp_path: Path) -> Path:
    """A data repository whose top-level rules send every .json and .ndjson through git-lfs, with one
    local file tracked and META/ written."""
    assert git(git_repo, "lfs", "install", "--local").returncode == 0
    (git_repo / ".gitattributes").write_text(LFS_RULES)
    (tmp_path / "x.bin").write_bytes(b"x")
    assert (
        lfs_meta(
            git_repo, cli_env, "track-remote", (tmp_path / "x.bin").as_uri(), "--path", "x.bin"
        ).returncode
        == 0
    )
    assert lfs_meta(git_repo, cli_env, "init-meta").returncode == 0
    return git_repo


@pytest.mark.parametrize("linked", [".lfs-meta/.gitattributes", "META/.gitattributes"])
def test_doctors_advice_for_a_linked_gitattributes_fixes_a_fresh_clone(
    lfs_repo: Path, cli_env: dict[str, str], tmp_path: Path, linked: str
) -> None:
    (tmp_path / "rules").write_text((lfs_repo / linked).read_text())
    (lfs_repo / linked).unlink()
    (lfs_repo / linked).symlink_to(tmp_path / "rules")  # git ignores a linked .gitattributes
    commit_all(lfs_repo, cli_env, "a branch's link")
    if linked.startswith(".lfs-meta"):
        (tmp_path / "y.bin").write_bytes(b"y")
        done = lfs_meta(lfs_repo, cli_env, "track-remote", (tmp_path / "y.bin").as_uri(), "--path", "y.bin")
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert f"{linked}: is a symbolic link (to {tmp_path / 'rules'})" in done.stderr
    doctor = lfs_meta(lfs_repo, cli_env, "doctor")
    assert doctor.returncode == 1
    assert f"{linked}: is a symbolic link" in doctor.stdout and "META/: current" not in doctor.stdout
    advice = next(line for line in doctor.stdout.splitlines() if "goes through the 'lfs' filter" in line)
    assert (
        f"remove {linked} (git ignores a link there; 'git rm {linked}'), then run 'lfs-meta init-meta'"
        in advice
    )

    assert git(lfs_repo, "rm", "-q", linked).returncode == 0  # the advice, step by step
    assert lfs_meta(lfs_repo, cli_env, "init-meta").returncode == 0
    assert git(lfs_repo, "add", ".lfs-meta", "META").returncode == 0
    assert git(lfs_repo, "add", "--renormalize", ".lfs-meta", "META").returncode == 0
    commit_all(lfs_repo, cli_env, "the fix")
    assert "attributes: lfs-meta's files go through no filter" in lfs_meta(lfs_repo, cli_env, "doctor").stdout
    clone = tmp_path / "clone"
    assert git(tmp_path, "clone", "-q", str(lfs_repo), str(clone)).returncode == 0
    for name in (".lfs-meta/metadata.json", "META/DocumentReference.ndjson"):
        assert git(clone, "cat-file", "-p", f"HEAD:{name}").stdout.startswith("{"), name
        assert git(clone, "check-attr", "filter", name).stdout.endswith("filter: unspecified\n"), name


def test_doctors_advice_for_a_gitattributes_of_yours_fixes_it(
    lfs_repo: Path, cli_env: dict[str, str]
) -> None:
    (lfs_repo / "META" / ".gitattributes").write_text("# mine\n")
    doctor = lfs_meta(lfs_repo, cli_env, "doctor").stdout
    advice = next(
        line for line in doctor.splitlines() if "META/DocumentReference.ndjson goes through" in line
    )
    rule = "/*.ndjson !filter !diff merge=lfs-meta"
    assert f"add the line '{rule}' to META/.gitattributes" in advice
    with (lfs_repo / "META" / ".gitattributes").open("a") as mine:
        mine.write(rule + "\n")
    assert "attributes: lfs-meta's files go through no filter" in lfs_meta(lfs_repo, cli_env, "doctor").stdout


def test_doctor_names_a_dangling_link_among_meta_parts(
    lfs_repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (lfs_repo / "META" / "DocumentReference-01.ndjson").symlink_to(tmp_path / "nowhere")
    doctor = lfs_meta(lfs_repo, cli_env, "doctor").stdout
    assert "META/: current" not in doctor
    assert "META/DocumentReference-01.ndjson: is a symbolic link" in doctor


def test_doctor_names_a_stray_shard_directory_and_goes_on(lfs_repo: Path, cli_env: dict[str, str]) -> None:
    (lfs_repo / ".lfs-meta" / "shards-3").mkdir()
    doctor = lfs_meta(lfs_repo, cli_env, "doctor")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert doctor.stdout.startswith("index: ") and "not a shard directory" in doctor.stdout
    assert "hooks: " in doctor.stdout
