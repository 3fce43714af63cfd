"""Whole-index work spread over worker processes: results in order, errors as raised, entries intact."""

from __future__ import annotations

import json
import os
import pickle
import threading
from pathlib import Path

import pytest

from lfs_meta import processes
from lfs_meta.cli import main
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import shards
from lfs_meta.index.entry import Entry


def pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def refuse_seven(item: int) -> int:
    if item == 7:
        raise CheckFailed(f"part {item}: refused; fix it")
    return item


def die(item: int) -> int:
    os._exit(3)


needs_cores = pytest.mark.skipif(processes.cores() < 2, reason="one core: the work stays in this process")


@needs_cores
@pytest.mark.parametrize("with_thread", [False, True], ids=["forked", "spawned"])
def test_parts_are_done_in_worker_processes_and_come_back_in_order(with_thread: bool) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # a thread running: workers are spawned
    if with_thread:
        other.start()
    try:
        done = list(processes.ordered(pid_of, iter(range(20)), 20))
    finally:
        stop.set()
    assert [item for item, _ in done] == list(range(20))
    assert os.getpid() not in {pid for _, pid in done}


def test_a_few_parts_are_done_here() -> None:
    done = list(processes.ordered(pid_of, iter(range(processes.MIN_PARTS - 1)), processes.MIN_PARTS - 1))
    assert {pid for _, pid in done} == {os.getpid()}


@needs_cores
def test_an_error_in_a_worker_is_raised_here_as_itself() -> None:
    with pytest.raises(CheckFailed, match="part 7: refused; fix it"):
        list(processes.ordered(refuse_seven, iter(range(20)), 20))


@needs_cores
def test_a_worker_that_dies_is_one_line_that_says_what_to_do() -> None:
    with pytest.raises(UserError, match=r"a worker process stopped \(out of memory\?\); run again"):
        list(processes.ordered(die, iter(range(8)), 8))


def test_an_entry_sent_between_processes_comes_back_equal() -> None:
    plain = Entry(remote_url="s3://bkt/a", size=1, patient="Patient/p1")
    full = Entry(
        remote_url="s3://bkt/b",
        size=2,
        etag="abc",
        etag_kind="md5",
        checksums={"sha256": "00" * 32},
        extra={"note": ["x"]},
        specimen="Specimen/s1",
    )
    for entry in (plain, full):
        back = pickle.loads(pickle.dumps(entry))
        assert back == entry and back.to_json() == entry.to_json()
    assert pickle.loads(pickle.dumps(plain)).checksums is plain.checksums  # the one shared empty mapping


@needs_cores
def test_a_sharded_index_read_in_workers_gives_what_one_process_gives(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    index = {
        f"data/f{i}.vcf": {"remote_url": f"s3://bkt/k{i}", "size": i, "patient": f"Patient/p{i % 3}"}
        for i in range(200)
    }
    (git_repo / ".lfs-meta").mkdir()
    (git_repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index))
    assert main(["reshard", "--fanout", "16"]) == 0
    outputs = {}
    for minimum in (processes.MIN_PARTS, 10_000):  # in workers; then all in this process
        monkeypatch.setattr(processes, "MIN_PARTS", minimum)
        capsys.readouterr()
        assert main(["ls", "--json"]) == 0
        listed = capsys.readouterr().out
        assert main(["validate"]) == 0
        valid = capsys.readouterr().out
        assert main(["init-meta", "--output", str(git_repo / "out" / "DocumentReference.ndjson")]) == 0
        written = {path.name: path.read_bytes() for path in sorted((git_repo / "out").iterdir())}
        outputs[minimum] = (listed, valid, written)
        for path in (git_repo / "out").iterdir():
            path.unlink()
        for note in (git_repo / ".git" / "lfs-meta").glob("*"):
            note.unlink()
    assert outputs[processes.MIN_PARTS] == outputs[10_000]
    assert len(outputs[10_000][2]) > 16


@needs_cores
def test_a_fresh_note_filled_by_spawned_workers_finds_a_problem_across_shards(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    index = {f"data/f{i}.vcf": {"remote_url": f"s3://bkt/k{i}", "size": i} for i in range(100)}
    index["data/f1.vcf"] |= {"specimen": "Specimen/s", "patient": "Patient/A"}
    index["data/f2.vcf"] |= {"specimen": "Specimen/s", "patient": "Patient/B"}
    assert shards.number_of("data/f1.vcf", 16) != shards.number_of("data/f2.vcf", 16)
    (git_repo / ".lfs-meta").mkdir()
    (git_repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index))
    assert main(["reshard", "--fanout", "16"]) == 1  # refused: the one file is invalid already
    index["data/f2.vcf"]["patient"] = "Patient/A"
    (git_repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index))
    assert main(["reshard", "--fanout", "16"]) == 0
    shard = next(
        p for p in (git_repo / ".lfs-meta" / "shards-16").glob("*.json") if "data/f2.vcf" in p.read_text()
    )
    shard.write_text(shard.read_text().replace('"Patient/A"', '"Patient/B"'))  # a hand edit
    source = git_repo.parent / "object"
    source.write_bytes(b"x")
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()  # a thread running: workers are spawned
    try:
        capsys.readouterr()
        assert main(["track-remote", source.as_uri(), "--path", "new/x.vcf"]) == 1
    finally:
        stop.set()
    assert "Specimen/s is from Patient/" in capsys.readouterr().err
