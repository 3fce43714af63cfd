"""Google Cloud Storage through google-cloud-storage: JSON API object GETs (metadata, never
alt=media) and objects.list pages."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from lfs_meta.errors import Changed, NotFound, RemoteError, Unreachable, UserError, VersionGone
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
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
    import requests
    import requests.adapters
    from google.auth.credentials import Credentials

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
CREDENTIAL_HELP = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, "
    "run 'gcloud auth application-default login', or pass --credentials FILE"
)
# Total time one request may spend retrying 429/5xx/network errors, and one attempt's
# (connect, read) timeouts: a stopped endpoint fails in seconds, not the SDK's default 2 minutes.
RETRY_DEADLINE_SECONDS = 6.0
ATTEMPT_TIMEOUT_SECONDS = (5.0, 30.0)
_PAGE_SIZE = 1000
_ENDPOINT_HELP = "check that STORAGE_EMULATOR_HOST, if set, names the store you mean"
_TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}  # what the SDK's default retry retries
_POOL_SIZE = 32
_GCE_PRODUCT_NAME = Path("/sys/class/dmi/id/product_name")
_CLOUD_RUN_VARIABLES = ("K_SERVICE", "CLOUD_RUN_JOB")


def split(url: str) -> tuple[str, str]:
    """(bucket, object name) of gs://bucket/object; the name is kept verbatim ('#', '?' are legal in it)."""
    bucket, _, name = url.partition("://")[2].partition("/")
    if not bucket:
        raise UserError(f"{url}: not a gs://bucket/object URL; name the bucket")
    return bucket, name


def on_google_cloud(environ: Mapping[str, str]) -> bool:
    """Whether a metadata server should hold credentials, decided without asking it (no network)."""
    if environ.get("NO_GCE_CHECK", "").lower() in {"1", "true", "yes"}:
        return False
    if any(name in environ for name in _CLOUD_RUN_VARIABLES):
        return True
    try:
        return _GCE_PRODUCT_NAME.read_text(encoding="utf-8").startswith("Google")
    except OSError:
        return False


def connect(url: str, options: Options) -> Gcs:
    try:
        import google.cloud.storage  # noqa: F401
    except ImportError:
        raise missing_sdk("google-cloud-storage") from None
    return Gcs(options)


