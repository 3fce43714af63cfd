"""A read-only S3 endpoint holding N synthetic objects, for checks at a scale no emulator can be filled to.

.venv/bin/python bench/list_server.py N PORT

It answers what `lfs-meta check` and a raw boto3 LIST loop send: GetBucketVersioning (not versioned),
ListObjectsV2 pages of up to 1,000 keys, and HeadObject (a check of a few paths), path-style, over
HTTP; it counts every request and prints the count to stderr when stopped. Object i is
`run7/batch<i % 100>/sample<i>.vcf.gz` in bucket `cohort-bucket`, with the size and ETag
bench/init_meta.py's `entry(i)` records, so an index of those entries is unchanged against it.
"""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

BUCKET = "cohort-bucket"
PAGE = 1000
NAMESPACE = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def launch(count: int, port: int) -> subprocess.Popen[bytes]:
    """This server holding `count` objects on `port`, started and answering; the caller stops it."""
    server = subprocess.Popen([sys.executable, Path(__file__), str(count), str(port)], stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    return server


def client_environment(endpoint: str) -> dict[str, str]:
    """The environment that points boto3 (and so lfs-meta) at `endpoint`, with no other credentials."""
    return os.environ | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def key(i: int) -> str:
    return f"run7/batch{i % 100:03d}/sample{i:07d}.vcf.gz"


class Objects:
    def __init__(self, count: int) -> None:
        pairs = sorted((key(i), i) for i in range(count))
        self.keys = [k for k, _ in pairs]
        self.numbers = [i for _, i in pairs]

    def page(self, prefix: str, after: str, limit: int) -> tuple[list[tuple[str, int]], bool]:
        start = bisect.bisect_right(self.keys, after) if after else bisect.bisect_left(self.keys, prefix)
        found: list[tuple[str, int]] = []
        for position in range(start, min(start + limit, len(self.keys))):
            if not self.keys[position].startswith(prefix):
                return found, False
            found.append((self.keys[position], self.numbers[position]))
        more = start + limit < len(self.keys) and self.keys[start + limit].startswith(prefix)
        return found, more

    def number(self, name: str) -> int | None:
        position = bisect.bisect_left(self.keys, name)
        found = position < len(self.keys) and self.keys[position] == name
        return self.numbers[position] if found else None


class Handler(BaseHTTPRequestHandler):
    objects: Objects
    requests = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/__requests":  # the benchmark asking, not counted
            self._send(200, str(Handler.requests))
            return
        Handler.requests += 1
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.strip("/") != BUCKET:
            self._send(
                404, f"<Error><Code>NoSuchBucket</Code><Message>{escape(parts.path)}</Message></Error>"
            )
        elif "versioning" in query:
            self._send(200, f"<VersioningConfiguration {NAMESPACE}/>")
        elif query.get("list-type") == ["2"]:
            self._list(query)
        else:
            self._send(501, "<Error><Code>NotImplemented</Code><Message>only LIST</Message></Error>")

    def do_HEAD(self) -> None:
        Handler.requests += 1
        bucket, _, name = unquote(urlsplit(self.path).path).lstrip("/").partition("/")
        number = self.objects.number(name) if bucket == BUCKET else None
        self.send_response(404 if number is None else 200)
        if number is not None:
            self.send_header("Content-Length", str(5_000_000_000 + number))
            self.send_header("ETag", f'"{number:032x}"')
            self.send_header("Last-Modified", "Sat, 31 Jan 2026 12:00:00 GMT")
            self.send_header("Content-Type", "application/octet-stream")
        else:
            self.send_header("Content-Length", "0")
        self.end_headers()

    def _list(self, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        after = query.get("continuation-token", query.get("start-after", [""]))[0]
        limit = min(int(query.get("max-keys", [str(PAGE)])[0]), PAGE)
        found, more = self.objects.page(prefix, after, limit)
        contents = "".join(
            f"<Contents><Key>{escape(name)}</Key><LastModified>2026-01-31T12:00:00.000Z</LastModified>"
            f"<ETag>&quot;{i:032x}&quot;</ETag><Size>{5_000_000_000 + i}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for name, i in found
        )
        token = f"<NextContinuationToken>{escape(found[-1][0])}</NextContinuationToken>" if more else ""
        self._send(
            200,
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult {NAMESPACE}><Name>{BUCKET}</Name>'
            f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(found)}</KeyCount><MaxKeys>{limit}</MaxKeys>"
            f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{contents}</ListBucketResult>",
        )

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> int:
    count, port = int(sys.argv[1]), int(sys.argv[2])
    Handler.objects = Objects(count)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
