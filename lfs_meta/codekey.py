"""The keys lfs-meta's notes are kept by: what a result was computed by (a hash of the code and the
schema, so that any edit makes every note written before unusable: a rule a new version adds must
see everything again), and what it was computed from (a file's git blob id)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from types import ModuleType


def fingerprint(modules: Iterable[ModuleType], *data: bytes) -> str | None:
    """A hash of orjson's version (its writing is part of the bytes), what each module's own loader
    holds for it (its source; its compiled code in a sourceless install), and `data` (the schema);
    None when a loader cannot give it (a built-in module). `lfs_meta` itself, among `modules`, brings
    in the version."""
    import orjson

    digest = hashlib.sha256(f"orjson {orjson.__version__}".encode())
    for module in modules:
        spec = module.__spec__
        get_data = getattr(spec.loader, "get_data", None) if spec else None  # source and zip loaders
        if spec is None or spec.origin is None or not spec.has_location or not callable(get_data):
            return None
        try:
            source = get_data(spec.origin)
        except OSError:
            return None
        if not isinstance(source, bytes):
            return None
        digest.update(source)
    for part in data:
        digest.update(part)
    return digest.hexdigest()


def blob_id(data: bytes | bytearray, object_format: str = "sha1") -> str:
    """What `git hash-object` prints for a file holding `data` (object_format: sha1 or sha256)."""
    digest = hashlib.new(object_format, b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()
