from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import storage
from lfs_meta.index.entry import Entry

from conftest import SEED_INDEX, in_processes

BIG = 2**53 + 1


def seed(tmp_path: Path) -> Path:
    path = tmp_path / ".lfs-meta" / "metadata.json"
    path.parent.mkdir()
    path.write_text(SEED_INDEX)
    return path


def test_load_reads_the_seed_example(tmp_path: Path) -> None:
    entries = storage.load(seed(tmp_path))
    assert entries == {
        "data/foo.vcf": Entry(
            remote_url="s3://my-bucket/data/foo.vcf",
            size=12345678,
            etag="abc123etag",
            patient="Patient/1234",
            specimen="Specimen/XYZ",
        )
    }


def test_missing_index_is_empty(tmp_path: Path) -> None:
    assert storage.load(tmp_path / "nope" / "metadata.json") == {}


def test_invalid_index_refuses_to_load(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text('{"a": {"size": 1}}')
    with pytest.raises(CheckFailed, match=r"missing required field remote_url; .*run 'lfs-meta validate"):
        storage.load(path)


def test_dumps_is_canonical_and_exact_for_big_sizes() -> None:
    entries = {
        "z.vcf": Entry(remote_url="s3://bkt/z", size=BIG, checksums={"md5": "0" * 32}),
        "a/ü.bam": Entry(remote_url="s3://bkt/a", size=0, extra={"b": 1, "a": [2, 1]}),
    }
    text = storage.dumps(entries)
    assert text == (
        "{\n"
        '  "a/ü.bam": {\n'
        '    "extra": {\n'
        '      "a": [\n        2,\n        1\n      ],\n'
        '      "b": 1\n'
        "    },\n"
        '    "remote_url": "s3://bkt/a",\n'
        '    "size": 0\n'
        "  },\n"
        '  "z.vcf": {\n'
        '    "checksums": {\n      "md5": "00000000000000000000000000000000"\n    },\n'
        '    "remote_url": "s3://bkt/z",\n'
        f'    "size": {BIG}\n'
        "  }\n"
        "}\n"
    )
    assert storage.dumps(dict(reversed(entries.items()))) == text
    assert json.loads(text)["z.vcf"]["size"] == BIG


def test_update_round_trips_without_loss(tmp_path: Path) -> None:
    path = seed(tmp_path)

    def add(entries: dict[str, Entry]) -> None:
        entries["big.cram"] = Entry(remote_url="gs://bkt/big.cram", size=BIG, version_id="1700000000000000")

    storage.update(path, add)
    loaded = storage.load(path)
    assert loaded["big.cram"].size == BIG
    assert path.read_text() == storage.dumps(loaded)
    assert (path.parent / ".gitignore").read_text() == "/*.lock\n/.*.tmp\n"


def test_update_that_changes_nothing_does_not_rewrite(tmp_path: Path) -> None:
    path = seed(tmp_path)
    storage.update(path, lambda entries: None)
    first = path.stat().st_ino
    storage.update(path, lambda entries: None)
    assert path.stat().st_ino == first


def test_failed_change_leaves_file_byte_for_byte(tmp_path: Path) -> None:
    path = seed(tmp_path)
    before = path.read_bytes()

    def fail(entries: dict[str, Entry]) -> None:
        entries["x"] = Entry(remote_url="s3://bkt/x", size=1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        storage.update(path, fail)
    assert path.read_bytes() == before


def test_change_that_makes_index_invalid_is_refused(tmp_path: Path) -> None:
    path = seed(tmp_path)
    before = path.read_bytes()

    def bad(entries: dict[str, Entry]) -> None:
        entries["../escape"] = Entry(remote_url="s3://bkt/x?X-Amz-Signature=secretsecret", size=1)

    with pytest.raises(CheckFailed, match="the index was not changed") as caught:
        storage.update(path, bad)
    assert "secretsecret" not in str(caught.value)
    assert path.read_bytes() == before


def test_write_failure_leaves_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = seed(tmp_path)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(UserError, match=r"No space left on device.*it was not changed"):
        storage.update(path, lambda entries: entries.update(x=Entry(remote_url="s3://bkt/x", size=1)))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".gitattributes",
        ".gitignore",
        "metadata.json",
        "metadata.json.lock",
    ]


def test_unwritable_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = seed(tmp_path)
    before = path.read_bytes()
    real_open = os.open

    def read_only_directory(
        name: str | os.PathLike[str], flags: int, mode: int = 0o777, *, dir_fd: int | None = None
    ) -> int:
        # What a read-only directory does, injected so the test also bites when run as root.
        if str(name).endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        return real_open(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", read_only_directory)
    with pytest.raises(
        UserError, match=r"metadata.json: cannot write: Permission denied; it was not changed"
    ):
        storage.update(path, lambda entries: entries.update(x=Entry(remote_url="s3://bkt/x", size=1)))
    assert path.read_bytes() == before


def test_file_mode_is_kept(tmp_path: Path) -> None:
    path = seed(tmp_path)
    path.chmod(0o640)
    storage.update(path, lambda entries: entries.update(x=Entry(remote_url="s3://bkt/x", size=1)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _add_entries(path: str, worker: int, count: int) -> None:
    for i in range(count):
        name = f"w{worker}/f{i}.vcf"
        new = Entry(remote_url=f"s3://bkt/{name}", size=i)

        def add(entries: dict[str, Entry], name: str = name, new: Entry = new) -> None:
            entries[name] = new

        storage.update(Path(path), add)


def test_parallel_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".lfs-meta" / "metadata.json"
    workers, per_worker = 6, 15
    in_processes(_add_entries, [(str(path), worker, per_worker) for worker in range(workers)])
    entries = storage.load(path)
    assert len(entries) == workers * per_worker
    assert storage.check_file(path) == []


def test_find_root_walks_up_to_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert storage.find_root(deep) == repo.resolve()
    (repo / "a" / ".lfs-meta").mkdir()
    assert storage.find_root(deep) == repo.resolve() / "a"