class Gcs:
    name = "gcs"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.requests = RequestCounter()
        self._storage: Any = None
        self._retry = _retry_policy()
        self._lock = threading.Lock()

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        bucket, name = split(url)
        if not name:
            raise UserError(f"{url}: names a bucket, not an object; give gs://{bucket}/OBJECT")
        handle = self._bucket(url, bucket)
        try:
            generation = int(version_id) if version_id and version_id.isdigit() else None
            blob = handle.get_blob(
                name, generation=generation, timeout=ATTEMPT_TIMEOUT_SECONDS, retry=self._retry
            )
        except Exception as exc:
            raise self._error(exc, url, bucket, "storage.objects.get") from None
        if blob is None and version_id:
            raise VersionGone(f"{url}: generation {version_id} no longer exists")
        if blob is None:
            raise self._missing(handle, url, bucket)
        return _entry(f"gs://{bucket}/{name}", blob)

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        from google.api_core import exceptions as api

        bucket, name = split(url)
        handle = self._bucket(url, bucket)
        version = recorded.version_id
        generation = int(version) if version and version.isdigit() else None
        blob = handle.blob(name, generation=generation)
        try:
            # raw_download: the stored bytes, which the recorded size and hashes describe, even
            # for gzip-encoded objects; the hashes are checked by the caller, over resumed bytes too.
            blob.download_to_file(
                _Writer(write),
                start=offset or None,
                raw_download=True,
                checksum=None,
                if_etag_match=None if generation else strong_etag(recorded),
                timeout=ATTEMPT_TIMEOUT_SECONDS,
                retry=self._retry,
            )
        except UserError:
            raise
        except api.PreconditionFailed:
            raise Changed(f"{url}: the object's ETag is no longer {recorded.etag}") from None
        except api.NotFound:
            if generation is None:
                raise self._missing(handle, url, bucket) from None
            raise VersionGone(f"{url}: generation {version} no longer exists") from None
        except Exception as exc:
            raise self._error(exc, url, bucket, "storage.objects.get") from None
        return str(blob.generation) if blob.generation is not None else None

    def _missing(self, handle: Any, url: str, bucket: str) -> RemoteError:
        """A 404 on an object does not say whether the bucket is missing too.

        One bucket GET, sent only after that 404, does; if it is denied, the 404 is all we know.
        """
        try:
            exists = handle.exists(timeout=ATTEMPT_TIMEOUT_SECONDS, retry=self._retry)
        except Exception:
            exists = True
        if not exists:
            return NotFound(f"{url}: bucket {bucket!r} does not exist; check the bucket name")
        return NotFound(f"{url}: no such object; check the object name")

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        bucket, prefix = split(url)
        handle = self._bucket(url, bucket)
        guard = PageGuard(url, _ENDPOINT_HELP)
        try:
            listing = handle.client.list_blobs(
                handle,
                prefix=prefix or None,
                page_size=_PAGE_SIZE,
                timeout=ATTEMPT_TIMEOUT_SECONDS,
                retry=self._retry,
            )
            for page in listing.pages:  # the SDK follows any token it is sent, a repeated one too
                blobs = list(page)
                for blob in blobs:
                    if not blob.name.startswith(prefix):
                        raise RemoteError(outside_prefix(url, blob.name, prefix, _ENDPOINT_HELP))
                    if blob.name.endswith("/"):
                        continue  # a console-made "folder" placeholder, not a file
                    yield blob.name[len(prefix) :], _entry(f"gs://{bucket}/{blob.name}", blob)
                guard.page([blob.name for blob in blobs], listing.next_page_token)
        except UserError:
            raise
        except Exception as exc:
            raise self._error(exc, url, bucket, "storage.objects.list") from None

    def _bucket(self, url: str, bucket: str) -> Any:
        client = self._client(url)
        try:
            return client.bucket(bucket)
        except ValueError:
            raise UserError(f"{url}: {bucket!r} is not a valid bucket name") from None

    def credential_source(self, url: str) -> str:
        return self._credentials(url)[2]

    def _client(self, url: str) -> Any:
        with self._lock:
            if self._storage is None:
                self._storage = self._new_client(url)
            return self._storage

    def _new_client(self, url: str) -> Any:
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud import storage

        credentials, file_project, _ = self._credentials(url)
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        for prefix in ("https://", "http://"):
            session.mount(prefix, _counting_transport(self._count))
        client = storage.Client(
            project=self.options.environ.get("GOOGLE_CLOUD_PROJECT") or file_project,
            credentials=credentials,
            _http=session,
            # Explicit, so a STORAGE_EMULATOR_HOST in os.environ but not in options.environ is ignored.
            client_options={"api_endpoint": self._endpoint()},
        )
        # Since 3.x the client fetches every new bucket's metadata in a background thread for
        # tracing attributes: an extra, unordered request per bucket that this tool never uses.
        client._bucket_metadata_cache = None
        return client

    def _endpoint(self) -> str:
        host = self.options.environ.get("STORAGE_EMULATOR_HOST")
        if not host:
            return DEFAULT_ENDPOINT
        return host if "://" in host else f"http://{host}"

    def _credentials(self, url: str) -> tuple[Credentials, str | None, str]:
        """(credentials, the project their file names, where they came from), in the documented order."""
        from google.auth import compute_engine
        from google.auth.credentials import AnonymousCredentials

        env = self.options.environ
        if env.get("STORAGE_EMULATOR_HOST"):
            anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
            return anonymous, None, f"none: emulator at STORAGE_EMULATOR_HOST={env['STORAGE_EMULATOR_HOST']}"
        if self.options.credentials:
            fix = "pass a service-account key (JSON) file"
            source = f"--credentials {self.options.credentials}"
            return *_load(url, self.options.credentials, "--credentials", fix, _service_account_key), source
        if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
            fix = "point it at a service-account key file, or unset it"
            path = env["GOOGLE_APPLICATION_CREDENTIALS"]
            source = f"GOOGLE_APPLICATION_CREDENTIALS={path}"
            return *_load(url, path, "GOOGLE_APPLICATION_CREDENTIALS", fix, _application_default), source
        gcloud = _gcloud_credentials_file(env)
        if gcloud is not None and gcloud.is_file():
            fix = "run 'gcloud auth application-default login' again"
            source = f"gcloud application-default credentials ({gcloud})"
            return *_load(url, str(gcloud), "gcloud", fix, _application_default), source
        if on_google_cloud(env):
            metadata = compute_engine.Credentials()  # type: ignore[no-untyped-call]
            return metadata, None, "metadata server (running on Google Cloud)"
        raise UserError(f"{url}: no Google Cloud credentials found; {CREDENTIAL_HELP}")

    def _count(self, method: str, url: str) -> None:
        self.requests.record(operation(method, url))

    def _error(self, exc: Exception, url: str, bucket: str, permission: str) -> UserError:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        if isinstance(exc, api.RetryError) and isinstance(exc.cause, Exception):
            exc = exc.cause
        if isinstance(exc, auth.RefreshError | api.Unauthorized):
            return UserError(f"{url}: Google rejected the credentials; {CREDENTIAL_HELP}")
        if isinstance(exc, api.NotFound):
            return NotFound(f"{url}: bucket {bucket!r} does not exist; check the bucket name")
        if isinstance(exc, api.Forbidden):
            return RemoteError(f"{url}: access denied (403); the credentials lack {permission} on it")
        if isinstance(exc, api.GoogleAPICallError) and exc.code in _TRANSIENT_STATUSES:
            return Unreachable(
                f"{url}: Cloud Storage kept failing ({exc.code} {type(exc).__name__}) "
                f"for {RETRY_DEADLINE_SECONDS:g}s of retries; try again later"
            )
        if isinstance(exc, api.GoogleAPICallError):
            return RemoteError(f"{url}: Cloud Storage answered {exc.code}: {_one_line(exc.message)}")
        # requests' exceptions are OSErrors; google-auth wraps them when fetching a token.
        if isinstance(exc, OSError | auth.TransportError):
            return Unreachable(
                f"{url}: cannot reach {urls.redact(self._endpoint())} ({type(exc).__name__}) "
                f"after {RETRY_DEADLINE_SECONDS:g}s of retries; check the network or STORAGE_EMULATOR_HOST"
            )
        return Unreachable(
            f"{url}: Cloud Storage request failed ({type(exc).__name__}: {_one_line(str(exc))})"
        )


