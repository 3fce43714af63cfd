"""The one normalized record of a tracked remote object."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


class _Empty(Mapping[str, Any]):
    """The one empty mapping every entry without checksums or extra shares; sent between processes
    as a reference to itself."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __reduce__(self) -> str:
        return "_NONE"


_NONE: Mapping[str, Any] = _Empty()
# Values that many entries share (a patient's files, one content type): a million entries would
# otherwise hold a million copies of a few strings.
_REPEATED = ("etag_kind", "content_type", "patient", "specimen")


def _none() -> Mapping[str, Any]:
    return _NONE  # one empty mapping for every entry that has none


@dataclass(frozen=True, slots=True)
class Entry:
    """What the store reported about one object; field names match the index schema."""

    remote_url: str
    size: int
    etag: str | None = None
    etag_kind: str | None = None
    version_id: str | None = None
    checksums: Mapping[str, str] = field(default_factory=_none)
    content_type: str | None = None
    last_modified: str | None = None
    patient: str | None = None
    specimen: str | None = None
    extra: Mapping[str, Any] = field(default_factory=_none)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Entry:
        """Build from an index value that already passed validation."""
        shared = {name: sys.intern(obj[name]) for name in _REPEATED if obj.get(name) is not None}
        return cls(**{**obj, **shared})

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent from a worker process (a shard parsed there) as the constructor's arguments: a
        # frozen dataclass's own pickling sets each field through object.__setattr__, 2x slower.
        return (Entry, tuple(getattr(self, name) for name in self.__slots__))

    def known_checksums(self) -> dict[str, str]:
        """The recorded checksums, and the ETag as the MD5 where the store says it is one."""
        checksums = dict(self.checksums)
        if self.etag_kind == "md5" and self.etag:
            checksums.setdefault("md5", self.etag)
        return checksums

    def same_content(self, current: Entry) -> bool:
        """Whether the store's answer `current` describes the content this entry records: the same size
        and the same strong ETag (a new version of the same bytes keeps an S3 ETag); without strong
        ETags, the same size, modification time and version."""
        if self.size != current.size:
            return False
        if _strong(self) and _strong(current):
            return self.etag == current.etag
        if _strong(self) or _strong(current) or self.last_modified is None:
            return False
        return (self.last_modified, self.version_id) == (current.last_modified, current.version_id)

    def to_json(self) -> dict[str, Any]:
        """The index value: unset fields are left out, not written as null."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != {}:
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out


def _strong(entry: Entry) -> bool:
    return entry.etag is not None and entry.etag_kind != "weak"


# The hashes of the whole content: an S3 composite checksum ('-<parts>') depends on the part sizes.
WHOLE = ("md5", "sha1", "sha256", "sha512")


def whole_checksums(entry: Entry) -> dict[str, str]:
    """The entry's hashes of its whole content by algorithm, its ETag included where it is the MD5."""
    return {
        name: value for name, value in entry.known_checksums().items() if name in WHOLE and "-" not in value
    }


def keeping_checksums(recorded: Entry, current: Entry) -> Entry:
    """`current` with the checksums `recorded` holds that it lacks (computed or read earlier), when it is
    the same content; a checksum of other content is never carried over."""
    if not recorded.checksums or not recorded.same_content(current):
        return current
    kept = {name: value for name, value in recorded.checksums.items() if name not in current.checksums}
    return replace(current, checksums={**current.checksums, **kept}) if kept else current
