"""A collaborator's branch is hostile input: links, .git look-alikes, endless downloads, LFS rules.

Everything here is real: real git and git-lfs, real symlinks, a local HTTP server that never ends.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lfs_meta.cli import main
from lfs_meta.index import attributes

from conftest import commit_all, git, lfs_meta, usage_error

INDEX = Path(".lfs-meta") / "metadata.json"


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    return git_repo


def track(tmp_path: Path, body: bytes, path: str) -> None:
    source = tmp_path / "store" / path.replace("/", "_")
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(body)
    assert main(["track-remote", source.as_uri(), "--path", path, "--hash"]) == 0


def write_index(repo: Path, entries: dict[str, dict[str, object]]) -> None:
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_text(json.dumps(entries))


def everything_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def test_pull_refuses_a_directory_that_became_a_link(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track(tmp_path, b"alpha\n", "data/x.bin")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "data").symlink_to(elsewhere)
    assert main(["pull", "--force", "data/x.bin"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"data/x.bin: not pulled: data: is a symbolic link (to {elsewhere}); lfs-meta never writes or "
        "reads through a link in the work tree; remove the link ('git rm data' if it is committed) and "
        "run again\n"
    )
    assert everything_under(elsewhere) == []


def test_a_committed_link_to_git_dir_never_lets_pull_write_git_config(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track(tmp_path, b"[core]\n\tfsmonitor = touch /tmp/pwned\n", "g/config")
    (repo / "g").symlink_to(".git")
    commit_all(repo, dict(os.environ), "a link to .git")
    config = (repo / ".git" / "config").read_bytes()
    assert main(["pull", "--all", "--force"]) == 1
    assert "g: is a symbolic link (to .git)" in capsys.readouterr().err
    assert (repo / ".git" / "config").read_bytes() == config


def test_a_link_at_the_target_itself_is_not_written_through(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track(tmp_path, b"ssh-ed25519 AAAA attacker\n", "keys/authorized_keys")
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (repo / "keys").mkdir()
    (repo / "keys" / "authorized_keys").symlink_to(ssh / "authorized_keys")  # dangling: pull would create it
    assert main(["pull", "--all", "--force"]) == 1
    assert "keys/authorized_keys: is a symbolic link" in capsys.readouterr().err
    assert everything_under(ssh) == []
    assert everything_under(repo / "keys") == ["authorized_keys"]  # the link, and no part file


def test_init_meta_never_writes_or_deletes_through_a_meta_link(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_index(repo, {"a.vcf": {"remote_url": "s3://my-bucket/a.vcf", "size": 1, "patient": "Patient/1"}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Specimen.ndjson").write_text("someone else's file\n")
    (repo / "META").symlink_to(elsewhere)
    assert main(["init-meta"]) == 2
    assert "META: is a symbolic link (to " in capsys.readouterr().err
    assert everything_under(elsewhere) == ["Specimen.ndjson"]
    assert (elsewhere / "Specimen.ndjson").read_text() == "someone else's file\n"


def test_checking_out_a_branch_with_a_meta_link_writes_nothing_through_it(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    write_index(git_repo, {"a.vcf": {"remote_url": "s3://my-bucket/a.vcf", "size": 1}})
    assert lfs_meta(git_repo, cli_env, "install-hooks").returncode == 0
    assert lfs_meta(git_repo, cli_env, "init-meta").returncode == 0
    commit_all(git_repo, cli_env, "an index")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Specimen.ndjson").write_text("keep me\n")
    assert git(git_repo, "checkout", "-q", "-b", "hostile", env=cli_env).returncode == 0
    git(git_repo, "rm", "-rq", "META")
    (git_repo / "META").symlink_to(elsewhere)
    assert git(git_repo, "add", "META").returncode == 0
    assert git(git_repo, "commit", "-qm", "META is a link", "--no-verify").returncode == 0
    assert git(git_repo, "checkout", "-q", "main", env=cli_env).returncode == 0
    done = git(git_repo, "checkout", "hostile", env=cli_env)  # post-checkout runs init-meta
    assert "META: is a symbolic link" in done.stderr
    assert everything_under(elsewhere) == ["Specimen.ndjson"]


def test_a_download_stops_at_the_recorded_size(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_index(repo, {"zero.bin": {"remote_url": "file:///dev/zero", "size": 10}})
    assert main(["pull", "zero.bin"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zero.bin: file:///dev/zero is larger than recorded: the store sent more than")
    assert err.endswith("nothing was written at zero.bin\n") and err.count("\n") == 1
    assert [name for name in everything_under(repo) if not name.startswith(".git")] == [
        ".lfs-meta",
        ".lfs-meta/metadata.json",
    ]


class _Endless(BaseHTTPRequestHandler):
    """HEAD says 10 bytes; GET then sends bytes until the client goes away."""

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "10")
        self.send_header("ETag", '"abc"')
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("ETag", '"abc"')
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"x" * 65536)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/huge.bin"
    server.shutdown()
    server.server_close()


def test_an_endless_http_body_is_cut_at_the_recorded_size(
    repo: Path, endless: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["track-remote", endless, "--path", "huge.bin"]) == 0
    sizes: list[int] = []
    from lfs_meta.worktree import download

    real_fetch = download.Puller._fetch

    def watched(self: download.Puller, *args: object) -> object:
        try:
            return real_fetch(self, *args)  # type: ignore[arg-type]
        finally:
            sizes.extend(path.stat().st_size for path in repo.glob(".huge.bin.*"))

    monkeypatch.setattr(download.Puller, "_fetch", watched)
    assert main(["pull", "huge.bin"]) == 1
    assert "is larger than recorded" in capsys.readouterr().err
    assert sizes and max(sizes) <= 11
    assert not list(repo.glob(".huge.bin.*")) and not (repo / "huge.bin").exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (".GIT\u200c/config", "path segment '.GIT\\u200c' is .git on macOS"),
        (".g\u200dit/hooks/x", "path segment '.g\\u200dit' is .git on macOS"),
        ("GIT~1/config", "path segment 'GIT~1' is .git on Windows (its 8.3 short name)"),
        (".git./x", "path segment '.git.' is .git on Windows (it drops trailing dots and spaces)"),
        ("x/.git /y", "path segment '.git ' is .git on Windows (it drops trailing dots and spaces)"),
        (".git::$INDEX_ALLOCATION/x", "is .git on Windows (':' starts a stream name)"),
        (".lfs-meta /x", "path segment '.lfs-meta ' is .lfs-meta on Windows"),
    ],
)
def test_validate_refuses_what_git_refuses_under_protect_hfs_and_ntfs(
    tmp_path: Path, path: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "metadata.json"
    index.write_text(json.dumps({path: {"remote_url": "s3://my-bucket/a", "size": 1}}))
    assert main(["validate", str(index)]) == 1
    out = capsys.readouterr().out
    assert message in out and "git itself refuses to check out such a path" in out


def test_validate_refuses_nfc_and_nfd_twins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "metadata.json"
    entry = {"remote_url": "s3://my-bucket/a", "size": 1}
    index.write_text(json.dumps({"caf\u00e9.bin": entry, "cafe\u0301.bin": entry, "cafe.bin": entry}))
    assert main(["validate", str(index)]) == 1
    out = capsys.readouterr().out
    assert "'caf\\xe9.bin' and 'cafe\\u0301.bin' differ only in Unicode normalization" in out
    assert out.count("differ only in Unicode normalization") == 1


def test_an_earlier_meta_gitattributes_behind_a_link_is_never_updated_through_it(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track(tmp_path, b"alpha\n", "data/x.bin")
    assert main(["init-meta"]) == 0
    rules = repo / "META" / ".gitattributes"
    elsewhere = tmp_path / "bashrc"
    earlier = attributes.EARLIER_META_RULES
    elsewhere.write_text(earlier)  # what an earlier lfs-meta wrote, which init-meta would update
    rules.unlink()
    rules.symlink_to(elsewhere)
    capsys.readouterr()
    track(tmp_path, b"beta\n", "data/y.bin")
    # Refused in one line: git ignores a linked .gitattributes, and the no-filter rule with it.
    assert main(["init-meta"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "META/.gitattributes: is a symbolic link" in err
    assert rules.is_symlink() and elsewhere.read_text() == earlier


def test_a_missing_aws_profile_is_named(git_repo: Path, cli_env: dict[str, str]) -> None:
    env = cli_env | {"AWS_PROFILE": "nosuchprofile", "AWS_CONFIG_FILE": os.devnull}
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    done = lfs_meta(git_repo, env, "track-remote", "s3://my-bucket/a.vcf", "--path", "a.vcf")
    assert done.returncode == 2
    assert "AWS profile 'nosuchprofile' is not configured" in done.stderr and done.stderr.count("\n") == 1


LFS_RULES = "*.json filter=lfs diff=lfs merge=lfs -text\n*.ndjson filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture
def lfs_repo(git_repo: Path, cli_env: dict[str, str]) -> Path:
    """A data repository whose top-level rules send every .json and .ndjson through git-lfs."""
    assert git(git_repo, "lfs", "install", "--local").returncode == 0
    (git_repo / ".gitattributes").write_text(LFS_RULES)
    commit_all(git_repo, cli_env, "git lfs track *.json *.ndjson")
    return git_repo


def entry(name: str) -> dict[str, object]:
    return {"remote_url": f"s3://my-bucket/{name}", "size": 1}


def test_an_index_committed_as_an_lfs_pointer_is_named_by_the_hooks_and_doctor(
    lfs_repo: Path, cli_env: dict[str, str]
) -> None:
    write_index(lfs_repo, {"a.vcf": entry("a.vcf")})  # written by hand: no .lfs-meta/.gitattributes
    assert git(lfs_repo, "add", "-A").returncode == 0
    assert git(lfs_repo, "cat-file", "-p", ":.lfs-meta/metadata.json").stdout.startswith("version https://")
    for argv in (["validate", "--staged"], ["init-meta", "--staged", "--hook"]):
        done = lfs_meta(lfs_repo, cli_env, *argv)
        assert done.returncode == 1, argv
        assert "is a git-lfs pointer, not the index" in done.stdout + done.stderr, argv
        assert "git add --renormalize .lfs-meta META" in done.stdout + done.stderr, argv
    doctor = lfs_meta(lfs_repo, cli_env, "doctor")
    assert "attributes: .lfs-meta/metadata.json goes through the 'lfs' filter" in doctor.stdout
    assert "attributes: the staged .lfs-meta/metadata.json is a git-lfs pointer" in doctor.stdout

    assert lfs_meta(lfs_repo, cli_env, "init-meta").returncode == 0  # the fix the message names
    assert git(lfs_repo, "add", "--renormalize", ".lfs-meta", "META").returncode == 0
    assert git(lfs_repo, "add", ".lfs-meta", "META").returncode == 0
    assert lfs_meta(lfs_repo, cli_env, "validate", "--staged").returncode == 0
    assert git(lfs_repo, "cat-file", "-p", ":.lfs-meta/metadata.json").stdout.startswith("{")
    assert git(lfs_repo, "cat-file", "-p", ":META/DocumentReference.ndjson").stdout.startswith("{")
    assert "attributes: lfs-meta's files go through no filter" in lfs_meta(lfs_repo, cli_env, "doctor").stdout


def test_under_lfs_rules_the_index_and_meta_stay_plain_and_branches_merge(
    lfs_repo: Path, cli_env: dict[str, str]
) -> None:
    store = lfs_repo.parent / "store"
    store.mkdir()

    def track_local(name: str) -> None:
        (store / name).write_text(name)
        done = lfs_meta(lfs_repo, cli_env, "track-remote", (store / name).as_uri(), "--path", name)
        assert done.returncode == 0, done.stderr
        assert lfs_meta(lfs_repo, cli_env, "init-meta").returncode == 0

    assert lfs_meta(lfs_repo, cli_env, "install-hooks").returncode == 0
    track_local("base.txt")
    commit_all(lfs_repo, cli_env, "base")
    for branch, name in (("left", "left.txt"), ("right", "right.txt")):
        assert git(lfs_repo, "checkout", "-q", "-b", branch, "main", env=cli_env).returncode == 0
        track_local(name)
        commit_all(lfs_repo, cli_env, name)
    assert git(lfs_repo, "checkout", "-q", "left", env=cli_env).returncode == 0
    merged = git(lfs_repo, "merge", "--no-edit", "right", env=cli_env)
    assert merged.returncode == 0, merged.stdout + merged.stderr  # index and META/, entry by entry
    index = git(lfs_repo, "show", "HEAD:.lfs-meta/metadata.json").stdout
    assert sorted(json.loads(index)) == ["base.txt", "left.txt", "right.txt"]
    documents = git(lfs_repo, "show", "HEAD:META/DocumentReference.ndjson").stdout.splitlines()
    assert [json.loads(line)["identifier"][0]["value"] for line in documents] == sorted(json.loads(index))
    assert lfs_meta(lfs_repo, cli_env, "init-meta", "--check").returncode == 0
    for name in (".lfs-meta/metadata.json", "META/DocumentReference.ndjson"):
        attribute = git(lfs_repo, "check-attr", "filter", "merge", "--", name).stdout
        assert f"{name}: filter: unspecified\n{name}: merge: lfs-meta\n" == attribute


def test_an_index_that_links_to_a_device_is_refused_without_reading_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".lfs-meta").mkdir()
    (repo / INDEX).symlink_to("/dev/zero")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert (
        err.endswith("metadata.json: is not a regular file; the index must be one\n") and err.count("\n") == 1
    )


def test_init_meta_to_a_new_directory_outside_the_work_tree(repo: Path, tmp_path: Path) -> None:
    write_index(repo, {"a.vcf": {"remote_url": "s3://my-bucket/a.vcf", "size": 1}})
    output = tmp_path / "outside" / "sub" / "DocumentReference.ndjson"
    assert main(["init-meta", "--output", str(output)]) == 0
    assert everything_under(tmp_path / "outside") == ["sub", "sub/DocumentReference.ndjson"]


def test_a_note_that_is_a_link_only_costs_a_full_run(repo: Path, tmp_path: Path) -> None:
    write_index(repo, {"a.vcf": {"remote_url": "s3://my-bucket/a.vcf", "size": 1}})
    note = repo / ".git" / "lfs-meta" / "init-meta.json"
    note.parent.mkdir()
    (tmp_path / "target.json").write_text("{}")
    note.symlink_to(tmp_path / "target.json")
    assert main(["init-meta"]) == 0
    assert (repo / "META" / "DocumentReference.ndjson").is_file()
    assert (tmp_path / "target.json").read_text() == "{}"


def test_doctor_for_an_index_in_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--index", str(tmp_path / "missing" / ".lfs-meta" / "metadata.json")]) == 1
    assert "index: no " in capsys.readouterr().out


def test_install_hooks_does_not_write_through_a_committed_hook_link(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bashrc = tmp_path / "bashrc"
    bashrc.write_text("# mine\n")
    (repo / ".githooks").mkdir()
    (repo / ".githooks" / "pre-commit.lfs-meta").symlink_to(bashrc)  # committed in a shared hooks dir
    assert git(repo, "config", "core.hooksPath", ".githooks").returncode == 0
    assert main(["install-hooks"]) == 2
    assert "pre-commit.lfs-meta: is a symbolic link" in capsys.readouterr().err
    assert bashrc.read_text() == "# mine\n"


@pytest.mark.parametrize("kind", ["link to /dev/zero", "fifo"])
def test_a_config_that_never_ends_is_refused_not_read(
    repo: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch can commit .lfs-meta/config as a link to /dev/zero: every hook would read it forever."""
    (repo / ".lfs-meta").mkdir()
    (repo / ".lfs-meta" / "metadata.json").write_text("{}\n")
    config = repo / ".lfs-meta" / "config"
    if kind == "fifo":
        os.mkfifo(config)
    else:
        config.symlink_to("/dev/zero")
    err = usage_error(["init-meta"], capsys)
    assert err.startswith("lfs-meta: error: .lfs-meta/config: is ")
    assert not (repo / "META").exists()


