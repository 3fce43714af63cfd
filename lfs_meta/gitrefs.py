"""The index as committed at a git ref, read through GitPython (never the working tree)."""

from __future__ import annotations

from pathlib import Path

from lfs_meta import index
from lfs_meta.entry import Entry
from lfs_meta.errors import UserError


def entries_at(repo_dir: Path, ref: str) -> dict[str, Entry]:
    """The entries of `.lfs-meta/metadata.json` at `ref`; none when the index is not there yet."""
    import git

    try:
        repo = git.Repo(repo_dir, search_parent_directories=True)
        tree = repo.commit(ref).tree
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(f"{repo_dir}: not inside a git repository") from None
    except (git.BadName, ValueError):
        raise UserError(f"{ref}: not a commit in {repo_dir}") from None
    name = index.INDEX_PATH.as_posix()
    try:
        blob = tree / name
    except KeyError:
        return {}
    return index.loads(blob.data_stream.read(), f"{ref[:12]}:{name}")
