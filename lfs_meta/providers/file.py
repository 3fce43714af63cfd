"""file:// URLs: size and mtime from os.stat; sha256 only when asked (`--hash`), read locally."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from lfs_meta.errors import NotFound, RemoteError
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Chunk, Options, RequestCounter, normalize

_CHUNK = 1 << 20


def connect(url: str, options: Options) -> LocalFiles:
    return LocalFiles(options)


def local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


class LocalFiles:
    name = "file"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.requests = RequestCounter()

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        path = local_path(url)
        self.requests.record("stat")
        try:
            info = path.stat()
        except FileNotFoundError:
            raise NotFound(f"{url}: no such file; check the path") from None
        except OSError as exc:
            raise RemoteError(f"{url}: cannot stat: {exc.strerror}") from None
        if not path.is_file():
            raise RemoteError(f"{url}: not a regular file; use --recursive for a directory")
        return self._entry(url, path, info)

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        root = local_path(url)
        if not root.is_dir():
            raise RemoteError(f"{url}: not a directory; drop --recursive to track one file")
        for directory, _, files in os.walk(root, onerror=None):
            for name in sorted(files):
                path = Path(directory) / name
                relative = path.relative_to(root).as_posix()
                self.requests.record("stat")
                file_url = "file://" + quote(path.as_posix())
                yield relative, self._entry(file_url, path, path.stat())

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        self.requests.record("read")
        try:
            with local_path(url).open("rb") as stream:
                stream.seek(offset)
                while chunk := stream.read(_CHUNK):
                    write(chunk)
        except FileNotFoundError:
            raise NotFound(f"{url}: no such file; check the path") from None
        except IsADirectoryError:
            raise RemoteError(f"{url}: not a regular file") from None
        except OSError as exc:
            raise RemoteError(f"{url}: cannot read: {exc.strerror}") from None
        return None

    def credential_source(self, url: str) -> str:
        return "none: the local file system"

    def _entry(self, url: str, path: Path, info: os.stat_result) -> Entry:
        return Entry(
            remote_url=url,
            size=info.st_size,
            checksums={"sha256": _sha256(path)} if self.options.hash_local else {},
            last_modified=normalize.rfc3339(datetime.fromtimestamp(info.st_mtime, tz=UTC)),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise RemoteError(f"file://{path}: cannot read for --hash: {exc.strerror}") from None
    return digest.hexdigest()
