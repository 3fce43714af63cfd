"""A bounded set of worker threads that never holds up Ctrl-C."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_all(
    function: Callable[[T], R], items: Sequence[T], jobs: int, stopped: threading.Event | None = None
) -> list[R]:
    """`function` over `items` in up to `jobs` threads; the results in the order of `items`.

    Daemon threads, not a thread pool: on Ctrl-C the caller gets KeyboardInterrupt and the process
    can exit at once, where a pool's threads are joined at exit, each waiting out its request.
    `stopped` is set then (and when `function` raises, which is raised here), so that long work can
    look at it and give up; the threads take no more items either way.
    """
    stopped = stopped or threading.Event()
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for position in range(len(items)):
        work.put(position)
    results: dict[int, R] = {}
    errors: list[BaseException] = []

    def worker() -> None:
        while not stopped.is_set():
            try:
                position = work.get_nowait()
            except queue.Empty:
                return
            try:
                results[position] = function(items[position])
            except BaseException as exc:
                errors.append(exc)
                stopped.set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(max(1, jobs), len(items)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stopped.set()
        raise
    if errors:
        raise errors[0]
    return [results[position] for position in range(len(items))]
