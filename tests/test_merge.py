"""The index merge driver: entry-by-entry merges with real git merge and rebase, and generated histories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfs_meta import mergeconfig
from lfs_meta.cli import main
from lfs_meta.index import attributes, merge
from lfs_meta.index.entry import Entry

from conftest import edited, git, lfs_meta

INDEX = Path(".lfs-meta") / "metadata.json"


def entry(name: str, size: int = 1) -> dict[str, object]:
    return {"remote_url": f"s3://bkt/{name}", "size": size}


def run(repo: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    done = lfs_meta(repo, env, *args)
    return done.returncode, done.stdout + done.stderr


def commit_index(
    repo: Path, env: dict[str, str], entries: dict[str, dict[str, object]], message: str
) -> None:
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_text(json.dumps(entries))
    assert git(repo, "add", "-A").returncode == 0
    assert git(repo, "commit", "-qm", message, env=env).returncode == 0


@pytest.fixture
def repo(git_repo: Path, cli_env: dict[str, str]) -> Path:
    code, output = run(git_repo, cli_env, "install-merge-driver")
    assert code == 0, output
    configured = git(git_repo, "config", "--get", "merge.lfs-meta.driver").stdout
    assert configured == mergeconfig.command() + "\n"
    assert run(git_repo, cli_env, "install-merge-driver") == (0, output)  # idempotent
    (git_repo / INDEX).parent.mkdir()
    (git_repo / INDEX).with_name(".gitattributes").write_text(attributes.INDEX_RULES)  # as lfs-meta writes it
    commit_index(git_repo, cli_env, {"a.vcf": entry("a.vcf")}, "base")
    return git_repo


def test_additions_on_two_branches_merge_without_conflict(repo: Path, cli_env: dict[str, str]) -> None:
    assert git(repo, "checkout", "-qb", "side").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf"), "b.vcf": entry("b.vcf")}, "add b")
    assert git(repo, "checkout", "-q", "main").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf", 2), "c.vcf": entry("c.vcf")}, "edit a, add c")
    merged = git(repo, "merge", "-q", "--no-edit", "side", env=cli_env)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    text = (repo / INDEX).read_text()
    assert json.loads(text) == {"a.vcf": entry("a.vcf", 2), "b.vcf": entry("b.vcf"), "c.vcf": entry("c.vcf")}
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # canonical
    assert run(repo, cli_env, "validate")[0] == 0


def test_same_entry_changed_both_ways_is_a_conflict_resolved_per_path(
    repo: Path, cli_env: dict[str, str]
) -> None:
    assert git(repo, "checkout", "-qb", "side").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf", 3), "b.vcf": entry("b.vcf")}, "a is 3")
    assert git(repo, "checkout", "-q", "main").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf", 2)}, "a is 2")
    merged = git(repo, "merge", "-q", "--no-edit", "side", env=cli_env)
    assert merged.returncode == 1
    output = merged.stdout + merged.stderr
    assert "a.vcf changed differently on both sides" in output
    assert "lfs-meta merge-resolve --ours|--theirs PATH..." in output
    assert json.loads((repo / INDEX).read_text()) == {"a.vcf": entry("a.vcf", 2), "b.vcf": entry("b.vcf")}

    code, output = run(repo, cli_env, "merge-resolve", "--theirs", "a.vcf")
    assert code == 0, output
    assert json.loads((repo / INDEX).read_text()) == {"a.vcf": entry("a.vcf", 3), "b.vcf": entry("b.vcf")}
    assert git(repo, "add", str(INDEX)).returncode == 0
    assert git(repo, "commit", "-qm", "merged", env=cli_env).returncode == 0
    code, output = run(repo, cli_env, "merge-resolve", "--ours", "a.vcf")
    assert (code, output.strip()) == (
        2,
        "lfs-meta: error: .lfs-meta/metadata.json: no merge conflict in progress; nothing to resolve",
    )


def test_rebase_replays_additions_through_the_driver(repo: Path, cli_env: dict[str, str]) -> None:
    assert git(repo, "checkout", "-qb", "side").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf"), "b.vcf": entry("b.vcf")}, "add b")
    commit_index(
        repo, cli_env, {"a.vcf": entry("a.vcf"), "b.vcf": entry("b.vcf"), "d.vcf": entry("d.vcf")}, "add d"
    )
    assert git(repo, "checkout", "-q", "main").returncode == 0
    commit_index(repo, cli_env, {"a.vcf": entry("a.vcf"), "c.vcf": entry("c.vcf")}, "add c")
    assert git(repo, "checkout", "-q", "side").returncode == 0
    rebased = git(repo, "rebase", "-q", "main", env=cli_env)
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    assert sorted(json.loads((repo / INDEX).read_text())) == ["a.vcf", "b.vcf", "c.vcf", "d.vcf"]


def test_a_merge_that_would_make_an_invalid_index_keeps_ours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sides = {name: tmp_path / name for name in ("base", "ours", "theirs")}
    sides["base"].write_text("{}")
    sides["ours"].write_text(json.dumps({"a": entry("a")}))
    sides["theirs"].write_text(json.dumps({"a/b": entry("b")}))
    before = sides["ours"].read_bytes()
    argv = [
        "merge-driver",
        *(str(sides[name]) for name in ("base", "ours", "theirs")),
        ".lfs-meta/metadata.json",
    ]
    assert main(argv) == 1
    assert "'a' is tracked as a file, so 'a/b' cannot be inside it" in capsys.readouterr().err
    assert sides["ours"].read_bytes() == before


PATHS = st.sampled_from([f"d/{i}.vcf" for i in range(12)])
VERSIONS = st.none() | st.integers(0, 3).map(lambda size: Entry(remote_url="s3://bkt/k", size=size))


@settings(max_examples=300, deadline=None)
@given(
    base=st.dictionaries(PATHS, st.integers(0, 3)),
    ours_edits=st.dictionaries(PATHS, VERSIONS),
    theirs_edits=st.dictionaries(PATHS, VERSIONS),
)
def test_generated_histories(
    base: dict[str, int], ours_edits: dict[str, Entry | None], theirs_edits: dict[str, Entry | None]
) -> None:
    start = {path: Entry(remote_url="s3://bkt/k", size=size) for path, size in base.items()}
    ours, theirs = edited(start, ours_edits), edited(start, theirs_edits)
    merged, conflicts = merge.merge(start, ours, theirs)
    for path in start.keys() | ours.keys() | theirs.keys():
        old, mine, their = start.get(path), ours.get(path), theirs.get(path)
        if path in conflicts:
            assert mine != their and old not in (mine, their)
            assert merged.get(path) == mine
        else:
            assert merged.get(path) == (their if mine == old else mine)
            assert mine == old or their in (old, mine)
    # Symmetry: swapping the sides conflicts on the same paths.
    assert merge.merge(start, theirs, ours)[1] == conflicts


def test_install_outside_a_repository_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["install-merge-driver"]) == 2
    assert capsys.readouterr().err == (
        f"lfs-meta: error: {tmp_path}: not inside a git repository; run this from your repository\n"
    )
    assert list(tmp_path.iterdir()) == []
