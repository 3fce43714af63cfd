"""Inventory reports written as each store writes them, in each store's documented layout, into the
emulators' buckets (none of the emulators generates them), from the objects the store really holds.

S3 Inventory: <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.json and
manifest.checksum (the manifest's MD5, hex), data files under <config id>/data/: CSV gzip without a
header (keys URL-encoded, columns named by fileSchema), ORC or Parquet (snake_case columns).
GCS inventory reports: <path>/<config>_<snapshot>_<n>.csv|.parquet shards and the manifest
<config>_<snapshot>_manifest.json naming them. Azure blob inventory: <YYYY>/<MM>/<DD>/<HH-MM-SS>/
<rule>/<rule>_<n>.csv|.parquet, <rule>-manifest.json and <rule>-manifest.checksum; names are
<container>/<blob>; a CSV has a header row.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.orc as porc
import pyarrow.parquet as pq

Row = dict[str, Any]
Put = Callable[[str, bytes], None]  # (destination key, bytes)

S3_CSV_SCHEMA = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
)
S3_SNAKE = {
    "Bucket": "bucket",
    "Key": "key",
    "VersionId": "version_id",
    "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker",
    "Size": "size",
    "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag",
    "EncryptionStatus": "encryption_status",
    "StorageClass": "storage_class",
}
GCS_FIELDS = ("bucket", "name", "size", "md5Hash", "crc32c", "etag", "generation", "updated", "contentType")
AZURE_FIELDS = (
    "Name",
    "Creation-Time",
    "Last-Modified",
    "Etag",
    "Content-Length",
    "Content-Type",
    "Content-MD5",
    "BlobType",
)


def later() -> datetime:
    """A snapshot time after every change a test has made (reports are taken after the fact)."""
    return datetime.now(UTC) + timedelta(seconds=2)


@dataclass
class Written:
    manifest_key: str
    files: list[str] = field(default_factory=list)
    manifest: bytes = b""


def _chunks(rows: Sequence[Row], parts: int) -> list[Sequence[Row]]:
    size = max(1, -(-len(rows) // max(1, parts)))
    return [rows[at : at + size] for at in range(0, len(rows), size)] or [rows]


def _table(rows: Sequence[Row], columns: Sequence[str], types: dict[str, Any]) -> pa.Table:
    return pa.table(
        {name: pa.array([row.get(name) for row in rows], types.get(name, pa.string())) for name in columns}
    )


# S3 -----------------------------------------------------------------------------------------------


def s3_rows(client: Any, bucket: str, versions: bool) -> list[Row]:
    """Every object (with versions: every version and delete marker) as S3 Inventory lists it."""
    rows: list[Row] = []
    if versions:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", ()):
                rows.append(_s3_row(bucket, item, item["IsLatest"], False))
            for item in page.get("DeleteMarkers", ()):
                rows.append(_s3_row(bucket, item, item["IsLatest"], True))
        return rows
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        rows += [_s3_row(bucket, item, None, None) for item in page.get("Contents", ())]
    return rows


def _s3_row(bucket: str, item: dict[str, Any], latest: bool | None, marker: bool | None) -> Row:
    return {
        "Bucket": bucket,
        "Key": item["Key"],
        "VersionId": item.get("VersionId"),
        "IsLatest": latest,
        "IsDeleteMarker": marker,
        "Size": None if marker else item["Size"],
        "LastModifiedDate": item["LastModified"].astimezone(UTC),
        "ETag": None if marker else item["ETag"].strip('"'),
        "EncryptionStatus": "SSE-S3",
        "StorageClass": "STANDARD",
    }


def s3_report(
    put: Put,
    source: str,
    destination: str,
    rows: Sequence[Row],
    *,
    fmt: str = "csv",
    when: datetime | None = None,
    columns: Sequence[str] | None = None,
    parts: int = 2,
    prefix: str = "inventory",
    config: str = "daily",
    checksum: bool = True,
) -> Written:
    """An S3 Inventory report of `rows` (from `s3_rows`), put with `put`; its manifest's key."""
    when = when or later()
    versions = any(row["IsLatest"] is not None for row in rows)
    columns = list(
        columns
        or [c for c in S3_CSV_SCHEMA if versions or c not in ("VersionId", "IsLatest", "IsDeleteMarker")]
    )
    root = f"{prefix}/{source}/{config}"
    written = Written(f"{root}/{when:%Y-%m-%dT%H-%MZ}/manifest.json")
    entries = []
    for number, chunk in enumerate(_chunks(rows, parts)):
        data, extension = _s3_file(chunk, columns, fmt)
        key = f"{root}/data/{number:04d}-{hashlib.md5(data).hexdigest()[:8]}.{extension}"
        put(key, data)
        written.files.append(key)
        entries.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})
    if fmt == "csv":
        schema = ", ".join(columns)
    elif fmt == "orc":
        schema = "struct<" + ",".join(f"{S3_SNAKE[c]}:string" for c in columns) + ">"
    else:
        schema = (
            "message s3.inventory { "
            + " ".join(f"optional binary {S3_SNAKE[c]} (UTF8);" for c in columns)
            + " }"
        )
    manifest = {
        "sourceBucket": source,
        "destinationBucket": f"arn:aws:s3:::{destination}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(when.timestamp() * 1000)),
        "fileFormat": {"csv": "CSV", "orc": "ORC", "parquet": "Parquet"}[fmt],
        "fileSchema": schema,
        "files": entries,
    }
    written.manifest = json.dumps(manifest, indent=2).encode()
    put(written.manifest_key, written.manifest)
    if checksum:
        put(
            written.manifest_key.replace("manifest.json", "manifest.checksum"),
            hashlib.md5(written.manifest).hexdigest().encode(),
        )
    return written


