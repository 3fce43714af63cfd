"""`checksum --read`: one streaming read of an object, hashed as it arrives, written nowhere."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from lfs_meta.errors import Changed, UserError
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Chunk, Providers

# Chunks waiting for each hash: with the chunk being read and the one being hashed, a stream holds
# at most DEPTH + 2 chunks (1 MiB each from S3), whatever the object's size.
DEPTH = 2


class Stopped(UserError):
    """The run was interrupted while this object was being read."""


class Hashing:
    """Hashes of a stream (MD5, SHA-256), each in its own thread while the next chunk is read.

    hashlib releases the GIL on large buffers, so the read and the hashes overlap: one stream runs at
    the speed of the slowest of them (MD5) instead of their sum.
    """

    def __init__(self, algorithms: Sequence[str]) -> None:
        self.size = 0
        self._hashers = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
        self._queues: list[queue.Queue[Chunk | None]] = [queue.Queue(DEPTH) for _ in algorithms]
        self._threads = [
            threading.Thread(target=_feed, args=(waiting, hasher), daemon=True)
            for waiting, hasher in zip(self._queues, self._hashers.values(), strict=True)
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> Hashing:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def update(self, chunk: Chunk) -> None:
        self.size += len(chunk)
        for waiting in self._queues:
            waiting.put(chunk)

    def hexdigests(self) -> dict[str, str]:
        self._close()
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}

    def _close(self) -> None:
        for waiting, thread in zip(self._queues, self._threads, strict=True):
            if thread.is_alive():
                waiting.put(None)
                thread.join()


def _feed(waiting: queue.Queue[Chunk | None], hasher: Any) -> None:
    while (chunk := waiting.get()) is not None:
        hasher.update(chunk)


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
    with neither (a plain web server, a local file) must answer the same after the read as the entry.
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
    unpinned = not entry.version_id and not (entry.etag and entry.etag_kind != "weak")
    if unpinned and not entry.same_content(provider.stat(url)):
        raise Changed(f"{shown}: changed while it was read")
    return digests
