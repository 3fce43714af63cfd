"""Which entries a command's PATH arguments name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lfs_meta.errors import UserError
from lfs_meta.index.entry import Entry


def select(entries: Mapping[str, Entry], paths: Sequence[str], name: str) -> dict[str, Entry]:
    """The entries named by `paths` (a directory names everything under it), or all of them;
    `name` is the index's, for the error when one names nothing."""
    if not paths:
        return dict(entries)
    chosen = {}
    for target in paths:
        prefix = target.rstrip("/") + "/"
        matched = {p: e for p, e in entries.items() if p == target or p.startswith(prefix)}
        if not matched:
            raise UserError(f"{name}: not tracked: {target}; see 'lfs-meta ls'")
        chosen.update(matched)
    return chosen
