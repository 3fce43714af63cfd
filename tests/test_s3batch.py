from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.checksum.s3batch import (
    Manifest,
    ResultFile,
    ResultRow,
    check_result_file,
    check_row,
    manifest_csv,
    manifests,
    parse_report_manifest,
    parse_results,
)
from lfs_meta.errors import UserError
from lfs_meta.index.entry import Entry

DATA = Path(__file__).parent / "data" / "s3batch"
# The MD5 of b"ACGT" * 1000, and the ETag S3 gives it uploaded in two parts of 2000 bytes.
MD5 = "2f1978cf2f926307cf0000a87b5d4049"
MD5_BASE64 = "Lxl4zy+SYwfPAACoe11ASQ=="
MULTIPART_ETAG = "d2c346c4f6d9224c2f4dc844e49a41b9-2"
SHA256 = "e746b654ea68be51999a0ab0b33c59b71584c2475dee83c005c05a77a611599f"
SHA256_BASE64 = "50a2VOpovlGZmgqwszxZtxWEwkdd7oPABcBad6YRWZ8="
HOSTILE_KEYS = [
    "run7/tumor sample, ü%.bam",
    "a+b=c&d?e#f.vcf",
    "100%25 literal.txt",
    "日本/𝄞 \"quoted\" 'single'.cram",
    "tab\tnew\nline\r.txt",
]


def report_row(
    key: str,
    result: dict[str, Any] | str,
    *,
    bucket: str = "cohort-data",
    version: str = "",
    status: str = "succeeded",
    error: str = "",
) -> str:
    """One result CSV row in the layout AWS documents: the HTTP status before the error code."""
    out = io.StringIO()
    message = result if isinstance(result, str) else json.dumps(result)
    csv.writer(out, lineterminator="\n").writerow([bucket, key, version, status, "200", error, message])
    return out.getvalue()


def report_json(fields: dict[str, Any]) -> str:
    """A completion report's manifest.json, its schema without spaces (AWS's example has them)."""
    schema = "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage"
    return json.dumps({"Format": "Report_CSV_20180820", "ReportSchema": schema, **fields})


def md5_result(**changes: Any) -> dict[str, Any]:
    return {
        "checksum_base64": MD5_BASE64,
        "etag": MULTIPART_ETAG,
        "checksumAlgorithm": "MD5",
        "checksumType": "FULL_OBJECT",
        "checksum_hex": MD5.upper(),
        **changes,
    }


def succeeded(
    key: str = "run7/a.bam", version: str | None = None, etag: str | None = MULTIPART_ETAG
) -> ResultRow:
    return ResultRow(1, "cohort-data", key, version, "succeeded", md5=MD5, etag=etag)


def entry(url: str = "s3://cohort-data/run7/a.bam", **fields: Any) -> Entry:
    return Entry(remote_url=url, size=4000, **{"etag": MULTIPART_ETAG, "etag_kind": "multipart", **fields})


def test_manifest_encodes_keys_and_writes_versions_only_when_every_row_has_one() -> None:
    assert manifest_csv([("b1", "photos/a b.jpg", None), ("b1", "x,y+z%.txt", None)]) == (
        "b1,photos/a%20b.jpg\nb1,x%2Cy%2Bz%25.txt\n"
    )
    assert (
        manifest_csv([("b1", "k", "3HL4kqtJlcpXroDTDmJ.rSo5QbEiiSO3")])
        == "b1,k,3HL4kqtJlcpXroDTDmJ.rSo5QbEiiSO3\n"
    )
    with pytest.raises(ValueError, match="version ids on every row or on none"):
        manifest_csv([("b1", "k", "v1"), ("b1", "j", None)])
    with pytest.raises(ValueError, match="one bucket"):
        manifest_csv([("b1", "k", None), ("b2", "k", None)])


