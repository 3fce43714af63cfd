"""What an inventory report says of itself, from its manifest: the store and bucket it lists, when it
was taken, its format and columns, its data files and which object names it covers. Pure: the caller
reads the files."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import orjson

from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import urls
from lfs_meta.index.problem import printable
from lfs_meta.index.urls import AZURE_HOST_SUFFIX

Source = tuple[str, str]  # ("s3", bucket), ("gs", bucket) or ("az", account): where the listed objects are
FIX = (
    "give the manifest of a finished report: S3 Inventory's manifest.json, a GCS inventory report's "
    "<config>_<time>_manifest.json or an Azure blob inventory rule's <rule>-manifest.json"
)
_S3_FORMATS = {"CSV": "csv", "ORC": "orc", "Parquet": "parquet"}
_AZURE_BLOB_TYPES = {"blockBlob", "appendBlob", "pageBlob"}
# Filters whose effect lfs-meta knows; another (creationTime, say) leaves out objects it cannot name.
_AZURE_FILTERS = {
    "blobTypes",
    "prefixMatch",
    "excludePrefix",
    "includeSnapshots",
    "includeBlobVersions",
    "includeDeleted",
}
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")  # old us-east-1 names too
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")


@dataclass(frozen=True)
class DataFile:
    url: str
    size: int | None = None
    md5: str | None = None  # hex, where the manifest gives one (S3)


@dataclass(frozen=True)
class Coverage:
    """The object names a report lists every one of: those starting with one of `prefixes` and with
    none of `excluded`; `prefixes` None when the report does not say (then no absence means anything)."""

    prefixes: tuple[str, ...] | None
    excluded: tuple[str, ...] = ()

    def covers(self, name: str) -> bool:
        if self.prefixes is None:
            return False
        return name.startswith(self.prefixes) and not (self.excluded and name.startswith(self.excluded))

    def describe(self) -> str:
        if self.prefixes is None:
            return "names not stated"
        shown = ", ".join(repr(prefix) for prefix in self.prefixes) if self.prefixes != ("",) else "all"
        return shown + (f" except {', '.join(map(repr, self.excluded))}" if self.excluded else "")


@dataclass(frozen=True)
class Report:
    manifest_url: str
    store: str  # "s3", "gs" or "az"
    source: Source
    snapshot: datetime  # when the store began to scan: a change after it may be missed
    file_format: str  # "csv", "parquet" or "orc"
    files: tuple[DataFile, ...]
    coverage: Coverage
    columns: tuple[str, ...] = ()  # a CSV's columns in order, for files without a header row
    header: bool = False
    delimiter: str = ","
    checksum_url: str | None = None  # the file whose arrival marks the report complete: the manifest's MD5
    config_id: str | None = None  # S3: the inventory configuration, which alone states the coverage
    destination: str | None = None  # S3: the destination bucket's ARN, as the configuration names it

    @property
    def source_url(self) -> str:
        store, name = self.source
        return f"https://{name}{AZURE_HOST_SUFFIX}/" if store == "az" else f"{store}://{name}/"

    def as_json(self) -> dict[str, Any]:
        return {
            "manifest": shown(self.manifest_url),
            "store": self.store,
            "source": self.source_url,
            "snapshot": self.snapshot.isoformat().replace("+00:00", "Z"),
            "format": self.file_format,
            "files": len(self.files),
            "covers": None if self.coverage.prefixes is None else list(self.coverage.prefixes),
            "excludes": list(self.coverage.excluded),
        }


def shown(url: str) -> str:
    """A URL in a message: its secrets masked, then escaped."""
    return printable(urls.redact(url))


def parse(raw: bytes, manifest_url: str) -> Report:
    """The report a manifest describes, with its data files' URLs beside the manifest's own."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UserError(f"{shown(manifest_url)}: is not JSON; {FIX}") from None
    if not isinstance(data, dict):
        raise UserError(f"{shown(manifest_url)}: is not a JSON object; {FIX}")
    try:
        if "sourceBucket" in data:
            return _s3(data, manifest_url)
        if "ruleDefinition" in data:
            return _azure(data, manifest_url)
        if _field(data, "report_shards_file_names") is not None:
            return _gcs(data, manifest_url)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{shown(manifest_url)}: a malformed manifest ({_what(exc)}); {FIX}") from None
    raise UserError(f"{shown(manifest_url)}: names no store's inventory report; {FIX}")


