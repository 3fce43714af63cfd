"""Sizes before reads, and no blank side in a merge: an index blob over the size limit is refused by
every reader of git's copy (the commit hooks, the pre-push hook) and by the merge driver, in one line
and before it is read; a merge side whose index is empty or blank is invalid, as `validate` says."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from lfs_meta import git as lfs_git
from lfs_meta.cli import main
from lfs_meta.codekey import blob_id
from lfs_meta.index import attributes, strictjson

from conftest import BIN, commit_all, git

INDEX = Path(".lfs-meta") / "metadata.json"
OVER = strictjson.MAX_INDEX_BYTES + 1
MIB = 1 << 20
FIX = "check that this is the lfs-meta index and not a data file"


def entries(count: int) -> dict[str, dict[str, object]]:
    return {f"data/f{i}.vcf": {"remote_url": f"s3://bkt/k{i}", "size": i} for i in range(count)}


def write_index(repo: Path, data: object) -> bytes:
    raw = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_bytes(raw)
    return raw


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every object whose content lfs-meta asks git for, in this process."""
    asked: list[str] = []
    batch, run = lfs_git._batch, lfs_git._run

    def watched_batch(root: Path, option: str, names: Sequence[str]) -> bytes:
        if option == "--batch":
            asked.extend(names)
        return batch(root, option, names)

    def watched_run(
        args: Sequence[str], cwd: Path, *, literal: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        if list(args[:2]) in (["cat-file", "blob"], ["cat-file", "-p"]):
            asked.append(args[2])
        return run(args, cwd, literal=literal)

    monkeypatch.setattr(lfs_git, "_batch", watched_batch)
    monkeypatch.setattr(lfs_git, "_run", watched_run)
    return asked


def limit(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """The index's size limit, lowered for the test: git's copy is sized against it when read."""
    monkeypatch.setattr(strictjson, "MAX_INDEX_BYTES", size)


def output(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    return (captured.out + captured.err).splitlines()


# --- the commit hooks: validate --staged, init-meta --hook --staged -----------------------------


def staged_index(repo: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A 20-entry one-file index, staged in `repo`, now the working directory; its bytes."""
    monkeypatch.chdir(repo)
    raw = write_index(repo, entries(20))
    assert git(repo, "add", "-A").returncode == 0
    return raw


def test_validate_staged_refuses_an_index_over_the_limit_before_reading_it(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
) -> None:
    raw = staged_index(git_repo, monkeypatch)
    assert main(["validate", "--staged"]) == 0
    assert reads == [blob_id(raw)]  # within the limit: read once, by the id git gave

    reads.clear()
    capsys.readouterr()
    limit(monkeypatch, len(raw) - 1)
    assert main(["validate", "--staged"]) == 1
    assert output(capsys) == [
        f".lfs-meta/metadata.json (staged): blob {blob_id(raw)} is {len(raw):,} bytes, over the "
        f"{len(raw) - 1:,}-byte limit for an index, so it was not read; {FIX}",
        "1 problem(s) in 1 of 1 file(s)",
    ]
    assert reads == []
    assert main(["validate", "--staged", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert [p["file"] for p in report["problems"]] == [".lfs-meta/metadata.json (staged)"]
    assert reads == []


def test_init_meta_hook_refuses_a_staged_index_over_the_limit_and_writes_nothing(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
) -> None:
    raw = staged_index(git_repo, monkeypatch)
    limit(monkeypatch, len(raw) - 1)
    assert main(["init-meta", "--hook", "--staged"]) == 1
    lines = output(capsys)
    assert len(lines) == 1
    assert lines[0].startswith(f"lfs-meta: error: .lfs-meta/metadata.json (staged): blob {blob_id(raw)} is ")
    assert "so it was not read" in lines[0]
    assert lines[0].endswith("META/ was left as it was")
    assert reads == []
    assert not list((git_repo / "META").glob("*.ndjson"))


@pytest.fixture
def sharded(git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(git_repo)
    write_index(git_repo, entries(64))
    assert main(["reshard", "--fanout", "4"]) == 0
    assert git(git_repo, "add", "-A").returncode == 0
    capsys.readouterr()
    return git_repo


def staged_shards(repo: Path) -> dict[str, str]:
    listed = git(repo, "ls-files", "-s", ".lfs-meta/shards-4").stdout.splitlines()
    return {line.split("\t")[1]: line.split(" ")[1] for line in listed if line.endswith(".json")}


def test_validate_staged_refuses_each_shard_over_the_limit_and_reads_the_others(
    sharded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
) -> None:
    ids = staged_shards(sharded)
    sizes = {name: int(git(sharded, "cat-file", "-s", blob).stdout) for name, blob in ids.items()}
    largest = max(sizes, key=lambda name: sizes[name])
    limit(monkeypatch, sizes[largest] - 1)
    assert main(["validate", "--staged"]) == 1
    lines = output(capsys)
    refused = [line for line in lines if "so it was not read" in line]
    assert [line.split(" (staged)")[0] for line in refused] == [
        name for name in sorted(ids) if sizes[name] > sizes[largest] - 1
    ]
    assert f"blob {ids[largest]} is {sizes[largest]:,} bytes" in "\n".join(refused)
    assert ids[largest] not in reads
    assert sorted(reads) == sorted(blob for name, blob in ids.items() if sizes[name] < sizes[largest])

    reads.clear()
    limit(monkeypatch, OVER - 1)  # the failed run recorded nothing: every shard is checked again
    assert main(["validate", "--staged"]) == 0, output(capsys)
    assert sorted(reads) == sorted(ids.values())


def test_init_meta_hook_refuses_a_staged_shard_over_the_limit(
    sharded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
) -> None:
    before = {path.name: path.read_bytes() for path in (sharded / "META").glob("*.ndjson")}
    shutil.rmtree(sharded / ".git" / "lfs-meta", ignore_errors=True)  # no note: every shard is read
    limit(monkeypatch, 10)
    assert main(["init-meta", "--hook", "--staged"]) == 1
    lines = output(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("lfs-meta: error: .lfs-meta/shards-4/")
    assert "so it was not read" in lines[0]
    assert lines[0].endswith("META/ was left as it was")
    assert not set(reads) & set(staged_shards(sharded).values())
    after = {path.name: path.read_bytes() for path in (sharded / "META").glob("*.ndjson")}
    assert after == before


# --- the pre-push hook --------------------------------------------------------------------------


@pytest.mark.parametrize("changed_only", [False, True])
def test_the_pre_push_hook_refuses_a_pushed_index_over_the_limit(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
    changed_only: bool,
) -> None:
    monkeypatch.chdir(git_repo)
    write_index(git_repo, {})
    commit_all(git_repo, {**os.environ}, "empty index")
    before = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    raw = write_index(git_repo, entries(20))
    commit_all(git_repo, {**os.environ}, "twenty entries")
    limit(monkeypatch, len(raw) - 1)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "HEAD")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", before)
    argv = ["check", "--pre-push", *(["--changed-only"] if changed_only else [])]
    assert main(argv) == 1
    lines = output(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"lfs-meta: error: HEAD:.lfs-meta/metadata.json: blob {blob_id(raw)} is ")
    assert blob_id(raw) not in reads


def test_the_pre_push_hook_refuses_a_pushed_shard_over_the_limit(
    sharded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
) -> None:
    commit_all(sharded, {**os.environ}, "sharded")
    limit(monkeypatch, 10)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "HEAD")
    assert main(["check", "--pre-push", "--changed-only"]) == 1
    lines = output(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("lfs-meta: error: HEAD:.lfs-meta/shards-4/")
    assert "so it was not read" in lines[0]
    assert not set(reads) & set(staged_shards(sharded).values())


# --- a real blob over 1 GiB, through the installed command --------------------------------------


@pytest.fixture(scope="module")
def zero_blob() -> tuple[str, bytes]:
    """(id, loose object file) of a real blob of OVER zero bytes, made in about half a second and
    under 5 MB: git's loose format is zlib of "blob N\\0" and the content, and deflate blocks of
    zeros made after a full flush are all the same bytes, so one is repeated; only the SHA-1 reads
    every byte."""
    header = b"blob %d\0" % OVER
    digest = hashlib.sha1(header)
    chunk = bytes(16 * MIB)
    for _ in range(OVER // len(chunk)):
        digest.update(chunk)
    digest.update(bytes(OVER % len(chunk)))
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    start = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(MIB)) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(bytes(MIB)) + deflate.flush(zlib.Z_FULL_FLUSH) == block
    end = deflate.compress(bytes(OVER % MIB)) + deflate.flush()
    # Adler-32 over the header and OVER zeros: zeros leave its low half as it is.
    low, high = zlib.adler32(header) & 0xFFFF, zlib.adler32(header) >> 16
    check = ((high + OVER * low) % 65521) << 16 | low
    loose = b"\x78\x01" + start + block * (OVER // MIB) + end + check.to_bytes(4, "big")
    return digest.hexdigest(), loose


def stage_zero_blob(repo: Path, blob: tuple[str, bytes], path: str) -> str:
    oid, loose = blob
    target = repo / ".git" / "objects" / oid[:2] / oid[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(loose)
    assert git(repo, "cat-file", "-s", oid).stdout.strip() == str(OVER)
    assert git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}").returncode == 0
    return oid


def peak(repo: Path, env: dict[str, str], *args: str) -> tuple[int, int, str]:
    """(exit status, peak RSS in MB of lfs-meta and the git it ran, output) of one lfs-meta run."""
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout + done.stderr, end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, str(BIN / "lfs-meta"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    first, _, rest = done.stdout.partition("\n")
    code, rss = first.split()
    return int(code), int(rss) // 1024, rest


def test_a_real_staged_index_over_1_gib_is_refused_by_the_hooks_without_being_read(
    git_repo: Path, cli_env: dict[str, str], zero_blob: tuple[str, bytes]
) -> None:
    write_index(git_repo, {})
    commit_all(git_repo, cli_env, "empty index")
    before = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    oid = stage_zero_blob(git_repo, zero_blob, INDEX.as_posix())
    refusal = (
        f"blob {oid} is {OVER:,} bytes, over the {OVER - 1:,}-byte limit for an index, so it was not read"
    )

    code, rss, said = peak(git_repo, cli_env, "validate", "--staged")
    assert (code, said.splitlines()[0]) == (
        1,
        f".lfs-meta/metadata.json (staged): {refusal}; {FIX}",
    )
    assert rss < 300, f"{rss} MB"

    code, rss, said = peak(git_repo, cli_env, "init-meta", "--hook", "--staged")
    assert code == 1 and refusal in said and len(said.splitlines()) == 1, said
    assert rss < 300, f"{rss} MB"

    assert git(git_repo, "commit", "-qm", "a data file where the index goes", env=cli_env).returncode == 0
    pushed = {**cli_env, "PRE_COMMIT_FROM_REF": before, "PRE_COMMIT_TO_REF": "HEAD"}
    code, rss, said = peak(git_repo, pushed, "check", "--pre-push", "--changed-only")
    assert code == 1 and f"HEAD:.lfs-meta/metadata.json: {refusal}" in said and len(said.splitlines()) == 1
    assert rss < 300, f"{rss} MB"


# --- the merge driver ---------------------------------------------------------------------------


def merge_driver(tmp_path: Path, base: bytes, ours: bytes | int, theirs: bytes) -> list[str]:
    """The driver's argv for sides with these contents; an int side is a sparse file of that size."""
    files = []
    for name, content in (("base", base), ("ours", ours), ("theirs", theirs)):
        path = tmp_path / name
        if isinstance(content, int):
            with open(path, "wb") as sparse:
                sparse.truncate(content)
        else:
            path.write_bytes(content)
        files.append(str(path))
    return ["merge-driver", *files, INDEX.as_posix()]


def test_the_merge_driver_stats_a_side_before_reading_it(tmp_path: Path, cli_env: dict[str, str]) -> None:
    argv = merge_driver(tmp_path, b"{}", OVER, json.dumps(entries(2)).encode())
    code, rss, said = peak(tmp_path, cli_env, *argv)
    assert code == 1
    assert said.splitlines() == [
        f"lfs-meta: error: {INDEX.as_posix()} (ours): file is {OVER:,} bytes, over the "
        f"{OVER - 1:,}-byte limit for an index; check that this is the lfs-meta index and not a data file "
        "(1 problem(s); run 'lfs-meta validate' for all)"
    ]
    assert rss < 300, f"{rss} MB"
    assert (tmp_path / "ours").stat().st_size == OVER  # git's file for the result: untouched


@pytest.fixture
def merge_repo(git_repo: Path, cli_env: dict[str, str]) -> Path:
    """A repository whose index asks for lfs-meta's merge driver (git_repo configures it)."""
    (git_repo / INDEX).parent.mkdir()
    (git_repo / INDEX).with_name(".gitattributes").write_text(attributes.INDEX_RULES)
    return git_repo


def commit_index(repo: Path, env: dict[str, str], raw: bytes, message: str) -> None:
    (repo / INDEX).write_bytes(raw)
    commit_all(repo, env, message)


@pytest.mark.parametrize(
    ("side", "blank"),
    [("ours", b""), ("theirs", b""), ("ours", b" \n\t\n"), ("theirs", b" \n"), ("base", b"\n")],
)  # an empty base is git's stand-in for no common ancestor: tested below
def test_a_merge_side_whose_index_is_blank_stops_the_merge(
    merge_repo: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, blank: bytes, side: str
) -> None:
    monkeypatch.chdir(merge_repo)
    two = json.dumps(entries(2)).encode()
    three = json.dumps(entries(3)).encode()
    commit_index(merge_repo, cli_env, blank if side == "base" else two, "base")
    assert git(merge_repo, "checkout", "-qb", "side").returncode == 0
    commit_index(merge_repo, cli_env, blank if side == "theirs" else three, "theirs")
    assert git(merge_repo, "checkout", "-q", "main").returncode == 0
    ours = blank if side == "ours" else json.dumps({**entries(3), "data/x.vcf": entries(1)["data/f0.vcf"]})
    commit_index(merge_repo, cli_env, ours if isinstance(ours, bytes) else ours.encode(), "ours")
    head = git(merge_repo, "rev-parse", "HEAD").stdout
    before = (merge_repo / INDEX).read_bytes()

    merged = git(merge_repo, "merge", "--no-edit", "side", env=cli_env)
    said = merged.stdout + merged.stderr
    assert merged.returncode != 0, said
    ours_lines = [line for line in said.splitlines() if line.startswith("lfs-meta:")]
    assert ours_lines == [
        f"lfs-meta: error: {INDEX.as_posix()} ({side}): file is empty; an index with no entries is "
        "written as {} (1 problem(s); run 'lfs-meta validate' for all)"
    ]
    assert f"CONFLICT (content): Merge conflict in {INDEX.as_posix()}" in said
    assert (merge_repo / INDEX).read_bytes() == before  # ours, as git leaves a conflict
    stages = git(merge_repo, "ls-files", "-u", INDEX.as_posix()).stdout.splitlines()
    assert [line.split()[2] for line in stages] == ["1", "2", "3"]
    assert git(merge_repo, "rev-parse", "HEAD").stdout == head
    assert main(["validate", str(merge_repo / INDEX)]) == (1 if side == "ours" else 0)


def test_two_sides_that_add_the_index_with_no_common_ancestor_still_merge(
    merge_repo: Path, cli_env: dict[str, str]
) -> None:
    (merge_repo / "README").write_text("x")
    commit_all(merge_repo, cli_env, "no index yet")
    assert git(merge_repo, "checkout", "-qb", "side").returncode == 0
    commit_index(merge_repo, cli_env, json.dumps({"b.vcf": entries(1)["data/f0.vcf"]}).encode(), "b")
    assert git(merge_repo, "checkout", "-q", "main").returncode == 0
    commit_index(merge_repo, cli_env, json.dumps({"a.vcf": entries(1)["data/f0.vcf"]}).encode(), "a")
    merged = git(merge_repo, "merge", "-q", "--no-edit", "side", env=cli_env)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert sorted(json.loads((merge_repo / INDEX).read_text())) == ["a.vcf", "b.vcf"]
