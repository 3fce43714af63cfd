"""`lfs-meta untrack`: remove entries (a directory removes everything under it)."""

from __future__ import annotations

import argparse
import json

from lfs_meta import mergeconfig, tracking
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    removed = repo.index.update(args.paths, tracking.untrack(repo.index.shown, args.paths))
    if args.json:
        print(json.dumps({"untracked": removed}, indent=2))
    else:
        print(f"untracked {len(removed)}: {', '.join(removed)}")
    mergeconfig.note(repo.root)  # a change to commit, and so to merge
    return 0
