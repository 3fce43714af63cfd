"""The one normalized record of a tracked remote object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """What the store reported about one object; field names match the index schema."""

    remote_url: str
    size: int
    etag: str | None = None
    etag_kind: str | None = None
    version_id: str | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    last_modified: str | None = None
    patient: str | None = None
    specimen: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Entry:
        """Build from an index value that already passed validation."""
        return cls(**obj)

    def known_checksums(self) -> dict[str, str]:
        """The recorded checksums, and the ETag as the MD5 where the store says it is one."""
        checksums = dict(self.checksums)
        if self.etag_kind == "md5" and self.etag:
            checksums.setdefault("md5", self.etag)
        return checksums

    def to_json(self) -> dict[str, Any]:
        """The index value: unset fields are left out, not written as null."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != {}:
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out
