"""`lfs-meta checksum`: MD5s (and SHA-256s) from the stores' metadata or from one streaming read,
against the real SDKs and emulators; and checksums never outliving the content they describe."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from boto3.s3.transfer import TransferConfig

from lfs_meta.checksum import filling, reading
from lfs_meta.cli import main
from lfs_meta.errors import Changed, UserError
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Options, Providers

from conftest import BIN, ROOT, Store, lfs_meta, use_env

INDEX = Path(".lfs-meta") / "metadata.json"
GEN3_PYTHON = ROOT / ".venv-gen3" / "bin" / "python"  # the real gen3 SDK, installed by make test
PART = 5 * 1024 * 1024  # the smallest S3 part but the last
BIG = os.urandom(2 * PART + 1234)  # three parts: an ETag '<md5>-3', which is no MD5


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


def entries(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / INDEX).read_text())
    return data


def upload_multipart(client: Any, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    """As `aws s3 cp` and boto3's upload_file send anything over their threshold: in parts."""
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    client.upload_fileobj(_Reader(body), bucket, key, Config=config, ExtraArgs=extra or None)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size < 0 else self.at + size
        chunk, self.at = self.body[self.at : end], min(end, len(self.body))
        return chunk


@pytest.fixture
def cohort(s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A multipart BAM and a small single-part file, tracked by one LIST."""
    upload_multipart(s3_client, s3_bucket, "run/big.bam", BIG)
    s3_client.put_object(Bucket=s3_bucket, Key="run/small.vcf", Body=b"small")
    assert main(["track-remote", f"s3://{s3_bucket}/run/", "--recursive", "--path-prefix", "data"]) == 0
    capsys.readouterr()
    return s3_bucket


def test_without_read_nothing_is_read_and_the_cost_of_a_read_is_said(
    s3_repo: Path, cohort: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert entries(s3_repo)["data/big.bam"]["etag"].endswith("-3")
    before = (s3_repo / INDEX).read_bytes()
    code, report, _ = run(capsys, "checksum")
    assert code == 1
    assert report["lacking"] == {"objects": 1, "bytes": len(BIG), "paths": ["data/big.bam"]}
    assert report["requests"]["s3"] == {"HeadObject": 1}  # the small file's ETag is its MD5 already
    assert (s3_repo / INDEX).read_bytes() == before
    main(["checksum"])
    err = capsys.readouterr().err
    assert "1 object(s) (10.5 MB) have no md5" in err and "'lfs-meta checksum --read'" in err


def test_read_records_the_true_md5_and_sha256_of_a_multipart_object_then_exports_it(
    s3_repo: Path, cohort: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = run(capsys, "checksum", "--read", "--sha256")
    assert code == 0, report
    want = {"md5": hashlib.md5(BIG).hexdigest(), "sha256": hashlib.sha256(BIG).hexdigest()}
    small = {"sha256": hashlib.sha256(b"small").hexdigest()}  # its ETag is its MD5
    assert report["recorded"] == {"data/big.bam": want, "data/small.vcf": small}
    assert report["sources"] == {"read": 2} and report["read_bytes"] == len(BIG) + 5
    assert report["requests"]["s3"] == {"HeadObject": 2, "GetObject": 2}
    assert entries(s3_repo)["data/big.bam"]["checksums"] == want
    assert run(capsys, "checksum")[0] == 0  # nothing left to do, nothing asked
    (s3_repo / ".lfs-meta" / "config").write_text("[gen3]\nauthz = /programs/p/projects/q\n")
    assert main(["export", "--format", "gen3", "-o", "manifest.tsv"]) == 0
    # The gen3 SDK's own reader, as index_object_manifest runs it before it calls indexd.
    read = (
        "import json, sys\nfrom gen3.tools.utils import get_and_verify_fileinfos_from_manifest\n"
        "files, columns = get_and_verify_fileinfos_from_manifest(sys.argv[1])\n"
        "print(json.dumps([columns, {f['file_name']: [f['md5'], f['urls']] for f in files}]))"
    )
    done = subprocess.run(
        [GEN3_PYTHON, "-c", read, str(s3_repo / "manifest.tsv")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [
        ["guid", "md5", "size", "authz", "urls", "file_name"],
        {
            "data/big.bam": [want["md5"], f"s3://{cohort}/run/big.bam"],
            "data/small.vcf": [hashlib.md5(b"small").hexdigest(), f"s3://{cohort}/run/small.vcf"],
        },
    ]


@pytest.mark.parametrize(
    "metadata",
    [
        {"md5chksum": "{base64}"},  # rclone
        {"s3cmd-attrs": "atime:1700000000/gid:0/md5:{hex}/mode:33188/uid:0/uname:root"},  # s3cmd
    ],
)
def test_an_uploaders_md5_in_user_metadata_is_taken_without_a_read(
    s3_repo: Path,
    s3_client: Any,
    s3_bucket: str,
    metadata: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = hashlib.md5(BIG)
    filled = {
        name: value.format(base64=base64.b64encode(digest.digest()).decode(), hex=digest.hexdigest())
        for name, value in metadata.items()
    }
    upload_multipart(s3_client, s3_bucket, "up/big.bam", BIG, Metadata=filled)
    assert main(["track-remote", f"s3://{s3_bucket}/up/", "--recursive"]) == 0  # LIST: no user metadata
    capsys.readouterr()
    code, report, _ = run(capsys, "checksum")
    assert code == 0, report
    assert report["recorded"] == {"big.bam": {"md5": digest.hexdigest()}}
    assert report["sources"] == {"store": 1} and "GetObject" not in report["requests"]["s3"]


def test_an_object_changed_since_it_was_tracked_gets_no_checksum(
    s3_repo: Path, cohort: str, s3_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    upload_multipart(s3_client, cohort, "run/big.bam", BIG[::-1])
    before = (s3_repo / INDEX).read_bytes()
    code, report, _ = run(capsys, "checksum", "--read")
    assert code == 1
    assert "changed since it was tracked" in report["failed"][0]["error"]
    assert "'lfs-meta check --update data/big.bam'" in report["failed"][0]["error"]
    assert "GetObject" not in report["requests"]["s3"]
    assert (s3_repo / INDEX).read_bytes() == before


def test_a_read_is_of_the_recorded_content_only(s3_repo: Path, s3_client: Any, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"first")
    remotes = Providers(Options(environ=dict(os.environ)))
    url = f"s3://{s3_bucket}/k"
    recorded = remotes.for_url(url).stat(url)
    s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"other")  # same size, other ETag
    with pytest.raises(Changed, match="ETag is no longer"):
        reading.read_hashes(remotes, recorded, ["md5"], lambda n: None, threading.Event())
    shorter = Entry(url, 4, etag=None)  # no ETag to hold the store to: the length still must match
    with pytest.raises(Changed, match="longer than the 4 bytes recorded"):
        reading.read_hashes(remotes, shorter, ["md5"], lambda n: None, threading.Event())


def test_every_store_is_read_once_and_hashed(
    store: Store, git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    body = os.urandom(3 * 1024 * 1024 + 7)
    store.put("d/x.bin", body)
    assert main(["track-remote", store.url("d/x.bin"), "--path", "x.bin"]) == 0
    capsys.readouterr()
    code, report, _ = run(capsys, "checksum", "--read", "--sha256")
    assert code == 0, report
    recorded = Entry.from_json(entries(git_repo)["x.bin"])
    assert recorded.known_checksums()["md5"] == hashlib.md5(body).hexdigest()  # S3: the ETag is the MD5
    assert recorded.checksums["sha256"] == hashlib.sha256(body).hexdigest()
    assert report["read_bytes"] == len(body)


def test_a_local_file_is_read_and_confirmed_unchanged_after(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    source = tmp_path / "outside" / "r.fastq"
    source.parent.mkdir()
    source.write_bytes(b"@r1\nACGT\n+\nIIII\n")
    assert main(["track-remote", source.as_uri(), "--path", "r.fastq"]) == 0
    capsys.readouterr()
    code, report, _ = run(capsys, "checksum", "--read")
    assert code == 0, report
    assert report["recorded"]["r.fastq"]["md5"] == hashlib.md5(source.read_bytes()).hexdigest()


def test_checksums_go_with_the_content_they_describe(
    s3_repo: Path, cohort: str, s3_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "checksum", "--read")[0] == 0
    url = f"s3://{cohort}/run/big.bam"
    # The same object tracked again is unchanged, its computed checksums kept.
    code, report, _ = run(
        capsys, "track-remote", f"s3://{cohort}/run/", "--recursive", "--path-prefix", "data"
    )
    assert (code, report["unchanged"]) == (0, ["data/big.bam", "data/small.vcf"])
    assert run(capsys, "track-remote", url, "--path", "data/big.bam", "--force")[0] == 0
    assert entries(s3_repo)["data/big.bam"]["checksums"]["md5"] == hashlib.md5(BIG).hexdigest()
    # New content: neither --update nor --force keeps a checksum of the old.
    upload_multipart(s3_client, cohort, "run/big.bam", BIG[::-1])
    assert run(capsys, "check", "--update", "data/big.bam")[0] == 0
    assert "md5" not in entries(s3_repo)["data/big.bam"].get("checksums", {})
    assert run(capsys, "checksum", "--read")[0] == 0
    assert entries(s3_repo)["data/big.bam"]["checksums"]["md5"] == hashlib.md5(BIG[::-1]).hexdigest()
    upload_multipart(s3_client, cohort, "run/big.bam", BIG)
    assert run(capsys, "track-remote", url, "--path", "data/big.bam", "--force")[0] == 0
    assert "md5" not in entries(s3_repo)["data/big.bam"].get("checksums", {})


def test_reads_are_recorded_in_batches_as_they_finish(
    s3_repo: Path,
    s3_client: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each batch is written as it fills, while the other objects are still read; an object that
    cannot be read leaves the others recorded."""
    for n in range(4):
        upload_multipart(s3_client, s3_bucket, f"b/{n}.bam", BIG[: PART + n + 1])
    assert main(["track-remote", f"s3://{s3_bucket}/b/", "--recursive", "--path-prefix", "b"]) == 0
    capsys.readouterr()
    s3_client.delete_object(Bucket=s3_bucket, Key="b/2.bam")
    writes: list[int] = []
    monkeypatch.setattr(filling, "BATCH_OBJECTS", 1)
    flush = filling.Recorder.flush

    def counted(self: filling.Recorder) -> None:
        before = len(self.entries)
        flush(self)
        writes.append(len(self.entries) - before)

    monkeypatch.setattr(filling.Recorder, "flush", counted)
    code, report, _ = run(capsys, "checksum", "--read", "--jobs", "1")
    assert code == 1
    assert [failure["path"] for failure in report["failed"]] == ["b/2.bam"]
    assert sorted(report["recorded"]) == ["b/0.bam", "b/1.bam", "b/3.bam"]
    assert sum(writes) == 3 and len([n for n in writes if n]) >= 2  # not all in the last write
    assert report["requests"]["s3"]["GetObject"] == 3


def test_modes_go_one_at_a_time(s3_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checksum", "--read", "--from-report", "s3://b/r/manifest.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "go one at a time" in err


def report_row(bucket: str, key: str, md5: str, etag: str | None, version: str = "") -> list[str]:
    """One succeeded task of a Compute checksum job, as its result CSV holds it."""
    message = {
        "checksum_base64": base64.b64encode(bytes.fromhex(md5)).decode(),
        "checksumAlgorithm": "MD5",
        "checksumType": "FULL_OBJECT",
        "checksum_hex": md5.upper(),
    } | ({"etag": etag} if etag else {})
    return [bucket, quote(key, safe="/"), version, "succeeded", "200", "", json.dumps(message)]


JOB = "reports/job-0f1e2d3c-aaaa-bbbb-cccc-000000000001"


def report_files(bucket: str, rows: list[list[str]]) -> dict[str, bytes]:
    """A completion report in the layout AWS documents, by key: manifest.json beside results/*.csv."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    results = out.getvalue().encode()
    manifest = {
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-05T10:00:00.000Z",
        "Results": [
            {
                "TaskExecutionStatus": "succeeded",
                "Bucket": bucket,
                "MD5Checksum": hashlib.md5(results).hexdigest(),
                "Key": f"{JOB}/results/r1.csv",
            }
        ],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    }
    return {f"{JOB}/results/r1.csv": results, f"{JOB}/manifest.json": json.dumps(manifest).encode()}


def put_report(client: Any, bucket: str, rows: list[list[str]]) -> str:
    for key, body in report_files(bucket, rows).items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{JOB}/manifest.json"


def test_a_compute_checksum_report_fills_in_only_the_objects_it_was_run_on(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, body in (("r/tumor,ü%+.bam", BIG), ("r/normal.bam", BIG[1:]), ("r/other.bam", BIG[2:])):
        upload_multipart(s3_client, s3_bucket, key, body)
    assert main(["track-remote", f"s3://{s3_bucket}/r/", "--recursive"]) == 0
    capsys.readouterr()
    recorded = entries(s3_repo)
    manifest = s3_repo.parent / "job.csv"
    assert main(["checksum", "--s3-batch-manifest", str(manifest)]) == 0
    assert manifest.read_text() == "".join(
        f"{s3_bucket},r/{name}\n" for name in ("normal.bam", "other.bam", "tumor%2C%C3%BC%25%2B.bam")
    )
    capsys.readouterr()
    url = put_report(
        s3_client,
        s3_bucket,
        [
            report_row(
                s3_bucket,
                "r/tumor,ü%+.bam",
                hashlib.md5(BIG).hexdigest(),
                recorded["tumor,ü%+.bam"]["etag"],
            ),
            # The job ran before normal.bam was replaced: its ETag then was another.
            report_row(s3_bucket, "r/normal.bam", hashlib.md5(b"before").hexdigest(), "0" * 32 + "-3"),
            # Neither version nor ETag: nothing says the job read the content the entry records.
            report_row(s3_bucket, "r/other.bam", hashlib.md5(BIG[2:]).hexdigest(), None),
        ],
    )
    code, report, _ = run(capsys, "checksum", "--from-report", url)
    assert code == 1
    assert report["recorded"] == {"tumor,ü%+.bam": {"md5": hashlib.md5(BIG).hexdigest()}}
    assert report["sources"] == {"report": 1}
    failed = {f["path"]: f["error"] for f in report["failed"]}
    assert sorted(failed) == ["normal.bam", "other.bam"]
    assert "ETag was" in failed["normal.bam"]
    assert "names neither the version nor the ETag the job read" in failed["other.bam"]
    assert report["requests"]["s3"] == {"HeadObject": 2, "GetObject": 2}  # manifest.json, the results


def test_a_report_pointing_outside_its_bucket_is_refused(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = put_report(s3_client, s3_bucket, [report_row(s3_bucket, "k", "0" * 32, None)])
    manifest_key = url.partition(f"{s3_bucket}/")[2]
    document = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=manifest_key)["Body"].read())
    document["Results"][0]["Bucket"] = "elsewhere"
    s3_client.put_object(Bucket=s3_bucket, Key=manifest_key, Body=json.dumps(document).encode())
    assert main(["checksum", "--from-report", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the report's own" in err


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_a_kill_keeps_what_finished(
    git_repo: Path, tmp_path: Path, cli_env: dict[str, str], stop: signal.Signals, code: int
) -> None:
    """Interrupted while a large object is read, the run records the small one it finished."""
    small, large = tmp_path / "small.fastq", tmp_path / "large.bam"
    small.write_bytes(b"@r\nA\n+\nI\n")
    with large.open("wb") as out:
        out.truncate(8 << 30)  # sparse: 8 GiB that take seconds to hash, none of it on disk
    for source in (small, large):
        assert (
            lfs_meta(git_repo, cli_env, "track-remote", source.as_uri(), "--path", source.name).returncode
            == 0
        )
    process = subprocess.Popen(
        [BIN / "lfs-meta", "checksum", "--read", "--jobs", "2"],
        cwd=git_repo,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # started, the small file read; 8 GiB take 10 s or more at MD5's speed
    assert process.poll() is None
    process.send_signal(stop)
    _, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert err.splitlines()[-1] == (
        "lfs-meta: interrupted; the hashes found so far are recorded, and the same command again "
        "does the rest"
    )
    recorded = entries(git_repo)
    assert recorded["small.fastq"]["checksums"]["md5"] == hashlib.md5(small.read_bytes()).hexdigest()
    assert "checksums" not in recorded["large.bam"]


def test_a_downloaded_copy_of_a_report_is_read_from_disk(
    s3_repo: Path, s3_client: Any, s3_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload_multipart(s3_client, s3_bucket, "c/x.bam", BIG)
    assert main(["track-remote", f"s3://{s3_bucket}/c/x.bam", "--path", "x.bam"]) == 0
    capsys.readouterr()
    etag = entries(s3_repo)["x.bam"]["etag"]
    copy = tmp_path / "my report"  # as 'aws s3 cp --recursive s3://.../job-ID/ "my report"' leaves it
    for key, body in report_files(
        "reports", [report_row(s3_bucket, "c/x.bam", hashlib.md5(BIG).hexdigest(), etag)]
    ).items():
        (copy / key.partition(JOB + "/")[2]).parent.mkdir(parents=True, exist_ok=True)
        (copy / key.partition(JOB + "/")[2]).write_bytes(body)
    code, report, _ = run(capsys, "checksum", "--from-report", (copy / "manifest.json").as_uri())
    assert code == 0, report
    assert report["recorded"] == {"x.bam": {"md5": hashlib.md5(BIG).hexdigest()}}
    assert "GetObject" not in report["requests"].get("s3", {})


def test_a_row_without_an_etag_counts_for_the_version_it_names_only(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_multipart(s3_client, s3_bucket, "v/x.bam", BIG)
    first = s3_client.head_object(Bucket=s3_bucket, Key="v/x.bam")["VersionId"]
    upload_multipart(s3_client, s3_bucket, "v/y.bam", BIG)
    assert main(["track-remote", f"s3://{s3_bucket}/v/x.bam", "--path", "x.bam"]) == 0
    assert main(["track-remote", f"s3://{s3_bucket}/v/y.bam", "--path", "y.bam"]) == 0
    capsys.readouterr()
    upload_multipart(s3_client, s3_bucket, "v/y.bam", BIG[::-1])  # the job read a newer y.bam
    newer = s3_client.head_object(Bucket=s3_bucket, Key="v/y.bam")["VersionId"]
    md5 = hashlib.md5(BIG).hexdigest()
    url = put_report(
        s3_client,
        s3_bucket,
        [
            report_row(s3_bucket, "v/x.bam", md5, None, first),
            report_row(s3_bucket, "v/y.bam", md5, None, newer),
        ],
    )
    code, report, _ = run(capsys, "checksum", "--from-report", url)
    assert code == 1
    assert report["recorded"] == {"x.bam": {"md5": md5}}
    assert [f["path"] for f in report["failed"]] == ["y.bam"]
    assert "is of version" in report["failed"][0]["error"]
    assert report["requests"]["s3"]["HeadObject"] == 2  # the report's two files: the rows said enough


def test_a_hash_from_the_store_and_one_read_go_together(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The MD5 from an uploader's metadata, then the SHA-256 read: both recorded on the one entry."""
    rclone = {"md5chksum": base64.b64encode(hashlib.md5(BIG).digest()).decode()}
    upload_multipart(s3_client, s3_bucket, "m/big.bam", BIG, Metadata=rclone)
    assert main(["track-remote", f"s3://{s3_bucket}/m/", "--recursive"]) == 0
    capsys.readouterr()
    code, report, _ = run(capsys, "checksum", "--read", "--sha256")
    assert code == 0, report
    both = {"md5": hashlib.md5(BIG).hexdigest(), "sha256": hashlib.sha256(BIG).hexdigest()}
    assert entries(s3_repo)["big.bam"]["checksums"] == both
    assert report["recorded"] == {"big.bam": both}
    assert report["sources"] == {"store": 1, "read": 1}


def test_a_row_naming_a_version_of_an_unpinned_entry_is_confirmed_by_one_head(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tracked before the bucket kept versions, an entry pins none; the job names the version it read,
    which counts only while that version is still the content the entry records."""
    upload_multipart(s3_client, s3_bucket, "u/same.bam", BIG)
    upload_multipart(s3_client, s3_bucket, "u/later.bam", BIG)
    assert main(["track-remote", f"s3://{s3_bucket}/u/", "--recursive"]) == 0
    capsys.readouterr()
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_multipart(s3_client, s3_bucket, "u/later.bam", BIG[::-1])  # the job read this one
    later = s3_client.head_object(Bucket=s3_bucket, Key="u/later.bam")["VersionId"]
    md5 = hashlib.md5(BIG).hexdigest()
    rows = [
        report_row(s3_bucket, "u/same.bam", md5, None, "null"),
        report_row(s3_bucket, "u/later.bam", md5, None, later),
    ]
    code, report, _ = run(capsys, "checksum", "--from-report", put_report(s3_client, s3_bucket, rows))
    assert code == 1
    assert report["recorded"] == {"same.bam": {"md5": md5}}
    assert [f["path"] for f in report["failed"]] == ["later.bam"]
    assert "is not the content the entry records" in report["failed"][0]["error"]
    assert report["requests"]["s3"]["HeadObject"] == 4  # the report's two files, one per row's version


def test_hashing_gathers_small_chunks_and_raises_what_a_hash_thread_met() -> None:
    data = os.urandom(3 * reading.CHUNK + 5)
    with reading.Hashing(["md5", "sha256"]) as hashing:
        for start in range(0, len(data), 8192):  # as GCS hands a download over
            hashing.update(data[start : start + 8192])
        assert hashing.hexdigests() == {
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    with pytest.raises(TypeError), reading.Hashing(["md5"]) as hashing:
        hashing.update([0] * reading.CHUNK)  # type: ignore[arg-type]  # no buffer: the thread's hash refuses it
        for _ in range(reading.DEPTH + 2):  # never blocks on the thread that stopped hashing
            hashing.update(bytes(reading.CHUNK))
        hashing.hexdigests()


def test_a_local_file_that_is_no_longer_the_entry_is_refused_after_the_read(tmp_path: Path) -> None:
    source = tmp_path / "r.fastq"
    source.write_bytes(b"@r\nA\n+\nI\n")
    remotes = Providers(Options(environ={}))
    recorded = remotes.for_url(source.as_uri()).stat(source.as_uri())

    def read(entry: Entry) -> dict[str, str]:
        return reading.read_hashes(remotes, entry, ["md5"], lambda n: None, threading.Event())

    assert read(recorded) == {"md5": hashlib.md5(source.read_bytes()).hexdigest()}
    with pytest.raises(Changed, match="changed while it was read"):
        read(dataclasses.replace(recorded, last_modified="2001-01-01T00:00:00Z"))
    with pytest.raises(Changed, match="cannot be confirmed unchanged"):
        read(dataclasses.replace(recorded, last_modified=None))


def test_a_failed_index_write_stops_the_finding_and_is_tried_again_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = {path: Entry(f"s3://b/{path}", 1, etag="e" * 32, etag_kind="md5") for path in ("a", "b")}
    writes: list[list[str]] = []

    def update(paths: Any, change: Any) -> dict[str, Entry]:
        writes.append(sorted(paths))
        if len(writes) == 1:
            raise UserError("the disk is full")
        return change(index)  # type: ignore[no-any-return]

    monkeypatch.setattr(filling, "BATCH_OBJECTS", 1)
    sha = {"sha256": "0" * 64}
    with pytest.raises(UserError, match="the disk is full"), filling.Recorder(update) as recorder:
        recorder.add("a", index["a"], sha, "read")
        deadline = time.monotonic() + 10
        while len(writes) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer thread's first write, which fails
        time.sleep(0.1)
        recorder.add("b", index["b"], sha, "read")  # refused: what it finds could not be kept
    assert writes == [["a"], ["a"]]  # what waited is tried once more on the way out, and written
    assert recorder.found == {"a": sha}
    assert index["a"].checksums == sha and not index["b"].checksums


def test_only_s3_is_asked_what_its_listing_lacks(
    store: Store, git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GCS and Azure listings carry their MD5s: asking each object again would find nothing new."""
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    store.put("d/x.bin", b"some bytes")
    assert main(["track-remote", store.url("d/"), "--recursive"]) == 0
    capsys.readouterr()
    code, report, _ = run(capsys, "checksum", "--sha256")
    assert code == 1 and report["lacking"]["paths"] == ["x.bin"]
    asked = report["requests"].get(store.provider, {})
    assert asked == ({"HeadObject": 1} if store.provider == "s3" else {})


def test_a_report_url_carrying_a_token_is_refused_before_any_request(
    s3_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "SeCrEtToKeN0123456789"
    for url in (
        f"https://example.org/r/manifest.json#access_token={secret}",
        f"s3://b/m.json?X-Amz-Signature={secret}",
    ):
        assert main(["checksum", "--from-report", url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and secret[4:] not in err
