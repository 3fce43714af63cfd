"""https:// and http:// URLs: metadata from one HEAD request (redirects followed); a GET only for `pull`."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from http.client import HTTPMessage, HTTPResponse

from lfs_meta.errors import Changed, NotFound, RemoteError, Unreachable, UserError
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Chunk, Options, RequestCounter, normalize, strong_etag

ATTEMPTS = 3
TIMEOUT_SECONDS = 20
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_CHUNK = 1 << 20


def connect(url: str, options: Options) -> Http:
    return Http(options)


class _CountingRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, counter: RequestCounter) -> None:
        self.counter = counter

    def redirect_request(  # noqa: PLR0917 -- urllib's signature
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        self.counter.record(req.get_method())
        new = super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]
        if new is not None:
            new.method = req.get_method()  # urllib turns a redirected HEAD into a GET: a download
        return new


class Http:
    name = "http"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.requests = RequestCounter()
        self._opener = urllib.request.build_opener(_CountingRedirects(self.requests))

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        response = self._head(url)
        length = response.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RemoteError(
                f"{urls.redact(url)}: the server reports no Content-Length, so the size is unknown"
            )
        etag, kind = normalize.etag(response.headers.get("ETag"))
        modified = response.headers.get("Last-Modified")
        return Entry(
            remote_url=url,
            size=int(length),
            etag=etag,
            etag_kind=kind,
            content_type=normalize.content_type(response.headers.get("Content-Type")),
            last_modified=normalize.rfc3339(parsedate_to_datetime(modified)) if modified else None,
        )

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if match := strong_etag(recorded):
            headers["If-Match"] = match
        response = self._send(url, "GET", headers)
        # A server that ignores Range sends everything: skip what the caller already has.
        skip = offset if offset and response.status != 206 else 0
        try:
            while chunk := response.read1(_CHUNK):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if chunk:
                    write(chunk)
        except (OSError, ValueError) as exc:
            raise Unreachable(f"{urls.redact(url)}: the download broke off ({type(exc).__name__})") from None
        finally:
            response.close()
        return None

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        raise UserError(
            f"{urls.redact(url)}: web servers cannot be listed; track files one by one or --from-manifest"
        )

    def credential_source(self, url: str) -> str:
        return "none: plain HTTP(S) requests"

    def _head(self, url: str) -> HTTPResponse:
        return self._send(url, "HEAD", {})

    def _send(self, url: str, method: str, headers: dict[str, str]) -> HTTPResponse:
        shown = urls.redact(url)
        for attempt in range(1, ATTEMPTS + 1):
            self.requests.record(method)
            try:
                response: HTTPResponse = self._opener.open(
                    urllib.request.Request(url, method=method, headers=headers), timeout=TIMEOUT_SECONDS
                )
                return response
            except urllib.error.HTTPError as exc:
                if exc.code == 412:
                    raise Changed(f"{shown}: the server's ETag is no longer {headers['If-Match']}") from None
                if exc.code in {404, 410}:
                    raise NotFound(f"{shown}: not found (HTTP {exc.code}); check the URL") from None
                if exc.code in (401, 403):
                    raise RemoteError(
                        f"{shown}: access denied (HTTP {exc.code}); lfs-meta sends web servers no credentials"
                    ) from None
                if exc.code not in _RETRY_STATUSES or attempt == ATTEMPTS:
                    raise Unreachable(
                        f"{shown}: HTTP {exc.code} {exc.reason} after {attempt} attempt(s)"
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == ATTEMPTS:
                    reason = getattr(exc, "reason", exc)
                    raise Unreachable(
                        f"{shown}: cannot connect ({reason}); check the URL and the network"
                    ) from None
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")