def test_manifests_split_by_bucket_and_pinning_with_the_fields_create_job_needs() -> None:
    parts = manifests([("b1", "k", None), ("b2", "k", "v2"), ("b1", "j", "v1"), ("b1", "i", None)])
    assert parts == [
        Manifest("b1", ("Bucket", "Key"), "b1,k\nb1,i\n"),
        Manifest("b2", ("Bucket", "Key", "VersionId"), "b2,k,v2\n"),
        Manifest("b1", ("Bucket", "Key", "VersionId"), "b1,j,v1\n"),
    ]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_key_round_trips_from_the_manifest_through_a_report_row(key: str) -> None:
    text = manifest_csv([("cohort-data", key, None)])
    assert text.count("\n") == 1  # one line whatever the key holds
    [[bucket, encoded]] = list(csv.reader(io.StringIO(text)))
    rows, problems = parse_results(report_row(encoded, md5_result(), bucket=bucket), "r.csv")
    assert problems == []
    assert [(row.bucket, row.key, row.md5) for row in rows] == [("cohort-data", key, MD5)]
    assert check_row(rows[0], entry(f"s3://cohort-data/{key}")).outcome == "record"


def test_report_manifest_lists_the_succeeded_and_the_failed_result_files() -> None:
    files = parse_report_manifest((DATA / "manifest.json").read_text(), "s3://lfs-meta-reports/manifest.json")
    job = "checksums/job-6e0c2a51-1f4b-4f7e-9d55-0c1c9f6d2b11/results"
    assert [(f.url, f.succeeded) for f in files] == [
        (f"s3://lfs-meta-reports/{job}/succeeded.csv", True),
        (f"s3://lfs-meta-reports/{job}/failed.csv", False),
    ]
    for file in files:
        check_result_file(file, (DATA / Path(file.key).name).read_bytes())
    with pytest.raises(UserError, match=r"its MD5 is not the ee1f0ca3.*; download it again"):
        check_result_file(files[0], (DATA / "succeeded.csv").read_bytes() + b"x")


def test_result_files_give_a_multipart_objects_md5_and_refuse_a_composite_one() -> None:
    rows, problems = parse_results((DATA / "succeeded.csv").read_text(), "succeeded.csv")
    assert rows == [
        ResultRow(
            1, "cohort-data", "run7/tumor sample, ü%.bam", None, "succeeded", md5=MD5, etag=MULTIPART_ETAG
        )
    ]
    assert [p.format("succeeded.csv") for p in problems] == [
        "succeeded.csv:2:1: s3://cohort-data/run7/normal.bam: checksumType is 'COMPOSITE'; only a "
        "FULL_OBJECT checksum is the MD5 of the content; run the Compute checksum job with "
        "ChecksumAlgorithm MD5 and ChecksumType FULL_OBJECT"
    ]
    multipart = entry("s3://cohort-data/run7/tumor sample, ü%.bam")
    assert check_row(rows[0], multipart).outcome == "record"


def test_a_failed_task_as_aws_shows_it_gives_its_reason_and_is_never_recorded() -> None:
    rows, problems = parse_results((DATA / "failed.csv").read_text(), "failed.csv")
    assert problems == []
    [row] = rows
    assert (row.key, row.status, row.md5) == ("run7/gone.bam", "failed", None)
    assert row.reason is not None
    assert row.reason.startswith("PermanentFailure (HTTP 200) error details:")
    assert "Key not found" in row.reason
    verdict = check_row(row, entry("s3://cohort-data/run7/gone.bam"))
    assert verdict.outcome == "refuse"
    assert "PermanentFailure" in verdict.reason


