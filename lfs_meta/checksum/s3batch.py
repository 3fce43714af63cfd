"""S3 Batch Operations "Compute checksum" jobs: the CSV manifest to give them, the completion report
they write (its manifest.json and its result CSV files), and whether a report row may fill in an entry.

Pure functions over text: the caller reads and writes the files and the objects.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, unquote_plus

from lfs_meta.errors import UserError
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem, printable

MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
REPORT_FORMAT = "Report_CSV_20180820"
REPORT_SCHEMA = ("Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage")
# Hex digits by algorithm of the checksums lfs-meta records from a report.
DIGITS = {"MD5": 32, "SHA256": 64}

REPORT_FIX = (
    "give the manifest.json that the Compute checksum job wrote with its completion report "
    f"(format {REPORT_FORMAT})"
)
RESULTS_FIX = "give the result files that the completion report's manifest.json lists"
JOB_FIX = "run the Compute checksum job with ChecksumAlgorithm MD5 and ChecksumType FULL_OBJECT"

S3Object = tuple[str, str, str | None]
Outcome = Literal["record", "confirm", "refuse"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_HTTP_STATUS = re.compile(r"[0-9]{3}")
_SHOWN = 200


@dataclass(frozen=True)
class Manifest:
    """One CSV manifest and the Manifest.Spec.Fields a create-job request gives with it."""

    bucket: str
    fields: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ResultFile:
    """One result CSV of a completion report, as its manifest.json lists it."""

    bucket: str
    key: str
    md5: str | None
    succeeded: bool

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ResultRow:
    """One task of a result CSV: checksums as lowercase hex, `reason` set for a failed task."""

    line: int
    bucket: str
    key: str
    version_id: str | None
    status: Literal["succeeded", "failed"]
    md5: str | None = None
    sha256: str | None = None
    etag: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether a row's checksums may fill in an entry: `record`, `refuse`, or `confirm` (the report
    cannot tell the object was the entry's: record only if one HEAD of the object, at the row's version
    when it names one, answers the entry's version, size and ETag)."""

    outcome: Outcome
    reason: str


def manifest_csv(objects: Iterable[S3Object]) -> str:
    """The CSV manifest of (bucket, key, version id) rows: one bucket, and version ids on every row or
    on none, as AWS documents (`manifests` splits other lists); keys URL-encoded, '/' kept."""
    rows = list(objects)
    if len({bucket for bucket, _, _ in rows}) > 1:
        raise ValueError("one manifest names one bucket; split the objects with manifests()")
    if len({version is None for _, _, version in rows}) > 1:
        raise ValueError("a manifest has version ids on every row or on none; split with manifests()")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for bucket, key, version in rows:
        if not bucket or not key:
            raise ValueError(f"empty bucket or key in {printable(repr((bucket, key)))}")
        # Everything but unreserved characters and '/' is encoded, '+' and ',' included: the file
        # reads the same whether S3 decodes '+' as a space or not, and needs no CSV quoting.
        writer.writerow([bucket, quote(key, safe="/"), *([] if version is None else [version])])
    return out.getvalue()


def manifests(objects: Iterable[S3Object]) -> list[Manifest]:
    """The objects as one manifest per bucket and per pinned/unpinned, in first-seen order."""
    groups: dict[tuple[str, bool], list[S3Object]] = {}
    for obj in objects:
        groups.setdefault((obj[0], obj[2] is not None), []).append(obj)
    return [
        Manifest(
            bucket=bucket,
            fields=("Bucket", "Key", "VersionId") if pinned else ("Bucket", "Key"),
            text=manifest_csv(rows),
        )
        for (bucket, pinned), rows in groups.items()
    ]


