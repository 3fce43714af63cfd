"""Which checksums an entry lacks, and recording found ones only on the content they describe."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping

from lfs_meta.index.entry import Entry, whole_checksums

Update = Callable[[Collection[str], Callable[[dict[str, Entry]], list[str]]], list[str]]
# A batch is written when this many objects or seconds have passed since the last: an interrupted
# run keeps what it finished, and a million small objects do not rewrite the index a million times.
BATCH_OBJECTS = 1000
BATCH_SECONDS = 5.0


def lacking(entry: Entry, wanted: Iterable[str]) -> list[str]:
    """The wanted algorithms with no hash of the entry's whole content recorded."""
    have = whole_checksums(entry)
    return [name for name in wanted if name not in have]


def from_store(recorded: Entry, current: Entry) -> dict[str, str] | None:
    """The whole-content hashes the store reports now that `recorded` lacks; None when the store's
    object is no longer the content the entry records."""
    if not recorded.same_content(current):
        return None
    have = whole_checksums(recorded)
    return {name: value for name, value in whole_checksums(current).items() if name not in have}


def record(found: Mapping[str, tuple[Entry, Mapping[str, str]]]) -> Callable[[dict[str, Entry]], list[str]]:
    """The change adding each path's found hashes, for the paths still recorded exactly as they were
    when their object was asked or read (another command may have changed one meanwhile)."""

    def change(entries: dict[str, Entry]) -> list[str]:
        recorded = []
        for path, (seen, hashes) in sorted(found.items()):
            if entries.get(path) != seen:
                continue
            have = whole_checksums(seen)
            new = {name: value for name, value in hashes.items() if name not in have}
            if new:
                entries[path] = dataclasses.replace(seen, checksums={**seen.checksums, **new})
            recorded.append(path)
        return recorded

    return change


class Recorder:
    """Found hashes, written to the index in batches under its lock as they come from worker threads."""

    def __init__(self, update: Update) -> None:
        self._update = update
        self._waiting: dict[str, tuple[Entry, Mapping[str, str]]] = {}
        self._source: dict[str, str] = {}
        self._written_at = time.monotonic()
        self._lock = threading.Lock()
        self.recorded: list[str] = []
        self.found: dict[str, dict[str, str]] = {}
        self.sources: Counter[str] = Counter()  # where the recorded hashes came from

    def add(self, path: str, seen: Entry, hashes: Mapping[str, str], source: str) -> None:
        with self._lock:
            self._waiting[path] = (seen, hashes)
            self._source[path] = source
            due = len(self._waiting) >= BATCH_OBJECTS or time.monotonic() - self._written_at >= BATCH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            self._written_at = time.monotonic()
            if not waiting:
                return
            written = self._update(waiting.keys(), record(waiting))
            self.recorded.extend(written)
            for path in written:
                self.found[path] = dict(waiting[path][1])
                self.sources[self._source.pop(path)] += 1