def test_md5_from_base64_alone_and_sha256_are_read() -> None:
    only_base64 = md5_result(checksum_hex=None)
    sha256 = md5_result(checksumAlgorithm="SHA256", checksum_hex=SHA256, checksum_base64=SHA256_BASE64)
    rows, problems = parse_results(report_row("a", only_base64) + report_row("b", sha256), "r.csv")
    assert problems == []
    assert [(row.md5, row.sha256) for row in rows] == [(MD5, None), (None, SHA256)]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (md5_result(checksumType="COMPOSITE"), "checksumType is 'COMPOSITE'"),
        (md5_result(checksumType=None), "checksumType is missing"),
        (md5_result(checksumAlgorithm="CRC32"), "checksumAlgorithm is 'CRC32', not MD5 or SHA256"),
        (md5_result(checksum_hex="0" * 32), "no MD5 of 32 hex digits, or two that differ"),
        (md5_result(checksum_hex=None, checksum_base64="bS9TOQ=="), "no MD5 of 32 hex digits"),
        (md5_result(checksum_hex=MD5 + "-2", checksum_base64=None), "no MD5 of 32 hex digits"),
        (md5_result(checksum_hex="zz" * 16), "no MD5 of 32 hex digits"),
        (md5_result(checksum_hex=None, checksum_base64=None), "no MD5 of 32 hex digits"),
        ("Successful", "ResultMessage is not the JSON object of a Compute checksum task"),
        ("[1, 2]", "ResultMessage is not the JSON object"),
    ],
)
def test_a_checksum_that_is_not_a_full_object_md5_is_a_problem_not_a_row(
    result: dict[str, Any] | str, message: str
) -> None:
    good = report_row("good.bam", md5_result())
    rows, problems = parse_results(good + report_row("bad.bam", result), "r.csv")
    assert [row.key for row in rows] == ["good.bam"]
    assert [(p.line, p.message.startswith("s3://cohort-data/bad.bam: ")) for p in problems] == [(2, True)]
    assert message in problems[0].message


def test_rows_that_do_not_parse_are_problems_with_their_line() -> None:
    text = (
        report_row("a.bam", md5_result())
        + "cohort-data,short.bam,,succeeded,200\n"
        + report_row("b.bam", md5_result(), status="done")
        + report_row("c.bam", md5_result(), error="SlowDown")
        + "cohort-data,%ff%fe.bam,,succeeded,200,,{}\n"
    )
    rows, problems = parse_results(text, "r.csv")
    assert [row.key for row in rows] == ["a.bam"]
    assert [(p.line, p.message) for p in problems] == [
        (2, "has 5 fields, not the 7 of the report's schema"),
        (3, "has TaskStatus 'done', not succeeded or failed"),
        (4, "s3://cohort-data/c.bam: succeeded with error code 'SlowDown'"),
        (5, "has key '%ff%fe.bam', which does not decode to UTF-8"),
    ]