def test_a_branch_that_commits_python_modules_at_the_top_never_runs_them_through_the_merge_driver(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """git runs the driver from the top of the work tree; `python -m` alone would import from there."""
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').close()\n"
    index = git_repo / INDEX
    index.parent.mkdir()
    (index.parent / ".gitattributes").write_text(attributes.INDEX_RULES)

    def commit(entries: dict[str, dict[str, object]], message: str, *, hostile: bool = False) -> None:
        index.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        if hostile:
            (git_repo / "lfs_meta").mkdir()
            for name in ("lfs_meta/__init__.py", "lfs_meta/__main__.py", "orjson.py"):
                (git_repo / name).write_text(payload)
        commit_all(git_repo, cli_env, message)

    commit({"a": entry("a")}, "base")
    assert git(git_repo, "checkout", "-qb", "hostile").returncode == 0
    commit({"a": entry("a"), "b": entry("b")}, "b, and modules at the top", hostile=True)
    assert git(git_repo, "checkout", "-q", "main").returncode == 0
    commit({"a": entry("a"), "c": entry("c")}, "c")
    merged = git(git_repo, "merge", "--no-edit", "hostile", env=cli_env)  # the driver runs with them there
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert not marker.exists()
    assert sorted(json.loads(index.read_text())) == ["a", "b", "c"]
    assert git(git_repo, "checkout", "-qb", "later", "HEAD~1").returncode == 0  # main before the merge
    commit({"a": entry("a"), "c": entry("c"), "d": entry("d")}, "d")
    rebased = git(git_repo, "rebase", "main", env=cli_env)  # onto the tree holding the modules
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    assert not marker.exists()
    assert sorted(json.loads(index.read_text())) == ["a", "b", "c", "d"]
