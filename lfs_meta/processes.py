"""Work on independent parts (index shards) spread over the cores, a few parts in flight at a time."""

from __future__ import annotations

import collections
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from lfs_meta.errors import UserError

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")
IN_FLIGHT = 2  # parts per worker submitted ahead: memory follows the workers, not the parts
MIN_PARTS = 4  # fewer are done here: starting workers would cost more than it saves


def cores() -> int:
    """The cores this process may run on (its affinity, which a container or `taskset` narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_SHARED: dict[str, Any] = {}  # what `ordered` gives every part alike, set in each worker once


def shared() -> Any:
    """The `shared` value of the `ordered` call this part is done for."""
    return _SHARED.get("value")


def ordered(function: Callable[[T], R], parts: Iterable[T], count: int, shared: Any = None) -> Iterator[R]:
    """`function` of each of the `count` parts, in their order: in one worker process per core when
    there are at least MIN_PARTS and more than one core, else in this process. `function` must be a
    module-level function; `shared()` gives it `shared` (sent to each worker once, not with every
    part). An exception it raises is raised here, and the workers are stopped."""
    workers = min(cores(), count)
    if workers < 2 or count < MIN_PARTS:
        yield from _here(function, parts, shared)
        return
    # A fork starts at once with every module imported; with other threads running, a lock one of
    # them holds would stay held in the child, so then the workers are started afresh.
    method = "fork" if threading.active_count() == 1 else "spawn"
    import multiprocessing  # here: 18 ms of imports that the hooks, one shard at a time, never need
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context(method), initializer=_start, initargs=(shared,)
    )
    try:
        pending: collections.deque[Future[R]] = collections.deque()
        for part in parts:
            pending.append(pool.submit(function, part))
            if len(pending) >= IN_FLIGHT * workers:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[R]) -> R:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool as exc:
        why = "out of memory?" if "abruptly" in str(exc) else str(exc)
        raise UserError(
            f"a worker process stopped ({why}); run again, on fewer cores if it repeats "
            "(taskset -c 0 lfs-meta ...)"
        ) from None


def _start(value: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is this process's parent's to handle
    _share(value)


def _share(value: Any) -> None:
    _SHARED["value"] = value


def _here(function: Callable[[T], R], parts: Iterable[T], value: Any) -> Iterator[R]:
    for part in parts:
        held = shared()
        _share(value)
        try:
            result = function(part)
        finally:
            _share(held)
        yield result
