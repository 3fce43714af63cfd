"""lfs-meta install-hooks / uninstall-hooks with real git, chained to other hooks, beside real git-lfs."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from lfs_meta.cli import main

from conftest import git

RECORDING_HOOK = """#!/bin/sh
echo "args: $*" > "$(dirname "$0")/../../pushed.txt"
cat >> "$(dirname "$0")/../../pushed.txt"
"""


def lfs_meta_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "lfs-meta" in p.name or is_wrapper(p))


def is_wrapper(path: Path) -> bool:
    return path.is_file() and "lfs-meta install-hooks wrapper" in path.read_text(errors="replace")


def bare_remote(tmp_path: Path, repo: Path) -> Path:
    remote = tmp_path / "remote.git"
    assert git(tmp_path, "init", "-q", "--bare", str(remote)).returncode == 0
    assert git(repo, "remote", "add", "origin", str(remote)).returncode == 0
    return remote


def test_existing_hook_keeps_running_with_the_push_on_stdin_and_comes_back_exactly(
    git_repo: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hooks = git_repo / ".git" / "hooks"
    original = hooks / "pre-push"
    original.write_text(RECORDING_HOOK)
    original.chmod(0o751)
    monkeypatch.chdir(git_repo)
    assert main(["install-hooks"]) == 0
    assert "pre-push: installed; runs the existing hook first (kept as pre-push.lfs-meta-previous)" in (
        capsys.readouterr().out
    )
    first = {p.name: p.read_bytes() for p in hooks.iterdir()}
    assert main(["install-hooks", "--json"]) == 0  # idempotent: same files, nothing chained twice
    assert {p.name: p.read_bytes() for p in hooks.iterdir()} == first
    assert json.loads(capsys.readouterr().out)["hooks"]["pre-push"] == "updated"

    remote = bare_remote(tmp_path, git_repo)
    (git_repo / "README").write_text("x")
    assert git(git_repo, "add", "README").returncode == 0
    assert git(git_repo, "commit", "-qm", "first", env=cli_env).returncode == 0
    pushed = git(git_repo, "push", "-q", "origin", "main", env=cli_env)
    assert pushed.returncode == 0, pushed.stderr
    head = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    recorded = (git_repo / "pushed.txt").read_text().splitlines()
    assert recorded == [f"args: origin {remote}", f"refs/heads/main {head} refs/heads/main {'0' * 40}"]

    assert main(["uninstall-hooks"]) == 0
    assert original.read_text() == RECORDING_HOOK
    assert stat.S_IMODE(original.stat().st_mode) == 0o751
    assert lfs_meta_files(hooks) == []
    assert main(["uninstall-hooks"]) == 0  # nothing left to do is not an error
    assert "pre-push: not installed by lfs-meta; left alone" in capsys.readouterr().out


def test_core_hooks_path_is_honoured(
    git_repo: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert git(git_repo, "config", "core.hooksPath", "githooks").returncode == 0
    monkeypatch.chdir(git_repo)
    assert main(["install-hooks"]) == 0
    assert sorted(p.name for p in (git_repo / "githooks").iterdir()) == [
        "post-checkout",
        "post-checkout.lfs-meta",
        "pre-commit",
        "pre-commit.lfs-meta",
        "pre-merge-commit",
        "pre-merge-commit.lfs-meta",
        "pre-push",
        "pre-push.lfs-meta",
    ]
    index = git_repo / ".lfs-meta" / "metadata.json"
    index.parent.mkdir()
    index.write_text('{"a.vcf": {"remote_url": "s3://bkt/a.vcf", "size": -1}}')
    assert git(git_repo, "add", "-A").returncode == 0
    refused = git(git_repo, "commit", "-qm", "bad", env=cli_env)
    assert refused.returncode == 1
    assert "/a.vcf/size: must be at least 0" in refused.stderr


def test_a_linked_worktree_installs_into_the_shared_hooks(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (git_repo / "README").write_text("x")
    assert git(git_repo, "add", "README").returncode == 0
    assert git(git_repo, "commit", "-qm", "first").returncode == 0
    worktree = tmp_path / "wt"
    assert git(git_repo, "worktree", "add", "-q", str(worktree)).returncode == 0
    monkeypatch.chdir(worktree)
    assert main(["install-hooks"]) == 0
    assert is_wrapper(git_repo / ".git" / "hooks" / "pre-commit")


def test_outside_a_repository_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["install-hooks"]) == 2
    assert capsys.readouterr().err == (
        f"lfs-meta: error: {tmp_path}: not inside a git repository; run this from your repository\n"
    )


def test_beside_git_lfs_both_run_and_lfs_objects_are_still_uploaded(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("git-lfs"), (
        "git-lfs is missing: `make test` installs it with the system's package manager"
    )
    remote = bare_remote(tmp_path, git_repo)
    assert git(git_repo, "lfs", "install", "--local", env=cli_env).returncode == 0
    hooks = git_repo / ".git" / "hooks"
    lfs_pre_push = (hooks / "pre-push").read_bytes()
    assert b"git lfs pre-push" in lfs_pre_push
    monkeypatch.chdir(git_repo)
    assert main(["install-hooks"]) == 0
    assert (hooks / "pre-push.lfs-meta-previous").read_bytes() == lfs_pre_push

    # One LFS file and one file:// object tracked by lfs-meta.
    assert git(git_repo, "lfs", "track", "*.bin", env=cli_env).returncode == 0
    (git_repo / "reads.bin").write_bytes(b"\x00lfs content\x01" * 100)
    source = tmp_path / "outside" / "sample.vcf"
    source.parent.mkdir()
    source.write_text("##fileformat=VCFv4.3\n")
    assert main(["track-remote", source.as_uri(), "--path", "data/sample.vcf"]) == 0
    assert main(["init-meta"]) == 0
    assert git(git_repo, "add", "-A").returncode == 0
    committed = git(git_repo, "commit", "-qm", "data", env=cli_env)
    assert committed.returncode == 0, committed.stderr

    pushed = git(git_repo, "push", "-q", "origin", "main", env=cli_env)
    assert pushed.returncode == 0, pushed.stderr
    oid = git(git_repo, "lfs", "ls-files", "--long", env=cli_env).stdout.split()[0]
    assert (remote / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file()

    source.write_text("##fileformat=VCFv4.3\nchanged\n")
    (git_repo / "NOTES").write_text("more")
    assert git(git_repo, "add", "NOTES").returncode == 0
    assert git(git_repo, "commit", "-qm", "notes", env=cli_env).returncode == 0
    refused = git(git_repo, "push", "-q", "origin", "main", env=cli_env)
    assert refused.returncode == 1
    assert "push refused: remote objects changed or could not be checked: data/sample.vcf." in refused.stderr

    # post-checkout: git-lfs's still runs (it is chained), and lfs-meta's regenerates META/.
    shutil.rmtree(git_repo / "META")
    switched = git(git_repo, "checkout", "-q", "-b", "other", env=cli_env)
    assert switched.returncode == 0, switched.stderr
    assert (git_repo / "META" / "DocumentReference.ndjson").is_file()
