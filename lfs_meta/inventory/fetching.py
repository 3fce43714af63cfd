"""A report's files, read through the providers or from a downloaded copy: its manifest, refused
unless the file the store writes last is there to say the report is complete; and its data files,
each checked against the size and MD5 the manifest gives, copied one at a time to a temporary
directory (a downloaded copy is read where it is)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lfs_meta.errors import CheckFailed, NotFound, RemoteError, UserError
from lfs_meta.index import urls
from lfs_meta.inventory import manifest
from lfs_meta.inventory.manifest import Coverage, DataFile, Report, shown
from lfs_meta.providers import Chunk, Providers, read_whole
from lfs_meta.providers.file import local_path

LARGEST_MANIFEST = 64 << 20
_CHUNK = 1 << 20


def report_url(given: str) -> str:
    """The manifest's URL from what the user gave: a URL, or a local path (a downloaded copy)."""
    if "://" not in given:
        return Path(given).expanduser().resolve().as_uri()
    for message, fix in urls.url_problems(given)[:1]:  # before any request: no token is sent
        raise UserError(f"--inventory {shown(given)}: {message}; {fix}")
    if urlsplit(given).scheme not in ("s3", "gs", "az", "https", "file"):
        raise UserError(
            f"--inventory {shown(given)}: give the manifest's s3://, gs://, az:// or https:// URL"
        )
    return given


def open_report(providers: Providers, given: str) -> Report:
    """The report a manifest describes, once the report is known to be complete."""
    url = report_url(given)
    raw = _small(providers, url)
    report = manifest.parse(raw, url)
    if report.checksum_url is not None:
        _check_complete(providers, report, raw)
    if report.store == "s3":
        report = manifest.with_coverage(report, _s3_coverage(providers, report))
    return report


def _small(providers: Providers, url: str) -> bytes:
    def too_big(size: int) -> UserError:
        return UserError(f"{shown(url)}: {size} bytes is no manifest; {manifest.FIX}")

    return read_whole(providers, url, LARGEST_MANIFEST, too_big)


def _check_complete(providers: Providers, report: Report, raw: bytes) -> None:
    assert report.checksum_url is not None
    name = shown(report.checksum_url.rpartition("/")[2])
    try:
        text = _small(providers, report.checksum_url).decode("ascii", "replace").strip()
    except NotFound:
        raise CheckFailed(
            f"{shown(report.manifest_url)}: no {name} beside it, which the store writes when the report is "
            "complete; wait for the report to finish (or copy that file with it)"
        ) from None
    digest = hashlib.md5(raw, usedforsecurity=False)
    if text.lower() != digest.hexdigest() and text != base64.b64encode(digest.digest()).decode():
        raise CheckFailed(
            f"{shown(report.manifest_url)}: does not match the MD5 in {name}: the report is incomplete or "
            "was changed; give the manifest of a finished report, unaltered"
        )


def _s3_coverage(providers: Providers, report: Report) -> Coverage:
    """The configuration's prefix, by one request; not known for a downloaded copy or without the
    permission (s3:GetInventoryConfiguration)."""
    parts = urlsplit(report.manifest_url)
    if parts.scheme != "s3" or report.config_id is None:
        return Coverage(None)
    profile = parts.netloc.rpartition("@")[0]
    source = f"s3://{profile + '@' if profile else ''}{report.source[1]}/"
    provider = providers.for_url(source)
    try:
        found = provider.inventory_configuration(source, report.config_id)  # type: ignore[attr-defined]
    except RemoteError:
        return Coverage(None)
    # Only the configuration that wrote this report: one changed since may filter otherwise.
    destination = found.get("Destination", {}).get("S3BucketDestination", {})
    prefix = str(destination.get("Prefix") or "").strip("/")
    if (destination.get("Bucket"), str(destination.get("Format", "")).lower()) != (
        report.destination,
        report.file_format,
    ) or not unquote(parts.path).lstrip("/").startswith(f"{prefix}/" if prefix else ""):
        return Coverage(None)
    return Coverage((str(found.get("Filter", {}).get("Prefix", "")),))


def data_files(providers: Providers, report: Report, directory: Path) -> Iterator[tuple[Path, str]]:
    """Each data file as a local path (and its URL to show), checked against the manifest; a copy made
    in `directory` is removed once the next is asked for."""
    for number, file in enumerate(report.files):
        url = shown(file.url)
        if urlsplit(file.url).scheme == "file":
            path = local_path(file.url)
            _check_local(path, file, url)
            yield path, url
            continue
        path = directory / f"{number}.part"
        try:
            _download(providers, file, path, url)
            yield path, url
        finally:
            path.unlink(missing_ok=True)


def _check_local(path: Path, file: DataFile, url: str) -> None:
    try:
        size = path.stat().st_size
        digest = _md5_of(path) if file.md5 else None
    except FileNotFoundError:
        raise CheckFailed(
            f"{url}: the report lists this file and it is not there; copy every file of the report"
        ) from None
    _check(file, size, digest, url)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(providers: Providers, file: DataFile, path: Path, url: str) -> None:
    provider = providers.for_url(file.url)
    try:
        found = provider.stat(file.url)
    except NotFound:
        raise CheckFailed(
            f"{url}: the report lists this file and the store has none; the report is incomplete"
        ) from None
    if file.size is not None and found.size != file.size:
        _check(file, found.size, None, url)
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("wb") as out:

        def write(chunk: Chunk) -> None:
            digest.update(chunk)
            out.write(chunk)

        provider.download(file.url, found, 0, write)
    _check(file, path.stat().st_size, digest.hexdigest() if file.md5 else None, url)


def _check(file: DataFile, size: int, md5: str | None, url: str) -> None:
    if file.size is not None and size != file.size:
        raise CheckFailed(
            f"{url}: {size} bytes where the manifest says {file.size}: the report is incomplete or was "
            "changed; give a finished report's manifest"
        )
    if file.md5 and md5 is not None and md5 != file.md5:
        raise CheckFailed(
            f"{url}: its MD5 is not the one the manifest gives: the file is damaged or was changed; "
            "give a finished report's manifest"
        )
