"""This clone's merge driver config: set where missing or broken, a user's own command kept, a failure
to set it one line that never fails the command, and an interpreter path with a space run by git."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from lfs_meta import mergeconfig
from lfs_meta.cli import main
from lfs_meta.index import attributes

from conftest import git

LEGACY = "lfs-meta merge-driver %O %A %B %P"


@pytest.fixture
def bare(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone with no merge driver config, as `git clone` leaves one."""
    assert git(git_repo, "config", "--remove-section", f"merge.{mergeconfig.NAME}").returncode == 0
    monkeypatch.chdir(git_repo)
    return git_repo


def configured(repo: Path) -> str:
    return git(repo, "config", "--get", mergeconfig.KEY).stdout.rstrip("\n")


def test_problem_names_what_cannot_run_and_leaves_a_users_own_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert mergeconfig.problem(None) == "this clone's git config has no merge.lfs-meta.driver"
    assert mergeconfig.problem(mergeconfig.command()) is None
    assert mergeconfig.problem("my-merger %O %A %B") is None  # the user's: theirs to keep
    gone = mergeconfig.command(str(tmp_path / "removed env" / "bin" / "python"))
    assert mergeconfig.problem(gone) == (
        f"merge.lfs-meta.driver runs {tmp_path}/removed env/bin/python, which is gone (an environment "
        "removed or upgraded)"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert mergeconfig.problem(LEGACY) == "merge.lfs-meta.driver runs 'lfs-meta', which is not on PATH"


def test_ensure_sets_a_missing_driver_once(bare: Path) -> None:
    line = mergeconfig.ensure(bare, {})
    assert line == (
        "lfs-meta: this clone's git config has no merge.lfs-meta.driver; set it to "
        f"'{mergeconfig.command()}' so the index and META/ merge entry by entry"
    )
    assert configured(bare) == f"{shlex.quote(sys.executable)} -P -m lfs_meta merge-driver %O %A %B %P"
    assert git(bare, "config", "--get", "merge.lfs-meta.name").stdout == f"{mergeconfig.LABEL}\n"
    assert mergeconfig.ensure(bare, {}) is None


ANOTHER_ENV = str(Path(sys.executable).parent / "python3")  # runs, but is not this interpreter's path
IN_A_HOOK = {"PRE_COMMIT": "1"}


@pytest.mark.parametrize(
    ("before", "environ", "replaced"),
    [
        (LEGACY, {}, True),  # found on PATH in a hook, maybe not in the shell that merges
        (mergeconfig.command("/nonexistent/env/bin/python"), {}, True),
        (f"{sys.executable} -m lfs_meta merge-driver %O %A %B %P", {}, True),  # no -P: see test_security
        (mergeconfig.command(ANOTHER_ENV), IN_A_HOOK, True),  # a pre-commit hook points it at itself
        (mergeconfig.command(ANOTHER_ENV), {}, False),  # by hand, another working lfs-meta is kept
        ("my-merger %O %A %B", IN_A_HOOK, False),
        ("python3 -P -m lfs_meta merge-driver %O %A %B %P", IN_A_HOOK, False),  # a name: the user's own
        (mergeconfig.command(), IN_A_HOOK, False),
    ],
)
def test_ensure_replaces_a_driver_of_lfs_metas_that_cannot_run_or_is_not_the_hooks(
    bare: Path, before: str, environ: dict[str, str], replaced: bool
) -> None:
    assert git(bare, "config", mergeconfig.KEY, before).returncode == 0
    line = mergeconfig.ensure(bare, environ)
    assert (line is not None) == replaced
    assert configured(bare) == (mergeconfig.command() if replaced else before)


def test_outside_git_ensure_says_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert mergeconfig.ensure(tmp_path, {}) is None
    assert list(tmp_path.iterdir()) == []


def test_a_config_that_cannot_be_written_is_one_line_and_the_command_still_succeeds(
    bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    (bare / ".git" / "config.lock").write_text("")  # another git writing its config now
    assert main(["track-remote", source.as_uri(), "--path", "a.txt"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"lfs-meta: {bare}: cannot set merge.lfs-meta"), err
    assert err.endswith("; run 'lfs-meta install-merge-driver' so the index and META/ merge entry by entry\n")
    (bare / ".git" / "config.lock").unlink()
    assert configured(bare) == ""
    assert main(["untrack", "a.txt"]) == 0
    assert "set it to" in capsys.readouterr().err
    assert configured(bare) == mergeconfig.command()


def test_git_runs_a_driver_whose_interpreter_path_has_a_space(bare: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "my env" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    assert git(bare, "config", mergeconfig.KEY, mergeconfig.command(str(wrapper))).returncode == 0
    index = bare / ".lfs-meta" / "metadata.json"
    index.parent.mkdir()
    (index.parent / ".gitattributes").write_text(attributes.INDEX_RULES)

    def commit(entries: dict[str, object], message: str) -> None:
        index.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        assert git(bare, "add", "-A").returncode == 0
        assert git(bare, "commit", "-qm", message).returncode == 0

    entry = {"remote_url": "s3://bkt/k", "size": 1}
    commit({"a": entry}, "base")
    assert git(bare, "checkout", "-qb", "side").returncode == 0
    commit({"a": entry, "b": entry}, "b")
    assert git(bare, "checkout", "-q", "main").returncode == 0
    commit({"a": entry, "c": entry}, "c")
    merged = git(bare, "merge", "--no-edit", "side")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert sorted(json.loads(index.read_text())) == ["a", "b", "c"]
    assert mergeconfig.problem(configured(bare)) is None


def test_install_hooks_with_a_locked_config_lists_the_hooks_then_says_what_to_run(
    bare: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bare / ".git" / "config.lock").write_text("")
    assert main(["install-hooks"]) == 2
    out, err = capsys.readouterr()
    assert "pre-commit: installed\n" in out
    assert err.count("\n") == 1 and "could not lock config file" in err, err
    assert err.endswith(
        "; if no other git is running, remove the .lock file it names; then run "
        "'lfs-meta install-merge-driver' (the hooks are installed)\n"
    )
    assert (bare / ".git" / "hooks" / "pre-commit.lfs-meta").is_file()
