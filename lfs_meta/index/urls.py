"""What a remote_url may look like, and keeping secrets out of it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SCHEMES = ("s3", "gs", "az", "https", "http", "file")
AZURE_HOST_SUFFIX = ".blob.core.windows.net"
_BUCKET_SCHEMES = {
    # scheme: (what the first component is called, the provider's naming rule)
    "s3": ("bucket", re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")),
    "gs": ("bucket", re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")),
    "az": ("container", re.compile(r"^(\$root|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")),
}
# Query parameters that make a URL a bearer credential (presigned S3, GCS signed URLs,
# Azure SAS, OAuth tokens); lower-cased because services match them case-insensitively.
SECRET_PARAMS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "awsaccesskeyid",
        "signature",
        "x-goog-signature",
        "x-goog-credential",
        "googleaccessid",
        "sig",
        "access_token",
        "token",
    }
)
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f]")
# scheme://bucket/key with no user, port, query or fragment, and a key that names an object
_PLAIN_BUCKET_URL = re.compile(r"(s3|gs|az)://([^/@:?#\[\]]+)/([^?#]*[^/?#])\Z")
_AZURE_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_AZURE_ACCOUNT_URL = re.compile(r"az://[a-z0-9]{3,24}\.blob\.core\.windows\.net/([^/?#]+)/([^?#]*[^/?#])\Z")
_SHAPES = {
    "s3": "s3://bucket/key or s3://profile@bucket/key",
    "gs": "gs://bucket/object",
    "az": "az://container/blob",
}


def mask(secret: str) -> str:
    """Enough of a secret to recognize it by, never enough to use it."""
    return secret[: min(4, len(secret) // 4)] + "****"


def redact(url: str) -> str:
    """The URL with passwords and signature values masked, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(":" + parts.password + "@", ":" + mask(parts.password) + "@", 1)
    query = "&".join(
        f"{name}={mask(value) if name.lower() in SECRET_PARAMS else value}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_problems(url: str) -> list[tuple[str, str]]:
    """(what is wrong, how to fix it) for a remote_url; empty when it is usable."""
    if plainly_fine(url):
        return []
    return full_url_problems(url)


def plainly_fine(url: str) -> bool:
    """The usual shape, accepted without urlsplit: a large index has one per entry."""
    named = _AZURE_ACCOUNT_URL.match(url)
    plain = None if named else _PLAIN_BUCKET_URL.match(url)
    if named:
        fine = bool(_BUCKET_SCHEMES["az"][1].match(named[1]))
    else:
        fine = bool(plain and _BUCKET_SCHEMES[plain[1]][1].match(plain[2]))
    return fine and not _UNSAFE_CHARS.search(url)


def names_no_account(url: str) -> bool:
    """An az://container/blob URL: its storage account is whichever each user's environment names."""
    return url.startswith("az://") and "." not in url[5:].partition("/")[0]


def full_url_problems(url: str) -> list[tuple[str, str]]:
    if _UNSAFE_CHARS.search(url):
        return [("contains spaces or control characters", "percent-encode them (%20 for a space)")]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        return [(f"is not a valid URL ({exc})", "write it as " + ", ".join(_SHAPES.values()))]
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        return [("is not a URL", "write it as " + ", ".join(_SHAPES.values()) + " or https://host/path")]
    if scheme not in SCHEMES:
        return [
            (
                f"has scheme {scheme!r}, which no provider handles",
                "use one of " + ", ".join(f"{s}://" for s in SCHEMES),
            )
        ]
    problems = _secret_problems(parts.password, parts.query)
    if scheme in _BUCKET_SCHEMES:
        # A signed URL's query is already reported, with the more important reason.
        query = "" if problems else parts.query
        problems += _bucket_url_problems(scheme, parts.netloc, parts.path, query, parts.fragment)
    elif scheme == "file":
        problems += _file_url_problems(parts.netloc, parts.path)
    elif not parts.hostname:
        problems.append(("has no host", f"write it as {scheme}://host/path"))
    return problems


def _secret_problems(password: str | None, query: str) -> list[tuple[str, str]]:
    problems = []
    if password is not None:
        problems.append(
            (
                "carries a password",
                "remove 'user:password@' and let the provider's credential chain supply it",
            )
        )
    secrets = sorted(
        {name for name, _ in parse_qsl(query, keep_blank_values=True) if name.lower() in SECRET_PARAMS}
    )
    if secrets:
        problems.append(
            (
                f"is a signed URL (carries {', '.join(secrets)}), a credential that must never be committed",
                "track the plain object URL without the query string",
            )
        )
    return problems


def _bucket_url_problems(
    scheme: str, netloc: str, path: str, query: str, fragment: str
) -> list[tuple[str, str]]:
    what, rule = _BUCKET_SCHEMES[scheme]
    userinfo, _, bucket = netloc.rpartition("@")
    problems = []
    if scheme == "az" and "." in bucket:  # az://<account>.blob.core.windows.net/<container>/<blob>
        account = bucket.removesuffix(AZURE_HOST_SUFFIX)
        if account == bucket or not _AZURE_ACCOUNT.fullmatch(account):
            problems.append(
                (
                    f"names host {bucket!r}, which is no Azure storage account",
                    f"write it as az://<account>{AZURE_HOST_SUFFIX}/<container>/<blob>",
                )
            )
        bucket, _, rest = path[1:].partition("/")
        path = "/" + rest
    if userinfo and scheme != "s3":
        problems.append((f"has 'user@' before the {what}", f"write it as {_SHAPES[scheme]}"))
    if not rule.match(bucket):
        problems.append(
            (
                f"has an invalid {what} name {bucket!r}",
                f"{scheme} {what} names are 3-63 lower-case letters, digits and '-'",
            )
        )
    key = path[1:]
    if not key or key.endswith("/"):
        problems.append(("names no object (empty key or trailing '/')", f"write it as {_SHAPES[scheme]}"))
    if query or fragment:
        problems.append(
            ("has a query string or fragment", "drop it; record the object version in version_id")
        )
    return problems


def _file_url_problems(netloc: str, path: str) -> list[tuple[str, str]]:
    if netloc not in ("", "localhost"):
        return [(f"names host {netloc!r}", "file URLs are local: file:///absolute/path")]
    if not path.startswith("/") or path.endswith("/"):
        return [("does not name an absolute file path", "write it as file:///absolute/path")]
    return []
