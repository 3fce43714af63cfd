"""A team's loop, for real: two collaborators, each in a clone of one remote, each track a different
file; merge, rebase, cherry-pick and stash pop then never conflict, with nothing set up beyond the
hooks, in the one-file layout, under git-lfs rules for *.json and *.ndjson, and sharded; and with the
pre-commit framework, where lfs-meta is installed only in pre-commit's own environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lfs_meta import mergeconfig
from lfs_meta.cli import main
from lfs_meta.index import attributes

from conftest import BIN, PRE_COMMIT_CONFIG, commit_all, git, lfs_meta, pre_commit

LFS_RULES = "*.json filter=lfs diff=lfs merge=lfs -text\n*.ndjson filter=lfs diff=lfs merge=lfs -text\n"
INDEX = ".lfs-meta/metadata.json"


@dataclass(frozen=True)
class Team:
    alice: Path
    bob: Path
    store: Path  # the "bucket": file:// objects
    env: dict[str, str]

    def track(self, repo: Path, name: str, patient: str | None = None) -> None:
        """track-remote and init-meta, as the README's loop runs them."""
        source = self.store / name
        source.write_text(name)
        patient = patient or f"Patient/{name.partition('.')[0]}"
        done = lfs_meta(
            repo, self.env, "track-remote", source.as_uri(), "--path", f"data/{name}", "--patient", patient
        )
        assert done.returncode == 0, done.stderr
        done = lfs_meta(repo, self.env, "init-meta")
        assert done.returncode == 0, done.stderr

    def run(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return git(repo, *args, env=self.env)


def tracked(repo: Path, env: dict[str, str]) -> list[str]:
    done = lfs_meta(repo, env, "ls", "--json")
    assert done.returncode == 0, done.stderr
    return sorted(row["path"] for row in json.loads(done.stdout))


def assert_settled(
    repo: Path, env: dict[str, str], done: subprocess.CompletedProcess[str], paths: list[str]
) -> None:
    """The operation ended without a conflict, the index holds `paths`, META/ is what it gives, and
    every file of lfs-meta's is stored as itself (never as a git-lfs pointer)."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "diff", "--name-only", "--diff-filter=U").stdout == ""
    assert tracked(repo, env) == paths
    assert lfs_meta(repo, env, "validate").returncode == 0
    current = lfs_meta(repo, env, "init-meta", "--check")
    assert current.returncode == 0, current.stdout  # META/ is current: nothing to regenerate
    documents = [
        json.loads(line)["identifier"][0]["value"]
        for part in (repo / "META").glob("DocumentReference*.ndjson")
        for line in part.read_text().splitlines()
    ]
    assert sorted(documents) == paths
    for name in git(repo, "ls-files", "-z", ".lfs-meta", "META").stdout.split("\0"):
        if name.endswith((".json", ".ndjson")):
            stored = git(repo, "cat-file", "-p", f":./{name}").stdout  # from the project, maybe below the top
            assert stored.startswith("{"), (name, stored[:80])


def clone(remote: Path, where: Path, env: dict[str, str]) -> Path:
    done = subprocess.run(
        ["git", "clone", "-q", str(remote), str(where)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for key, value in (
        ("user.name", where.name),
        ("user.email", f"{where.name}@example.invalid"),
        ("commit.gpgsign", "false"),
    ):
        assert git(where, "config", key, value).returncode == 0
    return where


SETUPS = ("one file", "git-lfs rules", "sharded")


@pytest.fixture(params=SETUPS)
def team(request: pytest.FixtureRequest, git_repo: Path, tmp_path: Path, cli_env: dict[str, str]) -> Team:
    """Alice's repository with one tracked file, pushed; Bob's fresh clone of it with the hooks
    installed and nothing else (no install-merge-driver)."""
    setup = request.param
    store = tmp_path / "store"
    store.mkdir()
    remote = tmp_path / "remote.git"
    assert (
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=False).returncode
        == 0
    )
    alice = git_repo
    team = Team(alice, tmp_path / "bob", store, cli_env)
    assert git(alice, "config", "--remove-section", f"merge.{mergeconfig.NAME}").returncode == 0
    if setup == "git-lfs rules":  # git-lfs first: lfs-meta's hooks chain its hooks
        assert team.run(alice, "lfs", "install", "--local").returncode == 0
        (alice / ".gitattributes").write_text(LFS_RULES)
    assert lfs_meta(alice, cli_env, "install-hooks").returncode == 0
    team.track(alice, "base.txt")
    if setup == "sharded":
        assert lfs_meta(alice, cli_env, "reshard", "--fanout", "4").returncode == 0
    commit_all(alice, cli_env, "base")
    assert git(alice, "remote", "add", "origin", str(remote)).returncode == 0
    assert team.run(alice, "push", "-q", "-u", "origin", "main").returncode == 0
    bob = clone(remote, team.bob, cli_env)
    assert git(bob, "config", "--local", "--get", mergeconfig.KEY).returncode == 1  # a fresh clone: none
    if setup == "git-lfs rules":
        assert team.run(bob, "lfs", "install", "--local").returncode == 0
    assert lfs_meta(bob, cli_env, "install-hooks").returncode == 0
    return team


def each_tracks_one(team: Team) -> None:
    """Alice tracks a.txt and pushes; Bob tracks b.txt and commits."""
    team.track(team.alice, "a.txt")
    commit_all(team.alice, team.env, "a")
    assert team.run(team.alice, "push", "-q", "origin", "main").returncode == 0
    team.track(team.bob, "b.txt")
    commit_all(team.bob, team.env, "b")


BOTH = ["data/a.txt", "data/b.txt", "data/base.txt"]


def test_pull_merges(team: Team) -> None:
    each_tracks_one(team)
    done = team.run(team.bob, "pull", "--no-rebase", "--no-edit", "origin", "main")
    assert_settled(team.bob, team.env, done, BOTH)
    assert team.run(team.bob, "status", "--porcelain").stdout == ""


def test_pull_rebases(team: Team) -> None:
    each_tracks_one(team)
    done = team.run(team.bob, "pull", "--rebase", "origin", "main")
    assert_settled(team.bob, team.env, done, BOTH)
    assert team.run(team.bob, "status", "--porcelain").stdout == ""
    assert team.run(team.bob, "rev-list", "--merges", "HEAD").stdout == ""  # replayed, not merged


def test_cherry_pick(team: Team) -> None:
    each_tracks_one(team)
    assert team.run(team.bob, "fetch", "-q", "origin").returncode == 0
    done = team.run(team.bob, "cherry-pick", "origin/main")
    assert_settled(team.bob, team.env, done, BOTH)
    assert team.run(team.bob, "status", "--porcelain").stdout == ""


def test_stash_pop(team: Team) -> None:
    team.track(team.alice, "a.txt")
    commit_all(team.alice, team.env, "a")
    assert team.run(team.alice, "push", "-q", "origin", "main").returncode == 0
    team.track(team.bob, "b.txt")  # not committed
    assert team.run(team.bob, "stash", "-q").returncode == 0
    assert team.run(team.bob, "pull", "-q", "--ff-only", "origin", "main").returncode == 0
    done = team.run(team.bob, "stash", "pop", "-q")
    assert_settled(team.bob, team.env, done, BOTH)


def add_by_hand(repo: Path, store: Path, name: str) -> None:
    """An entry written into the index by hand: Bob has no lfs-meta of his own to run."""
    source = store / name
    source.write_text(name)
    index = repo / INDEX
    entries = json.loads(index.read_text())
    entries[f"data/{name}"] = {"remote_url": source.as_uri(), "size": len(name)}
    index.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def commit_through_hooks(repo: Path, env: dict[str, str], message: str) -> None:
    """git commit, which lfs-meta-fhir stops once to regenerate META/; add it and commit again."""
    assert git(repo, "add", "-A").returncode == 0
    first = git(repo, "commit", "-qm", message, env=env)
    assert first.returncode == 1 and "git add META" in first.stdout + first.stderr, first.stdout
    commit_all(repo, env, message)


def test_pre_commit_framework_in_a_collaborators_fresh_clone_merges_then_rebases(
    git_repo: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    hook_repo: tuple[Path, str],
    hook_env: dict[str, str],
    pre_commit_home: Path,
) -> None:
    repo_path, rev = hook_repo
    team = Team(git_repo, tmp_path / "bob", tmp_path / "store", hook_env)
    team.store.mkdir()
    remote = tmp_path / "remote.git"
    assert git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote)).returncode == 0
    alice = team.alice
    (alice / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG.format(repo=repo_path, rev=rev))
    assert pre_commit("install", cwd=alice, env=hook_env).returncode == 0
    team.track(alice, "base.txt")
    commit_all(alice, hook_env, "base")
    assert git(alice, "remote", "add", "origin", str(remote)).returncode == 0
    assert team.run(alice, "push", "-q", "-u", "origin", "main").returncode == 0

    # Bob: lfs-meta only in pre-commit's environment, not on PATH; pre-commit called by its path.
    bob_env = dict(hook_env)
    bob_env["PATH"] = os.pathsep.join(
        part for part in hook_env["PATH"].split(os.pathsep) if Path(part) != BIN
    )
    assert shutil.which("lfs-meta", path=bob_env["PATH"]) is None
    bob = clone(remote, team.bob, bob_env)
    installed = pre_commit("install", cwd=bob, env=bob_env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    add_by_hand(bob, team.store, "bob1.txt")
    commit_through_hooks(bob, bob_env, "bob1")
    configured = git(bob, "config", "--get", mergeconfig.KEY).stdout
    assert configured.startswith(str(pre_commit_home)), configured  # pre-commit's own interpreter
    assert configured.endswith(" -P -m lfs_meta merge-driver %O %A %B %P\n")

    team.track(alice, "a1.txt")
    commit_all(alice, hook_env, "a1")
    assert team.run(alice, "push", "-q", "origin", "main").returncode == 0
    merged = git(bob, "pull", "--no-rebase", "--no-edit", "origin", "main", env=bob_env)
    assert_settled(bob, cli_env, merged, ["data/a1.txt", "data/base.txt", "data/bob1.txt"])
    pushed = git(bob, "push", "-q", "origin", "main", env=bob_env)  # the drift hook, from pre-commit's env
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    assert team.run(alice, "pull", "-q", "--ff-only", "origin", "main").returncode == 0
    team.track(alice, "a2.txt")
    commit_all(alice, hook_env, "a2")
    assert team.run(alice, "push", "-q", "origin", "main").returncode == 0
    add_by_hand(bob, team.store, "bob2.txt")
    commit_through_hooks(bob, bob_env, "bob2")
    rebased = git(bob, "pull", "--rebase", "origin", "main", env=bob_env)
    everything = ["data/a1.txt", "data/a2.txt", "data/base.txt", "data/bob1.txt", "data/bob2.txt"]
    assert_settled(bob, cli_env, rebased, everything)
    assert git(bob, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("team", ["one file"], indirect=True)
def test_a_clone_without_the_driver_is_named_by_doctor_and_its_conflicted_merge_redone(team: Team) -> None:
    """A merge made before anything set the driver (hooks installed just before it) falls back to
    git's line merge; doctor names the clone, and the README's recovery merges again with the driver."""
    each_tracks_one(team)
    bob, env = team.bob, team.env
    assert git(bob, "config", "--remove-section", f"merge.{mergeconfig.NAME}").returncode == 0
    doctor = lfs_meta(bob, env, "doctor")
    assert doctor.returncode == 1
    assert (
        "merge: .gitattributes ask for merge=lfs-meta, but this clone's git config has no "
        "merge.lfs-meta.driver, so git merges the index and META/ line by line; run 'lfs-meta "
        "install-merge-driver' (the hooks set it too)\n"
    ) in doctor.stdout
    conflicted = team.run(bob, "pull", "--no-rebase", "--no-edit", "origin", "main")
    assert conflicted.returncode == 1
    unmerged = git(bob, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert unmerged == [INDEX, "META/DocumentReference.ndjson", "META/Patient.ndjson"]

    assert lfs_meta(bob, env, "install-merge-driver").returncode == 0
    assert team.run(bob, "checkout", "-m", "--", ".lfs-meta", "META").returncode == 0
    assert git(bob, "add", ".lfs-meta", "META").returncode == 0
    committed = team.run(bob, "commit", "--no-edit")  # through the pre-commit hook
    assert_settled(bob, env, committed, BOTH)
    assert "merge: .lfs-meta/metadata.json, META/DocumentReference.ndjson merge entry by entry" in (
        lfs_meta(bob, env, "doctor").stdout
    )


@pytest.mark.parametrize("fanout", ["1", "2"])
def test_an_earlier_lfs_metas_meta_gitattributes_is_updated_and_a_users_own_kept(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str], fanout: str
) -> None:
    team = Team(git_repo, tmp_path / "unused", tmp_path / "store", cli_env)
    team.store.mkdir()
    team.track(git_repo, "a.txt")
    assert lfs_meta(git_repo, cli_env, "reshard", "--fanout", fanout).returncode == 0
    rules = git_repo / "META" / ".gitattributes"
    assert rules.read_text() == attributes.META_RULES
    rules.write_text(attributes.EARLIER_META_RULES)
    doctor = lfs_meta(git_repo, cli_env, "doctor").stdout
    assert (
        "merge: META/DocumentReference.ndjson is merged by git's line merge, not lfs-meta's driver" in doctor
    )
    after_checkout = lfs_meta(git_repo, cli_env | {"PRE_COMMIT_CHECKOUT_TYPE": "1"}, "init-meta")
    assert (
        after_checkout.returncode == 0 and rules.read_text() == attributes.EARLIER_META_RULES
    )  # as committed
    assert git(git_repo, "add", "-A").returncode == 0
    hook = lfs_meta(git_repo, cli_env, "init-meta", "--hook", "--staged")  # a commit: stopped once
    assert hook.returncode == 1
    assert "META/.gitattributes: now asks for lfs-meta's merge driver; run 'git add META'\n" in hook.stdout
    assert rules.read_text() == attributes.META_RULES
    assert (
        "META/DocumentReference.ndjson merge entry by entry" in lfs_meta(git_repo, cli_env, "doctor").stdout
    )

    own = "/*.ndjson -diff\n"
    rules.write_text(own)
    assert lfs_meta(git_repo, cli_env, "init-meta").returncode == 0
    assert rules.read_text() == own


@pytest.mark.parametrize("team", ["one file"], indirect=True)
def test_one_path_tracked_differently_by_both_is_a_conflict_named_in_the_index_and_meta(team: Team) -> None:
    for repo, body in ((team.alice, "alice's"), (team.bob, "bob's, longer")):
        source = team.store / f"{repo.name}.txt"
        source.write_text(body)
        done = lfs_meta(repo, team.env, "track-remote", source.as_uri(), "--path", "data/same.txt")
        assert done.returncode == 0, done.stderr
        assert lfs_meta(repo, team.env, "init-meta").returncode == 0
        commit_all(repo, team.env, f"same.txt from {repo.name}")
    assert team.run(team.alice, "push", "-q", "origin", "main").returncode == 0
    conflicted = team.run(team.bob, "pull", "--no-rebase", "--no-edit", "origin", "main")
    assert conflicted.returncode == 1
    said = conflicted.stdout + conflicted.stderr
    assert (
        "lfs-meta: .lfs-meta/metadata.json: data/same.txt changed differently on both sides (our version "
        "kept for now); take one side per path with 'lfs-meta merge-resolve --ours|--theirs PATH...'"
    ) in said
    assert (
        "lfs-meta: META/DocumentReference.ndjson: data/same.txt changed differently on both sides (ours kept "
        "for now); once the index is merged ('lfs-meta merge-resolve' where it conflicts too), run 'lfs-meta "
        "init-meta' and 'git add META'"
    ) in said
    assert "<<<<<<<" not in (team.bob / INDEX).read_text()  # valid JSON, ours for now

    resolved = lfs_meta(team.bob, team.env, "merge-resolve", "--theirs", "data/same.txt")
    assert resolved.stdout == (
        "took theirs for data/same.txt; now run 'lfs-meta init-meta' (META/ follows the index), then "
        "'git add .lfs-meta/metadata.json META' and commit\n"
    )
    assert lfs_meta(team.bob, team.env, "init-meta").returncode == 0
    assert git(team.bob, "add", INDEX, "META").returncode == 0
    committed = team.run(team.bob, "commit", "--no-edit")
    assert_settled(team.bob, team.env, committed, ["data/base.txt", "data/same.txt"])
    recorded = json.loads((team.bob / INDEX).read_text())["data/same.txt"]
    assert recorded["remote_url"].endswith("/repo.txt")  # Alice's object: theirs, from Bob's side


def test_a_project_below_the_top_of_the_work_tree_merges_its_sharded_meta_in_its_own_order(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """git runs the driver from the top of the work tree; the layout is that of the project the file
    is in (its nearest .lfs-meta/), not of the top."""
    project = git_repo / "proj"
    (project / ".lfs-meta").mkdir(parents=True)
    team = Team(project, tmp_path / "unused", tmp_path / "store", cli_env)
    team.store.mkdir()
    team.track(project, "base.txt")
    assert lfs_meta(project, cli_env, "reshard", "--fanout", "2").returncode == 0
    commit_all(git_repo, cli_env, "base")
    for branch, names in (
        ("left", ("l1.txt", "l2.txt", "l3.txt")),
        ("right", ("r1.txt", "r2.txt", "r3.txt")),
    ):
        assert git(git_repo, "checkout", "-q", "-b", branch, "main").returncode == 0
        for name in names:
            team.track(project, name)
        commit_all(git_repo, cli_env, branch)
    merged = git(git_repo, "merge", "--no-edit", "left", env=cli_env)
    everything = sorted(
        f"data/{name}" for name in ("base.txt", "l1.txt", "l2.txt", "l3.txt", "r1.txt", "r2.txt", "r3.txt")
    )
    assert_settled(project, cli_env, merged, everything)


def test_a_meta_file_of_the_users_own_keeps_its_order_through_gits_line_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lines(*ids: str) -> bytes:
        return b"".join(b'{"resourceType":"Observation","id":"%s"}\n' % i.encode() for i in ids)

    sides = {
        "base": lines("z", "m", "a"),
        "ours": lines("top", "z", "m", "a"),
        "theirs": lines("z", "m", "a", "end"),
    }
    for name, data in sides.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    argv = ["merge-driver", "base", "ours", "theirs", "META/Observation.ndjson"]
    assert main(argv) == 0
    assert (tmp_path / "ours").read_bytes() == lines("top", "z", "m", "a", "end")  # not sorted by id


@pytest.mark.parametrize("team", ["one file"], indirect=True)
def test_a_stub_the_merge_cannot_know_is_regenerated_by_the_pre_merge_commit_hook(team: Team) -> None:
    """Alice untracks the only file of Patient/base; Bob tracks another file of Patient/base. The
    Patient stubs cannot see the merged index (README): the plain pre-merge-commit hook stops the
    merge commit with META/ regenerated, as the framework's does."""
    alice, bob = team.alice, team.bob
    assert lfs_meta(alice, team.env, "untrack", "data/base.txt").returncode == 0
    team.track(alice, "a.txt")
    commit_all(alice, team.env, "untrack base, track a")
    assert team.run(alice, "push", "-q", "origin", "main").returncode == 0
    team.track(bob, "b.txt", patient="Patient/base")
    commit_all(bob, team.env, "b, of Patient/base")
    stopped = team.run(bob, "pull", "--no-rebase", "--no-edit", "origin", "main")
    assert stopped.returncode == 1
    assert "run 'git add META' and commit again" in stopped.stdout + stopped.stderr
    assert git(bob, "diff", "--name-only", "--diff-filter=U").stdout == ""  # no conflict: a stale stub
    assert '"id":"base"' in (bob / "META" / "Patient.ndjson").read_text()  # put back by the hook
    assert git(bob, "add", "META").returncode == 0
    committed = team.run(bob, "commit", "--no-edit")
    assert_settled(bob, team.env, committed, ["data/a.txt", "data/b.txt"])
    assert len(team.run(bob, "rev-list", "--parents", "-n1", "HEAD").stdout.split()) == 3  # the merge


def test_checking_out_a_commit_with_the_earlier_rules_leaves_them_as_committed(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    team = Team(git_repo, tmp_path / "unused", tmp_path / "store", cli_env)
    team.store.mkdir()
    team.track(git_repo, "a.txt")
    (git_repo / "META" / ".gitattributes").write_text(attributes.EARLIER_META_RULES)
    commit_all(git_repo, cli_env, "made by an earlier lfs-meta")
    assert git(git_repo, "branch", "old").returncode == 0
    assert lfs_meta(git_repo, cli_env, "install-hooks").returncode == 0
    updated = lfs_meta(git_repo, cli_env, "init-meta")
    assert "META/.gitattributes: now asks for lfs-meta's merge driver" in updated.stdout
    commit_all(git_repo, cli_env, "rules updated")
    for branch in ("old", "main"):  # the plain post-checkout hook runs init-meta each time
        switched = git(git_repo, "checkout", "-q", branch, env=cli_env)
        assert switched.returncode == 0, switched.stderr
        assert git(git_repo, "status", "--porcelain").stdout == ""
    assert (git_repo / "META" / ".gitattributes").read_text() == attributes.META_RULES