def parse_report_manifest(text: str, name: str) -> list[ResultFile]:
    """The result files that a completion report's manifest.json lists; UserError for anything else."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refused(name, f"is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise _refused(name, "is not JSON (nested too deeply)") from None
    if not isinstance(report, dict):
        raise _refused(name, "is not a JSON object")
    if report.get("Format") != REPORT_FORMAT:
        raise _refused(name, f"has Format {_shown(report.get('Format'))}, not {REPORT_FORMAT}")
    schema = report.get("ReportSchema")
    if not isinstance(schema, str) or tuple(part.strip() for part in schema.split(",")) != REPORT_SCHEMA:
        raise _refused(name, f"has ReportSchema {_shown(schema)}, not {', '.join(REPORT_SCHEMA)}")
    results = report.get("Results")
    if not isinstance(results, list):
        raise _refused(name, "has no Results list")
    return [_result_file(result, name, index) for index, result in enumerate(results)]


def check_result_file(file: ResultFile, data: bytes) -> None:
    """UserError unless `data` has the MD5 that manifest.json gives for the file."""
    if file.md5 is not None and hashlib.md5(data, usedforsecurity=False).hexdigest() != file.md5:
        raise UserError(
            printable(
                f"{file.url}: its MD5 is not the {file.md5} that the report's manifest.json gives; "
                "download it again, or the report was changed after the job wrote it"
            )
        )


def parse_results(text: str, name: str) -> tuple[list[ResultRow], list[Problem]]:
    """The tasks of one result CSV, and a Problem (by line) for each row that cannot be recorded."""
    rows: list[ResultRow] = []
    problems: list[Problem] = []
    well_formed = 0
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not fields or tuple(fields) == REPORT_SCHEMA:
                continue
            parsed = _row(fields, start)
            if isinstance(parsed, Problem):
                problems.append(parsed)
                continue
            well_formed += 1
            if isinstance(parsed, ResultRow):
                rows.append(parsed)
            else:
                problems.extend(parsed)
    except csv.Error as exc:
        raise _refused(name, f"line {line}: is not CSV ({exc})", RESULTS_FIX) from None
    if problems and not well_formed:
        raise _refused(
            name, f"is not a result file of a completion report ({problems[0].message})", RESULTS_FIX
        )
    return rows, problems


def check_row(row: ResultRow, entry: Entry) -> Verdict:
    """Whether the row's checksums may be recorded for `entry`: same object, same version when both
    name one, same ETag when both carry one, and no MD5 that contradicts the recorded one."""
    location = bucket_key(entry.remote_url)
    if location != (row.bucket, row.key):
        return _refuse(f"the row is for s3://{row.bucket}/{row.key}, the entry for {entry.remote_url}")
    if row.status != "succeeded" or (row.md5 is None and row.sha256 is None):
        return _refuse(f"the task failed: {row.reason or 'no checksum'}")
    if entry.version_id is not None and row.version_id not in (None, entry.version_id):
        return _refuse(f"the checksum is of version {row.version_id}; the entry pins {entry.version_id}")
    etag = entry.etag.lower() if entry.etag else None
    if row.etag is not None and etag is not None and row.etag != etag:
        return _refuse(f"the object's ETag was {row.etag} when the job ran; the entry records {entry.etag}")
    # A recorded composite checksum ('-<parts>') is of the parts, so it cannot contradict.
    recorded = {name: value.lower() for name, value in entry.known_checksums().items() if "-" not in value}
    for algorithm, value in (("md5", row.md5), ("sha256", row.sha256)):
        if value is not None and recorded.get(algorithm, value) != value:
            return _refuse(f"the report's {algorithm} {value} contradicts the recorded {recorded[algorithm]}")
    if entry.version_id is not None and row.version_id == entry.version_id:
        return Verdict("record", "the report names the version the entry pins")
    if row.etag is not None and etag is not None:
        return Verdict("record", "the object had the entry's ETag when the job ran")
    return Verdict(
        "confirm",
        "the report names no version the entry pins and no ETag to compare; HEAD the object to confirm it",
    )


def _result_file(result: Any, name: str, index: int) -> ResultFile:
    where = f"Results[{index}]"
    if not isinstance(result, dict):
        raise _refused(name, f"{where} is not an object")
    status = result.get("TaskExecutionStatus")
    if status not in ("succeeded", "failed"):
        raise _refused(name, f"{where} has TaskExecutionStatus {_shown(status)}, not succeeded or failed")
    bucket, key, md5 = result.get("Bucket"), result.get("Key"), result.get("MD5Checksum")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise _refused(name, f"{where} has no Bucket and Key")
    if md5 is not None and not (isinstance(md5, str) and len(md5) == 32 and _HEX.fullmatch(md5)):
        raise _refused(name, f"{where} has MD5Checksum {_shown(md5)}, not 32 hex digits")
    return ResultFile(
        bucket=bucket, key=key, md5=md5.lower() if md5 else None, succeeded=status == "succeeded"
    )


def _row(fields: list[str], line: int) -> ResultRow | Problem | list[Problem]:
    """The row; one Problem if it is not a report row; Problems if it is one that cannot be recorded."""
    status = fields[3] if len(fields) > 3 else ""
    # AWS's own example of a failed Compute checksum task leaves quotes in its message unescaped, so a
    # failed row may split into more fields: only the message, which is never recorded, is rejoined.
    if status == "failed" and len(fields) > len(REPORT_SCHEMA):
        fields = [*fields[:6], ",".join(fields[6:])]
    if len(fields) != len(REPORT_SCHEMA):
        return _problem(
            line, f"has {len(fields)} fields, not the {len(REPORT_SCHEMA)} of the report's schema"
        )
    if status not in ("succeeded", "failed"):
        return _problem(line, f"has TaskStatus {_shown(status)}, not succeeded or failed")
    bucket, encoded_key, version, _, fifth, sixth, message = fields
    try:
        key = unquote_plus(encoded_key, errors="strict")
    except UnicodeDecodeError:
        return _problem(line, f"has key {_shown(encoded_key)}, which does not decode to UTF-8")
    if not bucket or not key:
        return _problem(line, "has no bucket or key")
    # The schema names ErrorCode before HTTPStatusCode, AWS's example rows put the status first:
    # the three-digit one is the status.
    if _HTTP_STATUS.fullmatch(fifth):
        http, error = fifth, sixth
    elif _HTTP_STATUS.fullmatch(sixth):
        http, error = sixth, fifth
    else:
        http, error = "", " ".join(part for part in (fifth, sixth) if part)
    if status == "failed":
        reason = " ".join(part for part in (error, f"(HTTP {http})" if http else "", message) if part)
        return ResultRow(
            line, bucket, key, version or None, "failed", reason=_shorten(reason or "no reason given")
        )
    where = f"s3://{bucket}/{key}"
    if error:
        return [_problem(line, f"{where}: succeeded with error code {_shown(error)}")]
    return _checksums(ResultRow(line, bucket, key, version or None, "succeeded"), message, where)


def _checksums(row: ResultRow, message: str, where: str) -> ResultRow | list[Problem]:
    try:
        result = json.loads(message)
    except (json.JSONDecodeError, RecursionError):
        result = None
    if not isinstance(result, dict):
        return [
            _problem(row.line, f"{where}: ResultMessage is not the JSON object of a Compute checksum task")
        ]
    algorithm, kind = result.get("checksumAlgorithm"), result.get("checksumType")
    if algorithm not in DIGITS:
        return [
            _problem(
                row.line, f"{where}: checksumAlgorithm is {_shown(algorithm)}, not MD5 or SHA256", JOB_FIX
            )
        ]
    if kind != "FULL_OBJECT":
        return [
            _problem(
                row.line,
                f"{where}: checksumType is {_shown(kind)}; "
                f"only a FULL_OBJECT checksum is the {algorithm} of the content",
                JOB_FIX,
            )
        ]
    value = _digest(result, DIGITS[algorithm])
    if value is None:
        return [
            _problem(
                row.line, f"{where}: no {algorithm} of {DIGITS[algorithm]} hex digits, or two that differ"
            )
        ]
    etag = result.get("etag")
    if etag is not None and not (isinstance(etag, str) and etag.strip('"')):
        return [_problem(row.line, f"{where}: etag is {_shown(etag)}")]
    return replace(
        row,
        md5=value if algorithm == "MD5" else None,
        sha256=value if algorithm == "SHA256" else None,
        etag=etag.strip('"').lower() if etag else None,
    )


def _digest(result: Mapping[str, Any], digits: int) -> str | None:
    """Lowercase hex from checksum_hex and checksum_base64: either will do, both must agree."""
    values = set()
    hex_value, b64_value = result.get("checksum_hex"), result.get("checksum_base64")
    if hex_value is not None:
        if not (isinstance(hex_value, str) and len(hex_value) == digits and _HEX.fullmatch(hex_value)):
            return None
        values.add(hex_value.lower())
    if b64_value is not None:
        try:
            raw = base64.b64decode(b64_value, validate=True) if isinstance(b64_value, str) else b""
        except (binascii.Error, ValueError):
            return None
        if len(raw) * 2 != digits:
            return None
        values.add(raw.hex())
    return values.pop() if len(values) == 1 else None


def bucket_key(url: str) -> tuple[str, str] | None:
    # The key as remote_url holds it, raw: no percent-decoding, nothing after '?' or '#' dropped.
    if not url.startswith("s3://"):
        return None
    netloc, _, key = url[len("s3://") :].partition("/")
    return netloc.rpartition("@")[2], key


def _refuse(reason: str) -> Verdict:
    return Verdict("refuse", printable(reason))


def _problem(line: int, message: str, fix: str | None = None) -> Problem:
    return Problem(message=printable(message), fix=fix, line=line, column=1)


def _refused(name: str, what: str, fix: str = REPORT_FIX) -> UserError:
    return UserError(printable(f"{name}: {what}; {fix}"))


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return printable(repr(value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "..."))
    return "missing" if value is None else type(value).__name__


def _shorten(text: str) -> str:
    return printable(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")
