"""The sharded index and META/ parts: layout, reshard, the rules across shards, hooks that follow the
change, merges across a reshard, and hostile layouts; checked against the one-file layout."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lfs_meta import processes
from lfs_meta.cli import main
from lfs_meta.drift import pushed
from lfs_meta.errors import CheckFailed
from lfs_meta.index import layout as layouts
from lfs_meta.index import paths, rows, rules, shards, strictjson, urls
from lfs_meta.index.layout import Layout, Passes
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo

from conftest import commit_all, git, in_processes

INDEX = Path(".lfs-meta") / "metadata.json"


def entries(count: int, start: int = 0) -> dict[str, dict[str, object]]:
    return {
        f"data/d{i % 7}/f{i}.vcf": {
            "remote_url": f"s3://bkt/k{i}",
            "size": i,
            "patient": f"Patient/p{i % 11 % 5}",
            "specimen": f"Specimen/s{i % 11}",
        }
        for i in range(start, start + count)
    }


def write_single(repo: Path, data: dict[str, dict[str, object]]) -> None:
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["ls", "--json"]) == 0
    return {item["path"]: item for item in json.loads(capsys.readouterr().out)}


def shard_path(repo: Path, fanout: int, path: str) -> Path:
    name = shards.file_name(shards.number_of(path, fanout), fanout)
    return repo / ".lfs-meta" / shards.directory_name(fanout) / name


def add(repo: Path, path: str, entry: dict[str, object], fanout: int = 8) -> None:
    """Write one entry straight into its shard, as a hand edit or another tool would."""
    target = shard_path(repo, fanout, path)
    data = json.loads(target.read_text()) if target.exists() else {}
    data[path] = entry
    target.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def meta_files(repo: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((repo / "META").glob("*.ndjson"))}


@pytest.fixture
def sharded(git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(300))
    assert main(["reshard", "--fanout", "8"]) == 0
    capsys.readouterr()
    return git_repo


# --- the layout, as pure functions --------------------------------------------------------------


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=16))
def test_a_path_has_one_shard_in_range_and_its_file_name_reads_back(path: str, bits: int) -> None:
    fanout = 1 << bits
    number = shards.number_of(path, fanout)
    assert 0 <= number < fanout and number == shards.number_of(path, fanout)
    assert shards.number_of_file(shards.file_name(number, fanout), fanout) == number
    # Doubling the fan-out splits each shard in two: a path moves only to one of its two halves.
    assert shards.number_of(path, fanout * 2) // 2 == number


@given(st.integers(min_value=0, max_value=1 << 40))
def test_the_fanout_keeps_one_file_within_the_band_and_shards_near_its_bottom(total: int) -> None:
    low, high = shards.DEFAULT_BAND
    fanout = shards.fanout_for(total)
    if total <= high:
        assert fanout == 1
    elif fanout < shards.MAX_FANOUT:
        assert low <= total / fanout < 2 * low <= high
        assert fanout == 2 or total / (fanout // 2) >= 2 * low  # the most shards that stay above low


@pytest.mark.parametrize("name", ["shards-3", "shards-1", "shards-0", "shards-131072", "shards-08"])
def test_a_directory_name_that_states_no_fanout_is_none(name: str) -> None:
    assert shards.fanout_of_directory(name) is None
    assert shards.fanout_of_directory("shards-256") == 256


# --- reshard ------------------------------------------------------------------------------------


def test_reshard_keeps_every_entry_and_one_file_comes_back_byte_for_byte(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(300))
    assert main(["init-meta"]) == 0
    original, before, meta_before = (git_repo / INDEX).read_bytes(), listed(capsys), meta_files(git_repo)
    assert main(["reshard", "--fanout", "8"]) == 0
    assert not (git_repo / INDEX).exists()
    files = sorted((git_repo / ".lfs-meta" / "shards-8").glob("*.json"))
    assert [path.name for path in files] == [f"{n}.json" for n in range(8)]
    for path in files:  # each shard holds exactly its own paths, in the canonical format
        data = json.loads(path.read_text())
        assert {shards.number_of(key, 8) for key in data} == {int(path.stem, 16)}
        assert path.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert listed(capsys) == before
    assert main(["validate"]) == 0
    assert "8 file(s) valid" in capsys.readouterr().out
    meta = meta_files(git_repo)
    assert "DocumentReference.ndjson" in meta and "DocumentReference-7.ndjson" in meta
    lines = [line for name, data in meta.items() for line in data.splitlines() if name.startswith("Doc")]
    assert sorted(lines) == sorted(meta_before["DocumentReference.ndjson"].splitlines())
    assert main(["reshard", "--fanout", "1"]) == 0
    assert (git_repo / INDEX).read_bytes() == original
    assert not (git_repo / ".lfs-meta" / "shards-8").exists()
    assert meta_files(git_repo) == meta_before


def test_every_command_reads_and_writes_the_shards(sharded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = shard_path(sharded, 8, "data/d1/f1.vcf")
    other = {path: path.read_bytes() for path in (sharded / ".lfs-meta" / "shards-8").glob("*.json")}
    assert main(["untrack", "data/d1/f1.vcf"]) == 0
    assert "data/d1/f1.vcf" not in json.loads(target.read_text())
    changed = [path for path, data in other.items() if path.read_bytes() != data]
    assert changed == [target]  # one entry's change rewrites its one shard
    assert "data/d1/f1.vcf" not in listed(capsys)


def test_a_file_path_reads_only_its_own_shard_and_a_directory_every_shard(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every other shard made unreadable JSON: commands given a tracked file still work (they never
    read those shards); a directory, or no PATH, reads them all and names the broken one."""
    target = "data/d1/f1.vcf"
    own = shard_path(sharded, 8, target)
    for shard in (sharded / ".lfs-meta" / "shards-8").glob("*.json"):
        if shard != own:
            shard.write_text("{not json")
    assert main(["ls", "--json", target]) == 0
    assert [row["path"] for row in json.loads(capsys.readouterr().out)] == [target]
    assert main(["status", "--json", target]) == 0
    assert [row["path"] for row in json.loads(capsys.readouterr().out)["entries"]] == [target]
    elsewhere = next(path for path in entries(300) if shard_path(sharded, 8, path) != own)
    assert main(["ls", target, elsewhere]) == 1  # a file in another shard: that shard is read
    assert shard_path(sharded, 8, elsewhere).name in capsys.readouterr().err
    for argv in (["ls", "data/d1"], ["ls"], ["status", "data/d1/"]):
        assert main(argv) == 1, argv
        assert ".json" in capsys.readouterr().err, argv


