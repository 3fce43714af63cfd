"""One small module per store, chosen by URL scheme; each imports its SDK only when used.

A provider module defines `connect(url, options) -> Provider`. Providers return the index's
one metadata type, `Entry` (with `remote_url` set, `patient`/`specimen` unset), and raise the
errors in `lfs_meta.errors`: `UserError` (exit 2) for configuration (no credentials, missing SDK,
bad URL), `RemoteError` (exit 1) for an object the store says is missing or denied, and
`Unreachable` (exit 1) when the store could not be asked.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from lfs_meta.errors import RemoteError, UserError
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import printable
from lfs_meta.index.urls import AZURE_HOST_SUFFIX

_MODULES = {"s3": "s3", "gs": "gcs", "az": "azure", "https": "http", "http": "http", "file": "file"}
Chunk = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Options:
    credentials: str | None = None
    endpoint_url: str | None = None
    hash_local: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class RequestCounter:
    """HTTP requests a provider sent, retries included, by operation; shared by worker threads.

    Operations are the store's own names (S3 'HeadObject', 'ListObjectsV2'; GCS 'GET object
    metadata'; Azure 'HEAD blob'), so a test can prove that no object body was ever fetched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.operations: Counter[str] = Counter()

    def record(self, operation: str) -> None:
        with self._lock:
            self.operations[operation] += 1

    @property
    def count(self) -> int:
        return sum(self.operations.values())


class Provider(Protocol):
    name: str
    requests: RequestCounter

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        """The object's metadata (of `version_id` when given) from one metadata request, no body.

        Raises `VersionGone` when that version does not exist (any more).
        """

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        """(key relative to the prefix `url`, entry) for every object under it, from LIST pages."""

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        """Stream the object's bytes from `offset` on into `write`, which may keep each chunk; return
        the version id served.

        Only the recorded object is served: its pinned version when `recorded.version_id` is set,
        otherwise the object while its ETag is still `recorded.etag` (else `Changed`). Errors raised
        by `write` pass through unchanged.
        """

    def credential_source(self, url: str) -> str:
        """Where the credentials for `url` come from, in words; never the secret itself."""


def module_name(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and (parts.hostname or "").endswith(AZURE_HOST_SUFFIX):
        return "azure"
    if scheme not in _MODULES:
        raise UserError(
            f"{url}: no provider handles {scheme or 'this'}:// URLs; use s3://, gs://, az://, https:// or file://"
        )
    return _MODULES[scheme]


class Providers:
    """Connected providers, one per store module, shared across the URLs of one command."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._connected: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def for_url(self, url: str) -> Provider:
        name = module_name(url)
        with self._lock:
            if name not in self._connected:
                module = importlib.import_module(f"lfs_meta.providers.{name}")
                self._connected[name] = module.connect(url, self.options)
            return self._connected[name]

    def request_counts(self) -> dict[str, int]:
        return {name: provider.requests.count for name, provider in sorted(self._connected.items())}

    def operation_counts(self) -> dict[str, dict[str, int]]:
        return {
            name: dict(sorted(provider.requests.operations.items()))
            for name, provider in sorted(self._connected.items())
        }


def read_whole(providers: Providers, url: str, largest: int, too_big: Callable[[int], Exception]) -> bytes:
    """A small object's bytes (a manifest, a report file), read whole; one larger than `largest` bytes
    is refused with `too_big(its size)`, unread."""
    provider = providers.for_url(url)
    found = provider.stat(url)
    if found.size > largest:
        raise too_big(found.size)
    out = bytearray()
    provider.download(url, found, 0, out.extend)
    return bytes(out)


def strong_etag(recorded: Entry) -> str | None:
    """The recorded ETag as an If-Match value, when there is one a store can compare."""
    if recorded.etag and recorded.etag_kind != "weak":
        return f'"{recorded.etag}"'
    return None


def missing_sdk(package: str) -> UserError:
    return UserError(f"the Python package {package} is not installed; run 'pip install {package}'")


def outside_prefix(url: str, key: str, prefix: str, fix: str) -> str:
    """The message for a listed key that is not below the prefix asked for: cut to the prefix's
    length, it would be recorded at a path the store never named."""
    return (
        f"{printable(url)}: the store listed {printable(repr(key))}, which is outside the prefix "
        f"{printable(repr(prefix))} it was asked for; the listing cannot be trusted and is refused; {fix}"
    )


class PageGuard:
    """Stops a listing that would never end, which the SDKs would follow: a continuation token the
    store gave before (botocore notices only one given twice in a row), or a page of the same keys
    as the page before."""

    def __init__(self, url: str, fix: str) -> None:
        self.url, self.fix = url, fix
        self._tokens: set[Hashable] = set()
        self._keys: list[Any] = []

    def page(self, keys: list[Any], token: Hashable | None) -> None:
        """Called after each page with its keys and the token for the next one (None: no more pages)."""
        if keys and keys == self._keys:
            self._refuse("sent the same page of keys twice")
        self._keys = keys
        if token is not None and token in self._tokens:
            self._refuse("repeated a continuation token it had sent before")
        if token is not None:
            self._tokens.add(token)

    def _refuse(self, what: str) -> None:
        shown = printable(self.url)
        raise RemoteError(f"{shown}: the store {what}, so the listing would never end; {self.fix}")
