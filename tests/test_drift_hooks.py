"""The drift check where it runs: git push, through pre-commit and through the plain git hook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

import emulators
from conftest import ROOT, commit_all, git, lfs_meta, pre_commit, use_env, with_remote


def test_pre_push_hook_through_pre_commit(
    git_repo: Path,
    tmp_path: Path,
    hook_repo: tuple[Path, str],
    hook_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    env = {**hook_env, **s3_emulator.env}
    repo_path, rev = hook_repo
    hooks = "  - id: lfs-meta-validate\n  - id: lfs-meta-drift\n"
    (git_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks:\n{hooks}"
    )
    assert pre_commit("install", "-t", "pre-commit", "-t", "pre-push", cwd=git_repo, env=env).returncode == 0
    s3_client.put_object(Bucket=s3_bucket, Key="data/a.vcf", Body=b"first")
    assert lfs_meta(git_repo, env, "track-remote", f"s3://{s3_bucket}/data/a.vcf").returncode == 0
    commit_all(git_repo, env, "track a.vcf")
    with_remote(git_repo, tmp_path)

    pushed = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "check remote objects for drift" in pushed.stdout + pushed.stderr

    s3_client.put_object(Bucket=s3_bucket, Key="data/a.vcf", Body=b"second")
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

    s3_client.delete_object(Bucket=s3_bucket, Key="data/a.vcf")
    (git_repo / "notes.txt").write_text("even more\n")
    commit_all(git_repo, env, "more notes")
    skipped = git(git_repo, "push", "-q", "origin", "main", env={**env, "SKIP": "lfs-meta-drift"})
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr

    manual = pre_commit("run", "--hook-stage", "manual", "lfs-meta-drift", cwd=git_repo, env=env)
    assert manual.returncode == 1 and "data/a.vcf: missing:" in manual.stdout


def test_plain_pre_push_hook(
    git_repo: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    env = {**cli_env, **s3_emulator.env}
    shutil.copy2(ROOT / "hooks" / "pre-push", git_repo / ".git" / "hooks" / "pre-push")
    s3_client.put_object(Bucket=s3_bucket, Key="b.bam", Body=b"bam")
    assert lfs_meta(git_repo, env, "track-remote", f"s3://{s3_bucket}/b.bam").returncode == 0
    commit_all(git_repo, env, "track")
    with_remote(git_repo, tmp_path)
    assert git(git_repo, "push", "-q", "origin", "main", env=env).returncode == 0

    s3_client.put_object(Bucket=s3_bucket, Key="b.bam", Body=b"BAM")
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
    s3_emulator: emulators.S3Emulator,
    s3_client: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_env(monkeypatch, s3_emulator.env)
    monkeypatch.chdir(git_repo)
    for key in ("old.vcf", "new.vcf"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"1")
    assert main(["track-remote", f"s3://{s3_bucket}/old.vcf"]) == 0
    commit_all(git_repo, {}, "old")
    before = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    assert main(["track-remote", f"s3://{s3_bucket}/new.vcf"]) == 0
    commit_all(git_repo, {}, "new")
    (git_repo / ".lfs-meta" / "metadata.json").write_text("{broken working tree")
    s3_client.put_object(Bucket=s3_bucket, Key="old.vcf", Body=b"22")
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
