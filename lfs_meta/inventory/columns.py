"""A report's rows in the index's terms: which of a store's columns mean what, an entry's object as a
report names it, and a row as the entry a listing would have given. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from lfs_meta.index.entry import Entry
from lfs_meta.index.urls import AZURE_HOST_SUFFIX
from lfs_meta.inventory.manifest import Report, Source
from lfs_meta.providers import normalize

# What lfs-meta reads of a row; every other column is left unread.
NAMES = ("name", "size", "etag", "version_id", "md5", "crc32c", "content_type", "last_modified", "encryption")
# Each store's column names, lowercased with everything but letters and digits left out: S3 writes
# LastModifiedDate in CSV and last_modified_date in ORC and Parquet, Azure Last-Modified or LastModified.
_COLUMNS: dict[str, dict[str, str]] = {
    "s3": {
        "key": "name",
        "versionid": "version_id",
        "islatest": "current",
        "isdeletemarker": "deleted",
        "size": "size",
        "lastmodifieddate": "last_modified",
        "etag": "etag",
        "encryptionstatus": "encryption",
    },
    "gs": {
        "name": "name",
        "generation": "version_id",
        "size": "size",
        "updated": "last_modified",
        "etag": "etag",
        "md5hash": "md5",
        "crc32c": "crc32c",
        "contenttype": "content_type",
    },
    "az": {
        "name": "name",
        "versionid": "version_id",
        "iscurrentversion": "current",
        "deleted": "deleted",
        "contentlength": "size",
        "lastmodified": "last_modified",
        "etag": "etag",
        "contentmd5": "md5",
        "contenttype": "content_type",
        "snapshot": "snapshot",
        "hdiisfolder": "folder",
    },
}
_HEX = re.compile(r"[0-9a-fA-F]+")
# S3 objects whose ETag is no MD5 of the content.
_ENCRYPTED = {"SSE-KMS", "DSSE-KMS", "SSE-C"}


def meaning(store: str, column: str) -> str | None:
    """What a report's column holds, in lfs-meta's names; None for a column lfs-meta does not read."""
    return _COLUMNS[store].get(re.sub(r"[^a-z0-9]", "", column.lower()))


def locate(url: str) -> tuple[Source, str] | None:
    """(where, object name) of an entry's object, as a report names it; None for objects no report lists
    (web and local files, and az://container/blob, which names no storage account)."""
    scheme, _, rest = url.partition("://")
    if scheme in ("s3", "gs"):  # keys verbatim: '?' and '#' are part of them
        netloc, _, key = rest.partition("/")
        # By bucket, whatever profile reads it: a report is often delivered to another account.
        return (scheme, netloc.rpartition("@")[2]), key
    if scheme in ("az", "https"):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host.endswith(AZURE_HOST_SUFFIX) and not parts.query:
            # An Azure report names blobs <container>/<blob>, across the account's containers.
            return ("az", host.removesuffix(AZURE_HOST_SUFFIX)), unquote(parts.path.lstrip("/"))
    return None


def url_of(report: Report, name: str) -> str:
    """The URL a listing records for the object `name` of the report's store."""
    store, where = report.source
    if store == "az":
        container, _, blob = name.partition("/")
        return f"az://{where}{AZURE_HOST_SUFFIX}/{container}/{quote(blob)}"
    return f"{store}://{where}/{name}"


def entry(report: Report, url: str, row: Mapping[str, Any]) -> Entry:
    """The object as the store's own listing reports it: ETag kinds, versions and checksums in the
    index's one form."""
    encrypted = report.store == "s3" and str(row.get("encryption") or "").upper() in _ENCRYPTED
    etag, kind = normalize.etag(row.get("etag"), md5_etags=report.store == "s3" and not encrypted)
    version = row.get("version_id")
    return Entry(
        remote_url=url,
        size=int(row["size"]),
        etag=etag,
        etag_kind=kind,
        version_id=str(version) if version not in (None, "", "null") else None,
        checksums=_checksums(row.get("md5"), row.get("crc32c")),
        content_type=normalize.content_type(row.get("content_type")),
        last_modified=normalize.rfc3339(moment(row.get("last_modified"))),
    )


def _checksums(md5: str | None, crc32c: str | None) -> dict[str, str]:
    """Checksums as reports write them: base64, as the stores' APIs do, or hex (32 digits an MD5, 8 a
    CRC32C), which base64 never is at those lengths."""
    found = {}
    for name, value, digits in (("md5", md5, 32), ("crc32c", crc32c, 8)):
        if value and len(value) == digits and _HEX.fullmatch(value):
            found[name] = value.lower()
        elif value:
            found |= normalize.checksums(**{name: value})
    return found


def moment(value: str | None) -> datetime | None:
    """A time as reports write it: ISO 8601 (Azure's with 7 fractional digits), or RFC 1123."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
