"""The entries a push sends: the index as committed at the pushed refs, never the working tree."""

from __future__ import annotations

from collections.abc import Mapping

from lfs_meta import git
from lfs_meta.drift import compare
from lfs_meta.index import storage
from lfs_meta.index.entry import Entry
from lfs_meta.repo import Repo


def entries(repo: Repo, environ: Mapping[str, str], changed_only: bool) -> dict[str, Entry]:
    """The index at the pushed commit; with `changed_only`, only what the push adds or changes."""
    after = entries_at(repo, environ.get("PRE_COMMIT_TO_REF") or "HEAD")
    from_ref = environ.get("PRE_COMMIT_FROM_REF")
    if not changed_only or not from_ref:
        return after
    before = entries_at(repo, from_ref)
    return {path: after[path] for path in compare.changed_paths(before, after)}


def entries_at(repo: Repo, ref: str) -> dict[str, Entry]:
    """The entries of the index at `ref`; none when the index is not there yet."""
    name = storage.INDEX_PATH.as_posix()
    raw = git.committed_blob(repo.root, ref, name)
    return {} if raw is None else storage.loads(raw, f"{ref[:12]}:{name}")
