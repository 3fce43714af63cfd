from __future__ import annotations

import datetime
import hashlib
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

from conftest import use_env
from emulators import S3Emulator

INDEX = Path(".lfs-meta") / "metadata.json"
BODY = b"##fileformat=VCFv4.3\n" * 100


def track(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["track-remote", *args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


def index_json(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / INDEX).read_text())
    return data


@pytest.fixture
def repo(git_repo: Path, s3_emulator: S3Emulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, s3_emulator.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def test_single_object_from_one_head(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="data/foo.vcf", Body=BODY, ContentType="text/x-vcf")
    code, result, _ = track(
        capsys,
        f"s3://{s3_bucket}/data/foo.vcf",
        "--path",
        "data/foo.vcf",
        "--patient",
        "Patient/1234",
        "--specimen",
        "Specimen/XYZ",
    )
    assert code == 0
    assert result["tracked"] == ["data/foo.vcf"]
    assert result["requests"] == {"s3": 1}
    entry = index_json(repo)["data/foo.vcf"]
    assert entry.pop("last_modified").endswith("Z")
    assert entry == {
        "remote_url": f"s3://{s3_bucket}/data/foo.vcf",
        "size": len(BODY),
        "etag": hashlib.md5(BODY).hexdigest(),
        "etag_kind": "md5",
        "content_type": "text/x-vcf",
        # boto3 adds a CRC32 to every upload by default; S3 returns it with ChecksumMode=ENABLED.
        "checksums": {"crc32": f"{zlib.crc32(BODY):08x}"},
        "patient": "Patient/1234",
        "specimen": "Specimen/XYZ",
    }
    assert main(["validate"]) == 0


def test_nothing_but_head_is_sent(repo: Path, s3_client: Any, s3_bucket: str) -> None:
    from lfs_meta.providers import Options, Providers

    s3_client.put_object(Bucket=s3_bucket, Key="a.bam", Body=BODY)
    providers = Providers(Options())
    entry = providers.for_url(f"s3://{s3_bucket}/a.bam").stat(f"s3://{s3_bucket}/a.bam")
    assert entry.size == len(BODY)
    assert providers.for_url("s3://x/y").requests.operations == {"HeadObject": 1}


def test_checksums_the_uploader_stored(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="c.cram", Body=BODY, ChecksumAlgorithm="SHA256")
    code, _, _ = track(capsys, f"s3://{s3_bucket}/c.cram")
    assert code == 0
    assert index_json(repo)["c.cram"]["checksums"]["sha256"] == hashlib.sha256(BODY).hexdigest()


def test_versioned_bucket_records_the_current_version(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket=s3_bucket, Key="v.vcf", Body=b"one")
    latest = s3_client.put_object(Bucket=s3_bucket, Key="v.vcf", Body=b"two!")["VersionId"]
    assert track(capsys, f"s3://{s3_bucket}/v.vcf")[0] == 0
    entry = index_json(repo)["v.vcf"]
    assert (entry["version_id"], entry["size"]) == (latest, 4)


def test_multipart_etag_is_labelled(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = [b"a" * (5 * 1024 * 1024), b"b" * 100]
    upload = s3_client.create_multipart_upload(Bucket=s3_bucket, Key="big.bam")["UploadId"]
    done = [
        {
            "PartNumber": n,
            "ETag": s3_client.upload_part(
                Bucket=s3_bucket, Key="big.bam", UploadId=upload, PartNumber=n, Body=body
            )["ETag"],
        }
        for n, body in enumerate(parts, start=1)
    ]
    s3_client.complete_multipart_upload(
        Bucket=s3_bucket, Key="big.bam", UploadId=upload, MultipartUpload={"Parts": done}
    )
    assert track(capsys, f"s3://{s3_bucket}/big.bam")[0] == 0
    entry = index_json(repo)["big.bam"]
    combined = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert (entry["etag"], entry["etag_kind"], entry["size"]) == (
        f"{combined}-2",
        "multipart",
        sum(map(len, parts)),
    )


def test_prefix_of_2000_objects_takes_three_list_requests(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [f"cohort/s{i % 7}/sample{i}.vcf" for i in range(2000)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3_client.put_object(Bucket=s3_bucket, Key=k, Body=k.encode()), keys))
    s3_client.put_object(Bucket=s3_bucket, Key="cohort-other/x.vcf", Body=b"x")
    s3_client.put_object(Bucket=s3_bucket, Key="cohort/folder/", Body=b"")
    code, result, _ = track(
        capsys, f"s3://{s3_bucket}/cohort/", "--recursive", "--path-prefix", "data", "--patient", "Patient/p1"
    )
    assert code == 0
    # 1 GetBucketVersioning + 3 pages for 2,001 keys (with the folder marker); no HEAD
    assert result["requests"] == {"s3": 4}
    assert len(result["tracked"]) == 2000
    entries = index_json(repo)
    assert sorted(entries) == sorted(f"data/{k.removeprefix('cohort/')}" for k in keys)
    sample = entries["data/s3/sample10.vcf"]
    assert sample["remote_url"] == f"s3://{s3_bucket}/cohort/s3/sample10.vcf"
    assert (sample["size"], sample["etag"]) == (len(keys[10]), hashlib.md5(keys[10].encode()).hexdigest())
    assert sample["patient"] == "Patient/p1"
    again = track(capsys, f"s3://{s3_bucket}/cohort", "--recursive", "--path-prefix", "data")
    assert (again[0], len(again[1]["unchanged"]) + len(again[1]["skipped"])) == (0, 2000)


def test_manifest_heads_each_row(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("a.vcf", "b.bam", "c.csv"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    manifest = repo / "manifest.tsv"
    manifest.write_text(
        "url\tpath\tpatient\tspecimen\n"
        f"s3://{s3_bucket}/a.vcf\tdata/a.vcf\tPatient/1\tSpecimen/S1\n"
        f"s3://{s3_bucket}/b.bam\t\tPatient/2\t\n"
        f"s3://{s3_bucket}/c.csv\tclinical/c.csv\t\t\n"
    )
    code, result, _ = track(capsys, "--from-manifest", str(manifest), "--jobs", "2")
    assert (code, result["requests"]) == (0, {"s3": 3})
    entries = index_json(repo)
    assert sorted(entries) == ["b.bam", "clinical/c.csv", "data/a.vcf"]
    assert (entries["data/a.vcf"]["specimen"], entries["b.bam"]["patient"]) == ("Specimen/S1", "Patient/2")
    assert "patient" not in entries["clinical/c.csv"]


def test_one_failing_object_leaves_the_index_unchanged(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="ok.vcf", Body=b"x")
    assert track(capsys, f"s3://{s3_bucket}/ok.vcf")[0] == 0
    before = (repo / INDEX).read_bytes()
    manifest = repo / "m.csv"
    manifest.write_text(
        f"url,path\ns3://{s3_bucket}/ok.vcf,again/ok.vcf\ns3://{s3_bucket}/gone.vcf,gone.vcf\n"
    )
    code, result, _ = track(capsys, "--from-manifest", str(manifest))
    assert code == 1
    assert result["failed"] == [
        {
            "path": "gone.vcf",
            "error": f"s3://{s3_bucket}/gone.vcf: no such object; check the key (and the version id)",
        }
    ]
    assert (repo / INDEX).read_bytes() == before


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("s3://{bucket}/missing.vcf", "s3://{bucket}/missing.vcf: no such object; check the key"),
        (
            "s3://no-such-bucket-lfs/a.vcf",
            "s3://no-such-bucket-lfs/a.vcf: bucket 'no-such-bucket-lfs' does not exist",
        ),
    ],
    ids=["missing-object", "missing-bucket"],
)
def test_missing_things_are_one_line(
    repo: Path, s3_bucket: str, url: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["track-remote", url.format(bucket=s3_bucket)]) == 1
    err = capsys.readouterr().err
    assert err == f"lfs-meta: error: {words.format(bucket=s3_bucket)} (and the version id)\n" or (
        err.count("\n") == 1 and words.format(bucket=s3_bucket) in err
    )
    assert not (repo / INDEX).exists()


def test_existing_entry_needs_force(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="a.vcf", Body=b"one")
    assert track(capsys, f"s3://{s3_bucket}/a.vcf")[0] == 0
    s3_client.put_object(Bucket=s3_bucket, Key="a.vcf", Body=b"three")
    code, result, _ = track(capsys, f"s3://{s3_bucket}/a.vcf")
    assert (code, result["skipped"]) == (1, ["a.vcf"])
    assert index_json(repo)["a.vcf"]["size"] == 3
    code, result, _ = track(capsys, f"s3://{s3_bucket}/a.vcf", "--force")
    assert (code, result["tracked"]) == (0, ["a.vcf"])
    assert index_json(repo)["a.vcf"]["size"] == 5


def test_path_that_is_a_working_tree_file_is_refused(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "a.vcf").write_text("local copy")
    assert main(["track-remote", f"s3://{s3_bucket}/a.vcf"]) == 2
    assert "exists as a file in the working tree" in capsys.readouterr().err
    assert not (repo / INDEX).exists()


def test_wrong_credentials(
    git_repo: Path,
    s3_auth_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_env(monkeypatch, {**s3_auth_emulator.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"})
    monkeypatch.chdir(git_repo)
    assert main(["track-remote", "s3://some-bucket/a.vcf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "lfs-meta: error: s3://some-bucket/a.vcf: AWS rejected the credentials (SignatureDoesNotMatch)"
    )
    assert "AWS_PROFILE" in err and "wrong-secret-value" not in err and err.count("\n") == 1


def test_named_profile_from_the_url_and_credentials_file(
    git_repo: Path,
    s3_auth_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = s3_auth_emulator
    client = __import__("emulators").make_s3_client(env)
    client.create_bucket(Bucket="lab-bucket")
    client.put_object(Bucket="lab-bucket", Key="x.vcf", Body=b"x")
    credentials = git_repo.parent / "aws-credentials"
    credentials.write_text(
        f"[lab]\naws_access_key_id = {env.access_key_id}\naws_secret_access_key = {env.secret_access_key}\n"
    )
    use_env(monkeypatch, {**env.env, "AWS_ACCESS_KEY_ID": "AKIAWRONG", "AWS_SECRET_ACCESS_KEY": "wrong"})
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.chdir(git_repo)
    assert main(["track-remote", "s3://lab@lab-bucket/x.vcf", "--json"]) == 0
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    code = main(
        ["track-remote", "s3://lab-bucket/x.vcf", "--path", "y.vcf", "--credentials", str(credentials)]
    )
    assert code == 2  # the file has no [default] profile
    assert main(["track-remote", "s3://lab-bucket/x.vcf", "--path", "y.vcf", "--credentials", "lab"]) == 2
    capsys.readouterr()
    (git_repo / "aws-credentials-default").write_text(credentials.read_text().replace("[lab]", "[default]"))
    assert (
        main(
            [
                "track-remote",
                "s3://lab-bucket/x.vcf",
                "--path",
                "y.vcf",
                "--credentials",
                str(git_repo / "aws-credentials-default"),
            ]
        )
        == 0
    )
    assert sorted(index_json(git_repo)) == ["x.vcf", "y.vcf"]
    assert env.secret_access_key not in (git_repo / INDEX).read_text()


def test_no_credentials_at_all(
    git_repo: Path,
    s3_emulator: S3Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_env(monkeypatch, s3_emulator.env)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(git_repo)
    assert main(["track-remote", "s3://b-b-b/a.vcf"]) == 2
    assert capsys.readouterr().err == (
        "lfs-meta: error: s3://b-b-b/a.vcf: no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY, run on an instance/ECS/IRSA role, or pass --credentials PROFILE_OR_FILE\n"
    )


def test_untrack(repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("d/a.vcf", "d/b.vcf", "c.vcf"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    assert track(capsys, f"s3://{s3_bucket}/", "--recursive")[0] == 0
    before = (repo / INDEX).read_bytes()
    assert main(["untrack", "d", "nope.vcf"]) == 1
    assert "not tracked: nope.vcf" in capsys.readouterr().err
    assert (repo / INDEX).read_bytes() == before
    assert main(["untrack", "d/"]) == 0
    assert capsys.readouterr().out == "untracked 2: d/a.vcf, d/b.vcf\n"
    assert sorted(index_json(repo)) == ["c.vcf"]


def test_listed_and_headed_times_agree_with_the_store(
    repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """LIST pages carry ISO 8601 times (parsed the fast way), HEAD an HTTP date (botocore's way)."""
    s3_client.put_object(Bucket=s3_bucket, Key="t/a.vcf", Body=BODY)
    stored = s3_client.head_object(Bucket=s3_bucket, Key="t/a.vcf")["LastModified"]
    assert track(capsys, f"s3://{s3_bucket}/t/", "--recursive", "--path-prefix", "listed")[0] == 0
    assert track(capsys, f"s3://{s3_bucket}/t/a.vcf", "--path", "headed/a.vcf")[0] == 0
    written = index_json(repo)
    expected = stored.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert written["listed/a.vcf"]["last_modified"] == written["headed/a.vcf"]["last_modified"] == expected
