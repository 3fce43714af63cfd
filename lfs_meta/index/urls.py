"""What a remote_url may look like, and keeping secrets out of it."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

from lfs_meta.terminal import BEYOND_C0

SCHEMES = ("s3", "gs", "az", "https", "http", "file")
AZURE_HOST_SUFFIX = ".blob.core.windows.net"
_BUCKET_SCHEMES = {
    # scheme: (what the first component is called, the provider's naming rule)
    "s3": ("bucket", re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")),
    "gs": ("bucket", re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")),
    "az": ("container", re.compile(r"^(\$root|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")),
}
# Query parameters that make a URL a bearer credential (presigned S3, GCS signed URLs, Azure SAS,
# Alibaba OSS, Tencent COS, CloudFront and Akamai tokens), compared as `secret_name` does.
SIGNED_URL_PARAMS = frozenset(
    {
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Signature",
        "X-Goog-Signature",
        "X-Goog-Credential",
        "GoogleAccessId",
        "sig",
        "x-oss-signature",
        "x-oss-credential",
        "OSSAccessKeyId",
        "q-signature",
        "q-ak",
        "Key-Pair-Id",
        "hdnts",
        "hdnea",
    }
)
# Other names that carry a token, key, password or session: OAuth 2.0 (RFC 6749, OpenID Connect),
# API keys (Google's key=, Azure Functions' code=), GitLab's private_token, session ids.
SECRET_PARAMS = SIGNED_URL_PARAMS | frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "client_secret",
        "client_assertion",
        "assertion",
        "api_key",
        "apikey",
        "key",
        "auth",
        "authorization",
        "bearer",
        "jwt",
        "private_token",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "sign",
        "session",
        "sessionid",
        "jsessionid",
        "phpsessid",
    }
)
# Any name ending so is a credential too: x-api-key, auth_token, session-token, X-Oss-Security-Token.
_SECRET_SUFFIXES = (
    "token",
    "signature",
    "secret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "apikey",
    "accesskey",
    "accesskeyid",
    "secretkey",
    "privatekey",
)
# Credential names that are also ordinary parameters (a gene code, a sort key, a session number):
# refused only with a value as long and mixed as a token's.
_ORDINARY_NAMES = frozenset({"code", "key", "session", "pass", "sign", "auth"})
_SECRET_LENGTH = 16
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]")
_SIGNED_NAMES = frozenset(_NOT_NAME_CHARS.sub("", name.lower()) for name in SIGNED_URL_PARAMS)
_SECRET_NAMES = frozenset(_NOT_NAME_CHARS.sub("", name.lower()) for name in SECRET_PARAMS)
# Patterns used only for a URL that is not plainly fine are left for `re` to compile (and cache)
# when first used: the commit hooks import this module.
# One name=value of a query or fragment, between '&' or ';' (servers split at either); one
# ;name=value in a path segment (Java's ;jsessionid=).
_QUERY_PARAM = r"([^&;=]*)(=?)([^&;]*)"
_PATH_PARAM = r";([^;/=]*)(=?)([^;/]*)"
_WEB_SCHEMES = ("https", "http")
# What a terminal acts on (C0, DEL, C1, bidi controls, lone surrogates), and a space but in a key.
_CONTROLS = rf"\x00-\x1f\x7f{BEYOND_C0}"
_ANY_UNSAFE = re.compile(rf"[\x20{_CONTROLS}]")  # the quick look: nearly every URL has none
_UNSAFE_CHARS = rf"\A(?>(?:s3|gs)://[^/\x20{_CONTROLS}]*/[^{_CONTROLS}]*+|[^\x20{_CONTROLS}]*+)(?!\Z)"
# scheme://bucket/key with no user, port, query or fragment, and a key that names an object
_PLAIN_BUCKET_URL = re.compile(r"(s3|gs|az)://([^/@:?#\[\]]+)/([^?#]*[^/?#])\Z")
_AZURE_ACCOUNT = r"[a-z0-9]{3,24}"
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
    """The URL with user names, passwords, credential parameters and the fragment masked, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = _redacted_netloc(parts.scheme, parts.netloc)
    path = re.sub(_PATH_PARAM, _mask_secret, parts.path) if parts.scheme in _WEB_SCHEMES else parts.path
    query = re.sub(_QUERY_PARAM, _mask_secret, parts.query)
    fragment = re.sub(_QUERY_PARAM, _mask_any, parts.fragment)
    if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def secret_name(name: str) -> bool:
    """Whether a parameter named `name` (percent-encoded or not) carries a credential; case and the
    characters between letters ('-', '_', '.') make no difference, as they make none to many services."""
    plain = _NOT_NAME_CHARS.sub("", unquote_plus(name).lower())
    return plain in _SECRET_NAMES or plain.endswith(_SECRET_SUFFIXES)


def _carries_secret(name: str, value: str) -> bool:
    """A parameter with a credential's name and a value; a name that is also an ordinary word in
    science (code=BRCA1, key=, session=3) only when its value looks like a secret."""
    if not value or not secret_name(name):
        return False
    if _NOT_NAME_CHARS.sub("", unquote_plus(name).lower()) not in _ORDINARY_NAMES:
        return True
    value = unquote_plus(value)
    return (
        len(value) >= _SECRET_LENGTH and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    )


