"""The Azure Blob provider through the real SDK over HTTP against Azurite."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerSasPermissions, ContentSettings, generate_container_sas

from lfs_meta.errors import NotFound, RemoteError, Unreachable, UserError
from lfs_meta.index import schema
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Options, azure

from emulators import AZURE_ACCOUNT_KEY, AzureEmulator, azure_connection_string, free_port

BODY = b"##fileformat=VCFv4.3\n" * 50
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WRONG_KEY = base64.b64encode(b"not-the-devstoreaccount1-key" * 2).decode()
NAMED = "az://devstoreaccount1.blob.core.windows.net"  # fence's form: the account that served it


def connect(environ: Mapping[str, str], credentials: str | None = None) -> azure.Azure:
    return azure.connect("az://any/blob", Options(credentials=credentials, environ=dict(environ)))


def failure(
    kind: type[UserError], provider: azure.Azure, url: str, *, listing: bool = False, secret: str = ""
) -> str:
    """The one-line message of the error `kind` (exactly) that stat or list of `url` raises."""
    with pytest.raises(UserError) as raised:
        if listing:
            list(provider.list(url))
        else:
            provider.stat(url)
    message = str(raised.value)
    assert type(raised.value) is kind, message
    assert message.startswith(f"{url}: ")
    assert "\n" not in message
    assert AZURE_ACCOUNT_KEY not in message
    if secret:
        assert secret not in message
    return message


def assert_valid_entry(entry: Entry) -> None:
    errors = list(schema.validator().iter_errors({"data/x": entry.to_json()}))
    assert not errors, errors


@pytest.fixture
def container(azure_service: Any, azure_container: str) -> Any:
    return azure_service.get_container_client(azure_container)


@pytest.fixture
def provider(azure_emulator: AzureEmulator) -> azure.Azure:
    return connect(azure_emulator.env)


def test_stat_is_one_head_with_the_uploads_metadata(
    provider: azure.Azure, container: Any, azure_container: str
) -> None:
    settings = ContentSettings(content_type="text/x-vcf", content_md5=bytearray(hashlib.md5(BODY).digest()))
    uploaded = container.get_blob_client("data/foo.vcf").upload_blob(BODY, content_settings=settings)

    entry = provider.stat(f"az://{azure_container}/data/foo.vcf")

    assert entry.remote_url == f"{NAMED}/{azure_container}/data/foo.vcf"
    assert entry.size == len(BODY)
    assert entry.etag == uploaded["etag"].strip('"')
    assert entry.etag_kind == "opaque"
    assert entry.checksums == {"md5": hashlib.md5(BODY).hexdigest()}
    assert entry.content_type == "text/x-vcf"
    assert entry.version_id is None
    assert entry.last_modified is not None
    assert RFC3339_Z.match(entry.last_modified)
    assert entry.last_modified == uploaded["last_modified"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert_valid_entry(entry)
    assert provider.requests.operations == {"HEAD blob": 1}


def test_md5_sent_by_validate_content_is_reported(
    provider: azure.Azure, container: Any, azure_container: str
) -> None:
    container.get_blob_client("checked.bin").upload_blob(BODY, validate_content=True)

    entry = provider.stat(f"az://{azure_container}/checked.bin")

    assert entry.checksums == {"md5": hashlib.md5(BODY).hexdigest()}
    assert entry.content_type == "application/octet-stream"


def test_list_yields_keys_relative_to_the_prefix(
    provider: azure.Azure, container: Any, azure_container: str
) -> None:
    inside = ["data/a.vcf", "data/sub/b.vcf", "data/sub/c d+e.vcf"]
    for name in [*inside, "data-other/x.vcf", "other/data/y.vcf"]:
        container.upload_blob(name, BODY)
    container.upload_blob("data/folder/", b"")
    container.upload_blob("data/adls-dir", b"", metadata={"hdi_isfolder": "true"})

    listed = dict(provider.list(f"az://{azure_container}/data/"))

    assert sorted(listed) == ["a.vcf", "sub/b.vcf", "sub/c d+e.vcf"]
    assert listed["sub/c d+e.vcf"].remote_url == f"{NAMED}/{azure_container}/data/sub/c%20d%2Be.vcf"
    assert provider.requests.operations == {"GET list": 1}
    for entry in listed.values():
        assert_valid_entry(entry)
        # The same metadata from HEAD: ETag quoted there, unquoted in the listing XML.
        assert provider.stat(entry.remote_url) == entry
    assert provider.requests.operations == {"GET list": 1, "HEAD blob": 3}


def test_list_of_a_whole_container(provider: azure.Azure, container: Any, azure_container: str) -> None:
    container.upload_blob("top.txt", BODY)
    container.upload_blob("nested/deeper/leaf.txt", BODY)

    assert sorted(key for key, _ in provider.list(f"az://{azure_container}/")) == [
        "nested/deeper/leaf.txt",
        "top.txt",
    ]


def test_https_form_is_served_by_the_connection_string_of_its_account(
    provider: azure.Azure, container: Any, azure_container: str, azure_emulator: AzureEmulator
) -> None:
    container.upload_blob("data/a.vcf", BODY)
    base = f"https://{azure_emulator.account_name}.blob.core.windows.net/{azure_container}/"

    entry = provider.stat(base + "data/a.vcf")
    listed = dict(provider.list(base + "data/"))

    assert entry.remote_url == base + "data/a.vcf"
    assert listed == {"a.vcf": entry}


def test_fence_form_names_the_account_and_is_served_by_its_connection_string(
    provider: azure.Azure, container: Any, azure_container: str
) -> None:
    container.upload_blob("data/a b.vcf", BODY)
    base = f"{NAMED}/{azure_container}/"

    entry = provider.stat(base + "data/a%20b.vcf")
    listed = dict(provider.list(base + "data/"))

    assert entry.remote_url == base + "data/a%20b.vcf"
    assert listed == {"a b.vcf": entry}
    assert provider.stat(f"az://{azure_container}/data/a%20b.vcf") == entry
    assert provider.requests.operations == {"HEAD blob": 2, "GET list": 1}


def test_parse_https_and_az_forms() -> None:
    https = azure.parse("https://myacct.blob.core.windows.net/genomes/runs/a%20b.cram")
    assert https == azure.Location(
        account="myacct",
        container="genomes",
        blob="runs/a b.cram",
        base="https://myacct.blob.core.windows.net/genomes/",
    )
    assert https.url("runs/a b.cram") == "https://myacct.blob.core.windows.net/genomes/runs/a%20b.cram"
    assert azure.parse("az://genomes/runs/x.cram") == azure.Location(
        account=None, container="genomes", blob="runs/x.cram", base="az://genomes/"
    )
    assert azure.parse("az://genomes/").blob == ""
    assert azure.parse("az://MyAcct.blob.core.windows.net/genomes/runs/a%20b.cram") == azure.Location(
        account="myacct",
        container="genomes",
        blob="runs/a b.cram",
        base="az://MyAcct.blob.core.windows.net/genomes/",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://myacct.blob.core.windows.net/genomes/x.cram?sv=2024-01-01&sig=SECRETSIG",
        "az:///x.cram",
        "https://myacct.blob.core.windows.net/",
        "az://myacct.blob.core.windows.net/",
        "az://my.example.org/genomes/x.cram",
    ],
)
def test_parse_rejects_urls_naming_no_container_or_carrying_a_sas(url: str) -> None:
    with pytest.raises(UserError) as raised:
        azure.parse(url)
    assert "SECRETSIG" not in str(raised.value)


def test_stat_of_a_prefix_or_a_directory_is_refused(
    provider: azure.Azure, container: Any, azure_container: str
) -> None:
    container.upload_blob("adls-dir", b"", metadata={"hdi_isfolder": "true"})

    assert "names no blob" in failure(UserError, provider, f"az://{azure_container}/data/")
    assert "is a directory" in failure(RemoteError, provider, f"az://{azure_container}/adls-dir")


def test_missing_blob(provider: azure.Azure, azure_container: str) -> None:
    message = failure(NotFound, provider, f"az://{azure_container}/no/such.vcf")

    assert "no such blob" in message
    assert provider.requests.operations == {"HEAD blob": 1}


def test_missing_container_is_named(provider: azure.Azure) -> None:
    for listing in (False, True):
        message = failure(NotFound, provider, "az://no-such-container/a.vcf", listing=listing)
        assert "container 'no-such-container' does not exist in storage account 'devstoreaccount1'" in message
    assert provider.requests.operations == {"HEAD blob": 1, "GET list": 1}


def test_wrong_key_is_a_credentials_error(azure_emulator: AzureEmulator, azure_container: str) -> None:
    wrong = azure_connection_string(azure_emulator.endpoint_url, WRONG_KEY)
    provider = connect({"AZURE_STORAGE_CONNECTION_STRING": wrong})

    for listing in (False, True):
        url = f"az://{azure_container}/a.vcf"
        message = failure(UserError, provider, url, listing=listing, secret=WRONG_KEY)
        assert "rejected the credentials from AZURE_STORAGE_CONNECTION_STRING" in message


def test_key_that_is_not_base64_is_a_credentials_error(azure_emulator: AzureEmulator) -> None:
    provider = connect(
        {"AZURE_STORAGE_CONNECTION_STRING": azure_connection_string(azure_emulator.endpoint_url, "abc")}
    )

    assert "cannot authenticate" in failure(UserError, provider, "az://c-1/a.vcf")


def test_denied_by_a_sas_without_read_permission(azure_emulator: AzureEmulator, azure_container: str) -> None:
    sas = generate_container_sas(
        azure_emulator.account_name,
        azure_container,
        account_key=azure_emulator.account_key,
        permission=ContainerSasPermissions(list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    connection_string = f"BlobEndpoint={azure_emulator.endpoint_url};SharedAccessSignature={sas}"
    provider = connect({"AZURE_STORAGE_CONNECTION_STRING": connection_string})
    signature = re.search(r"sig=([^&]+)", sas)
    assert signature

    message = failure(RemoteError, provider, f"az://{azure_container}/a.vcf", secret=signature.group(1))

    assert "access denied (AuthorizationPermissionMismatch)" in message
    assert list(provider.list(f"az://{azure_container}/")) == []


def test_no_credentials_names_every_way_to_give_them() -> None:
    provider = connect({})

    message = failure(UserError, provider, "az://c-1/a.vcf")

    for way in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY",
        "--credentials FILE",
        "pip install azure-identity",
        "az login",
    ):
        assert way in message
    assert provider.requests.count == 0


def test_credentials_for_another_account_do_not_serve_an_https_url(azure_emulator: AzureEmulator) -> None:
    provider = connect(
        {**azure_emulator.env, "AZURE_STORAGE_ACCOUNT": "other", "AZURE_STORAGE_KEY": WRONG_KEY}
    )
    url = "https://myacct.blob.core.windows.net/c-1/a.vcf"

    message = failure(UserError, provider, url, secret=WRONG_KEY)

    assert "no Azure credentials for storage account 'myacct'" in message
    assert "AZURE_STORAGE_CONNECTION_STRING is for account 'devstoreaccount1'" in message
    assert "AZURE_STORAGE_KEY is for account 'other'" in message


def test_account_and_key_from_the_environment() -> None:
    provider = connect({"AZURE_STORAGE_ACCOUNT": "myacct", "AZURE_STORAGE_KEY": WRONG_KEY})

    for url in ("az://c-1/a.vcf", "https://myacct.blob.core.windows.net/c-1/a.vcf"):
        client = provider.client(azure.parse(url), url)
        assert client.source == "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY"
        assert client.service.primary_hostname == "myacct.blob.core.windows.net"
        assert client.service.account_name == "myacct"
    assert provider.requests.count == 0


def test_connection_string_comes_before_account_and_key(azure_emulator: AzureEmulator) -> None:
    provider = connect(
        {**azure_emulator.env, "AZURE_STORAGE_ACCOUNT": "myacct", "AZURE_STORAGE_KEY": WRONG_KEY}
    )

    client = provider.client(azure.parse("az://c-1/a.vcf"), "az://c-1/a.vcf")

    assert client.source == "AZURE_STORAGE_CONNECTION_STRING"
    assert client.service.account_name == azure_emulator.account_name


def test_credentials_file_comes_first(
    azure_emulator: AzureEmulator, container: Any, azure_container: str, tmp_path: Path
) -> None:
    container.upload_blob("a.vcf", BODY)
    credentials = tmp_path / "azure.conn"
    credentials.write_text(azure_emulator.connection_string + "\n")
    wrong = azure_connection_string(azure_emulator.endpoint_url, WRONG_KEY)
    provider = connect({"AZURE_STORAGE_CONNECTION_STRING": wrong}, credentials=str(credentials))

    assert provider.stat(f"az://{azure_container}/a.vcf").size == len(BODY)

    unreadable = connect({}, credentials=str(tmp_path / "missing.conn"))
    assert "cannot read --credentials" in failure(UserError, unreadable, "az://c-1/a.vcf")


@pytest.mark.parametrize(
    "connection_string",
    [
        "not a connection string",
        "AccountName=devstoreaccount1",  # no secret: the SDK would go anonymous
        "AccountName=devstoreaccount1;AccountKey",
        "SharedAccessSignature=sv=2024&sig=SECRETSIG;BlobEndpoint=",
    ],
)
def test_malformed_connection_string_is_not_echoed(connection_string: str) -> None:
    provider = connect({"AZURE_STORAGE_CONNECTION_STRING": connection_string})

    message = failure(UserError, provider, "az://c-1/a.vcf", secret=connection_string)

    assert "connection string in AZURE_STORAGE_CONNECTION_STRING is malformed" in message
    assert "SECRETSIG" not in message
    assert provider.requests.count == 0


def test_stopped_endpoint_is_unreachable_within_seconds() -> None:
    closed = azure_connection_string(f"http://127.0.0.1:{free_port()}/devstoreaccount1")
    provider = connect({"AZURE_STORAGE_CONNECTION_STRING": closed})

    started = time.monotonic()
    message = failure(Unreachable, provider, "az://c-1/a.vcf")

    assert time.monotonic() - started < 10
    assert "cannot connect to 127.0.0.1" in message
    # The first attempt and the SDK's one connection retry, both counted.
    assert provider.requests.operations == {"HEAD blob": 2}