def test_the_schemas_column_order_is_read_too() -> None:
    out = io.StringIO()
    csv.writer(out).writerow(["cohort-data", "a.bam", "", "succeeded", "", "200", json.dumps(md5_result())])
    text = out.getvalue()
    rows, problems = parse_results(text, "r.csv")
    assert (problems, [row.md5 for row in rows]) == ([], [MD5])


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("<html>\n<body>AccessDenied</body>\n</html>\n", "is not a result file of a completion report"),
        (report_row("a", md5_result()) + "b," + "x" * 200_000 + "\n", "line 2: is not CSV (field larger"),
    ],
)
def test_a_file_that_is_no_result_file_is_one_line_user_error(text: str, what: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_results(text, "s3://r/results/x.csv")
    message = str(raised.value)
    assert message.startswith(f"s3://r/results/x.csv: {what}")
    assert message.endswith("; give the result files that the completion report's manifest.json lists")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (
            '{"Format": "Report_CSV_20180820",',
            "is not JSON (Expecting property name enclosed in double quotes",
        ),
        ("[]", "is not a JSON object"),
        ('{"Format": "Report_CSV_20991231"}', "has Format 'Report_CSV_20991231', not Report_CSV_20180820"),
        (
            '{"Format": "Report_CSV_20180820", "ReportSchema": "Bucket, Key, TaskStatus"}',
            "has ReportSchema 'Bucket, Key, TaskStatus', not Bucket, Key, VersionId,",
        ),
        (report_json({}), "has no Results list"),
        (
            report_json({"Results": [{"TaskExecutionStatus": "done"}]}),
            "Results[0] has TaskExecutionStatus 'done'",
        ),
        (
            report_json({"Results": [{"TaskExecutionStatus": "failed", "Key": "k"}]}),
            "Results[0] has no Bucket",
        ),
        (
            report_json(
                {
                    "Results": [
                        {"TaskExecutionStatus": "failed", "Bucket": "r", "Key": "k", "MD5Checksum": "ab"}
                    ]
                }
            ),
            "Results[0] has MD5Checksum 'ab', not 32 hex digits",
        ),
    ],
)
def test_a_malformed_report_manifest_is_one_line_naming_the_report_and_the_fix(text: str, what: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_report_manifest(text, "s3://r/job-1/manifest.json")
    message = str(raised.value)
    assert message.startswith(f"s3://r/job-1/manifest.json: {what}")
    assert message.endswith("(format Report_CSV_20180820)")
    assert "\n" not in message


def test_control_characters_from_a_report_are_escaped_wherever_they_are_echoed() -> None:
    evil = "evil\x1b]0;owned\x07\n\u202e.bam"
    text = report_row(evil, md5_result(checksumType="COMPOSITE")) + report_row(
        "x.bam", "denied\x1b[2J\r\nfake: line", status="failed", error="AccessDenied\x00"
    )
    rows, problems = parse_results(text, "r.csv")
    shown = problems[0].format("r.csv")
    assert "\\u001b]0;owned\\u0007\\u000a\\u202e.bam" in shown
    assert rows[0].reason == "AccessDenied\\u0000 (HTTP 200) denied\\u001b[2J\\u000d\\u000afake: line"
    with pytest.raises(UserError) as raised:
        parse_report_manifest('{"Format": "\\u001b[2J\\nReport"}', "s3://r/m\x1b.json")
    assert str(raised.value).startswith("s3://r/m\\u001b.json: has Format '\\x1b[2J\\nReport'")
    verdict = check_row(succeeded(key=evil), entry("s3://cohort-data/other.bam"))
    assert verdict.outcome == "refuse"
    assert "\x1b" not in verdict.reason and "\n" not in verdict.reason


def test_a_row_for_another_version_is_refused_and_the_pinned_one_recorded() -> None:
    pinned = entry(version_id="v1", etag=None, etag_kind=None)
    verdict = check_row(succeeded(version="v2", etag=None), pinned)
    assert (verdict.outcome, verdict.reason) == ("refuse", "the checksum is of version v2; the entry pins v1")
    assert check_row(succeeded(version="v1", etag=None), pinned).outcome == "record"
    changed = check_row(succeeded(version="v1", etag="0" * 32), entry(version_id="v1"))
    assert changed.outcome == "refuse"
    assert "ETag was 00000000000000000000000000000000 when the job ran" in changed.reason


def test_the_etag_decides_for_an_unversioned_row_and_nothing_to_compare_means_confirm() -> None:
    assert check_row(succeeded(), entry()).outcome == "record"
    assert check_row(succeeded(), entry("s3://profile@cohort-data/run7/a.bam")).outcome == "record"
    assert check_row(succeeded(), entry(version_id="v1")).outcome == "record"  # the same bytes
    assert check_row(succeeded(etag="abc-2"), entry()).outcome == "refuse"
    assert check_row(succeeded(etag=None), entry()).outcome == "confirm"
    assert check_row(succeeded(version="v9"), entry(etag=None, etag_kind=None)).outcome == "confirm"


def test_a_row_for_another_object_or_contradicting_a_recorded_md5_is_refused() -> None:
    assert check_row(succeeded(), entry("s3://other-bucket/run7/a.bam")).outcome == "refuse"
    assert check_row(succeeded(), entry("s3://cohort-data/run7/a.bam.bai")).outcome == "refuse"
    assert check_row(succeeded(), entry("gs://cohort-data/run7/a.bam")).outcome == "refuse"
    contradicted = check_row(succeeded(), entry(checksums={"md5": "f" * 32}))
    assert contradicted.outcome == "refuse"
    assert "contradicts the recorded" in contradicted.reason
    agreeing = entry(checksums={"md5": MD5.upper(), "sha256": SHA256})
    assert check_row(succeeded(), agreeing).outcome == "record"


def test_result_file_url_names_its_bucket_and_key() -> None:
    assert ResultFile("r", "job-1/results/a.csv", None, True).url == "s3://r/job-1/results/a.csv"
