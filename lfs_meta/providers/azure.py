"""Azure Blob Storage through azure-storage-blob: Get Blob Properties (HEAD) and List Blobs."""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from lfs_meta.errors import Changed, NotFound, RemoteError, Unreachable, UserError, VersionGone
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.index.urls import AZURE_HOST_SUFFIX
from lfs_meta.providers import (
    Chunk,
    Options,
    PageGuard,
    RequestCounter,
    missing_sdk,
    normalize,
    outside_prefix,
    strong_etag,
)

if TYPE_CHECKING:
    from azure.core.exceptions import HttpResponseError
    from azure.core.pipeline import PipelineRequest
    from azure.storage.blob import BlobProperties, BlobServiceClient

CREDENTIAL_HELP = (
    "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY, "
    "or pass --credentials FILE holding a connection string"
)
_PAGE_SIZE = 1000
_ENDPOINT_HELP = "check that the connection string's BlobEndpoint names the store you mean"
# Bounded so a stopped or unreachable endpoint fails within seconds: the SDK waits
# initial_backoff + increment_base**n (+-jitter) seconds before retry n, i.e. ~2, 4, 8 s.
_CLIENT_SETTINGS: dict[str, Any] = {
    "retry_total": 3,
    "retry_connect": 1,
    "retry_read": 1,
    "retry_status": 3,
    "initial_backoff": 0,
    "increment_base": 2,
    "random_jitter_range": 1,
    "connection_timeout": 5,
    "read_timeout": 30,
}
_REJECTED_CREDENTIALS = {"AuthenticationFailed", "InvalidAuthenticationInfo"}
_BUSY = {"ServerBusy", "OperationTimedOut", "InternalError"}


@dataclass(frozen=True)
class Location:
    """A blob URL taken apart; `base` is the URL up to the container's '/', in the form the user wrote."""

    account: str | None  # None for az://, whose account comes from the credentials
    container: str
    blob: str  # percent-decoded
    base: str

    def url(self, blob: str) -> str:
        return self.base + quote(blob)


@dataclass(frozen=True)
class Client:
    service: BlobServiceClient
    source: str  # where its credentials came from, named in error messages


def parse(url: str) -> Location:
    """az://container/blob, az://<account>.blob.core.windows.net/container/blob (fence's form) or
    https://<account>.blob.core.windows.net/container/blob."""
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise UserError(
            f"{urls.redact(url)}: carries credentials, a query or a fragment; "
            "write it as az://container/blob and let the credential chain authenticate"
        )
    # Container names have no dots, so an az:// netloc with one is the account's host.
    if parts.scheme == "az" and "." not in parts.netloc:
        container, blob = parts.netloc, parts.path.lstrip("/")
        account = None
        base = f"az://{container}/"
    else:
        host = (parts.hostname or "").lower()
        if not host.endswith(AZURE_HOST_SUFFIX):
            raise UserError(
                f"{url}: not an Azure Blob URL; write it as {parts.scheme}://<account>{AZURE_HOST_SUFFIX}/..."
            )
        container, _, blob = parts.path.lstrip("/").partition("/")
        account = host.removesuffix(AZURE_HOST_SUFFIX)
        base = f"{parts.scheme}://{parts.netloc}/{container}/"
    if not container:
        raise UserError(f"{url}: names no container; write it as az://container/blob")
    return Location(account, container, unquote(blob), base)


def _named(url: str, location: Location, client: Client) -> str:
    """`url` naming the storage account that served it, so that it means one blob for everyone."""
    account = client.service.account_name
    if location.account is not None or not account:
        return url
    # Only where the account form leads back to this endpoint: Azure's public cloud, or an emulator
    # on this machine (path-style, reached through the same connection string); a sovereign cloud's
    # or a private endpoint's account would be named as another.
    host = urlsplit(f"//{client.service.primary_hostname}").hostname or ""
    if host != f"{account}{AZURE_HOST_SUFFIX}" and host not in ("127.0.0.1", "localhost", "::1"):
        return url
    return f"az://{account}{AZURE_HOST_SUFFIX}/{url.removeprefix('az://')}"


