"""The drift check where it runs: git push, through pre-commit and through the plain git hook."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lfs_meta.cli import main

import emulators
from conftest import ROOT, S3Object, commit_all, git, lfs_meta, pre_commit, with_remote


def test_pre_push_hook_through_pre_commit(
    git_repo: Path,
    track_s3: Callable[..., S3Object],
    tmp_path: Path,
    hook_repo: tuple[Path, str],
    hook_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
) -> None:
    env = {**hook_env, **s3_emulator.env}
    repo_path, rev = hook_repo
    hooks = "  - id: lfs-meta-validate\n  - id: lfs-meta-drift\n"
    (git_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks:\n{hooks}"
    )
    assert pre_commit("install", "-t", "pre-commit", "-t", "pre-push", cwd=git_repo, env=env).returncode == 0
    vcf = track_s3("data/a.vcf", b"first")
    commit_all(git_repo, env, "track a.vcf")
    with_remote(git_repo, tmp_path)

    pushed = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "check remote objects for drift" in pushed.stdout + pushed.stderr

    vcf.put(b"second")
    (git_repo / "notes.txt").write_text("more work\n")
    commit_all(git_repo, env, "notes")
    refused = git(git_repo, "push", "-q", "origin", "main", env=env)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "data/a.vcf: modified: size 5 -> 6" in output
    assert "lfs-meta: push refused: remote objects changed or could not be checked: data/a.vcf." in output
    assert "'lfs-meta check --update'" in output and "'SKIP=lfs-meta-drift git push'" in output
    assert git(git_repo, "rev-parse", "origin/main").stdout != git(git_repo, "rev-parse", "main").stdout

    assert lfs_meta(git_repo, env, "check", "--update").returncode == 0
    commit_all(git_repo, env, "accept a.vcf")
    accepted = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    vcf.client.delete_object(Bucket=vcf.bucket, Key=vcf.key)
    (git_repo / "notes.txt").write_text("even more\n")
    commit_all(git_repo, env, "more notes")
    skipped = git(git_repo, "push", "-q", "origin", "main", env={**env, "SKIP": "lfs-meta-drift"})
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr

    manual = pre_commit("run", "--hook-stage", "manual", "lfs-meta-drift", cwd=git_repo, env=env)
    assert manual.returncode == 1 and "data/a.vcf: missing:" in manual.stdout


def test_plain_pre_push_hook(
    git_repo: Path,
    track_s3: Callable[..., S3Object],
    tmp_path: Path,
    cli_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
) -> None:
    env = {**cli_env, **s3_emulator.env}
    shutil.copy2(ROOT / "hooks" / "pre-push", git_repo / ".git" / "hooks" / "pre-push")
    bam = track_s3("b.bam", b"bam")
    commit_all(git_repo, env, "track")
    with_remote(git_repo, tmp_path)
    assert git(git_repo, "push", "-q", "origin", "main", env=env).returncode == 0

    bam.put(b"BAM")
    (git_repo / "x.txt").write_text("x")
    commit_all(git_repo, env, "x")
    refused = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert refused.returncode != 0
    assert "b.bam: modified: etag " in refused.stdout + refused.stderr
    assert (
        git(git_repo, "push", "-q", "origin", "main", env={**env, "SKIP": "lfs-meta-drift"}).returncode == 0
    )


def test_changed_only_checks_what_the_push_adds(
    git_repo: Path,
    track_s3: Callable[..., S3Object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = track_s3("old.vcf", b"1")
    commit_all(git_repo, {}, "old")
    before = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    track_s3("new.vcf", b"1")
    commit_all(git_repo, {}, "new")
    (git_repo / ".lfs-meta" / "metadata.json").write_text("{broken working tree")
    old.put(b"22")
    capsys.readouterr()

    monkeypatch.setenv("PRE_COMMIT_FROM_REF", before)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "HEAD")
    assert main(["check", "--pre-push", "--changed-only", "--json"]) == 0
    assert [f["path"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["new.vcf"]
    assert main(["check", "--pre-push", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert {f["path"]: f["status"] for f in result["findings"]} == {
        "new.vcf": "unchanged",
        "old.vcf": "modified",
    }
    monkeypatch.delenv("PRE_COMMIT_FROM_REF")
    assert main(["check", "--pre-push", "--changed-only", "--json"]) == 1  # first push: everything
