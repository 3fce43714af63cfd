"""Smoke tests of the emulator fixtures, through the real SDKs over HTTP."""

from __future__ import annotations

import base64
import hashlib
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from azure.core.exceptions import HttpResponseError
from botocore.exceptions import ClientError
from google.cloud import storage

from emulators import (
    HOST,
    AzureEmulator,
    GcsEmulator,
    RunningEmulator,
    S3Emulator,
    azure_connection_string,
    listening_sockets,
    make_azure_service,
    make_s3_client,
    session_pids,
    unique_name,
)

PAYLOAD = b"lfs-meta emulator smoke test\n"
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).digest()
KEYS = ["a/one.txt", "a/two.txt", "b.txt"]

needs_proc = pytest.mark.skipif(sys.platform != "linux", reason="reads sockets from Linux /proc")


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def assert_listens_only_on_loopback(server: RunningEmulator) -> None:
    pids = session_pids(server.pid)
    assert server.pid in pids
    assert listening_sockets(pids) == {(HOST, server.port)}
    with socket.create_connection((HOST, server.port), timeout=5):
        pass


def test_s3_put_head_list(s3_client: Any, s3_bucket: str) -> None:
    put = s3_client.put_object(Bucket=s3_bucket, Key=KEYS[0], Body=PAYLOAD)
    for key in KEYS[1:]:
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"")

    head = s3_client.head_object(Bucket=s3_bucket, Key=KEYS[0])
    assert head["ContentLength"] == len(PAYLOAD)
    assert head["ETag"] == put["ETag"] == f'"{PAYLOAD_MD5.hex()}"'

    listing = s3_client.list_objects_v2(Bucket=s3_bucket)
    assert listing["IsTruncated"] is False
    assert [item["Key"] for item in listing["Contents"]] == KEYS
    assert [item["Size"] for item in listing["Contents"]] == [len(PAYLOAD), 0, 0]

    with pytest.raises(ClientError) as missing:
        s3_client.head_object(Bucket=s3_bucket, Key="missing")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_s3_list_pages_past_1000_keys(s3_client: Any, s3_bucket: str) -> None:
    keys = [f"k{i:04d}" for i in range(1100)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x"), keys))

    pages = list(s3_client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket))
    assert [page["KeyCount"] for page in pages] == [1000, 100]
    assert pages[0]["IsTruncated"] is True
    assert pages[1]["IsTruncated"] is False
    assert [item["Key"] for page in pages for item in page["Contents"]] == keys


def test_s3_env_is_enough_for_a_default_boto3_client(
    s3_emulator: S3Emulator, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_emulator.env.items():
        monkeypatch.setenv(name, value)
    client = boto3.session.Session().client("s3")
    assert client.meta.endpoint_url == s3_emulator.endpoint_url
    assert s3_bucket in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}


def test_s3_default_emulator_does_not_check_credentials(s3_emulator: S3Emulator, s3_bucket: str) -> None:
    client = make_s3_client(s3_emulator, access_key_id="nobody", secret_access_key="wrong")
    assert client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0


