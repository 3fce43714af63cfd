from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import BIN, ROOT, SEED_INDEX, git, pre_commit

INVALID_INDEX = '{"data/a.vcf": {"remote_url": "https://h/a.vcf?sig=SECRETSIGNATURE", "size": -1}}'


def hook_ids() -> list[str]:
    return re.findall(r"^- id: (\S+)$", (ROOT / ".pre-commit-hooks.yaml").read_text(), flags=re.MULTILINE)


def test_manifest_is_valid_for_pre_commit() -> None:
    done = pre_commit("validate-manifest", ROOT / ".pre-commit-hooks.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_names_every_hook() -> None:
    readme = (ROOT / "README.md").read_text()
    assert hook_ids() == ["lfs-meta-validate", "lfs-meta-drift", "lfs-meta-fhir"]
    for hook_id in hook_ids():
        assert hook_id in readme


def write_index(repo: Path, text: str) -> None:
    path = repo / ".lfs-meta" / "metadata.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    assert git(repo, "add", ".lfs-meta/metadata.json").returncode == 0


def test_validate_hook_through_pre_commit(
    git_repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    repo_path, rev = hook_repo
    (git_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks:\n  - id: lfs-meta-validate\n"
    )
    assert git(git_repo, "add", ".pre-commit-config.yaml").returncode == 0
    done = pre_commit("install", cwd=git_repo, env=hook_env)
    assert done.returncode == 0, done.stderr

    write_index(git_repo, INVALID_INDEX)
    refused = git(git_repo, "commit", "-m", "bad index", env=hook_env)
    assert refused.returncode == 1
    output = refused.stdout + refused.stderr
    assert ".lfs-meta/metadata.json (staged): /data~1a.vcf/size: must be at least 0" in output
    assert "is a signed URL (carries sig)" in output
    assert "SECRETSIGNATURE" not in output
    assert git(git_repo, "rev-parse", "--verify", "-q", "HEAD").returncode != 0

    write_index(git_repo, SEED_INDEX)
    accepted = git(git_repo, "commit", "-m", "good index", env=hook_env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert re.search(r"validate lfs-meta index\.+Passed", accepted.stdout + accepted.stderr)

    manual = pre_commit(
        "run", "--hook-stage", "manual", "lfs-meta-validate", "--all-files", cwd=git_repo, env=hook_env
    )
    assert manual.returncode == 0, manual.stdout


def test_try_repo_reports_the_problem(
    git_repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    repo_path, rev = hook_repo
    write_index(git_repo, '{"a": {"remote_url": "s3://bkt/a", "size": 1, "etga": "x"}}')
    done = pre_commit(
        "try-repo", repo_path, "lfs-meta-validate", "--ref", rev, "--all-files", cwd=git_repo, env=hook_env
    )
    assert done.returncode == 1
    assert "unknown entry field 'etga' (did you mean 'etag'?)" in done.stdout


def test_plain_git_pre_commit_hook(git_repo: Path, cli_env: dict[str, str]) -> None:
    shutil.copy2(ROOT / "hooks" / "pre-commit", git_repo / ".git" / "hooks" / "pre-commit")
    (git_repo / "README").write_text("x")
    assert git(git_repo, "add", "README").returncode == 0
    assert git(git_repo, "commit", "-qm", "no index yet", env=cli_env).returncode == 0

    write_index(git_repo, INVALID_INDEX)
    refused = git(git_repo, "commit", "-m", "bad", env=cli_env)
    assert refused.returncode == 1
    assert (
        ".lfs-meta/metadata.json (staged): /data~1a.vcf/size: must be at least 0"
        in refused.stdout + refused.stderr
    )

    write_index(git_repo, SEED_INDEX)
    (git_repo / ".lfs-meta" / "metadata.json").write_text("{not staged, not checked")
    stopped = git(git_repo, "commit", "-qm", "good", env=cli_env)
    assert stopped.returncode == 1
    assert "META/DocumentReference.ndjson: wrote 1 resource(s)" in stopped.stderr
    assert "run 'git add META' and commit again" in stopped.stderr
    assert git(git_repo, "add", "META").returncode == 0
    accepted = git(git_repo, "commit", "-qm", "good", env=cli_env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    assert git(git_repo, "rm", "-q", "--cached", ".lfs-meta/metadata.json").returncode == 0
    assert git(git_repo, "commit", "-qm", "untrack all", env=cli_env).returncode == 0


def test_plain_hook_without_lfs_meta_installed_says_so(git_repo: Path) -> None:
    shutil.copy2(ROOT / "hooks" / "pre-commit", git_repo / ".git" / "hooks" / "pre-commit")
    write_index(git_repo, SEED_INDEX)
    env = dict(
        os.environ, PATH=os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(BIN))
    )
    if shutil.which("lfs-meta", path=env["PATH"]):
        pytest.skip("lfs-meta is installed outside this venv too")
    refused = git(git_repo, "commit", "-m", "x", env=env)
    assert refused.returncode == 1
    assert "lfs-meta: not found on PATH" in refused.stderr
