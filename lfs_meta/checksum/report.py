"""`checksum --from-report`: a Compute checksum job's completion report, read through the providers
(s3:// where the job wrote it, or file:// for a downloaded copy) and matched to the index's entries."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import quote, urlsplit

from lfs_meta.checksum import s3batch
from lfs_meta.errors import UserError
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import printable
from lfs_meta.providers import Providers, read_whole

# Report files are read whole: a result file holds one short line per object of one job.
LARGEST = 1 << 30


def read(
    providers: Providers, manifest_url: str, wanted: Collection[tuple[str, str]]
) -> tuple[list[s3batch.ResultRow], list[str]]:
    """The rows of the report's result files about the `wanted` (bucket, key) objects, and each row
    that cannot be used, as a line; a file at a time, keeping only those rows."""
    for message, fix in urls.url_problems(manifest_url)[:1]:  # before any request: no token sent
        raise UserError(f"--from-report {_shown(manifest_url)}: {message}; {fix}")
    if urlsplit(manifest_url).scheme not in ("s3", "file"):
        raise UserError(
            f"--from-report {_shown(manifest_url)}: give the s3:// URL of the report's manifest.json "
            "(or a file:// URL of a downloaded copy of the report)"
        )
    files = s3batch.parse_report_manifest(_text(providers, manifest_url), _shown(manifest_url))
    rows: list[s3batch.ResultRow] = []
    problems: list[str] = []
    for file in files:
        url = result_url(manifest_url, file)
        data = _fetch(providers, url)
        s3batch.check_result_file(file, data)
        found, wrong = s3batch.parse_results(_decoded(data, url), _shown(url))
        rows += [row for row in found if (row.bucket, row.key) in wanted]
        problems += [problem.format(_shown(url)) for problem in wrong]
    return rows, problems


def result_url(manifest_url: str, file: s3batch.ResultFile) -> str:
    """Where a result file is: as manifest.json names it, in the same bucket (a report that points
    elsewhere is refused); for a downloaded copy, at the same place below the job's directory."""
    parts = urlsplit(manifest_url)
    if parts.scheme == "s3":
        profile, _, bucket = parts.netloc.rpartition("@")
        if file.bucket != bucket:
            raise UserError(
                f"{_shown(manifest_url)}: lists a result file in bucket {printable(file.bucket)!r}, not "
                f"the report's own; {s3batch.REPORT_FIX}"
            )
        return f"s3://{profile + '@' if profile else ''}{bucket}/{file.key}"
    # The job wrote <prefix>/job-<id>/manifest.json and <prefix>/job-<id>/results/<name>.csv.
    directory = parts.path.rpartition("/")[0]
    segments = file.key.split("/")
    job = next((n for n, segment in enumerate(segments) if segment.startswith("job-")), None)
    below = segments[job + 1 :] if job is not None else segments[-2:]
    if any(segment in ("", ".", "..") for segment in below):
        raise UserError(
            f"{_shown(manifest_url)}: names result file {printable(file.key)!r}; {s3batch.REPORT_FIX}"
        )
    return f"file://{directory}/{quote('/'.join(below))}"


def objects(entries: Mapping[str, Entry]) -> dict[tuple[str, str], list[str]]:
    """The paths of the S3 entries, by (bucket, key) as a report names objects."""
    by_object: dict[tuple[str, str], list[str]] = {}
    for path, entry in entries.items():
        if location := s3batch.bucket_key(entry.remote_url):
            by_object.setdefault(location, []).append(path)
    return by_object


def _text(providers: Providers, url: str) -> str:
    return _decoded(_fetch(providers, url), url)


def _decoded(data: bytes, url: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{_shown(url)}: is not UTF-8 text; {s3batch.REPORT_FIX}") from None


def _fetch(providers: Providers, url: str) -> bytes:
    def too_big(size: int) -> UserError:
        return UserError(f"{_shown(url)}: {size} bytes is no report file; {s3batch.REPORT_FIX}")

    return read_whole(providers, url, LARGEST, too_big)


def _shown(url: str) -> str:
    """A URL in a message: its secrets masked, then escaped."""
    return printable(urls.redact(url))