def _what(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {printable(str(exc.args[0]))}"
    return printable(str(exc))[:200] or type(exc).__name__


def _field(data: Mapping[str, Any], snake: str) -> Any:
    """A GCS manifest field, in the proto's JSON form (camelCase) or as written (snake_case)."""
    head, *rest = snake.split("_")
    return data.get(snake, data.get(head + "".join(part.title() for part in rest)))


def _bucket(value: Any, what: str) -> str:
    """A bucket name as S3 and GCS allow them (GCS's dotted names included)."""
    if not isinstance(value, str) or not _BUCKET.fullmatch(value):
        raise ValueError(f"{what} is not a bucket name")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is not a name")
    return value


def _s3(data: Mapping[str, Any], manifest_url: str) -> Report:
    source = _bucket(data["sourceBucket"], "sourceBucket")
    arn = _text(data["destinationBucket"], "destinationBucket")
    destination = arn.removeprefix("arn:aws:s3:::")
    fmt = _S3_FORMATS.get(data["fileFormat"])
    if fmt is None:
        raise ValueError(f"fileFormat {data['fileFormat']!r} is none of CSV, ORC, Parquet")
    created = datetime.fromtimestamp(int(data["creationTimestamp"]) / 1000, UTC)
    columns = tuple(name.strip() for name in str(data["fileSchema"]).split(",")) if fmt == "csv" else ()
    segments = _path_segments(manifest_url)
    # <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
    config = segments[-3] if len(segments) >= 4 and segments[-4] == source else None
    files = []
    for file in data["files"]:
        key = _text(file["key"], "files[].key")
        url = _s3_file_url(manifest_url, destination, key, source, config)
        files.append(DataFile(url, int(file["size"]), str(file["MD5checksum"]).lower()))
    return Report(
        manifest_url=manifest_url,
        store="s3",
        source=("s3", source),
        snapshot=created,
        file_format=fmt,
        files=tuple(files),
        coverage=Coverage(None),
        columns=columns,
        checksum_url=_beside(manifest_url, "manifest.checksum"),
        config_id=config,
        destination=arn,
    )


def _s3_file_url(manifest_url: str, destination: str, key: str, source: str, config: str | None) -> str:
    parts = urlsplit(manifest_url)
    if parts.scheme == "s3":
        profile = parts.netloc.rpartition("@")[0]
        if urlsplit(f"s3://{destination}").hostname != destination.lower() or "/" in destination:
            raise ValueError(f"destinationBucket {destination!r} is not a bucket")
        return f"s3://{profile + '@' if profile else ''}{destination}/{key}"
    # A downloaded copy keeps the layout below the configuration's directory: <config>/data/<file>.
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError(f"file {key!r} is not below the report")
    tail = segments[-2:]
    for at in range(len(segments) - 2):
        if segments[at] == source and segments[at + 1] == config:
            tail = segments[at + 2 :]
    return _local(manifest_url, ["..", *tail])


def _gcs(data: Mapping[str, Any], manifest_url: str) -> Report:
    config = _field(data, "report_config") or {}
    options = _field(config, "object_metadata_report_options") or {}
    bucket = _bucket((_field(options, "storage_filters") or {})["bucket"], "storageFilters.bucket")
    names = _field(data, "report_shards_file_names")
    count = _field(data, "shard_count")
    if not isinstance(names, list) or (count is not None and int(count) != len(names)):
        raise CheckFailed(
            f"{shown(manifest_url)}: lists {len(names) if isinstance(names, list) else 'none'} of its "
            f"{count} shards: the report is incomplete; give the manifest of a finished report"
        )
    csv = _field(config, "csv_options")
    fmt = "csv" if csv is not None else "parquet"
    header, delimiter = True, ","
    if csv is not None:
        header = bool(_field(csv, "header_required"))
        delimiter = _field(csv, "delimiter") or ","
        separator = _field(csv, "record_separator") or "\n"
        if separator not in ("\n", "\r\n") or len(delimiter) != 1:
            raise ValueError(
                f"records separated by {separator!r} and fields by {delimiter!r}: "
                "read only with a newline and a one-character delimiter"
            )
    fields = tuple(str(name) for name in _field(options, "metadata_fields") or ())
    files = tuple(DataFile(_beside(manifest_url, posixpath.basename(_text(n, "shard name")))) for n in names)
    return Report(
        manifest_url=manifest_url,
        store="gs",
        source=("gs", bucket),
        snapshot=_time(_field(data, "snapshot_time")),
        file_format=fmt,
        files=files,
        coverage=Coverage(("",)),  # a report lists a whole bucket's live objects
        columns=fields,
        header=header,
        delimiter=delimiter,
    )


def _azure(data: Mapping[str, Any], manifest_url: str) -> Report:
    status = data.get("status")
    if status != "Succeeded":
        raise CheckFailed(
            f"{shown(manifest_url)}: the inventory run's status is {printable(repr(status))}, not "
            "'Succeeded': the report may lack objects; give the manifest of a run that succeeded"
        )
    rule = data["ruleDefinition"]
    if rule.get("objectType", "blob") != "blob":
        raise ValueError(f"objectType {rule.get('objectType')!r}: a container inventory lists no blobs")
    fmt = str(rule["format"]).lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format {rule['format']!r} is neither csv nor parquet")
    filters = rule.get("filters") or {}
    prefixes: tuple[str, ...] | None = tuple(filters.get("prefixMatch") or ("",))
    if not set(filters.get("blobTypes") or ()) >= _AZURE_BLOB_TYPES or set(filters) - _AZURE_FILTERS:
        prefixes = None  # a blob the rule leaves out is absent from the report, not deleted
    base = _container_base(manifest_url)
    files = tuple(
        DataFile(
            base + quote(_text(file["blob"], "files[].blob"))
            if base
            else _beside(manifest_url, posixpath.basename(file["blob"])),
            int(file["size"]) if file.get("size") is not None else None,
        )
        for file in data["files"]
    )
    name = posixpath.basename(urlsplit(manifest_url).path)
    return Report(
        manifest_url=manifest_url,
        store="az",
        source=("az", _account(_text(data["endpoint"], "endpoint"))),
        snapshot=_time(data["inventoryStartTime"]),
        file_format=fmt,
        files=files,
        coverage=Coverage(prefixes, tuple(filters.get("excludePrefix") or ())),
        header=True,
        checksum_url=_beside(manifest_url, name.removesuffix(".json") + ".checksum"),
    )


def _account(endpoint: str) -> str:
    """The storage account an endpoint serves: its host's first label, or for an emulator (path-style,
    http://127.0.0.1:10000/<account>) its path's first segment."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    account = host.removesuffix(AZURE_HOST_SUFFIX) if host.endswith(AZURE_HOST_SUFFIX) else ""
    account = account or parts.path.strip("/").partition("/")[0]
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"endpoint {endpoint!r} names no storage account")
    return account


def _container_base(manifest_url: str) -> str | None:
    """The manifest's URL up to its container's '/', where the rule's files are named from; None for a
    downloaded copy."""
    parts = urlsplit(manifest_url)
    if parts.scheme == "file":
        return None
    container = parts.path.lstrip("/").partition("/")[0]
    if parts.scheme == "az" and "." not in parts.netloc:  # az://container/blob
        return f"az://{parts.netloc}/"
    return f"{parts.scheme}://{parts.netloc}/{container}/"


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(_text(value, "the snapshot time"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _path_segments(url: str) -> list[str]:
    return unquote(urlsplit(url).path).strip("/").split("/")


def _beside(url: str, name: str) -> str:
    """The URL of `name` in the directory of `url`: quoted where the URL's path is (file://, Azure's),
    verbatim in s3:// and gs:// keys."""
    if not name or name in (".", ".."):
        raise ValueError(f"file name {name!r}")
    verbatim = urlsplit(url).scheme in ("s3", "gs")
    return url.rpartition("/")[0] + "/" + (name if verbatim else quote(name))


def _local(manifest_url: str, relative: Sequence[str]) -> str:
    if any(segment in ("", ".") for segment in relative[1:]) or ".." in relative[1:]:
        raise ValueError(f"file {'/'.join(relative)!r} is not below the report")
    directory = posixpath.dirname(urlsplit(manifest_url).path)
    return "file://" + posixpath.normpath(posixpath.join(directory, *map(quote, relative)))


def with_coverage(report: Report, coverage: Coverage) -> Report:
    return replace(report, coverage=coverage)
