"""The three-way merge of two indexes, entry by entry (git's merge driver runs it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")


def merge(
    base: Mapping[str, V], ours: Mapping[str, V], theirs: Mapping[str, V]
) -> tuple[dict[str, V], list[str]]:
    """(merged index, conflicting paths), in sorted key order; a conflicting path keeps our side.
    Any keyed values merge the same way: entries by path, and META/ lines by resource id."""
    merged, conflicts = {}, []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        old, mine, their = base.get(path), ours.get(path), theirs.get(path)
        if their in (mine, old):
            chosen = mine
        elif mine == old:
            chosen = their
        else:
            conflicts.append(path)
            chosen = mine
        if chosen is not None:
            merged[path] = chosen
    return merged, conflicts
