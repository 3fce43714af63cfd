"""Checking downloaded bytes against an entry: every digest the entry records that can be computed here."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from lfs_meta.index.entry import Entry
from lfs_meta.providers import Chunk

CHUNK = 1 << 20
# Kept for every pulled file, whatever the store recorded: it tells a local edit from the pulled bytes.
LOCAL = "sha256"


class _Hasher(Protocol):
    def update(self, data: Chunk, /) -> None: ...

    def hexdigest(self) -> str: ...


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: Chunk, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


class _Crc32c:
    def __init__(self) -> None:
        import google_crc32c

        self.checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]

    def update(self, data: Chunk, /) -> None:
        # Its C extension takes only bytes, not a view of a download's buffer.
        self.checksum.update(data if isinstance(data, bytes) else bytes(data))  # type: ignore[no-untyped-call]

    def hexdigest(self) -> str:
        return bytes(self.checksum.digest()).hex()  # type: ignore[no-untyped-call]


_MAKERS: dict[str, Callable[[], _Hasher]] = {
    "md5": lambda: hashlib.md5(usedforsecurity=False),
    "sha1": lambda: hashlib.sha1(usedforsecurity=False),
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "crc32": _Crc32,
    "crc32c": _Crc32c,
}


def expected(entry: Entry) -> dict[str, str]:
    """Digest of the whole content by algorithm, as far as it can be checked here.

    An S3 composite checksum ('-<parts>') and a multipart ETag depend on the upload's part sizes, and
    crc64nvme has no implementation here: those are left to the size and the other digests.
    """
    return {
        name: value for name, value in entry.known_checksums().items() if name in _MAKERS and "-" not in value
    }


class Digests:
    """Hashes of a byte stream as it passes, for `algorithms` plus the local sha256."""

    def __init__(self, algorithms: Mapping[str, str] | set[str]) -> None:
        self.hashers = {name: _MAKERS[name]() for name in {*algorithms, LOCAL}}
        self.size = 0

    def update(self, data: Chunk) -> None:
        self.size += len(data)
        for hasher in self.hashers.values():
            hasher.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self.hashers.items()}


@dataclass(frozen=True)
class Verdict:
    problems: tuple[str, ...]
    verified: tuple[str, ...]  # what matched: 'size' and digest names
    sha256: str


def verify(entry: Entry, digests: Digests) -> Verdict:
    want = expected(entry)
    got = digests.hexdigests()
    problems = []
    if digests.size != entry.size:
        problems.append(f"size {digests.size} where {entry.size} was recorded")
    for name in sorted(want):
        if got[name] != want[name].lower():
            problems.append(f"{name} {got[name]} where {want[name]} was recorded")
    verified = () if problems else ("size", *sorted(want))
    return Verdict(tuple(problems), verified, got[LOCAL])


def of_stream(stream: BinaryIO, algorithms: Mapping[str, str] | set[str]) -> Digests:
    """The digests of an open file's content from where it stands, read in chunks."""
    digests = Digests(algorithms)
    while chunk := stream.read(CHUNK):
        digests.update(chunk)
    return digests