def test_ls_lists_what_its_paths_name_and_refuses_a_path_naming_nothing(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = entries(300)
    for argv, expected in (
        (["data/d1/f1.vcf"], ["data/d1/f1.vcf"]),
        (["data/d2"], sorted(path for path in every if path.startswith("data/d2/"))),
        (
            ["data/d2/", "data/d1/f1.vcf"],
            sorted([*(p for p in every if p.startswith("data/d2/")), "data/d1/f1.vcf"]),
        ),
        ([], sorted(every)),
    ):
        assert main(["ls", "--json", *argv]) == 0
        assert [row["path"] for row in json.loads(capsys.readouterr().out)] == expected, argv
    assert main(["ls", "data/d1/f1.vc"]) == 2  # a prefix of a name is not a directory
    assert capsys.readouterr().err == (
        "lfs-meta: error: .lfs-meta/shards-8: not tracked: data/d1/f1.vc; see 'lfs-meta ls'\n"
    )


def test_validate_suggests_reshard_past_the_band_and_the_band_is_configurable(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(3000))  # about 0.4 MB
    assert main(["validate"]) == 0
    assert "reshard" not in capsys.readouterr().err
    (git_repo / ".lfs-meta" / "config").write_text("[index]\nshard_mb = 1-2\n")
    size = (git_repo / INDEX).stat().st_size
    assert main(["reshard"]) == 0
    assert (git_repo / INDEX).stat().st_size == size  # within the band: stays one file
    (git_repo / ".lfs-meta" / "config").write_text("[index]\nshard_mb = 3-2\n")
    assert main(["validate"]) == 2
    assert "[index] shard_mb is '3-2'" in capsys.readouterr().err


def test_reshard_picks_the_fanout_from_the_band(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(12000))  # about 1.7 MB; a band topping at 1 MB needs 2 files
    assert main(["validate"]) == 0
    (git_repo / ".lfs-meta" / "config").write_text("[index]\nshard_mb = 0-1\n")
    assert main(["validate"]) == 2  # 0 is no size
    (git_repo / ".lfs-meta" / "config").write_text("[index]\nshard_mb = 1-2\n")
    capsys.readouterr()
    assert main(["reshard", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fanout"] == 1
    write_single(git_repo, entries(20000))
    assert main(["validate"]) == 0
    assert "over the 2 MB top of [index] shard_mb; 'lfs-meta reshard'" in capsys.readouterr().err
    assert main(["reshard", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fanout"] == 2 and report["largest_bytes"] <= 2 << 20


# --- the rules across shards ---------------------------------------------------------------------

CROSS_CASES = {
    "a file inside a tracked file": {"data/d1": {"remote_url": "s3://bkt/x", "size": 1}},
    "a unicode twin": {"data/caf\u00e9.vcf": {"remote_url": "s3://bkt/x", "size": 1}},
    "a specimen from two patients": {
        "data/other.vcf": {
            "remote_url": "s3://bkt/x",
            "size": 1,
            "patient": "Patient/zz",
            "specimen": "Specimen/s3",
        }
    },
    "a tracked entry given another patient": {  # changed, not new: Specimen/s3 is Patient/p3's elsewhere
        "data/d3/f3.vcf": {
            "remote_url": "s3://bkt/k3",
            "size": 3,
            "patient": "Patient/zz",
            "specimen": "Specimen/s3",
        }
    },
}


@pytest.mark.parametrize("case", sorted(CROSS_CASES))
def test_a_problem_across_shards_is_found_by_validate_and_by_the_hook_alike(
    sharded: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add(sharded, "data/cafe\u0301.vcf", {"remote_url": "s3://bkt/twin", "size": 1})  # NFD
    commit_all(sharded, dict(os.environ), "base")
    assert main(["validate", "--staged"]) == 0  # warms the note: the next run reads only what changed
    capsys.readouterr()
    ((path, entry),) = CROSS_CASES[case].items()
    add(sharded, path, entry)
    assert main(["validate"]) == 1
    full = {line for line in capsys.readouterr().out.splitlines() if ".json" in line}
    assert git(sharded, "add", "-A").returncode == 0
    assert main(["validate", "--staged"]) == 1
    staged = {
        line.replace(" (staged)", "") for line in capsys.readouterr().out.splitlines() if ".json" in line
    }
    assert full and staged == full
    assert main(["validate", "--staged"]) == 1  # nothing was noted from the failed run
    capsys.readouterr()


def test_an_entry_in_the_wrong_shard_is_named_and_reshard_files_it(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = shard_path(sharded, 8, "data/x.vcf")
    wrong = next(p for p in sorted((sharded / ".lfs-meta" / "shards-8").glob("*.json")) if p != home)
    data = json.loads(wrong.read_text())
    data["data/x.vcf"] = {"remote_url": "s3://bkt/x", "size": 1}
    wrong.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert f"belongs in {home.name}, by its path's hash; run 'lfs-meta reshard'" in out
    assert main(["reshard", "--fanout", "8"]) == 0
    assert "data/x.vcf" in json.loads(home.read_text())
    assert main(["validate"]) == 0


# --- hooks cost the change -----------------------------------------------------------------------


def test_the_commit_hook_maps_only_the_changed_shard_and_gives_what_a_full_run_gives(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = dict(os.environ)
    commit_all(sharded, env, "sharded")
    assert main(["init-meta", "--hook", "--staged"]) == 0
    changed_path = "data/d2/f9.vcf"
    assert main(["untrack", changed_path]) == 0
    assert git(sharded, "add", "-A").returncode == 0
    capsys.readouterr()
    assert main(["init-meta", "--hook", "--staged"]) == 1
    out = capsys.readouterr().out
    part = f"DocumentReference-{shards.number_of(changed_path, 8):x}.ndjson".replace("-0.", ".")
    assert [line.split(":")[0] for line in out.splitlines() if ": wrote" in line] == [f"META/{part}"]
    assert git(sharded, "add", "META").returncode == 0
    assert main(["init-meta", "--hook", "--staged"]) == 0
    incremental = meta_files(sharded)
    shutil.rmtree(sharded / "META")
    shutil.rmtree(sharded / ".git" / "lfs-meta")
    assert main(["init-meta"]) == 0
    assert meta_files(sharded) == incremental  # a full run from nothing gives the same bytes


def test_the_pre_push_hook_reads_only_the_changed_shards(sharded: Path) -> None:
    env = dict(os.environ)
    commit_all(sharded, env, "one")
    first = git(sharded, "rev-parse", "HEAD").stdout.strip()
    assert main(["untrack", "data/d3/f3.vcf"]) == 0
    add(sharded, "data/new.vcf", {"remote_url": "s3://bkt/new", "size": 5})
    commit_all(sharded, env, "two")
    repo = Repo.discover(sharded)
    sent = pushed.entries(
        repo, {"PRE_COMMIT_FROM_REF": first, "PRE_COMMIT_TO_REF": "HEAD"}, changed_only=True
    )
    assert list(sent) == ["data/new.vcf"]
    assert len(pushed.entries(repo, {"PRE_COMMIT_TO_REF": "HEAD"}, changed_only=False)) == 300


# --- merges --------------------------------------------------------------------------------------


def test_a_branch_made_before_a_reshard_merges_into_one_made_after_with_one_command(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = dict(os.environ)
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(100))
    commit_all(git_repo, env, "base")
    assert git(git_repo, "checkout", "-qb", "old").returncode == 0
    write_single(git_repo, {**entries(100), **entries(5, start=500)})
    commit_all(git_repo, env, "old adds five")
    assert git(git_repo, "checkout", "-q", "main").returncode == 0
    assert main(["reshard", "--fanout", "4"]) == 0
    assert main(["untrack", "data/d0/f0.vcf"]) == 0
    commit_all(git_repo, env, "reshard, untrack one")
    merged = git(git_repo, "merge", "--no-edit", "old", env=env)
    assert merged.returncode != 0  # the one file: changed there, deleted here
    assert main(["ls"]) == 2
    assert "run 'lfs-meta reshard' to merge them into one" in capsys.readouterr().err
    assert main(["reshard"]) == 0
    expected = set(entries(100)) - {"data/d0/f0.vcf"} | set(entries(5, start=500))
    assert set(listed(capsys)) == expected
    assert not (git_repo / INDEX).exists()
    assert main(["validate"]) == 0
    commit_all(git_repo, env, "merge")


def test_two_branches_adding_entries_to_a_sharded_index_merge_index_and_meta_without_conflict(
    sharded: Path, cli_env: dict[str, str]
) -> None:
    env = cli_env  # git runs the merge driver: lfs-meta on PATH
    assert main(["install-merge-driver"]) == 0
    assert main(["init-meta"]) == 0
    commit_all(sharded, env, "base")
    # Both sides add to one shard (so to one DocumentReference part), and to others.
    same = [f"data/n{i}.vcf" for i in range(200) if shards.number_of(f"data/n{i}.vcf", 8) == 3][:4]
    assert git(sharded, "checkout", "-qb", "side").returncode == 0
    for path in (same[0], same[1], "data/side.vcf"):
        add(sharded, path, {"remote_url": f"s3://bkt/{path}", "size": 1, "patient": "Patient/new"})
    assert main(["init-meta"]) == 0
    commit_all(sharded, env, "side")
    assert git(sharded, "checkout", "-q", "main").returncode == 0
    for path in (same[2], same[3], "data/main.vcf"):
        add(sharded, path, {"remote_url": f"s3://bkt/{path}", "size": 1, "patient": "Patient/new"})
    assert main(["init-meta"]) == 0
    commit_all(sharded, env, "main")
    merged = git(sharded, "merge", "--no-edit", "side", env=env)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert main(["validate"]) == 0
    assert len(Repo.discover(sharded).index.load()) == 306
    as_merged = meta_files(sharded)
    assert main(["init-meta", "--check"]) == 0  # META/ as merged is what the merged index gives
    assert meta_files(sharded) == as_merged


# --- hostile layouts -----------------------------------------------------------------------------


def test_a_linked_shard_directory_or_shard_is_refused_in_one_line(
    sharded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(sharded / ".lfs-meta" / "shards-8", elsewhere)
    (sharded / ".lfs-meta" / "shards-8").symlink_to(elsewhere)
    for argv in (["ls"], ["validate"], ["untrack", "data/d1/f1.vcf"], ["init-meta"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "link" in err[0], (argv, err)
    (sharded / ".lfs-meta" / "shards-8").unlink()
    shutil.move(elsewhere, sharded / ".lfs-meta" / "shards-8")
    victim = sharded / ".lfs-meta" / "shards-8" / "0.json"
    outside = tmp_path / "outside.json"
    shutil.move(victim, outside)
    victim.symlink_to(outside)
    before = outside.read_bytes()
    assert main(["untrack", "data/d1/f1.vcf"]) == 2
    assert outside.read_bytes() == before  # never written through the link


# --- a change costs its shards, not the index ----------------------------------------------------


def reads_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shard files read from now on, by name, as the Layout reads them (in this process)."""
    monkeypatch.setattr(processes, "MIN_PARTS", 10_000)
    names: list[str] = []
    real_read = Layout.read

    def counted(self: Layout, path: Path) -> bytes | Problem:
        names.append(path.name)
        return real_read(self, path)

    monkeypatch.setattr(Layout, "read", counted)
    return names


def track(tmp_path: Path, path: str, *more: str) -> int:
    source = tmp_path / f"object-{len(path)}-{abs(hash(path))}"
    source.write_bytes(path.encode())
    return main(["track-remote", source.as_uri(), "--path", path, *more])


def shard_bytes(repo: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (repo / ".lfs-meta" / "shards-8").glob("*.json")}


def test_a_change_reads_only_its_own_shards_once_the_note_has_seen_the_others(
    sharded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rows, "_SETTLED_NS", 0)  # no clock tick to wait out in a test
    reads = reads_of(monkeypatch)
    assert track(tmp_path, "new/a.vcf") == 0
    assert len(reads) == 8 + 1  # a fresh note: every shard once, then the target's to change it
    own = {shard_path(sharded, 8, path).name for path in ("new/dir/b.vcf", "new/dir/c.vcf")}
    reads.clear()
    assert track(tmp_path, "new/dir/b.vcf") == 0 and track(tmp_path, "new/dir/c.vcf") == 0
    assert set(reads) == own and len(reads) == 2
    reads.clear()
    assert main(["untrack", "new/dir"]) == 0  # a directory: its entries' shards, found in the note
    assert "untracked 2: new/dir/b.vcf, new/dir/c.vcf" in capsys.readouterr().out
    assert set(reads) == own
    reads.clear()
    assert track(tmp_path, "new/a.vcf/inside.vcf") == 1  # the rules across shards, from the note
    assert "'new/a.vcf' is tracked as a file" in capsys.readouterr().err
    assert reads == [shard_path(sharded, 8, "new/a.vcf/inside.vcf").name]
    assert main(["validate"]) == 0


def test_a_hand_edit_since_the_note_saw_a_shard_is_read_before_a_change_is_checked(
    sharded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rows, "_SETTLED_NS", 0)
    assert track(tmp_path, "new/a.vcf") == 0
    file_over, inside = "hand/made", "hand/made/inside.vcf"
    assert shard_path(sharded, 8, file_over) != shard_path(sharded, 8, inside)
    add(sharded, file_over, {"remote_url": "s3://bkt/hand", "size": 1})
    before = shard_bytes(sharded)
    capsys.readouterr()
    assert track(tmp_path, inside) == 1
    assert "'hand/made' is tracked as a file" in capsys.readouterr().err
    assert shard_bytes(sharded) == before


def test_a_change_that_skips_the_note_leaves_a_shard_edited_since_to_be_read_again(
    sharded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """untrack of a file needs no note; the shard it rewrites, edited by hand since the note saw it,
    must not be taken as noted: the next change is checked against what that edit brought."""
    monkeypatch.setattr(rows, "_SETTLED_NS", 0)
    assert track(tmp_path, "new/a.vcf") == 0
    hand = {"remote_url": "s3://bkt/x", "size": 1, "specimen": "Specimen/new", "patient": "Patient/A"}
    add(sharded, "hand/x.vcf", hand)
    shard = shard_path(sharded, 8, "hand/x.vcf")
    assert shard != shard_path(sharded, 8, "z/z.vcf")
    assert (
        main(["untrack", next(path for path in entries(300) if shard_path(sharded, 8, path) == shard)]) == 0
    )
    capsys.readouterr()
    assert track(tmp_path, "z/z.vcf", "--specimen", "Specimen/new", "--patient", "Patient/B") == 1
    assert "Specimen/new is from Patient/A" in capsys.readouterr().err


def test_a_note_that_fails_while_it_is_brought_current_records_nothing(
    sharded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk ends SQLite's transaction by itself: the note must stop there, not go on
    recording (each statement then committed at once) rows that were never checked together."""
    monkeypatch.setattr(rows, "_SETTLED_NS", 0)
    assert track(tmp_path, "new/a.vcf") == 0
    first, second = "hand/one.vcf", "hand/two.vcf"
    assert shard_path(sharded, 8, first) != shard_path(sharded, 8, second)
    add(
        sharded,
        first,
        {"remote_url": "s3://bkt/1", "size": 1, "specimen": "Specimen/q", "patient": "Patient/A"},
    )
    add(
        sharded,
        second,
        {"remote_url": "s3://bkt/2", "size": 1, "specimen": "Specimen/q", "patient": "Patient/B"},
    )
    real_saw = rows.Note.saw

    def disk_full(note: rows.Note, number: int, stat: rows.Stat) -> None:
        note.db.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rows.Note, "saw", disk_full)
    capsys.readouterr()
    assert track(tmp_path, "new/b.vcf") == 2
    assert "database or disk is full; remove it (it is only a cache)" in capsys.readouterr().err
    monkeypatch.setattr(rows.Note, "saw", real_saw)
    assert track(tmp_path, "new/b.vcf") == 1
    assert "Specimen/q is from Patient/" in capsys.readouterr().err


def test_a_shard_edited_in_place_to_its_own_size_and_times_is_still_read_again(
    sharded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Size and mtime kept (os.utime) do not hide an edit: the note compares the change time too."""
    monkeypatch.setattr(rows, "_SETTLED_NS", 0)
    assert track(tmp_path, "new/a.vcf") == 0
    path = next(p for p, entry in entries(300).items() if entry["specimen"] == "Specimen/s3")
    shard = shard_path(sharded, 8, path)
    info = shard.stat()
    text = shard.read_text()
    edited = text.replace(
        f'"{path}": {{\n    "patient": "Patient/p3"', f'"{path}": {{\n    "patient": "Patient/p4"'
    )
    assert edited != text and len(edited) == len(text)
    with shard.open("r+") as stream:  # in place: the same file, its size unchanged
        stream.write(edited)
    os.utime(shard, ns=(info.st_atime_ns, info.st_mtime_ns))
    capsys.readouterr()
    assert track(tmp_path, "new/b.vcf") == 1
    err = capsys.readouterr().err
    assert "Specimen/s3 is from" in err and "run 'lfs-meta validate'" in err


def test_a_pass_after_the_first_parses_only_what_it_keeps_and_checks_again_what_changed(
    sharded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "MIN_PARTS", 10_000)  # here, so the full parses can be counted
    full: list[int] = []
    real_parse = layouts.parse_shard

    def counted(raw: bytes, number: int, fanout: int) -> tuple[Any, list[Problem]]:
        full.append(number)
        return real_parse(raw, number, fanout)

    monkeypatch.setattr(layouts, "parse_shard", counted)
    passes = Passes(Repo.discover(sharded).index)
    assert sum(len(part) for part in passes(None)) == 300 and len(full) == 8
    kept = [path for part in passes(lambda url: url.endswith("7")) for path in part]
    assert len(full) == 8 and sorted(kept) == sorted(
        path for path, entry in entries(300).items() if str(entry["remote_url"]).endswith("7")
    )
    add(sharded, "data/new.vcf", {"remote_url": "s3://bkt/new7", "size": 1})
    kept = [path for part in passes(lambda url: url.endswith("7")) for path in part]
    assert full[8:] == [shards.number_of("data/new.vcf", 8)] and "data/new.vcf" in kept
    add(sharded, "data/bad.vcf", {"remote_url": "s3://bkt/bad7", "size": -1})
    with pytest.raises(CheckFailed, match="size"):
        list(passes(lambda url: True))


def test_a_stat_is_trusted_only_once_the_file_is_older_than_when_it_was_seen() -> None:
    with rows.Note.open(None, 8) as note:
        note.replace(3, "blob", [])
        now = time.time_ns()
        note.saw(3, (10, now, now, 7))  # written in the tick it was seen: it may change within it
        assert not note.settled(3, (10, now, now, 7))
        old = now - 5_000_000_000
        note.saw(3, (10, old, old, 7))
        assert note.settled(3, (10, old, old, 7))
        assert not note.settled(3, (10, old, old + 1, 7))  # changed since: its change time says so
        assert not note.settled(4, (10, old, old, 7))  # never seen


def _track_many(root: str, worker: int, count: int) -> None:
    os.chdir(root)
    for i in range(count):
        source = Path(root).parent / f"w{worker}-{i}"
        source.write_bytes(b"x" * i)
        assert main(["track-remote", source.as_uri(), "--path", f"w{worker}/f{i}.vcf"]) == 0


def test_parallel_writers_of_a_sharded_index_lose_nothing_and_leave_the_note_current(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workers, per_worker = 4, 8
    in_processes(_track_many, [(str(sharded), worker, per_worker) for worker in range(workers)])
    assert len(listed(capsys)) == 300 + workers * per_worker
    assert main(["validate"]) == 0
    with contextlib.closing(sqlite3.connect(sharded / ".git" / "lfs-meta" / "index-8.sqlite")) as note:
        assert note.execute("SELECT count(*) FROM entry").fetchone() == (300 + workers * per_worker,)


@pytest.mark.parametrize("name", ["shards-3", "shards-0"])
def test_a_shard_directory_that_states_no_fanout_is_a_usage_error(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / ".lfs-meta" / name).mkdir(parents=True)
    assert main(["ls"]) == 2
    assert f"{name}: not a shard directory" in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "a/b", "a/b/c", "c", "c/d", "e", "caf\u00e9", "cafe\u0301"]), unique=True)
)
def test_the_rules_across_files_agree_with_the_one_file_rules(keys: list[str]) -> None:
    from lfs_meta.index import rules

    index = {key: {"remote_url": "s3://bkt/x", "size": 1} for key in keys}
    one_file = {(p.pointer, p.message) for p in rules.find_problems(index)}
    references = [(key, None, None) for key in keys]
    by_key = {json_pointer(key): key for key in keys}
    across = {
        (json_pointer(key), problem.message)
        for key, problem in rules.cross_file_problems(references, lambda k: k)
    }
    assert {(pointer, message) for pointer, message in one_file if pointer in by_key} == across


def json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def test_notes_left_by_other_code_are_started_over_and_then_kept(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_all(sharded, dict(os.environ), "sharded")
    notes = sharded / ".git" / "lfs-meta"
    shutil.rmtree(notes, ignore_errors=True)
    notes.mkdir()
    for name in ("index-8.sqlite", "meta-parts.sqlite"):  # tables as an older lfs-meta made them
        with contextlib.closing(sqlite3.connect(notes / name)) as old:
            old.executescript(
                "CREATE TABLE state (version TEXT); INSERT INTO state VALUES ('1');"
                "CREATE TABLE part (name TEXT PRIMARY KEY, blob TEXT); CREATE TABLE entry (path TEXT);"
            )
            old.commit()
    assert main(["validate", "--staged"]) == 0
    assert main(["init-meta", "--hook", "--staged"]) == 0
    with contextlib.closing(sqlite3.connect(notes / "index-8.sqlite")) as note:
        assert note.execute("SELECT count(*) FROM entry").fetchone() == (300,)
    with contextlib.closing(sqlite3.connect(notes / "meta-parts.sqlite")) as note:
        (parts,) = note.execute("SELECT count(*) FROM part WHERE type = 'Patient'").fetchone()
    assert parts == len(list((sharded / "META").glob("Patient*.ndjson"))) > 0
    add(sharded, "data/d1", {"remote_url": "s3://bkt/x", "size": 1})  # now read through the kept note
    assert git(sharded, "add", "-A").returncode == 0
    capsys.readouterr()
    assert main(["validate", "--staged"]) == 1
    assert "'data/d1' is tracked as a file" in capsys.readouterr().out


@pytest.mark.parametrize("module", [urls, paths, strictjson, rules])
def test_the_index_note_is_started_over_when_any_module_deciding_its_rows_changes(
    module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = rows._code_key()
    assert before is not None
    edited = tmp_path / "edited.py"
    edited.write_bytes(Path(str(module.__file__)).read_bytes() + b"\n# a new rule\n")
    monkeypatch.setattr(module, "__spec__", importlib.util.spec_from_file_location(module.__name__, edited))
    assert rows._code_key() not in (before, None)


def test_a_corrupt_note_costs_a_full_run_not_a_wrong_answer(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_all(sharded, dict(os.environ), "sharded")
    assert main(["validate", "--staged"]) == 0
    assert main(["init-meta", "--hook", "--staged"]) == 0
    for note in (sharded / ".git" / "lfs-meta").glob("*.sqlite"):
        note.write_bytes(b"not a database" * 100)
    add(sharded, "data/d1", {"remote_url": "s3://bkt/x", "size": 1})  # a file over a directory
    assert git(sharded, "add", "-A").returncode == 0
    capsys.readouterr()
    assert main(["validate", "--staged"]) == 1
    assert "'data/d1' is tracked as a file" in capsys.readouterr().out
    assert main(["init-meta", "--hook", "--staged"]) == 1  # an invalid index is not mapped
    assert "META/ was left as it was" in capsys.readouterr().err


def test_a_merge_with_a_branch_gone_back_to_one_file_keeps_the_other_sides_deletion(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = dict(os.environ)
    commit_all(sharded, env, "sharded base")
    assert git(sharded, "checkout", "-qb", "single").returncode == 0
    assert main(["reshard", "--fanout", "1"]) == 0
    commit_all(sharded, env, "back to one file")
    assert git(sharded, "checkout", "-q", "main").returncode == 0
    assert main(["untrack", "data/d2/f2.vcf"]) == 0
    commit_all(sharded, env, "untrack one")
    assert git(sharded, "merge", "--no-edit", "single", env=env).returncode != 0
    assert main(["reshard"]) == 0
    assert set(listed(capsys)) == set(entries(300)) - {"data/d2/f2.vcf"}


def test_parts_left_staged_by_the_sharded_layout_fail_the_one_file_hook(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_all(sharded, dict(os.environ), "sharded")
    parts = [f"META/{name}" for name in meta_files(sharded) if "-" in name]
    assert "META/DocumentReference-1.ndjson" in parts
    assert main(["reshard", "--fanout", "1"]) == 0
    assert not any("-" in name for name in meta_files(sharded))  # gone from disk, still staged
    now = [".lfs-meta/metadata.json", *(f"META/{name}" for name in meta_files(sharded))]
    assert git(sharded, "add", *now).returncode == 0
    capsys.readouterr()
    assert main(["init-meta", "--hook", "--staged", "--json"]) == 1
    assert sorted(json.loads(capsys.readouterr().out)["unstaged"]) == sorted(parts)
    assert git(sharded, "add", "-A", "META").returncode == 0
    capsys.readouterr()
    assert main(["init-meta", "--hook", "--staged"]) == 0


def test_meta_keeps_its_gitattributes_and_a_dotfile_among_shards_is_no_problem(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(sharded / "META")
    assert main(["init-meta"]) == 0
    assert "!filter" in (sharded / "META" / ".gitattributes").read_text()
    (sharded / ".lfs-meta" / "shards-8" / ".DS_Store").write_bytes(b"\0")
    assert git(sharded, "add", "-A").returncode == 0
    capsys.readouterr()
    assert main(["validate", "--staged"]) == 0
    assert main(["validate"]) == 0


def test_a_commit_staging_both_layouts_is_refused_by_the_hook(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(30))
    commit_all(git_repo, dict(os.environ), "one file")
    assert main(["reshard", "--fanout", "4"]) == 0
    assert git(git_repo, "add", ".lfs-meta/shards-4").returncode == 0  # the one file's deletion not staged
    capsys.readouterr()
    assert main(["validate", "--staged"]) == 1
    assert "a commit must hold the index in one layout" in capsys.readouterr().out


@pytest.mark.parametrize("fanout", [1, 8])
def test_files_left_aside_in_meta_by_a_killed_init_meta_are_removed_by_the_next(
    fanout: int, git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_single(git_repo, entries(30))
    assert main(["reshard", "--fanout", str(fanout)]) == 0
    assert main(["init-meta"]) == 0
    meta = meta_files(git_repo)
    ended = subprocess.Popen(["true"])
    ended.wait()
    left = git_repo / "META" / f".DocumentReference.ndjson.{ended.pid}.0badcafe.tmp"
    running = git_repo / "META" / f".DocumentReference.ndjson.{os.getpid()}.0badcafe.tmp"
    other = git_repo / "META" / f".notes.txt.{ended.pid}.0badcafe.tmp"  # not a file init-meta writes
    for path in (left, running, other):
        path.write_bytes(b"{}\n")
    capsys.readouterr()
    assert main(["init-meta", "--check"]) == 0
    assert left.exists()  # a check writes nothing, removes nothing
    assert main(["init-meta"]) == 0
    assert (left.exists(), running.exists(), other.exists()) == (False, True, True)
    assert meta_files(git_repo) == meta
