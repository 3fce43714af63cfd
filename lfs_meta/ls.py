"""`lfs-meta ls`: list the tracked entries."""

from __future__ import annotations

import json
from pathlib import Path

from lfs_meta import index


def run(index_path: Path, as_json: bool) -> int:
    entries = index.load(index_path)
    if as_json:
        listing = [{"path": path, **entries[path].to_json()} for path in sorted(entries)]
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    width = max((len(f"{e.size:,}") for e in entries.values()), default=0)
    for path in sorted(entries):
        entry = entries[path]
        print(f"{entry.size:>{width},}  {path}  {entry.remote_url}")
    return 0
