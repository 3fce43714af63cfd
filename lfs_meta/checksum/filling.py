"""Which checksums an entry lacks, and recording found ones only on the content they describe."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping

from lfs_meta.index.entry import Entry, whole_checksums

Update = Callable[[Collection[str], Callable[[dict[str, Entry]], dict[str, Entry]]], dict[str, Entry]]
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


def record(
    found: Mapping[str, tuple[Entry, Mapping[str, str]]],
) -> Callable[[dict[str, Entry]], dict[str, Entry]]:
    """The change adding each path's found hashes, for the paths still recorded exactly as they were
    when their object was asked or read (another command may have changed one meanwhile); it returns
    the entries it wrote."""

    def change(entries: dict[str, Entry]) -> dict[str, Entry]:
        written = {}
        for path, (seen, hashes) in sorted(found.items()):
            have = whole_checksums(seen)
            new = {name: value for name, value in hashes.items() if name not in have}
            if new and entries.get(path) == seen:
                entries[path] = written[path] = dataclasses.replace(seen, checksums={**seen.checksums, **new})
        return written

    return change


class Recorder:
    """Found hashes, from worker threads, written to the index under its lock in batches: by a thread
    of its own every BATCH_SECONDS, or as soon as BATCH_OBJECTS wait, so that reads never wait for
    a write and an interrupted run loses at most the last few seconds."""

    def __init__(self, update: Update) -> None:
        self._update = update
        self._waiting: dict[str, tuple[Entry, Mapping[str, str], str]] = {}
        self._lock = threading.Lock()  # the waiting results and the counts
        self._writing = threading.Lock()  # one index write at a time
        self._due = threading.Event()
        self._closed = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._write_in_batches, daemon=True)
        self.entries: dict[str, Entry] = {}  # each entry as written
        self.found: dict[str, dict[str, str]] = {}  # the hashes each got
        self.sources: Counter[str] = Counter()  # where they came from

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def add(self, path: str, seen: Entry, hashes: Mapping[str, str], source: str) -> None:
        if self._failure is not None:  # the index cannot be written: stop finding what cannot be kept
            raise self._failure
        with self._lock:
            if self._closed.is_set():
                return  # a worker finishing after an interrupt: the run has reported
            self._waiting[path] = (seen, hashes, source)
            if len(self._waiting) >= BATCH_OBJECTS:
                self._due.set()

    def close(self) -> None:
        """Take no more, and write what waits, once more if a write failed; its error is raised."""
        with self._lock:
            self._closed.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join()
        self._failure = None
        self.flush()

    def flush(self) -> None:
        if self._failure is not None:
            raise self._failure
        with self._writing:
            with self._lock:
                waiting, self._waiting = self._waiting, {}
            if not waiting:
                return
            try:
                written = self._update(
                    waiting.keys(), record({p: (e, h) for p, (e, h, _) in waiting.items()})
                )
            except BaseException:
                with self._lock:  # kept for the next write
                    self._waiting = waiting | self._waiting
                raise
            with self._lock:
                self.entries.update(written)
                for path in written:
                    seen, hashes, source = waiting[path]
                    added = set(written[path].checksums) - set(seen.checksums)
                    self.found.setdefault(path, {}).update((name, hashes[name]) for name in added)
                    self.sources[source] += 1

    def _write_in_batches(self) -> None:
        while not self._closed.is_set():
            self._due.wait(BATCH_SECONDS)
            self._due.clear()
            try:
                self.flush()
            except BaseException as exc:
                self._failure = exc
                return
