"""Provider quirks turned into the index's one form, in one place."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from lfs_meta.index import schema

_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART = re.compile(r"^[0-9a-f]{32}-[1-9][0-9]*$")


def etag(raw: str | None, *, md5_etags: bool = False) -> tuple[str | None, str | None]:
    """(etag without quotes, etag_kind) from an ETag as a store reported it.

    `md5_etags` is for stores whose plain ETags are the content MD5 (S3 without SSE-KMS/SSE-C).
    """
    if not raw:
        return None, None
    weak = raw.startswith("W/")
    value = raw[2:] if weak else raw
    value = value.strip('"')
    if not value:
        return None, None
    if weak:
        return value, "weak"
    if md5_etags and _MD5_HEX.match(value.lower()):
        return value.lower(), "md5"
    if md5_etags and _MULTIPART.match(value.lower()):
        return value.lower(), "multipart"
    return value, "opaque"


def hex_digest(value: str | bytes | bytearray | None) -> str | None:
    """Lowercase hex from a base64 digest (S3, GCS) or raw digest bytes (Azure Content-MD5).

    S3 composite checksums keep their '-<parts>' suffix.
    """
    if value is None or len(value) == 0:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    digest, sep, parts = value.partition("-")
    try:
        hex_value = base64.b64decode(digest, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
    return f"{hex_value}-{parts}" if sep and parts.isdigit() else hex_value


def checksums(**digests: str | bytes | bytearray | None) -> dict[str, str]:
    converted = {name: hex_digest(value) for name, value in digests.items()}
    return {name: value for name, value in converted.items() if value}


def uploader_md5(metadata: Mapping[str, str] | None) -> str | None:
    """The whole object's MD5 that widely used uploaders write into user metadata for multipart
    uploads, whose ETag is no MD5: rclone's md5chksum (base64), s3cmd's s3cmd-attrs 'md5:<hex>'.

    User metadata belongs to one object version: a new upload without it drops it.
    """
    if not metadata:
        return None
    named = {name.lower(): value for name, value in metadata.items()}
    if rclone := hex_digest(named.get("md5chksum")):
        return rclone if _MD5_HEX.fullmatch(rclone) else None
    fields = dict(part.partition(":")[::2] for part in named.get("s3cmd-attrs", "").split("/"))
    s3cmd = fields.get("md5", "").lower()
    return s3cmd if _MD5_HEX.fullmatch(s3cmd) else None


def rfc3339(moment: datetime | None) -> str | None:
    """UTC, 'Z', whole seconds unless the store reported a fraction."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def content_type(value: str | None) -> str | None:
    """The store's content type, or None when it is not one the index accepts."""
    if not value:
        return None
    pattern = schema.load_schema()["$defs"]["entry"]["properties"]["content_type"]["pattern"]
    return value.strip() if re.match(pattern, value.strip()) else None
