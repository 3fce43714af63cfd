"""Entries from the stores' metadata APIs (HEAD, LIST), for `track-remote`, and the change `untrack` makes."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lfs_meta.errors import CheckFailed, RemoteError, UserError
from lfs_meta.index import paths, schema, urls
from lfs_meta.index.entry import Entry, keeping_checksums
from lfs_meta.progress import Progress
from lfs_meta.providers import Providers

MANIFEST_COLUMNS = ("url", "path", "patient", "specimen")
_REFERENCE = {
    kind: schema.load_schema()["$defs"]["entry"]["properties"][kind]["pattern"]
    for kind in ("patient", "specimen")
}


@dataclass(frozen=True)
class Target:
    url: str
    path: str
    patient: str | None = None
    specimen: str | None = None


@dataclass
class Outcome:
    tracked: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def default_path(url: str) -> str:
    """The object's key (or file name) as a repo path: s3://bucket/data/a.vcf -> data/a.vcf."""
    parts = urlsplit(url)
    if parts.scheme in ("s3", "gs"):  # keys are recorded as the store names them, not percent-encoded
        return url.partition("://")[2].partition("/")[2]
    key = unquote(parts.path).lstrip("/")
    if parts.scheme == "az" and "." in parts.netloc:  # az://<account host>/<container>/<blob>
        key = key.partition("/")[2]
    return Path(key).name if parts.scheme in ("file", "http", "https") else key


def single(url: str, path: str | None, patient: str | None, specimen: str | None) -> list[Target]:
    return [Target(url, path or default_path(url), patient, specimen)]