def _s3_file(rows: Sequence[Row], columns: Sequence[str], fmt: str) -> tuple[bytes, str]:
    if fmt == "csv":
        out = io.StringIO()
        for row in rows:
            out.write(",".join(_s3_csv_value(name, row.get(name)) for name in columns) + "\n")
        return _gzip(out.getvalue().encode()), "csv.gz"
    types = {
        "size": pa.int64(),
        "is_latest": pa.bool_(),
        "is_delete_marker": pa.bool_(),
        "last_modified_date": pa.timestamp("ms", tz="UTC") if fmt == "parquet" else pa.timestamp("ns"),
    }
    snake = [S3_SNAKE[c] for c in columns]
    renamed = [{S3_SNAKE[c]: _plain(row.get(c), fmt) for c in columns} for row in rows]
    table = _table(renamed, snake, types)
    sink = io.BytesIO()
    if fmt == "orc":
        porc.write_table(table, sink)
        return sink.getvalue(), "orc"
    pq.write_table(table, sink)
    return sink.getvalue(), "parquet"


def _plain(value: Any, fmt: str) -> Any:
    if isinstance(value, datetime) and fmt == "orc":
        return value.replace(tzinfo=None)
    return value


def _s3_csv_value(name: str, value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return f'"{str(value).lower()}"'
    if isinstance(value, datetime):
        return f'"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"'
    text = quote_plus(value, safe="/") if name == "Key" else str(value)
    return '"' + text.replace('"', '""') + '"'


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def s3_configure(
    client: Any, source: str, destination: str, config: str, prefix: str | None, fmt: str = "csv"
) -> None:
    """The bucket's inventory configuration, which alone says which keys a report covers."""
    form = {"csv": "CSV", "orc": "ORC", "parquet": "Parquet"}[fmt]
    settings: dict[str, Any] = {
        "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{destination}", "Format": form}},
        "IsEnabled": True,
        "Id": config,
        "IncludedObjectVersions": "Current",
        "Schedule": {"Frequency": "Daily"},
    }
    if prefix is not None:
        settings["Filter"] = {"Prefix": prefix}
    client.put_bucket_inventory_configuration(Bucket=source, Id=config, InventoryConfiguration=settings)


# GCS ----------------------------------------------------------------------------------------------


def gcs_rows(client: Any, bucket: str) -> list[Row]:
    return [
        {
            "bucket": bucket,
            "name": blob.name,
            "size": blob.size,
            "md5Hash": blob.md5_hash,
            "crc32c": blob.crc32c,
            "etag": blob.etag,
            "generation": blob.generation,
            "updated": blob.updated.astimezone(UTC),
            "contentType": blob.content_type,
        }
        for blob in client.list_blobs(bucket)
    ]