def _redacted_netloc(scheme: str, netloc: str) -> str:
    userinfo, at, host = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or (scheme == "s3" and not colon):  # s3://profile@bucket/key names a profile, no secret
        return netloc
    # A user name can be a token itself (https://<token>@host/ is how some services take one).
    return mask(user) + (colon + mask(password) if colon else "") + "@" + host


def _mask_secret(param: re.Match[str]) -> str:
    name, equals, _ = param.groups()
    return _mask_value(param) if equals and secret_name(name) else param[0]


def _mask_any(param: re.Match[str]) -> str:
    """Everything in a fragment: it is never sent to a server, so it holds nothing a request needs."""
    if not param[0]:
        return ""
    return _mask_value(param) if param[2] else mask(param[0])


def _mask_value(param: re.Match[str]) -> str:
    return param[0][: param.start(3) - param.start(0)] + mask(param[3])


def url_problems(url: str) -> list[tuple[str, str]]:
    """(what is wrong, how to fix it) for a remote_url; empty when it is usable."""
    if plainly_fine(url):
        return []
    return full_url_problems(url)


def plainly_fine(url: str) -> bool:
    """The usual shape, accepted without urlsplit: a large index has one per entry."""
    named = _AZURE_ACCOUNT_URL.match(url) if url.startswith("az://") else None
    plain = None if named else _PLAIN_BUCKET_URL.match(url)
    if named:
        fine = bool(_BUCKET_SCHEMES["az"][1].match(named[1]))
    else:
        fine = bool(plain and _BUCKET_SCHEMES[plain[1]][1].match(plain[2]))
    return fine and not _unsafe(url)


def _unsafe(url: str) -> bool:
    return _ANY_UNSAFE.search(url) is not None and re.search(_UNSAFE_CHARS, url) is not None


def names_no_account(url: str) -> bool:
    """An az://container/blob URL: its storage account is whichever each user's environment names."""
    return url.startswith("az://") and "." not in url[5:].partition("/")[0]


def full_url_problems(url: str) -> list[tuple[str, str]]:
    if _unsafe(url):
        return [
            (
                "contains a control character, or a space where the URL can hold none",
                "percent-encode it (%20 for a space); s3:// and gs:// keys are written as they are, "
                "spaces included, and hold no control character",
            )
        ]
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
    problems = _secret_problems(scheme, parts)
    if scheme in _BUCKET_SCHEMES:
        # A signed URL's query is already reported, with the more important reason.
        query = "" if problems else parts.query
        problems += _bucket_url_problems(scheme, parts.netloc, parts.path, query, parts.fragment)
        return problems
    if scheme == "file":
        problems += _file_url_problems(parts.netloc.rpartition("@")[2], parts.path)
    elif not parts.hostname:
        problems.append(("has no host", f"write it as {scheme}://host/path"))
    if "#" in url:
        problems.append(
            (
                "has a fragment ('#...'), which is never sent to the server and can hold a token",
                "drop the '#' and everything after it",
            )
        )
    return problems


def _secret_problems(scheme: str, parts: SplitResult) -> list[tuple[str, str]]:
    problems = []
    if parts.password is not None:
        problems.append(
            (
                "carries a password",
                "remove 'user:password@' and let the provider's credential chain supply it",
            )
        )
    elif "@" in parts.netloc and scheme not in _BUCKET_SCHEMES:
        problems.append(
            (
                "carries a user name ('user@' before the host), which can be a token",
                "remove 'user@': lfs-meta sends no credentials in URLs",
            )
        )
    found = re.findall(_QUERY_PARAM, parts.query)
    if scheme in _WEB_SCHEMES:
        found += re.findall(_PATH_PARAM, parts.path)
    secrets = sorted({unquote_plus(name) for name, _, value in found if _carries_secret(name, value)})
    if secrets:
        problems.append(_secret_parameter_problem(secrets))
    return problems


def _secret_parameter_problem(secrets: list[str]) -> tuple[str, str]:
    plain = {_NOT_NAME_CHARS.sub("", name.lower()) for name in secrets}
    carried = ", ".join(secrets)
    if plain & _SIGNED_NAMES or any(name.endswith("signature") for name in plain):
        return (
            f"is a signed URL (carries {carried}), a credential that must never be committed",
            "track the plain object URL without the query string",
        )
    return f"carries a credential ({carried}), which must never be committed", "track the URL without it"


def _bucket_url_problems(
    scheme: str, netloc: str, path: str, query: str, fragment: str
) -> list[tuple[str, str]]:
    what, rule = _BUCKET_SCHEMES[scheme]
    userinfo, _, bucket = netloc.rpartition("@")
    problems = []
    if scheme == "az" and "." in bucket:  # az://<account>.blob.core.windows.net/<container>/<blob>
        account = bucket.removesuffix(AZURE_HOST_SUFFIX)
        if account == bucket or not re.fullmatch(_AZURE_ACCOUNT, account):
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
