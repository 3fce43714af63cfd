"""`lfs-meta merge-resolve`: during a conflicted merge of the index, take one side of each PATH."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lfs_meta import git
from lfs_meta.errors import UserError
from lfs_meta.index import storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.layout import Layout
from lfs_meta.repo import Repo

STAGES = {"ours": 2, "theirs": 3}  # git's stages of a conflicted path (1 is the common ancestor)


def run(repo: Repo, args: argparse.Namespace) -> int:
    layout = repo.index
    chosen: dict[str, Entry | None] = {}
    for shard, paths in _by_file(layout, args.paths).items():
        name = Path(os.path.relpath(shard, repo.root)).as_posix()
        raw = git.staged_blob(repo.root, name, stage=STAGES[args.side])
        if raw is None:
            raise UserError(f"{name}: no merge conflict in progress; nothing to resolve")
        side = storage.loads(raw, f"{name} ({args.side})")
        chosen.update((path, side.get(path)) for path in paths)

    def take(entries: dict[str, Entry]) -> list[str]:
        for path, entry in chosen.items():
            if entry is not None:
                entries[path] = entry
            else:
                entries.pop(path, None)
        return list(args.paths)

    taken = layout.update(list(chosen), take)
    print(
        f"took {args.side} for {', '.join(taken)}; now run 'lfs-meta init-meta' (META/ follows the index), "
        f"then 'git add {layout.shown} META' and commit"
    )
    return 0


def _by_file(layout: Layout, paths: list[str]) -> dict[Path, list[str]]:
    grouped: dict[Path, list[str]] = {}
    for path in paths:
        grouped.setdefault(layout.file_of(path), []).append(path)
    return grouped