def read_manifest(manifest: Path) -> list[Target]:
    """Rows of a CSV or TSV with a header naming url, path (optional), patient, specimen."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{manifest}: cannot read the manifest ({exc})") from None
    delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
    rows = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [name.strip().lower() for name in rows.fieldnames or ()]
    if "url" not in header or not set(header) <= set(MANIFEST_COLUMNS):
        raise UserError(
            f"{manifest}: the header must name url and optionally path, patient, specimen; found {header}"
        )
    targets = []
    for line, row in enumerate(rows, start=2):
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        if None in row or not values.get("url"):
            raise UserError(f"{manifest}:{line}: each row needs a url and at most {len(header)} columns")
        url = values["url"]
        targets.append(
            Target(
                url,
                values.get("path") or default_path(url),
                values.get("patient") or None,
                values.get("specimen") or None,
            )
        )
    return targets


def path_errors(targets: Iterable[Target], repo_root: Path) -> list[tuple[str, str]]:
    """(path, reason) for targets that cannot become index entries, found before any request."""
    errors = []
    seen: set[str] = set()
    for target in targets:
        for message, fix in paths.path_problems(target.path):
            errors.append((target.path, f"{message}; {fix}"))
        for message, fix in urls.url_problems(target.url):
            errors.append((target.path, f"remote URL {urls.redact(target.url)!r} {message}; {fix}"))
        if target.path in seen:
            errors.append(
                (target.path, "two objects would be tracked at this path; give them different paths")
            )
        seen.add(target.path)
        if (repo_root / target.path).is_file():
            reason = (
                "exists as a file in the working tree; remove the file or track the object at another path"
            )
            errors.append((target.path, reason))
    return errors


def stat_all(
    providers: Providers, targets: Sequence[Target], jobs: int, progress: Progress
) -> tuple[list[tuple[Target, Entry]], list[tuple[str, str]]]:
    """HEAD every target in a bounded pool; a configuration error (no credentials) stops everything."""
    found: list[tuple[Target, Entry]] = []
    failed: list[tuple[str, str]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(_stat, providers, target): target for target in targets}
        for future in as_completed(futures):
            target = futures[future]
            try:
                found.append((target, future.result()))
            except RemoteError as exc:
                failed.append((target.path, str(exc)))
            progress.advance()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return found, failed


def _stat(providers: Providers, target: Target) -> Entry:
    return providers.for_url(target.url).stat(target.url)


def list_prefix(
    providers: Providers, url: str, path_prefix: str, target: Target, progress: Progress
) -> list[tuple[Target, Entry]]:
    prefix_url = url if url.endswith("/") else url + "/"
    return placed(providers.for_url(prefix_url).list(prefix_url), path_prefix, target, progress)


def placed(
    listed: Iterable[tuple[str, Entry]], path_prefix: str, target: Target, progress: Progress
) -> list[tuple[Target, Entry]]:
    """Listed objects (name below the prefix, entry) at their paths below `path_prefix`."""
    found = []
    for relative, entry in listed:
        path = "/".join(part for part in (path_prefix.strip("/"), relative) if part)
        found.append((dataclasses.replace(target, url=entry.remote_url, path=path), entry))
        progress.advance()
    return found


def with_references(target: Target, entry: Entry) -> Entry:
    """The store's entry with the user's references; its URL as the store resolved it (an
    az://container/blob naming the account that served it)."""
    return dataclasses.replace(entry, patient=target.patient, specimen=target.specimen)


def record(found: Sequence[tuple[Target, Entry]], force: bool) -> Callable[[dict[str, Entry]], Outcome]:
    """The change to apply under the index lock: existing entries are kept unless `force`."""

    def change(entries: dict[str, Entry]) -> Outcome:
        outcome = Outcome()
        for target, remote in sorted(found, key=lambda pair: pair[0].path):
            old = entries.get(target.path)
            new = with_references(target, remote)
            if old is not None and old.remote_url == new.remote_url:
                new = keeping_checksums(old, new)
            if old == new:
                outcome.unchanged.append(target.path)
            elif old is not None and not force:
                outcome.skipped.append(target.path)
            else:
                entries[target.path] = new
                outcome.tracked.append(target.path)
        return outcome

    return change


def untrack(index_name: str, targets: Sequence[str]) -> Callable[[dict[str, Entry]], list[str]]:
    def change(entries: dict[str, Entry]) -> list[str]:
        removed, unknown = [], []
        for target in targets:
            prefix = target.rstrip("/") + "/"
            matched = [path for path in entries if path == target or path.startswith(prefix)]
            if not matched:
                unknown.append(target)
            removed.extend(matched)
        if unknown:
            raise CheckFailed(
                f"{index_name}: not tracked: {', '.join(unknown)}; nothing was untracked (see 'lfs-meta ls')"
            )
        for path in removed:
            entries.pop(path, None)
        return sorted(set(removed))

    return change


@dataclass(frozen=True)
class Request:
    """What the user asked track-remote for: one URL, a prefix (--recursive), or a manifest."""

    url: str | None
    path: str | None = None
    path_prefix: str = ""
    recursive: bool = False
    manifest: Path | None = None
    patient: str | None = None
    specimen: str | None = None
    force: bool = False
    jobs: int = 8


def check_references(patient: str | None, specimen: str | None) -> None:
    """--patient and --specimen must be FHIR references, before any request is made."""
    for kind, value in (("patient", patient), ("specimen", specimen)):
        if value and not re.match(_REFERENCE[kind], value):
            raise UserError(
                f"--{kind} {value!r} is not a FHIR {kind.title()} reference; write {kind.title()}/<id>"
            )


def gather(
    repo_root: Path, request: Request, providers: Providers
) -> tuple[list[tuple[Target, Entry]], list[tuple[str, str]]]:
    if request.recursive:
        assert request.url is not None
        base = Target(request.url, "", request.patient, request.specimen)
        with Progress("listing") as progress:
            found = list_prefix(providers, request.url, request.path_prefix, base, progress)
        return found, path_errors((target for target, _ in found), repo_root)
    if request.manifest is not None:
        targets = read_manifest(request.manifest)
    else:
        assert request.url is not None
        targets = single(request.url, request.path, request.patient, request.specimen)
    errors = path_errors(targets, repo_root)
    if errors and request.manifest is None:
        path, reason = errors[0]
        raise UserError(f"--path {path!r}: {reason}")
    if errors:
        return [], errors
    with Progress("tracking", total=len(targets)) as progress:
        return stat_all(providers, targets, request.jobs, progress)