class _Writer:
    """The file object the SDK downloads into, handing each chunk to the caller."""

    def __init__(self, write: Callable[[Chunk], None]) -> None:
        self.write = write


def _retry_policy() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=0.25, maximum=2.0, multiplier=2.0).with_timeout(
        RETRY_DEADLINE_SECONDS
    )


def _counting_transport(count: Callable[[str, str], None]) -> requests.adapters.HTTPAdapter:
    """requests' transport, counting every attempt the SDK sends, refused connections included."""
    import requests.adapters

    class CountingAdapter(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            count(request.method or "", request.url or "")
            return super().send(request, *args, **kwargs)

    return CountingAdapter(pool_maxsize=_POOL_SIZE)


def operation(method: str, url: str) -> str:
    """'GET object' (metadata), 'GET list', 'GET bucket', or 'GET media' for a body download."""
    parts = urlsplit(url)
    if ("alt", "media") in parse_qsl(parts.query) or parts.path.startswith("/download/"):
        return f"{method} media"
    if parts.path.startswith("/upload/"):
        return f"{method} upload"
    match parts.path.partition("/storage/v1/b/")[2].split("/"):
        case [""]:
            kind = "other"
        case [_]:
            kind = "bucket"
        case [_, "o"]:
            kind = "list"
        case [_, "o", _]:
            kind = "object"
        case _:
            kind = "other"
    return f"{method} {kind}"


def _load(
    url: str, path: str, source: str, fix: str, read: Callable[[str], tuple[Credentials, str | None]]
) -> tuple[Credentials, str | None]:
    from google.auth.exceptions import DefaultCredentialsError

    shown = f"{url}: the credentials file {path} (from {source})"
    if not os.path.exists(path):
        raise UserError(f"{shown} does not exist; {fix}")
    try:
        return read(path)
    except OSError as exc:
        raise UserError(f"{shown} cannot be read ({exc.strerror}); {fix}") from None
    except (DefaultCredentialsError, ValueError):
        raise UserError(f"{shown} is not a valid credentials file; {fix}") from None


def _service_account_key(path: str) -> tuple[Credentials, str | None]:
    from google.oauth2 import service_account

    credentials: service_account.Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        path, scopes=[READ_ONLY_SCOPE]
    )
    return credentials, credentials.project_id


def _application_default(path: str) -> tuple[Credentials, str | None]:
    """Any credentials type application-default credentials may hold, as google.auth.default reads them.

    The generic loader warns that a file from an untrusted source could run commands (external
    accounts); google.auth.default silences that for these same two sources, the user's own.
    """
    import google.auth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded: tuple[Credentials, str | None] = google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
            path, scopes=[READ_ONLY_SCOPE]
        )
        return loaded


def _gcloud_credentials_file(env: Mapping[str, str]) -> Path | None:
    """Where 'gcloud auth application-default login' writes, found from `env` only."""
    if env.get("CLOUDSDK_CONFIG"):
        return Path(env["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".config" / "gcloud" / "application_default_credentials.json"
    return None


def _entry(url: str, blob: Any) -> Entry:
    etag, kind = normalize.etag(blob.etag, md5_etags=False)
    return Entry(
        remote_url=url,
        size=int(blob.size),
        etag=etag,
        etag_kind=kind,
        version_id=str(blob.generation) if blob.generation is not None else None,
        # Composite objects have no md5Hash; every object has a crc32c.
        checksums=normalize.checksums(md5=blob.md5_hash, crc32c=blob.crc32c),
        content_type=normalize.content_type(blob.content_type),
        last_modified=normalize.rfc3339(blob.updated),
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