def gcs_report(
    put: Put,
    source: str,
    rows: Sequence[Row],
    *,
    fmt: str = "csv",
    when: datetime | None = None,
    header: bool = True,
    fields: Sequence[str] = GCS_FIELDS,
    parts: int = 2,
    path: str = "inventory_reports",
    config: str = "0d5b0e1c-4bd0-4d62-a9b8-7e0a4b9f1c11",
    shard_count: int | None = None,
) -> Written:
    when = when or later()
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    written = Written(f"{path}/{config}_{stamp}_manifest.json")
    names = []
    for number, chunk in enumerate(_chunks(rows, parts)):
        name = f"{config}_{stamp}_{number}.{fmt}"
        table = _table(
            [
                {
                    k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v)
                    for k, v in row.items()
                }
                for row in chunk
            ],
            fields,
            {"size": pa.int64(), "generation": pa.int64()},
        )
        sink = io.BytesIO()
        if fmt == "csv":
            pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=header))
        else:
            pq.write_table(table, sink)
        put(f"{path}/{name}", sink.getvalue())
        names.append(name)
        written.files.append(f"{path}/{name}")
    options: dict[str, Any] = {
        "csvOptions": {"recordSeparator": "\n", "delimiter": ",", "headerRequired": header}
    }
    if fmt == "parquet":
        options = {"parquetOptions": {}}
    manifest = {
        "report_config": {
            "name": f"projects/p/locations/us/reportConfigs/{config}",
            **options,
            "objectMetadataReportOptions": {
                "metadataFields": list(fields),
                "storageFilters": {"bucket": source},
                "storageDestinationOptions": {"bucket": "destination", "destinationPath": path},
            },
        },
        "records_processed": len(rows),
        "snapshot_time": when.isoformat().replace("+00:00", "Z"),
        "shard_count": len(names) if shard_count is None else shard_count,
        "report_shards_file_names": names,
    }
    written.manifest = json.dumps(manifest, indent=2).encode()
    put(written.manifest_key, written.manifest)
    return written


# Azure --------------------------------------------------------------------------------------------


def azure_rows(service: Any, container: str, versions: bool = False) -> list[Row]:
    rows = []
    client = service.get_container_client(container)
    for blob in client.list_blobs(include=["versions"] if versions else None):
        md5 = blob.content_settings.content_md5
        rows.append(
            {
                "Name": f"{container}/{blob.name}",
                "Creation-Time": blob.creation_time.astimezone(UTC),
                "Last-Modified": blob.last_modified.astimezone(UTC),
                "Etag": blob.etag.strip('"'),
                "Content-Length": blob.size,
                "Content-Type": blob.content_settings.content_type,
                "Content-MD5": base64.b64encode(bytes(md5)).decode() if md5 else None,
                "BlobType": "BlockBlob",
                "VersionId": blob.version_id,
                "IsCurrentVersion": blob.is_current_version,
            }
        )
    return rows


def azure_report(
    put: Put,
    endpoint: str,
    rows: Sequence[Row],
    *,
    fmt: str = "csv",
    when: datetime | None = None,
    fields: Sequence[str] = AZURE_FIELDS,
    parts: int = 2,
    rule: str = "lfs-meta-rule",
    status: str = "Succeeded",
    prefix_match: Sequence[str] | None = None,
    blob_types: Sequence[str] = ("blockBlob", "appendBlob", "pageBlob"),
    checksum: bool = True,
    destination: str = "inventory",
) -> Written:
    when = when or later()
    directory = f"{when:%Y/%m/%d/%H-%M-%S}/{rule}"
    written = Written(f"{directory}/{rule}-manifest.json")
    files = []
    for number, chunk in enumerate(_chunks(rows, parts)):
        key = f"{directory}/{rule}_1000000_{number}.{fmt}"
        table = _table(
            [
                {
                    k: (f"{v:%Y-%m-%dT%H:%M:%S}.{v.microsecond:06d}0Z" if isinstance(v, datetime) else v)
                    for k, v in row.items()
                }
                for row in chunk
            ],
            fields,
            {"Content-Length": pa.int64(), "IsCurrentVersion": pa.bool_()},
        )
        sink = io.BytesIO()
        if fmt == "csv":
            pcsv.write_csv(table, sink)
        else:
            pq.write_table(table, sink)
        put(key, sink.getvalue())
        written.files.append(key)
        files.append({"blob": key, "size": len(sink.getvalue())})
    filters: dict[str, Any] = {
        "blobTypes": list(blob_types),
        "includeSnapshots": False,
        "includeBlobVersions": "VersionId" in fields,
    }
    if prefix_match is not None:
        filters["prefixMatch"] = list(prefix_match)
    manifest = {
        "destinationContainer": destination,
        "endpoint": endpoint,
        "files": files,
        "inventoryCompletionTime": (when + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "inventoryStartTime": when.isoformat().replace("+00:00", "Z"),
        "ruleDefinition": {
            "filters": filters,
            "format": fmt,
            "objectType": "blob",
            "schedule": "daily",
            "schemaFields": list(fields),
        },
        "ruleName": rule,
        "status": status,
        "summary": {
            "objectCount": len(rows),
            "totalObjectSize": sum(row["Content-Length"] or 0 for row in rows),
        },
        "version": "1.0",
    }
    written.manifest = json.dumps(manifest, indent=2).encode()
    put(written.manifest_key, written.manifest)
    if checksum:
        put(f"{directory}/{rule}-manifest.checksum", hashlib.md5(written.manifest).hexdigest().encode())
    return written
