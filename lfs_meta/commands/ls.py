"""`lfs-meta ls`: list the tracked entries."""

from __future__ import annotations

import argparse
import json

from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    entries = repo.index.select(args.paths)
    if args.json:
        listing = [{"path": path, **entries[path].to_json()} for path in sorted(entries)]
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    width = max((len(f"{e.size:,}") for e in entries.values()), default=0)
    for path in sorted(entries):
        entry = entries[path]
        print(f"{entry.size:>{width},}  {path}  {entry.remote_url}")
    return 0
