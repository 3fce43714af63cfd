"""The entries a push sends: the index as committed at the pushed refs, never the working tree."""

from __future__ import annotations

from collections.abc import Mapping

from lfs_meta import git
from lfs_meta.drift import compare
from lfs_meta.index import shards, storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo


def entries(repo: Repo, environ: Mapping[str, str], changed_only: bool) -> dict[str, Entry]:
    """The index at the pushed commit; with `changed_only`, only what the push adds or changes (of a
    sharded index, only the shards whose blob differs are read)."""
    to_ref = environ.get("PRE_COMMIT_TO_REF") or "HEAD"
    from_ref = environ.get("PRE_COMMIT_FROM_REF")
    if not changed_only or not from_ref:
        return entries_at(repo, to_ref)
    after_ids, before_ids = _shard_ids(repo, to_ref), _shard_ids(repo, from_ref)
    if after_ids is None or before_ids is None:
        before, after = entries_at(repo, from_ref), entries_at(repo, to_ref)
    else:
        differ = {name for name, blob in after_ids.items() if before_ids.get(name) != blob}
        after = _read(repo, to_ref, {name: after_ids[name] for name in differ})
        before = _read(repo, from_ref, {name: before_ids[name] for name in differ if name in before_ids})
    return {path: after[path] for path in compare.changed_paths(before, after)}


def entries_at(repo: Repo, ref: str) -> dict[str, Entry]:
    """The entries of the index at `ref`; none when the index is not there yet."""
    ids = _shard_ids(repo, ref)
    if ids is not None:
        return _read(repo, ref, ids)
    name = storage.INDEX_PATH.as_posix()
    raw = git.committed_blob(repo.root, ref, name)
    return {} if raw is None else _loads(raw, f"{ref[:12]}:{name}")


def is_single(repo: Repo, ref: str) -> bool:
    """Whether the index at `ref` is the one file (or is not there)."""
    return _shard_ids(repo, ref) is None


def _shard_ids(repo: Repo, ref: str) -> dict[str, str] | None:
    """The shard files of a sharded index at `ref`, by path, with their blob ids; None when the
    index there is one file (or none)."""
    directory = storage.INDEX_PATH.parent.as_posix()
    listed = git.committed_tree(repo.root, ref, directory)
    sharded = [
        name for name, (kind, _) in listed.items() if kind == "tree" and shards.fanout_of_directory(name)
    ]
    if len(sharded) != 1:
        return None
    fanout = shards.fanout_of_directory(sharded[0])
    assert fanout is not None
    inside = f"{directory}/{sharded[0]}"
    return {
        f"{inside}/{name}": blob
        for name, (kind, blob) in git.committed_tree(repo.root, ref, inside).items()
        if kind == "blob" and shards.number_of_file(name, fanout) is not None
    }


def _read(repo: Repo, ref: str, ids: Mapping[str, str]) -> dict[str, Entry]:
    names = sorted(ids)
    index: dict[str, Entry] = {}
    for name, (_, raw) in zip(names, git.blobs_in_turns(repo.root, [ids[n] for n in names]), strict=True):
        index.update(_loads(raw or b"", f"{ref[:12]}:{name}"))
    return index


def _loads(raw: bytes | Problem, name: str) -> dict[str, Entry]:
    """The entries of a committed index file; one over the size limit was not read (git said its size)."""
    if isinstance(raw, Problem):
        raise storage.failure([raw], name)
    return storage.loads(raw, name)
