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
    chosen = matching(entries, paths)
    refuse_unmatched(chosen, paths, name)
    return chosen


def matching(entries: Mapping[str, Entry], paths: Sequence[str]) -> dict[str, Entry]:
    """The entries at or under any of `paths`."""
    prefixes = tuple(target.rstrip("/") + "/" for target in paths)
    exact = set(paths)
    return {path: entry for path, entry in entries.items() if path in exact or path.startswith(prefixes)}


def refuse_unmatched(chosen: Mapping[str, Entry], paths: Sequence[str], name: str) -> None:
    """UserError for the first of `paths` that names none of `chosen`."""
    for target in paths:
        prefix = target.rstrip("/") + "/"
        if target not in chosen and not any(path.startswith(prefix) for path in chosen):
            raise UserError(f"{name}: not tracked: {target}; see 'lfs-meta ls'")
