"""`lfs-meta reshard`: move the index to the layout that keeps its files within the size band.

Also the one command that ends a merge across a reshard: git then leaves both layouts (the one
file changed on one side, the shards added on the other), and the two are merged entry by entry
against the common ancestor's file.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping

from lfs_meta import git
from lfs_meta.drift import pushed
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.fhir import meta
from lfs_meta.index import merge, shards, storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.layout import Layout
from lfs_meta.repo import Repo

_ANCESTOR = 1  # git's stage of the common ancestor's version of a conflicted file


def run(repo: Repo, args: argparse.Namespace) -> int:
    if os.path.normpath(repo.index_path) != os.path.normpath(repo.root / storage.INDEX_PATH):
        raise UserError("--index: reshard works on the repository's own index, not on another file")
    with storage.locked(repo.root / storage.INDEX_PATH):
        present = Layout.present(repo.root)
        if not present:
            raise UserError(f"{repo.root / storage.INDEX_PATH}: no such file; track something first")
        entries = _merged(repo, present, args.keep)
        # Ending a merge across a reshard keeps the fan-out the reshard chose.
        kept = [layout.fanout for layout in present if layout.single is None] if len(present) > 1 else []
        fanout = args.fanout or (
            kept[0] if kept else shards.fanout_for(_size(entries), repo.settings.shard_band)
        )
        target = (
            Layout.single_file(repo.root) if fanout == shards.SINGLE else Layout.sharded(repo.root, fanout)
        )
        target.write(entries)
        for layout in present:
            if layout != target:
                layout.remove()
    resharded = Repo(repo.root, repo.root / storage.INDEX_PATH)
    outcome = meta.refresh(resharded, meta.Request())
    largest = max((os.path.getsize(path) for path in target.files()[0].values()), default=0)
    if args.json:
        report = {"entries": len(entries), "fanout": fanout, "largest_bytes": largest, "index": target.shown}
        print(json.dumps(report, indent=2))
    else:
        where = os.path.relpath(target.shown)
        print(f"{where}: {len(entries)} entries in {fanout} file(s), the largest {largest / 1e6:.1f} MB")
        written = len(outcome.rewrite) if outcome else 0
        print(f"META/: {written} file(s) rewritten; now 'git add -A .lfs-meta META' and commit")
    return 0


def _merged(repo: Repo, present: list[Layout], keep: str | None) -> dict[str, Entry]:
    if len(present) == 1:
        return present[0].load(misfiled=True)
    single = next((layout for layout in present if layout.single is not None), None)
    sharded = [layout for layout in present if layout.single is None]
    if single is None or len(sharded) != 1:
        names = ", ".join(layout.shown for layout in present)
        raise UserError(
            f"{names}: more than one sharded layout; move all but one away, then run reshard again"
        )
    ancestor = git.merge_base(repo.root)
    if ancestor is not None:
        # The three sides as committed: the work tree holds only what git could not merge of them
        # (of the side that kept shards, just the shards the other side's deletion conflicted with).
        base, head, incoming = (pushed.entries_at(repo, ref) for ref in (ancestor, "HEAD", "MERGE_HEAD"))
        head_is_single = pushed.is_single(repo, "HEAD")
        ours, theirs = (head, incoming) if (keep == "single") == head_is_single else (incoming, head)
    else:
        base_raw = git.staged_blob(repo.root, storage.INDEX_PATH.as_posix(), stage=_ANCESTOR)
        base = storage.loads(base_raw, f"{storage.INDEX_PATH} (common ancestor)") if base_raw else {}
        split = sharded[0].load(misfiled=True)
        ours, theirs = (single.load(), split) if keep == "single" else (split, single.load())
    merged, conflicts = merge.merge(base, ours, theirs)
    if conflicts and keep is None:
        shown = ", ".join(conflicts[:10]) + (
            f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        )
        raise CheckFailed(
            f"{storage.INDEX_PATH.parent}: {shown} changed differently in the two layouts; nothing was "
            "changed; run 'lfs-meta reshard --keep single' or '--keep sharded' to choose for those"
        )
    return merged


def _size(entries: Mapping[str, Entry]) -> int:
    """The bytes of the index written as one file."""
    return len(storage.dumps(entries).encode())
