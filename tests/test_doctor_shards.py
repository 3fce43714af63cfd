"""doctor and a sharded index's own .gitattributes (real git, real git-lfs): doctor checks every
shard file the layout has, and its advice, followed step by step, leaves a fresh clone whose shards
are plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfs_meta.commands import doctor
from lfs_meta.index import attributes
from lfs_meta.repo import Repo

from conftest import commit_all, git, lfs_meta

LFS_RULES = "*.json filter=lfs diff=lfs merge=lfs -text\n*.ndjson filter=lfs diff=lfs merge=lfs -text\n"
SHARDS = ".lfs-meta/shards-4"
RULES = f"{SHARDS}/.gitattributes"
NO_FILTER = "attributes: lfs-meta's files go through no filter"


@pytest.fixture
def sharded_lfs_repo(git_repo: Path, cli_env: dict[str, str], tmp_path: Path) -> Path:
    """A data repository whose top-level rules send every .json and .ndjson through git-lfs, with a
    4-shard index of local files, META/ written, all committed."""
    assert git(git_repo, "lfs", "install", "--local").returncode == 0
    (git_repo / ".gitattributes").write_text(LFS_RULES)
    source = tmp_path / "source"
    source.mkdir()
    for number in range(24):
        (source / f"f{number}.bin").write_bytes(b"x" * number)
    for argv in (
        ("track-remote", source.as_uri() + "/", "--recursive", "--path-prefix", "data"),
        ("reshard", "--fanout", "4"),
        ("init-meta",),
    ):
        done = lfs_meta(git_repo, cli_env, *argv)
        assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(path.name for path in (git_repo / SHARDS).glob("*.json")) == [f"{n}.json" for n in range(4)]
    commit_all(git_repo, cli_env, "a sharded index")
    return git_repo


def shard_names(repo: Path) -> list[str]:
    return sorted(f"{SHARDS}/{path.name}" for path in (repo / SHARDS).glob("*.json"))


def filtered_line(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"attributes: {SHARDS}/"))


def follow_the_advice(repo: Path, cli_env: dict[str, str], fix: str) -> None:
    """The steps of attributes.ADD, after whatever comes before them in `fix`, run as written."""
    assert fix.endswith(f"then {attributes.ADD}"), fix
    assert git(repo, "add", ".lfs-meta", "META").returncode == 0
    assert git(repo, "add", "--renormalize", ".lfs-meta", "META").returncode == 0
    commit_all(repo, cli_env, "the fix")


def assert_fixed_in_a_fresh_clone(repo: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    report = lfs_meta(repo, cli_env, "doctor").stdout
    assert NO_FILTER in report and "attributes: " not in report.replace(NO_FILTER, "")
    clone = tmp_path / "clone"
    assert git(tmp_path, "clone", "-q", str(repo), str(clone)).returncode == 0
    names = shard_names(clone)
    assert len(names) == 4
    for name in names:
        assert json.loads(git(clone, "cat-file", "-p", f"HEAD:{name}").stdout), name  # JSON, not a pointer
        assert git(clone, "check-attr", "filter", name).stdout.endswith("filter: unspecified\n"), name
    assert (clone / RULES).read_text() == attributes.SHARD_RULES


def test_doctor_checks_every_shard_file_the_layout_has(
    sharded_lfs_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sharded_lfs_repo)
    files = doctor.own_files(Repo.discover(Path.cwd()))
    assert files[:4] == shard_names(sharded_lfs_repo)
    assert ".lfs-meta/metadata.json" not in files and "META/DocumentReference.ndjson" in files


def test_doctors_advice_for_a_missing_shard_gitattributes_fixes_a_fresh_clone(
    sharded_lfs_repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = sharded_lfs_repo
    assert git(repo, "rm", "-q", RULES).returncode == 0  # a branch without it, whose shards git-lfs took
    assert git(repo, "add", "--renormalize", SHARDS).returncode == 0
    commit_all(repo, cli_env, "no rules for the shards")
    names = shard_names(repo)
    for name in names:  # what git does: each shard goes through git-lfs, and is committed as a pointer
        assert git(repo, "check-attr", "filter", name).stdout.endswith("filter: lfs\n"), name
        assert git(repo, "cat-file", "-p", f"HEAD:{name}").stdout.startswith("version https://git-lfs")

    done = lfs_meta(repo, cli_env, "doctor")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert NO_FILTER not in done.stdout
    line = filtered_line(done.stdout)
    more = "(and 3 more shard files beside it)"
    assert line.startswith(f"attributes: {names[0]} {more} goes through the 'lfs' filter")
    staged = f"attributes: the staged {names[0]} {more} is a git-lfs pointer"
    assert staged in done.stdout
    fix = line.partition("; ")[2]
    assert fix == attributes.FIX and f"{SHARDS[:-1]}N/.gitattributes" in fix
    merge = next(line for line in done.stdout.splitlines() if line.startswith(f"merge: {names[0]}"))
    assert "shards-N/.gitattributes" in merge

    assert fix.startswith("run 'lfs-meta init-meta'")  # the advice, step by step
    assert lfs_meta(repo, cli_env, "init-meta").returncode == 0
    assert (repo / RULES).read_text() == attributes.SHARD_RULES
    follow_the_advice(repo, cli_env, fix)
    assert_fixed_in_a_fresh_clone(repo, cli_env, tmp_path)


def test_doctors_advice_for_a_linked_shard_gitattributes_fixes_a_fresh_clone(
    sharded_lfs_repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = sharded_lfs_repo
    (tmp_path / "rules").write_text((repo / RULES).read_text())
    (repo / RULES).unlink()
    (repo / RULES).symlink_to(tmp_path / "rules")  # git ignores a linked .gitattributes
    commit_all(repo, cli_env, "a branch's link")
    for argv in (("init-meta",), ("reshard", "--fanout", "4")):  # refused in one line, as other links are
        refused = lfs_meta(repo, cli_env, *argv)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, argv
        assert f"{RULES}: is a symbolic link" in refused.stderr, argv

    done = lfs_meta(repo, cli_env, "doctor")
    assert done.returncode == 1 and NO_FILTER not in done.stdout
    link = next(line for line in done.stdout.splitlines() if line.startswith(f"{RULES}: is a symbolic link"))
    assert link.endswith(f"remove it ('git rm {RULES}' if it is committed); then run 'lfs-meta init-meta'")
    fix = filtered_line(done.stdout).partition("; ")[2]
    remove = f"remove {RULES} (git ignores a link there; 'git rm {RULES}')"
    assert fix.startswith(f"{remove}, then run 'lfs-meta init-meta'")

    assert git(repo, "rm", "-q", RULES).returncode == 0  # the advice, step by step
    assert lfs_meta(repo, cli_env, "init-meta").returncode == 0
    follow_the_advice(repo, cli_env, fix)
    assert_fixed_in_a_fresh_clone(repo, cli_env, tmp_path)


def test_doctors_advice_for_a_shard_gitattributes_of_yours_fixes_it(
    sharded_lfs_repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = sharded_lfs_repo
    (repo / RULES).write_text("# mine\n")
    commit_all(repo, cli_env, "rules of mine")
    assert lfs_meta(repo, cli_env, "init-meta").returncode == 0
    assert (repo / RULES).read_text() == "# mine\n"  # never edited
    fix = filtered_line(lfs_meta(repo, cli_env, "doctor").stdout).partition("; ")[2]
    rule = attributes.SHARD_RULES.splitlines()[-1]
    assert fix.startswith(f"add the line '{rule}' to {RULES} (lfs-meta never edits a file of yours)")

    with (repo / RULES).open("a") as mine:  # the advice, step by step
        mine.write(rule + "\n")
    follow_the_advice(repo, cli_env, fix)
    report = lfs_meta(repo, cli_env, "doctor").stdout
    assert NO_FILTER in report and "attributes: " not in report.replace(NO_FILTER, "")
    clone = tmp_path / "clone"
    assert git(tmp_path, "clone", "-q", str(repo), str(clone)).returncode == 0
    for name in shard_names(clone):
        assert json.loads(git(clone, "cat-file", "-p", f"HEAD:{name}").stdout), name


def test_init_meta_writes_a_missing_shard_gitattributes_and_check_only_does_not(
    git_repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    for argv in (
        ("track-remote", (tmp_path / "a.bin").as_uri(), "--path", "a.bin"),
        ("reshard", "--fanout", "2"),
        ("init-meta",),
    ):
        assert lfs_meta(git_repo, cli_env, *argv).returncode == 0, argv
    rules = git_repo / ".lfs-meta" / "shards-2" / ".gitattributes"
    rules.unlink()
    assert lfs_meta(git_repo, cli_env, "init-meta", "--check").returncode == 0
    assert not rules.exists()
    assert lfs_meta(git_repo, cli_env, "init-meta").returncode == 0
    assert rules.read_text() == attributes.SHARD_RULES


def test_doctor_says_meta_is_stale_for_a_sharded_index(
    sharded_lfs_repo: Path, cli_env: dict[str, str]
) -> None:
    report = lfs_meta(sharded_lfs_repo, cli_env, "doctor").stdout
    assert "META/: current" in report
    document = next((sharded_lfs_repo / "META").glob("DocumentReference*.ndjson"))
    document.write_text(document.read_text() + "\n")  # one byte off what init-meta writes
    done = lfs_meta(sharded_lfs_repo, cli_env, "doctor")
    assert done.returncode == 1
    assert "META/: current" not in done.stdout
    assert lfs_meta(sharded_lfs_repo, cli_env, "init-meta", "--check").returncode == 1
