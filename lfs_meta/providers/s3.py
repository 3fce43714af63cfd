"""Amazon S3 and S3-compatible stores (MinIO, Ceph, moto) through boto3: HeadObject and ListObjectsV2."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lfs_meta.errors import Changed, NotFound, RemoteError, Unreachable, UserError, VersionGone
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import printable
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

CREDENTIAL_HELP = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run on an instance/ECS/IRSA role, "
    "or pass --credentials PROFILE_OR_FILE"
)
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
}
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}
_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchVersion"}
_PAGE_SIZE = 1000
_CHUNK = 1 << 20
# ListObjectsV2's token, ListObjectVersions' two markers
_NEXT_TOKENS = ("NextContinuationToken", "NextKeyMarker", "NextVersionIdMarker")
_KEYS, _VERSIONS = ("list_objects_v2", "Contents"), ("list_object_versions", "Versions")  # operation, items
_ENDPOINT_HELP = "check that --endpoint-url, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names the store you mean"


def split(url: str) -> tuple[str | None, str, str]:
    """(profile, bucket, key) of s3://[profile@]bucket/key."""
    parts = urlsplit(url)
    profile, _, bucket = parts.netloc.rpartition("@")
    return profile or None, bucket, parts.path.lstrip("/")


def connect(url: str, options: Options) -> S3:
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise missing_sdk("boto3") from None
    return S3(options)


