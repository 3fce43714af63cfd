"""Run gcp-storage-emulator in memory, with three quirks patched for test loads.

Usage: python gcs_emulator_launcher.py --host 127.0.0.1 --port 9023
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from http.server import HTTPServer
from types import FrameType
from typing import Any

from gcp_storage_emulator import server as gcs_server
from gcp_storage_emulator.handlers import objects
from gcp_storage_emulator.storage import Storage

LISTEN_BACKLOG = 1024


class _BackloggedHTTPServer(HTTPServer):
    # The server handles one connection at a time, and with socketserver's
    # listen() backlog of 5 the kernel drops (Linux) or refuses (BSD, macOS)
    # any further clients that connect meanwhile.
    request_queue_size = LISTEN_BACKLOG


def _run_api_thread(self: Any) -> None:
    # Mirrors gcp_storage_emulator.server.APIThread.run, only swapping the
    # server class; the emulator offers no hook to choose it.
    try:
        self._httpd = _BackloggedHTTPServer(
            (self._host, self._port),
            partial(gcs_server.RequestHandler, self._storage),
        )
    except OSError:
        # The main thread waits for is_running with no timeout, so a failed
        # bind in this thread would otherwise hang the process forever.
        logging.getLogger(__name__).exception("cannot listen on %s:%s", self._host, self._port)
        os._exit(1)
    self.is_running.set()
    self._httpd.serve_forever()


def _skip_in_memory_metadata_dump(
    original: Callable[[Any], None],
) -> Callable[[Any], None]:
    # Storage serialises every bucket and object to one JSON ".meta" blob on
    # each write, which makes N writes cost O(N^2). In memory the blob is
    # never read back (only __init__ reads it), so it can be skipped there.
    def write_config_to_file(self: Any) -> None:
        if self._use_memory_fs:
            return
        original(self)

    return write_config_to_file


def _paged_listing(original: Callable[..., None]) -> Callable[..., None]:
    # The emulator ignores maxResults and pageToken and returns every object in one
    # response; GCS returns at most maxResults items and a nextPageToken. Request
    # counts for LIST work are only meaningful with real paging.
    def ls(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
        size = int((request.query.get("maxResults") or ["1000"])[0])
        start = int((request.query.get("pageToken") or ["0"])[0])
        send = response.json

        def send_page(listing: dict[str, Any]) -> None:
            items = listing.get("items", [])
            page = {**listing, "items": items[start : start + size]}
            if start + size < len(items):
                page["nextPageToken"] = str(start + size)
            send(page)

        response.json = send_page
        original(request, response, storage, *args, **kwargs)

    return ls


def _page_object_listings() -> None:
    paged = _paged_listing(objects.ls)
    routes = [handlers for _, handlers in gcs_server.HANDLERS if handlers.get("GET") is objects.ls]
    if not routes:
        raise RuntimeError("gcp-storage-emulator changed: no route serves objects.ls")
    for handlers in routes:
        handlers["GET"] = paged


def apply_patches() -> None:
    for owner, attribute in (
        (gcs_server.APIThread, "run"),
        (Storage, "_write_config_to_file"),
    ):
        if not hasattr(owner, attribute):
            raise RuntimeError(
                f"gcp-storage-emulator changed: {owner.__name__}.{attribute} "
                "is gone, update tests/gcs_emulator_launcher.py"
            )
    gcs_server.APIThread.run = _run_api_thread
    Storage._write_config_to_file = _skip_in_memory_metadata_dump(Storage._write_config_to_file)
    _page_object_listings()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    apply_patches()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    emulator = gcs_server.create_server(args.host, args.port, in_memory=True)
    emulator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