def test_s3_auth_emulator_rejects_wrong_credentials(s3_auth_emulator: S3Emulator) -> None:
    good = make_s3_client(s3_auth_emulator)
    bucket = unique_name()
    good.create_bucket(Bucket=bucket)
    good.put_object(Bucket=bucket, Key="k", Body=PAYLOAD)
    assert good.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(PAYLOAD)

    wrong_secret = make_s3_client(s3_auth_emulator, secret_access_key="wrong")
    with pytest.raises(ClientError) as rejected:
        wrong_secret.list_objects_v2(Bucket=bucket)
    assert error_code(rejected.value) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as rejected_put:
        wrong_secret.put_object(Bucket=bucket, Key="k2", Body=PAYLOAD)
    assert error_code(rejected_put.value) == "SignatureDoesNotMatch"

    unknown_key = make_s3_client(s3_auth_emulator, access_key_id="AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(ClientError) as unknown:
        unknown_key.list_objects_v2(Bucket=bucket)
    assert error_code(unknown.value) == "InvalidAccessKeyId"

    assert [item["Key"] for item in good.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_gcs_upload_head_list(gcs_client: Any, gcs_bucket: str) -> None:
    bucket = gcs_client.bucket(gcs_bucket)
    uploaded = bucket.blob(KEYS[0])
    uploaded.upload_from_string(PAYLOAD)
    for key in KEYS[1:]:
        bucket.blob(key).upload_from_string(b"")

    fetched = bucket.get_blob(KEYS[0])
    assert fetched.size == len(PAYLOAD)
    assert fetched.etag == uploaded.etag
    assert fetched.md5_hash == base64.b64encode(PAYLOAD_MD5).decode()
    reloaded = bucket.blob(KEYS[0])
    reloaded.reload()
    assert (reloaded.size, reloaded.etag) == (len(PAYLOAD), uploaded.etag)

    listed = list(gcs_client.list_blobs(gcs_bucket))
    assert [blob.name for blob in listed] == KEYS
    assert [blob.size for blob in listed] == [len(PAYLOAD), 0, 0]

    assert bucket.get_blob("missing") is None


def test_gcs_env_is_enough_for_a_default_client(
    gcs_emulator: GcsEmulator, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in gcs_emulator.env.items():
        monkeypatch.setenv(name, value)
    client = storage.Client()
    assert client.project == gcs_emulator.project
    client.bucket(gcs_bucket).blob("k").upload_from_string(PAYLOAD)
    assert [blob.name for blob in client.list_blobs(gcs_bucket)] == ["k"]


def test_gcs_emulator_queues_many_simultaneous_connections(
    gcs_emulator: GcsEmulator, gcs_client: Any
) -> None:
    # The server handles one connection at a time. Unpatched, its listen
    # backlog of 5 leaves the 8th of these idle connections hanging in connect().
    held: list[socket.socket] = []
    try:
        for _ in range(64):
            held.append(socket.create_connection((HOST, gcs_emulator.server.port), timeout=2))
    finally:
        for connection in held:
            connection.close()
    assert len(held) == 64
    name = unique_name()
    gcs_client.create_bucket(name)
    assert name in {bucket.name for bucket in gcs_client.list_buckets()}


def test_azure_upload_head_list(azure_service: Any, azure_container: str) -> None:
    container = azure_service.get_container_client(azure_container)
    uploaded = container.get_blob_client(KEYS[0]).upload_blob(PAYLOAD)
    for key in KEYS[1:]:
        container.upload_blob(key, b"")

    properties = container.get_blob_client(KEYS[0]).get_blob_properties()
    assert properties.size == len(PAYLOAD)
    assert properties.etag == uploaded["etag"]
    assert bytes(properties.content_settings.content_md5) == PAYLOAD_MD5

    listed = list(container.list_blobs())
    assert [blob.name for blob in listed] == KEYS
    assert [blob.size for blob in listed] == [len(PAYLOAD), 0, 0]
    # Listing XML carries the ETag unquoted, the HEAD/PUT header quoted (as on Azure).
    assert f'"{listed[0].etag}"' == uploaded["etag"]


def test_azure_rejects_a_wrong_account_key(azure_emulator: AzureEmulator, azure_container: str) -> None:
    wrong_key = base64.b64encode(b"not-the-devstoreaccount1-key" * 2).decode()
    service = make_azure_service(
        azure_emulator, azure_connection_string(azure_emulator.endpoint_url, wrong_key)
    )
    # Azurite answers 403 AuthorizationFailure where Azure says
    # AuthenticationFailed, so the SDK raises the generic HttpResponseError
    # rather than its ClientAuthenticationError subclass.
    with pytest.raises(HttpResponseError) as rejected_head:
        service.get_container_client(azure_container).get_container_properties()
    with pytest.raises(HttpResponseError) as rejected_put:
        service.get_blob_client(azure_container, "k").upload_blob(PAYLOAD)
    for rejected in (rejected_head, rejected_put):
        assert rejected.value.status_code == 403
        assert getattr(rejected.value, "error_code", None) == "AuthorizationFailure"
    assert list(make_azure_service(azure_emulator).get_container_client(azure_container).list_blobs()) == []


@needs_proc
def test_s3_emulator_listens_only_on_loopback(s3_emulator: S3Emulator) -> None:
    assert_listens_only_on_loopback(s3_emulator.server)


@needs_proc
def test_gcs_emulator_listens_only_on_loopback(gcs_emulator: GcsEmulator) -> None:
    assert_listens_only_on_loopback(gcs_emulator.server)


@needs_proc
def test_azure_emulator_listens_only_on_loopback(azure_emulator: AzureEmulator) -> None:
    assert_listens_only_on_loopback(azure_emulator.server)