class S3:
    name = "s3"

    def __init__(self, options: Options) -> None:
        self.options = options
        self.requests = RequestCounter()
        self._clients: dict[str | None, Any] = {}
        self._versioning: dict[str, bool] = {}
        self._sources: dict[str | None, str | None] = {}
        self._lock = threading.Lock()
        self._versioning_lock = threading.Lock()

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        profile, bucket, key = split(url)
        client = self._client(profile)
        version = {"VersionId": version_id} if version_id else {}
        try:
            head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", **version)
        except Exception as exc:
            if version_id and _status(exc) in (400, 404) and self._exists(client, bucket, key):
                raise VersionGone(f"s3://{bucket}/{key}: version {version_id} no longer exists") from None
            raise self._error(self._diagnose(client, bucket, key) or exc, url, bucket) from None
        return self._entry(url, head)

    def download(self, url: str, recorded: Entry, offset: int, write: Callable[[Chunk], None]) -> str | None:
        profile, bucket, key = split(url)
        client = self._client(profile)
        request = {"Bucket": bucket, "Key": key}
        if recorded.version_id:
            request["VersionId"] = recorded.version_id
        elif match := strong_etag(recorded):
            request["IfMatch"] = match
        if offset:
            request["Range"] = f"bytes={offset}-"
        try:
            response = client.get_object(**request)
            # readinto a fresh buffer per chunk: 2-3x faster than the body's iter_chunks, whose
            # reads copy each chunk through urllib3's buffers, and the caller may keep the chunk.
            # Read beneath botocore's StreamingBody, so its Content-Length check is made here.
            stream, expected, received = response["Body"]._raw_stream, response.get("ContentLength"), 0
            try:
                while True:
                    chunk = bytearray(_CHUNK)
                    count = stream.readinto(chunk)
                    if not count:
                        break
                    received += count
                    write(memoryview(chunk)[:count])
            finally:
                stream.close()
            if expected is not None and received != expected:
                raise Unreachable(
                    f"s3://{bucket}/{key}: the download broke off after {received} of {expected} bytes; "
                    "try again"
                )
        except UserError:
            raise
        except Exception as exc:
            status, shown = _status(exc), f"s3://{bucket}/{key}"
            if status == 412:
                raise Changed(f"{shown}: the object's ETag is no longer {recorded.etag}") from None
            if recorded.version_id and status in (400, 404) and self._exists(client, bucket, key):
                raise VersionGone(f"{shown}: version {recorded.version_id} no longer exists") from None
            raise self._error(exc, url, bucket) from None
        version = response.get("VersionId")
        return version if version and version != "null" else None

    def _exists(self, client: Any, bucket: str, key: str) -> bool:
        try:
            client.head_object(Bucket=bucket, Key=key)
        except Exception:
            return False
        return True

    def _diagnose(self, client: Any, bucket: str, key: str) -> Exception | None:
        """A HEAD error has no body, so 'no bucket' looks like 'no key' and 'bad key' like 'denied'.

        One LIST of the key (only after a failure) returns the error with its real code.
        """
        try:
            client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        except Exception as exc:
            return exc
        return None

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        profile, bucket, prefix = split(url)
        client = self._client(profile)
        base = url[: len(url) - len(prefix)]
        try:
            for item in self._listed(client, bucket, prefix, url):
                key = item["Key"]
                if not key.startswith(prefix):
                    raise RemoteError(outside_prefix(url, key, prefix, _ENDPOINT_HELP))
                if key.endswith("/"):
                    continue  # a console-made "folder" marker, not a file
                yield key[len(prefix) :], self._entry(base + key, item)
        except UserError:
            raise
        except Exception as exc:
            raise self._error(exc, url, bucket) from None

    def _listed(self, client: Any, bucket: str, prefix: str, url: str) -> Iterator[Mapping[str, Any]]:
        """Each key's LIST item (on a versioned bucket, its current version's: keys whose latest
        version is a delete marker are gone); a listing that would never end is stopped."""
        versioned = self._versioned(client, bucket)
        operation, listed = _VERSIONS if versioned else _KEYS
        pages = client.get_paginator(operation).paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": _PAGE_SIZE}
        )
        guard = PageGuard(url, _ENDPOINT_HELP)
        for page in pages:
            items = page.get(listed, ())
            yield from (item for item in items if not versioned or item.get("IsLatest"))
            token = tuple(page.get(name) for name in _NEXT_TOKENS)
            if page.get("IsTruncated") and not any(token):
                raise RemoteError(
                    f"{printable(url)}: the store said more keys follow but sent no continuation token, "
                    f"so the listing would end short; {_ENDPOINT_HELP}"
                )
            # (key, version): one key's many versions fill page after page of the same key.
            keys = [(item.get("Key"), item.get("VersionId")) for item in items]
            guard.page(keys, token if page.get("IsTruncated") else None)

    def _versioned(self, client: Any, bucket: str) -> bool:
        """One GetBucketVersioning per bucket and run: plain LIST pages carry no version ids."""
        with self._versioning_lock:  # listings of one bucket run at once, they ask once
            if bucket not in self._versioning:
                status = client.get_bucket_versioning(Bucket=bucket).get("Status")
                self._versioning[bucket] = status in ("Enabled", "Suspended")
            return self._versioning[bucket]

    def _entry(self, url: str, meta: Mapping[str, Any]) -> Entry:
        # SSE-KMS and SSE-C objects have ETags that are not the content MD5.
        encrypted = meta.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in meta
        etag, kind = normalize.etag(meta.get("ETag"), md5_etags=not encrypted)
        version = meta.get("VersionId")
        # HEAD answers carry user metadata, LIST pages do not; the ETag, where it is the MD5, rules.
        uploaded = normalize.uploader_md5(meta.get("Metadata")) if kind != "md5" else None
        return Entry(
            remote_url=url,
            size=int(meta.get("ContentLength", meta.get("Size", 0))),
            etag=etag,
            etag_kind=kind,
            version_id=version if version and version != "null" else None,
            checksums=normalize.checksums(
                sha256=meta.get("ChecksumSHA256"),
                sha1=meta.get("ChecksumSHA1"),
                crc32=meta.get("ChecksumCRC32"),
                crc32c=meta.get("ChecksumCRC32C"),
                crc64nvme=meta.get("ChecksumCRC64NVME"),
            )
            | ({"md5": uploaded} if uploaded else {}),
            content_type=normalize.content_type(meta.get("ContentType")),
            last_modified=normalize.rfc3339(meta.get("LastModified")),
        )

    def inventory_configuration(self, url: str, config_id: str) -> Mapping[str, Any]:
        """The bucket's inventory configuration `config_id`: its filter and destination, which a
        report's manifest does not state."""
        profile, bucket, _ = split(url)
        client = self._client(profile)
        try:
            found = client.get_bucket_inventory_configuration(Bucket=bucket, Id=config_id)
        except Exception as exc:
            raise self._error(exc, url, bucket) from None
        configuration: Mapping[str, Any] = found["InventoryConfiguration"]
        return configuration

    def credential_source(self, url: str) -> str:
        profile, bucket, key = split(url)
        self._client(profile)
        source = self._sources[profile]
        if source is None:  # what the first request would run into
            raise UserError(f"s3://{bucket}/{key}: no AWS credentials found; {CREDENTIAL_HELP}")
        return source

    def _client(self, profile: str | None) -> Any:
        with self._lock:
            if profile not in self._clients:
                self._clients[profile] = self._new_client(profile)
            return self._clients[profile]

    def _new_client(self, profile: str | None) -> Any:
        import boto3
        import botocore.config
        import botocore.exceptions
        import botocore.session

        core = botocore.session.Session()
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
        credentials = self.options.credentials
        if credentials and os.path.isfile(credentials):
            core.set_config_variable("credentials_file", credentials)
        elif credentials and not profile:
            profile = credentials
        try:
            session = boto3.session.Session(botocore_session=core, profile_name=profile)
        except botocore.exceptions.ProfileNotFound:
            env = self.options.environ
            named = profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
            raise UserError(f"s3: AWS profile {named!r} is not configured; {CREDENTIAL_HELP}") from None
        env = self.options.environ
        endpoint = self.options.endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
        )
        client = session.client("s3", endpoint_url=endpoint or None, config=config)
        client.meta.events.register("before-send.s3", self._count)
        self._sources[profile] = _describe_source(session, profile or credentials)
        return client

    def _count(self, event_name: str, **_: Any) -> None:
        self.requests.record(event_name.rsplit(".", 1)[-1])

    def _error(self, exc: Exception, url: str, bucket: str) -> UserError:
        import botocore.exceptions as boto

        shown = f"s3://{bucket}/{split(url)[2]}"
        if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
            return UserError(f"{shown}: no AWS credentials found; {CREDENTIAL_HELP}")
        if isinstance(exc, boto.ProfileNotFound):
            return UserError(f"{shown}: {exc}; {CREDENTIAL_HELP}")
        if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ReadTimeoutError):
            reason = type(exc).__name__
            fix = "check the network and --endpoint-url"
            return Unreachable(f"{shown}: cannot reach the S3 endpoint ({reason}); {fix}")
        if isinstance(exc, boto.PaginationError):  # botocore's own check: a token given twice in a row
            return RemoteError(
                f"{shown}: the store repeated a continuation token, so the listing would never end; "
                + _ENDPOINT_HELP
            )
        if not isinstance(exc, boto.ClientError):
            return Unreachable(f"{shown}: S3 request failed ({type(exc).__name__}: {exc})")
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return NotFound(f"{shown}: bucket {bucket!r} does not exist; check the bucket name")
        if code in _MISSING:
            return NotFound(f"{shown}: no such object; check the key (and the version id)")
        if code in _BAD_CREDENTIALS:
            return UserError(f"{shown}: AWS rejected the credentials ({code}); {CREDENTIAL_HELP}")
        if code in _WRONG_REGION or status == 301:
            region = (
                exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            )
            where = f" (the bucket is in {region})" if region else ""
            return RemoteError(
                f"{shown}: wrong region{where}; set AWS_REGION or AWS_DEFAULT_REGION to the bucket's region"
            )
        if code in _DENIED or status == 403:
            needs = "s3:GetObject and s3:ListBucket (s3:GetObjectVersion for pinned versions)"
            return RemoteError(f"{shown}: access denied ({code or 403}); the credentials lack {needs} on it")
        if code in {"SlowDown", "Throttling", "RequestLimitExceeded"} or (status or 0) >= 500:
            return Unreachable(f"{shown}: S3 kept failing after retries ({code or status}); try again later")
        return RemoteError(f"{shown}: S3 answered {status} {code}")


_METHODS = {
    "env": "environment variables (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "shared credentials file",
    "config-file": "AWS config file",
    "iam-role": "instance role (EC2 metadata)",
    "container-role": "container role (ECS)",
    "assume-role": "assumed role",
    "sso": "AWS SSO",
}


def _describe_source(session: Any, profile: str | None) -> str | None:
    found = session.get_credentials()
    if found is None:
        return None
    method = _METHODS.get(found.method, found.method)
    return f"{method}, profile {profile}" if profile else method


def _timestamp(value: str) -> datetime:
    """botocore's timestamp parser, fast for the ISO 8601 times of LIST pages.

    botocore's own goes through dateutil, about 350 us per time: most of the cost of reading a
    1,000-key page. HTTP dates (HEAD headers) and epoch numbers still take its way.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return _botocore_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _botocore_timestamp(value: str) -> datetime:
    from botocore.utils import parse_timestamp

    parsed: datetime = parse_timestamp(value)
    return parsed


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None) or {}
    status: int | None = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status
