"""`checksum --read`: one streaming read of an object, hashed as it arrives, written nowhere."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from lfs_meta.errors import Changed, UserError
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Chunk, Providers, strong_etag

# Chunks waiting for each hash: with the chunk being read and the one being hashed, a stream holds
# at most DEPTH + 2 chunks of CHUNK bytes (S3 hands over 1 MiB), whatever the object's size.
DEPTH = 2
CHUNK = 1 << 20


class Stopped(UserError):
    """The run was interrupted while this object was being read."""


class Hashing:
    """Hashes of a stream (MD5, SHA-256), each in its own thread while the next chunk is read.

    hashlib releases the GIL on large buffers, so the read and the hashes overlap: one stream runs at
    the speed of the slowest of them (MD5) instead of their sum. Small chunks (GCS hands over 8 KiB)
    are gathered into CHUNK-sized ones first, or the handing over would cost more than the hashing.
    """

    def __init__(self, algorithms: Sequence[str]) -> None:
        self.size = 0
        self._gathered = bytearray()
        self._hashers = [_Hasher(name) for name in algorithms]
        for hasher in self._hashers:
            hasher.start()

    def __enter__(self) -> Hashing:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def update(self, chunk: Chunk) -> None:
        self.size += len(chunk)
        if self._gathered or len(chunk) < CHUNK:
            self._gathered += chunk
            if len(self._gathered) < CHUNK:
                return
            chunk, self._gathered = self._gathered, bytearray()
        for hasher in self._hashers:
            hasher.put(chunk)

    def hexdigests(self) -> dict[str, str]:
        if self._gathered:
            for hasher in self._hashers:
                hasher.put(self._gathered)
        self._close()
        return {hasher.name: hasher.hexdigest() for hasher in self._hashers}

    def _close(self) -> None:
        for hasher in self._hashers:
            hasher.finish()


class _Hasher(threading.Thread):
    """One hash over the chunks put to it, in its own thread; a failure is raised to the putter."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True)
        self.name = name
        self._hash = hashlib.new(name, usedforsecurity=False)
        self._waiting: queue.Queue[Chunk | None] = queue.Queue(DEPTH)
        self._failure: BaseException | None = None

    def run(self) -> None:
        while (chunk := self._waiting.get()) is not None:
            if self._failure is None:
                try:
                    self._hash.update(chunk)
                except BaseException as exc:  # kept taking chunks, so that no put waits forever
                    self._failure = exc

    def put(self, chunk: Chunk) -> None:
        if self._failure is not None:
            raise self._failure
        self._waiting.put(chunk)

    def finish(self) -> None:
        if self.is_alive():
            self._waiting.put(None)
            self.join()
        if self._failure is not None:
            raise self._failure

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def read_hashes(
    providers: Providers,
    entry: Entry,
    algorithms: Sequence[str],
    advance: Callable[[int], None],
    stopped: threading.Event,
) -> dict[str, str]:
    """The hashes of the content `entry` records, from one read of the object.

    The read is of that content only: the pinned version, or the object while its ETag is still the
    recorded one (the store refuses otherwise); its length must be the recorded size; and an object
    with neither (a local file), or on a web server, must answer the same after the read.
    """
    url = entry.remote_url
    provider = providers.for_url(url)
    with Hashing(algorithms) as hashing:

        def take(chunk: Chunk) -> None:
            if stopped.is_set():
                raise Stopped(f"{urls.redact(url)}: interrupted")
            hashing.update(chunk)
            advance(len(chunk))
            if hashing.size > entry.size:
                raise Changed(f"{urls.redact(url)}: longer than the {entry.size} bytes recorded")

        served = provider.download(url, entry, 0, take)
        digests = hashing.hexdigests()
    shown = urls.redact(url)
    if hashing.size != entry.size:
        raise Changed(f"{shown}: {hashing.size} bytes read where {entry.size} are recorded")
    if entry.version_id and served and served != entry.version_id:
        raise Changed(f"{shown}: version {served} was served where {entry.version_id} is pinned")
    # A web server may ignore If-Match: its answer after the read must still be the entry's.
    web = url.startswith(("https:", "http:"))
    pinned = entry.version_id or (strong_etag(entry) and not web)
    if not pinned and not entry.same_content(provider.stat(url)):
        if strong_etag(entry) or entry.last_modified:
            raise Changed(f"{shown}: changed while it was read")
        raise Changed(
            f"{shown}: cannot be confirmed unchanged around the read (no version, ETag or modification "
            "time recorded)"
        )
    return digests