def connect(url: str, options: Options) -> Azure:
    try:
        import azure.storage.blob  # noqa: F401
    except ImportError:
        raise missing_sdk("azure-storage-blob") from None
    return Azure(options)


class Azure:
    name = "azure"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.requests = RequestCounter()
        self._clients: dict[str | None, Client] = {}
        self._lock = threading.Lock()

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        location = parse(url)
        if not location.blob or location.blob.endswith("/"):
            raise UserError(
                f"{url}: names no blob (empty name or trailing '/'); write it as az://container/blob"
            )
        client = self.client(location, url)
        from azure.core.exceptions import AzureError

        try:
            properties = client.service.get_blob_client(
                location.container, location.blob, version_id=version_id
            ).get_blob_properties()
        except AzureError as exc:
            if version_id and _error_code(exc) == "BlobNotFound":
                raise VersionGone(f"{url}: version {version_id} no longer exists") from None
            raise _error(exc, url, location, client) from None
        if _is_directory(properties):
            raise RemoteError(f"{url}: is a directory, not a file; track what is under it with --recursive")
        return _entry(_named(url, location, client), properties)

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError

        location = parse(url)
        client = self.client(location, url)
        blob = client.service.get_blob_client(
            location.container, location.blob, version_id=recorded.version_id
        )
        match = None if recorded.version_id else strong_etag(recorded)
        condition = MatchConditions.IfNotModified if match else None
        try:
            # decompress=False: the stored bytes, which the recorded size and MD5 describe.
            downloader = blob.download_blob(
                offset=offset or None, etag=match, match_condition=condition, decompress=False
            )
            for chunk in downloader.chunks():
                write(chunk)
        except UserError:
            raise
        except AzureError as exc:
            if _status_code(exc) == 412:
                raise Changed(f"{url}: the blob's ETag is no longer {recorded.etag}") from None
            if recorded.version_id and _error_code(exc) == "BlobNotFound":
                raise VersionGone(f"{url}: version {recorded.version_id} no longer exists") from None
            raise _error(exc, url, location, client) from None
        version: str | None = downloader.properties.version_id
        return version or None

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        location = parse(url)
        client = self.client(location, url)
        container = client.service.get_container_client(location.container)
        served = dataclasses.replace(location, base=_named(location.base, location, client))
        from azure.core.exceptions import AzureError

        prefix, guard = location.blob, PageGuard(url, _ENDPOINT_HELP)
        try:
            pages: Any = container.list_blobs(  # a PageIterator, whose continuation_token is typed away
                name_starts_with=prefix or None, include=["metadata"], results_per_page=_PAGE_SIZE
            ).by_page()
            for page in pages:  # the SDK follows any marker it is sent, a repeated one too
                listed = list(page)
                for properties in listed:
                    if not properties.name.startswith(prefix):
                        raise RemoteError(outside_prefix(url, properties.name, prefix, _ENDPOINT_HELP))
                    if properties.name.endswith("/") or _is_directory(properties):
                        continue
                    yield properties.name[len(prefix) :], _entry(served.url(properties.name), properties)
                guard.page([properties.name for properties in listed], pages.continuation_token)
        except AzureError as exc:
            raise _error(exc, url, location, client) from None

    def credential_source(self, url: str) -> str:
        return self.client(parse(url), url).source

    def client(self, location: Location, url: str) -> Client:
        """The service client for the URL's account (az://: the environment's), built once."""
        with self._lock:
            if location.account not in self._clients:
                self._clients[location.account] = self._new_client(location, url)
            return self._clients[location.account]

    def _new_client(self, location: Location, url: str) -> Client:
        settings = {**_CLIENT_SETTINGS, "raw_request_hook": self._count}
        skipped = []
        for source, connection_string in self._connection_strings(url):
            client = Client(_from_connection_string(connection_string, source, url, settings), source)
            if location.account in (None, client.service.account_name):
                return client
            skipped.append(f"{source} is for account {client.service.account_name!r}")
        env_account = self.options.environ.get("AZURE_STORAGE_ACCOUNT")
        account = location.account or env_account
        key = self.options.environ.get("AZURE_STORAGE_KEY")
        if account and key and account == env_account:
            credential = {"account_name": account, "account_key": key}
            source = "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY"
            return Client(_account_client(account, credential, settings), source)
        if key and env_account:
            skipped.append(f"AZURE_STORAGE_KEY is for account {env_account!r}")
        if account and _identity_installed():
            from azure.identity import DefaultAzureCredential

            source = "DefaultAzureCredential (az login, managed identity)"
            return Client(_account_client(account, DefaultAzureCredential(), settings), source)
        raise _no_credentials(url, location, skipped)

    def _connection_strings(self, url: str) -> Iterator[tuple[str, str]]:
        path = self.options.credentials
        if path:
            yield f"--credentials {path}", _read_credentials_file(path, url)
        from_env = self.options.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
        if from_env:
            yield "AZURE_STORAGE_CONNECTION_STRING", from_env

    def _count(self, request: PipelineRequest[Any]) -> None:
        """Called by the SDK for every attempt it sends, retries included (raw_request_hook)."""
        http = request.http_request
        query = parse_qs(urlsplit(http.url).query)
        if "comp" in query:
            self.requests.record(f"{http.method} {query['comp'][0]}")
        elif query.get("restype") == ["container"]:
            self.requests.record(f"{http.method} container")
        else:
            self.requests.record(f"{http.method} blob")


