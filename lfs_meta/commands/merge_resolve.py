"""`lfs-meta merge-resolve`: during a conflicted merge of the index, take one side of each PATH."""

from __future__ import annotations

import argparse

from lfs_meta import git
from lfs_meta.errors import UserError
from lfs_meta.index import storage
from lfs_meta.index.entry import Entry
from lfs_meta.repo import Repo

STAGES = {"ours": 2, "theirs": 3}  # git's stages of a conflicted path (1 is the common ancestor)


def run(repo: Repo, args: argparse.Namespace) -> int:
    name = storage.INDEX_PATH.as_posix()
    raw = git.staged_blob(repo.root, name, stage=STAGES[args.side])
    if raw is None:
        raise UserError(f"{storage.INDEX_PATH}: no merge conflict in progress; nothing to resolve")
    chosen = storage.loads(raw, f"{storage.INDEX_PATH} ({args.side})")

    def take(entries: dict[str, Entry]) -> list[str]:
        for path in args.paths:
            if path in chosen:
                entries[path] = chosen[path]
            else:
                entries.pop(path, None)
        return list(args.paths)

    taken = storage.update(repo.index_path, take)
    print(f"took {args.side} for {', '.join(taken)}; now 'git add {repo.index_path}' and commit")
    return 0
