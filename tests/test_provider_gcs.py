"""The GCS provider through the real google-cloud-storage SDK, over HTTP, against the emulator."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import google_crc32c
import pytest

from lfs_meta.errors import NotFound, Unreachable, UserError
from lfs_meta.index import schema
from lfs_meta.providers import Options, gcs, normalize

from emulators import HOST, GcsEmulator, free_port, unique_name

BODY = b"ACGT body bytes that must never be fetched\n" * 3
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
FAKE_KEY = "SECRET-KEY-MATERIAL-0123456789"


def provider(environ: Mapping[str, str], credentials: str | None = None) -> gcs.Gcs:
    return gcs.connect("gs://", Options(credentials=credentials, environ=dict(environ)))


def assert_one_line(message: str, *absent: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    for text in absent:
        assert text not in message


def upload(gcs_client: Any, bucket: str, names: list[str], body: bytes = b"x") -> None:
    handle = gcs_client.bucket(bucket)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: handle.blob(name).upload_from_string(body), names))


@pytest.fixture
def emulated(gcs_emulator: GcsEmulator) -> gcs.Gcs:
    return provider(gcs_emulator.env)


def test_stat_reports_the_object_metadata_from_one_request(
    emulated: gcs.Gcs, gcs_client: Any, gcs_bucket: str
) -> None:
    uploaded = gcs_client.bucket(gcs_bucket).blob("runs/1/sample.vcf")
    uploaded.upload_from_string(BODY, content_type="text/x-vcf")

    entry = emulated.stat(f"gs://{gcs_bucket}/runs/1/sample.vcf")

    assert entry.remote_url == f"gs://{gcs_bucket}/runs/1/sample.vcf"
    assert entry.size == len(BODY)
    assert (entry.etag, entry.etag_kind) == (uploaded.etag, "opaque")
    assert entry.version_id == str(uploaded.generation)
    assert entry.checksums == {
        "md5": hashlib.md5(BODY).hexdigest(),
        "crc32c": f"{google_crc32c.value(BODY):08x}",
    }
    assert entry.content_type == "text/x-vcf"
    assert entry.last_modified == normalize.rfc3339(uploaded.updated)
    assert RFC3339_Z.match(entry.last_modified or "")
    assert emulated.requests.operations == Counter({"GET object": 1})
    assert not list(schema.validator().iter_errors({"sample.vcf": entry.to_json()}))


def test_list_yields_keys_relative_to_the_prefix_from_one_page(
    emulated: gcs.Gcs, gcs_client: Any, gcs_bucket: str
) -> None:
    inside = ["data/a.txt", "data/sub/b.bin", "data/sub/deeper/c"]
    upload(gcs_client, gcs_bucket, [*inside, "data/folder/", "database.txt", "other/data/x"])

    listed = dict(emulated.list(f"gs://{gcs_bucket}/data/"))

    assert sorted(listed) == ["a.txt", "sub/b.bin", "sub/deeper/c"]
    assert [listed[key].remote_url for key in sorted(listed)] == [f"gs://{gcs_bucket}/{n}" for n in inside]
    assert {entry.size for entry in listed.values()} == {1}
    assert emulated.requests.operations == Counter({"GET list": 1})


def test_list_asks_for_pages_of_1000_objects_one_request_each(
    gcs_emulator: GcsEmulator, gcs_client: Any, gcs_bucket: str
) -> None:
    names = [f"many/{index:04d}" for index in range(1050)]
    upload(gcs_client, gcs_bucket, names, b"")
    listing = provider(gcs_emulator.env)

    keys = [key for key, _ in listing.list(f"gs://{gcs_bucket}/many/")]

    assert keys == [name.removeprefix("many/") for name in names]
    assert listing.requests.operations == Counter({"GET list": 2})


def test_missing_object_is_not_found(emulated: gcs.Gcs, gcs_client: Any, gcs_bucket: str) -> None:
    gcs_client.bucket(gcs_bucket).blob("present").upload_from_string(BODY)

    with pytest.raises(NotFound) as raised:
        emulated.stat(f"gs://{gcs_bucket}/absent")

    assert type(raised.value) is NotFound
    message = str(raised.value)
    assert message.startswith(f"gs://{gcs_bucket}/absent: no such object;")
    assert_one_line(message, BODY.decode())
    # The bucket GET that tells a missing bucket from a missing object, only after the 404.
    assert emulated.requests.operations == Counter({"GET object": 1, "GET bucket": 1})


def test_missing_bucket_is_named(emulated: gcs.Gcs) -> None:
    bucket = unique_name("absent")

    with pytest.raises(NotFound) as stat_error:
        emulated.stat(f"gs://{bucket}/file.txt")
    with pytest.raises(NotFound) as list_error:
        list(emulated.list(f"gs://{bucket}/prefix/"))

    assert type(stat_error.value) is NotFound and type(list_error.value) is NotFound
    assert (
        str(stat_error.value)
        == f"gs://{bucket}/file.txt: bucket '{bucket}' does not exist; check the bucket name"
    )
    assert str(list_error.value).startswith(f"gs://{bucket}/prefix/: bucket '{bucket}' does not exist;")
    assert emulated.requests.operations == Counter({"GET object": 1, "GET bucket": 1, "GET list": 1})


@pytest.mark.skipif(gcs.on_google_cloud({}), reason="a metadata server supplies credentials here")
def test_no_credentials_is_a_user_error_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only options.environ counts, not the process environment.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{HOST}:9")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/dev/null")
    bare = provider({})

    with pytest.raises(UserError) as raised:
        bare.stat("gs://bucket/object")

    assert type(raised.value) is UserError
    message = str(raised.value)
    assert message.startswith("gs://bucket/object: no Google Cloud credentials found;")
    for fix in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "gcloud auth application-default login",
        "--credentials FILE",
    ):
        assert fix in message
    assert_one_line(message)
    assert bare.requests.count == 0


def _service_account_key() -> str:
    return json.dumps(
        {
            "type": "service_account",
            "client_email": "lfs-meta@example.iam.gserviceaccount.com",
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{FAKE_KEY}\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ('{"type": "service_account", "private_key": "' + FAKE_KEY, "is not a valid"),
        (_service_account_key(), "is not a valid"),
    ],
    ids=["missing", "invalid-json", "unusable-key"],
)
@pytest.mark.parametrize("source", ["GOOGLE_APPLICATION_CREDENTIALS", "--credentials"])
def test_bad_credentials_file_is_a_user_error_naming_it(
    tmp_path: Path, content: str | None, problem: str, source: str
) -> None:
    key_file = tmp_path / "key.json"
    if content is not None:
        key_file.write_text(content)
    if source == "--credentials":
        # --credentials wins over the variable.
        bad = provider({"GOOGLE_APPLICATION_CREDENTIALS": "/elsewhere.json"}, credentials=str(key_file))
    else:
        bad = provider({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})

    with pytest.raises(UserError) as raised:
        bad.stat("gs://bucket/object")

    assert type(raised.value) is UserError
    message = str(raised.value)
    assert message.startswith(
        f"gs://bucket/object: the credentials file {key_file} (from {source}) {problem}"
    )
    assert_one_line(message, FAKE_KEY, "BEGIN PRIVATE KEY")
    assert bad.requests.count == 0


def test_unreachable_endpoint_fails_within_the_retry_deadline() -> None:
    closed = provider({"STORAGE_EMULATOR_HOST": f"http://{HOST}:{free_port()}"})

    started = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        closed.stat("gs://bucket/object")
    elapsed = time.monotonic() - started

    assert elapsed < gcs.RETRY_DEADLINE_SECONDS + 3
    message = str(raised.value)
    assert message.startswith("gs://bucket/object: cannot reach http://127.0.0.1:")
    assert_one_line(message)
    # Every attempt is counted, retries included.
    assert set(closed.requests.operations) == {"GET object"}
    assert closed.requests.count >= 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://storage.googleapis.com/storage/v1/b/bk/o/a%2Fb?projection=noAcl", "GET object"),
        ("https://storage.googleapis.com/storage/v1/b/bk/o?maxResults=1000", "GET list"),
        ("https://storage.googleapis.com/storage/v1/b/bk?fields=name", "GET bucket"),
        ("https://storage.googleapis.com/storage/v1/b/bk/o/a%2Fb?alt=media", "GET media"),
        ("https://storage.googleapis.com/download/storage/v1/b/bk/o/a?generation=1", "GET media"),
    ],
)
def test_operation_names_tell_metadata_from_media(url: str, expected: str) -> None:
    assert gcs.operation("GET", url) == expected