def _read_credentials_file(path: str, url: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    raise UserError(
        f"{url}: cannot read --credentials {path} ({reason}); pass a file holding a connection string"
    )


def _from_connection_string(
    connection_string: str, source: str, url: str, settings: dict[str, Any]
) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    malformed = UserError(
        f"{url}: the connection string in {source} is malformed; it needs AccountName=...;AccountKey=... "
        "or BlobEndpoint=...;SharedAccessSignature=..., separated by ';' (copy it from the portal)"
    )
    if not _authenticates(connection_string):
        raise malformed
    try:
        return BlobServiceClient.from_connection_string(connection_string, **settings)
    except ValueError:
        raise malformed from None


def _authenticates(connection_string: str) -> bool:
    """Well formed and carrying a secret: without one the SDK silently sends anonymous requests."""
    pairs = [part.partition("=") for part in connection_string.rstrip(";").split(";")]
    if any(not separator or not name.strip() for name, separator, _ in pairs):
        return False
    names = {name.strip().upper() for name, _, _ in pairs}
    return {"ACCOUNTNAME", "ACCOUNTKEY"} <= names or bool(
        names & {"SHAREDACCESSSIGNATURE", "USEDEVELOPMENTSTORAGE"}
    )


def _account_client(account: str, credential: Any, settings: dict[str, Any]) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(f"https://{account}{AZURE_HOST_SUFFIX}", credential=credential, **settings)


def _identity_installed() -> bool:
    """azure-identity is optional: it brings az login, managed and workload identity."""
    return importlib.util.find_spec("azure.identity") is not None


def _no_credentials(url: str, location: Location, skipped: list[str]) -> UserError:
    where = f" for storage account {location.account!r}" if location.account else ""
    why = f" ({'; '.join(skipped)})" if skipped else ""
    if _identity_installed():
        identity = "or set AZURE_STORAGE_ACCOUNT to use az login or a managed identity"
    else:
        identity = "or 'pip install azure-identity' to use az login or a managed identity"
    return UserError(f"{url}: no Azure credentials{where}{why}; {CREDENTIAL_HELP}, {identity}")


def _is_directory(properties: BlobProperties) -> bool:
    # Hierarchical-namespace (ADLS Gen2) accounts and blobfuse list directories as empty blobs.
    return (properties.metadata or {}).get("hdi_isfolder") == "true"


def _entry(url: str, properties: BlobProperties) -> Entry:
    etag, kind = normalize.etag(properties.etag, md5_etags=False)
    settings = properties.content_settings
    return Entry(
        remote_url=url,
        size=int(properties.size),
        etag=etag,
        etag_kind=kind,
        version_id=properties.version_id or None,
        checksums=normalize.checksums(md5=settings.content_md5),
        content_type=normalize.content_type(settings.content_type),
        last_modified=normalize.rfc3339(properties.last_modified),
    )


def _error(exc: Exception, url: str, location: Location, client: Client) -> UserError:
    """One line for an SDK error; SDK messages are never echoed, as they can quote request details."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    host = client.service.primary_hostname
    if isinstance(exc, ServiceRequestError):
        return Unreachable(
            f"{url}: cannot connect to {host} after retries; check the network, the account name "
            "and the connection string's BlobEndpoint"
        )
    if isinstance(exc, ServiceResponseError):
        return Unreachable(
            f"{url}: {host} timed out or dropped the connection after retries; try again later"
        )
    if isinstance(exc, HttpResponseError) and exc.response is not None and exc.status_code is not None:
        return _status_error(url, location, client, exc)
    if isinstance(exc, ClientAuthenticationError):
        return UserError(
            f"{url}: cannot authenticate with the credentials from {client.source} "
            f"({type(exc).__name__}); check the account key, or run 'az login'"
        )
    return Unreachable(f"{url}: no usable answer from {host} ({type(exc).__name__})")


def _status_error(url: str, location: Location, client: Client, exc: HttpResponseError) -> UserError:
    status = exc.status_code or 0
    code = _error_code(exc)
    # HEAD answers have no body, but Azure (and Azurite) name the error in the x-ms-error-code header,
    # so a missing container is told from a missing blob without a second request.
    if code == "ContainerNotFound":
        account = client.service.account_name
        return NotFound(
            f"{url}: container {location.container!r} does not exist in storage account {account!r}; "
            "check the container name and the account"
        )
    if code == "BlobNotFound":
        return NotFound(f"{url}: no such blob; check the name (blob names are case-sensitive)")
    if status == 404:
        return NotFound(f"{url}: no such blob or container ({code or 404}); check the URL")
    if code in _REJECTED_CREDENTIALS or _azurite_rejected(code, exc.reason):
        return UserError(
            f"{url}: Azure rejected the credentials from {client.source} ({code or status}); "
            "check that the key or SAS is current and belongs to this account"
        )
    if status == 403:
        return RemoteError(
            f"{url}: access denied ({code or status}); the identity needs read access to the container "
            "(e.g. the Storage Blob Data Reader role) and the account's firewall must admit this network"
        )
    if status == 408 or status >= 500 or code in _BUSY:
        return Unreachable(f"{url}: Azure kept failing after retries ({code or status}); try again later")
    return RemoteError(f"{url}: Azure answered {status} {code or ''}".rstrip())


def _azurite_rejected(code: str | None, reason: str | None) -> bool:
    # Azurite answers a wrong key with AuthorizationFailure where Azure says AuthenticationFailed, but
    # Azure's own AuthorizationFailure (firewall, key access disabled) is a denial: the reason phrase,
    # which both set to the error's message, tells them apart.
    return code == "AuthorizationFailure" and "failed to authenticate" in (reason or "").lower()


def _status_code(exc: Exception) -> int | None:
    status: int | None = getattr(exc, "status_code", None)
    return status


def _error_code(exc: Exception) -> str | None:
    code: str | None = getattr(getattr(exc, "response", None), "headers", {}).get("x-ms-error-code")
    return code
