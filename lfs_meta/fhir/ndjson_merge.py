"""Pure: the three-way merge of a META/ NDJSON file, resource by resource, keyed by resource id.

The sides are read in whatever order their lines are in; the result is written in the order the
layout gives the file (the caller knows the layout): every part of a sharded index, and the stub
files of either layout, sorted by id; the one file's DocumentReferences sorted by the path each
stands for, as init-meta writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lfs_meta.fhir import gen3, mapping
from lfs_meta.index import merge


@dataclass(frozen=True)
class Resource:
    line: bytes  # as written, newline included: two sides agree when their lines do
    key: str  # where it goes: its path (a DocumentReference of the one file), else its id
    name: str  # how a conflict names it: the path it stands for, else Type/id
    document: bool  # a DocumentReference, which stands for one entry (not a stub)


def merge_lines(
    base: bytes, ours: bytes, theirs: bytes, *, documents_by_path: bool
) -> tuple[bytes, list[str]] | None:
    """(merged bytes, resources changed differently on both sides); a conflicting resource keeps
    our line. None when a side is not one resource per line, each with its own id (and, for
    `documents_by_path`, each DocumentReference with its path): the caller merges those as text.

    Stubs (Patient, Specimen, ...) follow the entries that name them, so two sides that changed one
    differently still agree when one side's stub only added to it: removed on one side and given
    more on the other, the one with more (that side named it anew); a Specimen given its patient on
    one side against one without it, the one with (an entry on that side names the patient)."""
    sides = [_resources(data, documents_by_path) for data in (base, ours, theirs)]
    if any(side is None for side in sides):
        return None
    merged, conflicts = merge.merge(*(side or {} for side in sides))
    base_by_id, ours_by_id, theirs_by_id = (side or {} for side in sides)
    names = []
    for key in conflicts:
        chosen = _stub_to_keep(base_by_id.get(key), ours_by_id.get(key), theirs_by_id.get(key))
        if chosen is None:
            names.append((ours_by_id.get(key) or theirs_by_id[key]).name)
        else:
            merged[key] = chosen
    ordered = sorted(merged.values(), key=lambda resource: resource.key)
    return b"".join(resource.line for resource in ordered), names


def _stub_to_keep(base: Resource | None, mine: Resource | None, their: Resource | None) -> Resource | None:
    """The side to keep of a stub changed differently on both sides: the one that says all the
    other and the base say, and more; None when neither does (or for a DocumentReference): a
    conflict."""
    if any(side.document for side in (base, mine, their) if side is not None):
        return None
    said = [orjson.loads(side.line) if side is not None else {} for side in (base, mine, their)]
    for kept, fields, other in ((mine, said[1], said[2]), (their, said[2], said[1])):
        if kept is not None and said[0].items() <= fields.items() and other.items() <= fields.items():
            return kept
    return None


def _resources(data: bytes, documents_by_path: bool) -> dict[str, Resource] | None:
    found: dict[str, Resource] = {}
    for text in data.splitlines(keepends=True):
        try:
            resource = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(resource, dict):
            return None
        resource_id, kind = resource.get("id"), resource.get("resourceType")
        if not isinstance(resource_id, str) or not isinstance(kind, str) or resource_id in found:
            return None
        path = document_path(resource) if kind == "DocumentReference" else None
        if documents_by_path and kind == "DocumentReference" and path is None:
            return None
        line = text if text.endswith(b"\n") else text + b"\n"
        key = path if documents_by_path and path is not None else resource_id
        document = kind == "DocumentReference"
        found[resource_id] = Resource(line, key, path or f"{kind}/{resource_id}", document)
    return found


def document_path(document: dict[str, Any]) -> str | None:
    """The repository path a DocumentReference stands for: its lfs-meta path identifier (R5, R4B),
    or the gen3 profile's file:/// attachment URL."""
    for identifier in _list(document.get("identifier")):
        if isinstance(identifier, dict) and identifier.get("system") == mapping.PATH_SYSTEM:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    for content in _list(document.get("content")):
        attachment = content.get("attachment") if isinstance(content, dict) else None
        url = attachment.get("url") if isinstance(attachment, dict) else None
        if isinstance(url, str) and url.startswith(gen3.FILE_URL):
            return url.removeprefix(gen3.FILE_URL)
    return None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
