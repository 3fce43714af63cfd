"""Downstream repositories for real: pre-commit beside git-lfs, and pushes to S3 via git-remote-s3."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import emulators
from conftest import PRE_COMMIT_CONFIG, commit_all, git, lfs_meta, pre_commit, with_remote


def test_pre_commit_framework_beside_git_lfs(
    git_repo: Path,
    tmp_path: Path,
    hook_repo: tuple[Path, str],
    hook_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    assert shutil.which("git-lfs"), (
        "git-lfs is missing: `make test` installs it with the system's package manager"
    )
    env = {**hook_env, **s3_emulator.env}  # what the user exported must reach hooks in pre-commit's venv
    repo_path, rev = hook_repo
    assert git(git_repo, "lfs", "install", "--local", env=env).returncode == 0
    (git_repo / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG.format(repo=repo_path, rev=rev))
    installed = pre_commit("install", cwd=git_repo, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    hooks = git_repo / ".git" / "hooks"
    assert b"git lfs pre-push" in (hooks / "pre-push.legacy").read_bytes()
    assert b"git lfs post-checkout" in (hooks / "post-checkout.legacy").read_bytes()

    assert git(git_repo, "lfs", "track", "*.bin", env=env).returncode == 0
    (git_repo / "reads.bin").write_bytes(b"\x00lfs content\x01" * 100)
    s3_client.put_object(Bucket=s3_bucket, Key="cohort/a.vcf", Body=b"first")
    tracked = lfs_meta(
        git_repo, env, "track-remote", f"s3://{s3_bucket}/cohort/a.vcf", "--path", "data/a.vcf"
    )
    assert tracked.returncode == 0, tracked.stderr

    index = git_repo / ".lfs-meta" / "metadata.json"
    good = index.read_text()
    index.write_text(good.replace('"size": 5', '"size": -5'))
    assert git(git_repo, "add", "-A").returncode == 0
    refused = git(git_repo, "commit", "-qm", "bad", env=env)
    assert refused.returncode == 1
    assert "/data~1a.vcf/size: must be at least 0" in refused.stdout + refused.stderr

    index.write_text(good)
    assert git(git_repo, "add", "-A").returncode == 0
    stopped = git(git_repo, "commit", "-qm", "data", env=env)
    assert (
        stopped.returncode == 1 and "run 'git add META' and commit again" in stopped.stdout + stopped.stderr
    )
    commit_all(git_repo, env, "data")
    committed = git(git_repo, "ls-files", "META").stdout.split()
    assert committed == ["META/.gitattributes", "META/DocumentReference.ndjson"]

    with_remote(git_repo, tmp_path)
    pushed = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    oid = git(git_repo, "lfs", "ls-files", "--long", env=env).stdout.split()[0]
    assert (tmp_path / "remote.git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file()

    s3_client.put_object(Bucket=s3_bucket, Key="cohort/a.vcf", Body=b"rewritten")
    (git_repo / "more.bin").write_bytes(b"\x02second lfs file" * 50)
    commit_all(git_repo, env, "more reads")
    refused_push = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert refused_push.returncode == 1
    assert "push refused: remote objects changed or could not be checked: data/a.vcf." in (
        refused_push.stdout + refused_push.stderr
    )
    assert lfs_meta(git_repo, env, "check", "--update").returncode == 0
    assert lfs_meta(git_repo, env, "init-meta").returncode == 0
    commit_all(git_repo, env, "accept a.vcf")
    accepted = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    second = git(git_repo, "lfs", "ls-files", "--long", env=env).stdout.split()[0]
    assert (tmp_path / "remote.git" / "lfs" / "objects" / second[:2] / second[2:4] / second).is_file()

    # post-checkout: git-lfs's (chained as .legacy) and lfs-meta's both run; META/ is already current.
    switched = git(git_repo, "checkout", "-b", "other", env=env)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert re.search(r"regenerate FHIR NDJSON in META/\.+Passed", switched.stdout + switched.stderr)
    assert git(git_repo, "status", "--porcelain").stdout == ""

    every = pre_commit("run", "--all-files", cwd=git_repo, env=env)
    assert every.returncode == 0, every.stdout
    manual = pre_commit("run", "--hook-stage", "manual", "lfs-meta-drift", cwd=git_repo, env=env)
    assert manual.returncode == 0, manual.stdout
    tried = pre_commit(
        "try-repo", repo_path, "lfs-meta-validate", "--ref", rev, "--all-files", cwd=git_repo, env=env
    )
    assert tried.returncode == 0 and re.search(r"validate lfs-meta index\.+Passed", tried.stdout), (
        tried.stdout
    )


def test_push_to_s3_with_git_remote_s3(
    git_repo: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    s3_emulator: emulators.S3Emulator,
    s3_client: Any,
    s3_bucket: str,
) -> None:
    assert shutil.which("git-remote-s3", path=cli_env["PATH"]), (
        "git-remote-s3 comes from requirements-dev.txt"
    )
    env = {**cli_env, **s3_emulator.env}
    repos_bucket = emulators.unique_name()
    s3_client.create_bucket(Bucket=repos_bucket)
    assert lfs_meta(git_repo, env, "install-hooks").returncode == 0
    assert git(git_repo, "remote", "add", "origin", f"s3://{repos_bucket}/analysis").returncode == 0
    s3_client.put_object(Bucket=s3_bucket, Key="cohort/a.vcf", Body=b"first")
    assert (
        lfs_meta(
            git_repo, env, "track-remote", f"s3://{s3_bucket}/cohort/a.vcf", "--path", "data/a.vcf"
        ).returncode
        == 0
    )
    assert git(git_repo, "add", "-A").returncode == 0
    # Committed without META/ (--no-verify skips the hooks), so the clone below has to regenerate it.
    assert git(git_repo, "commit", "-qm", "track a.vcf", "--no-verify").returncode == 0

    pushed = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stderr
    keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket=repos_bucket)["Contents"]]
    assert any(key.startswith("analysis/refs/heads/main/") for key in keys)

    s3_client.put_object(Bucket=s3_bucket, Key="cohort/a.vcf", Body=b"overwritten")
    (git_repo / "NOTES").write_text("qc\n")
    assert git(git_repo, "add", "NOTES").returncode == 0
    assert git(git_repo, "commit", "-qm", "notes", "--no-verify").returncode == 0
    refused = git(git_repo, "push", "-q", "origin", "main", env=env)
    assert refused.returncode == 1
    assert "push refused: remote objects changed or could not be checked: data/a.vcf." in refused.stderr
    assert len(s3_client.list_objects_v2(Bucket=repos_bucket)["Contents"]) == len(keys)  # nothing uploaded

    # The hooks directory of the first repo serves the clone, so post-checkout runs as the clone checks out.
    hooks = git_repo / ".git" / "hooks"
    clone = tmp_path / "clone"
    cloned = subprocess.run(
        ["git", "-c", f"core.hooksPath={hooks}", "clone", "-q", f"s3://{repos_bucket}/analysis", str(clone)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert cloned.returncode == 0, cloned.stderr
    documents = (clone / "META" / "DocumentReference.ndjson").read_text().splitlines()
    assert [json.loads(line)["content"][0]["attachment"]["url"] for line in documents] == [
        f"s3://{s3_bucket}/cohort/a.vcf"
    ]
