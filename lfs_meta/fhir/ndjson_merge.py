"""Pure: the three-way merge of a META/ NDJSON file, resource by resource, keyed by resource id."""

from __future__ import annotations

import orjson

from lfs_meta.index import merge


def merge_lines(base: bytes, ours: bytes, theirs: bytes) -> tuple[bytes, list[str]] | None:
    """(merged bytes, ids changed differently on both sides), sorted by id; None when a side is not
    sorted by id or not one resource per line (the one-file layout sorts by path): the caller merges
    those as text. A conflicting id keeps our line."""
    sides = [_by_id(data) for data in (base, ours, theirs)]
    if any(side is None for side in sides):
        return None
    merged, conflicts = merge.merge(*(side or {} for side in sides))
    return b"".join(merged.values()), conflicts


def _by_id(data: bytes) -> dict[str, bytes] | None:
    lines: dict[str, bytes] = {}
    previous = None
    for line in data.splitlines(keepends=True):
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        resource_id = resource.get("id") if isinstance(resource, dict) else None
        if not isinstance(resource_id, str) or (previous is not None and resource_id <= previous):
            return None
        lines[resource_id] = line if line.endswith(b"\n") else line + b"\n"
        previous = resource_id
    return lines
