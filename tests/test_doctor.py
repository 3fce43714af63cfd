"""lfs-meta doctor: index and META/, each store's credentials and one HEAD, the hooks and git-lfs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

import emulators
from conftest import S3Object, Store, git, pre_commit, use_env

SOURCES = {
    "s3": "environment variables (AWS_ACCESS_KEY_ID)",
    "gcs": "none: emulator at STORAGE_EMULATOR_HOST=",
    "azure": "AZURE_STORAGE_CONNECTION_STRING",
}


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


@pytest.fixture
def repo(
    git_repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    store.put("d/a.vcf", b"x")
    assert main(["track-remote", store.url("d/a.vcf"), "--path", "data/a.vcf"]) == 0
    capsys.readouterr()
    return git_repo


def test_names_every_problem_then_nothing_once_fixed(
    repo: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = doctor(capsys)
    assert code == 1
    lines = result["report"]
    assert lines[0] == "index: .lfs-meta/metadata.json is valid, 1 entries"
    assert lines[1].startswith("META/: out of date (META/DocumentReference.ndjson)")
    store_line = next(line for line in lines if line.startswith(f"{store.provider}: "))
    assert SOURCES[store.provider] in store_line and store_line.endswith("HEAD of data/a.vcf works")
    assert [p["problem"] for p in result["problems"]][1:] == [
        "hooks: no lfs-meta pre-commit hook",
        "hooks: no lfs-meta pre-merge-commit hook",
        "hooks: no lfs-meta pre-push hook",
        "hooks: no lfs-meta post-checkout hook",
    ]
    assert all(problem["fix"] for problem in result["problems"])
    for secret in (value for name, value in store.env.items() if "SECRET" in name or "CONNECTION" in name):
        assert secret not in json.dumps(result)

    assert main(["install-hooks"]) == 0
    assert main(["init-meta"]) == 0
    capsys.readouterr()
    assert main(["doctor"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing to fix"


def test_an_unreachable_store_is_a_problem_with_its_reason(
    track_s3: Callable[..., S3Object], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    track_s3("a.vcf")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{emulators.free_port()}")
    code, result = doctor(capsys)
    assert code == 1
    s3_problem = next(p for p in result["problems"] if p["problem"].startswith("s3: "))
    assert "cannot reach the S3 endpoint" in s3_problem["problem"]


def test_git_lfs_hooks_must_stay_chained(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    assert main(["install-hooks"]) == 0  # before git-lfs's hooks: they are not there to chain
    capsys.readouterr()
    code, result = doctor(capsys)
    assert code == 1
    assert any(
        "git-lfs's pre-push hook does not run (LFS objects would not be uploaded)" in p["problem"]
        for p in result["problems"]
    )
    assert main(["uninstall-hooks"]) == 0
    assert git(git_repo, "lfs", "install", "--local").returncode == 0
    assert main(["install-hooks"]) == 0
    capsys.readouterr()
    code, result = doctor(capsys)
    assert (
        "hooks: pre-push: plain (lfs-meta install-hooks); git-lfs's hook chained (pre-push.lfs-meta-previous)"
        in (result["report"])
    )
    assert not [p for p in result["problems"] if p["problem"].startswith("hooks:")]


def test_framework_hooks_need_lfs_meta_in_the_config(
    git_repo: Path,
    hook_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (git_repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: https://example.invalid/lfs-meta\n  rev: v0\n  hooks:\n  - id: lfs-meta-validate\n"
        "  - id: lfs-meta-fhir\n"
    )
    stages = ("pre-commit", "pre-merge-commit", "pre-push", "post-checkout")
    installed = pre_commit("install", *(f"-t{stage}" for stage in stages), cwd=git_repo, env=hook_env)
    assert installed.returncode == 0, installed.stderr
    monkeypatch.chdir(git_repo)
    code, result = doctor(capsys)
    assert code == 1
    hooks = [line for line in result["report"] if line.startswith("hooks:")]
    assert hooks[0] == "hooks: pre-commit: pre-commit framework"
    assert hooks[1] == "hooks: pre-merge-commit: pre-commit framework"
    assert re.match(
        r"hooks: pre-push runs pre-commit, but \.pre-commit-config\.yaml lacks lfs-meta-drift", hooks[2]
    )
    assert hooks[3] == "hooks: post-checkout: pre-commit framework"
