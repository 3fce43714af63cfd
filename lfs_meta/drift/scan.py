"""Reading every entry's remote object now, as cheaply as possible (`check` and `status --remote`).

Requests are the cost. Entries are grouped by store, bucket and directory; a group of two or more
is read with LIST (one request per 1,000 keys) while listing pays for itself, and everything else
with one metadata request (HEAD) each. Listings and HEADs both run in a bounded set of threads.
"""

from __future__ import annotations

import io
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from lfs_meta import workers
from lfs_meta.drift import compare
from lfs_meta.drift.compare import Finding
from lfs_meta.errors import NotFound, RemoteError, VersionGone
from lfs_meta.index.entry import Entry
from lfs_meta.progress import Progress
from lfs_meta.providers import AZURE_HOST_SUFFIX, Provider, Providers

LISTABLE = ("s3", "gs", "az")
LIST_PAGE = 1000


@dataclass(frozen=True)
class Group:
    """Entries of one bucket, listed from the deepest directory that holds them all."""

    prefix_url: str
    members: dict[str, str]  # object name below prefix_url -> index path


def plan(entries: Mapping[str, Entry]) -> tuple[list[Group], list[str]]:
    """(groups to LIST, paths to HEAD one by one).

    A bucket is listed from the deepest directory that holds all its entries, or, when that costs
    no more requests, from each of its top directories apart: the listings can then run at once,
    and a store's work per page can grow with the keys under the listed prefix (moto's does).
    """
    buckets: dict[str, list[str]] = defaultdict(list)
    singles = []
    for path, entry in entries.items():
        root = bucket_root(entry.remote_url)
        if root is None:
            singles.append(path)
        else:
            buckets[root].append(path)
    groups: list[Group] = []
    for paths in buckets.values():
        if len(paths) < 2:
            singles.extend(paths)
            continue
        by_url = {entries[path].remote_url: path for path in paths}
        directories = _top_directories(by_url)
        if len(directories) > 1 and _pages(directories.values()) <= _pages([by_url]):
            groups.extend(_group(prefix, members) for prefix, members in directories.items())
        else:
            groups.append(_group(_deepest_directory(by_url), by_url))
    return sorted(groups, key=lambda group: group.prefix_url), sorted(singles)


def _deepest_directory(urls: Iterable[str]) -> str:
    # Character-wise on purpose: cut back to the last '/' below, it is the deepest shared directory.
    return os.path.commonprefix(list(urls)).rpartition("/")[0] + "/"  # noqa: RUF071


def _top_directories(by_url: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """url -> path mappings by the directory to list: each object's own, or the nearest above it
    that also holds objects (listing a prefix returns everything below it)."""
    own: dict[str, dict[str, str]] = defaultdict(dict)
    for url, path in by_url.items():
        own[url.rpartition("/")[0] + "/"][url] = path
    directories: dict[str, dict[str, str]] = {}
    top = ""
    for directory in sorted(own):
        # Sorted, the directories below `top` follow it at once.
        if not top or not directory.startswith(top):
            top = directory
            directories[top] = own[directory]
        else:
            directories[top].update(own[directory])
    return directories


def _pages(url_groups: Iterable[Mapping[str, str]]) -> int:
    return sum(math.ceil(len(urls) / LIST_PAGE) for urls in url_groups)


def _group(prefix_url: str, by_url: Mapping[str, str]) -> Group:
    return Group(prefix_url, {unquote(url[len(prefix_url) :]): path for url, path in by_url.items()})


def bucket_root(url: str) -> str | None:
    """scheme://bucket/ (Azure https: .../container/) for stores that can list; None otherwise."""
    parts = urlsplit(url)
    if parts.scheme in LISTABLE:
        return f"{parts.scheme}://{parts.netloc}/"
    if parts.scheme == "https" and parts.netloc.endswith(AZURE_HOST_SUFFIX):
        return f"https://{parts.netloc}/{parts.path.lstrip('/').partition('/')[0]}/"
    return None


class Checker:
    def __init__(
        self, providers: Providers, entries: Mapping[str, Entry], jobs: int, progress: Progress
    ) -> None:
        self.providers = providers
        self.entries = entries
        self.jobs = jobs
        self.progress = progress

    def run(self) -> list[Finding]:
        groups, singles = plan(self.entries)
        findings: list[Finding] = []
        heads = list(singles)
        for listed, leftover in workers.run_all(self._list_group, groups, self.jobs):
            findings.extend(listed)
            heads.extend(leftover)
        findings.extend(workers.run_all(self.head, heads, self.jobs))
        return sorted(findings, key=lambda finding: finding.path)

    def _list_group(self, group: Group) -> tuple[list[Finding], list[str]]:
        """Findings from LIST pages, and the paths left for HEAD when listing stopped paying."""
        provider = self.providers.for_url(group.prefix_url)
        remaining = dict(group.members)
        last = max(remaining)
        findings: list[Finding] = []
        listed = 0
        try:
            for relative, current in provider.list(group.prefix_url):
                listed += 1
                if relative in remaining:
                    path = remaining.pop(relative)
                    findings.append(self._compare(provider, path, current))
                    self.progress.advance()
                if not remaining or relative >= last:
                    break
                found = len(group.members) - len(remaining)
                if math.ceil(listed / LIST_PAGE) > found:
                    # The listing has cost more requests than the entries it found: sparse, HEAD the rest.
                    return findings, sorted(remaining.values())
        except NotFound as exc:
            return findings + self._all(remaining.values(), compare.MISSING, str(exc)), []
        except RemoteError as exc:
            return findings + self._all(remaining.values(), compare.UNREACHABLE, str(exc)), []
        missing = self._all(remaining.values(), compare.MISSING, "no such object")
        return findings + [self._pinned_when_missing(provider, finding) for finding in missing], []

    def head(self, path: str) -> Finding:
        """One entry's finding from one metadata request."""
        recorded = self.entries[path]
        try:
            provider = self.providers.for_url(recorded.remote_url)
            current = provider.stat(recorded.remote_url)
        except NotFound as exc:
            finding = self._pinned_when_missing(provider, Finding(path, compare.MISSING, reason=str(exc)))
        except RemoteError as exc:  # unreachable, throttled, denied: the object could not be compared
            finding = Finding(path, compare.UNREACHABLE, reason=str(exc))
        else:
            finding = self._compare(provider, path, current)
        self.progress.advance()
        return finding

    def _compare(self, provider: Provider, path: str, current: Entry) -> Finding:
        recorded = self.entries[path]
        found = compare.changes(recorded, current)
        if not found:
            return Finding(path, compare.UNCHANGED)
        if recorded.version_id and not _pinned_exists(provider, recorded):
            return Finding(
                path, compare.VERSION_GONE, found, f"version {recorded.version_id} no longer exists"
            )
        return Finding(path, compare.MODIFIED, found)

    def _pinned_when_missing(self, provider: Provider, finding: Finding) -> Finding:
        recorded = self.entries[finding.path]
        if recorded.version_id and _pinned_exists(provider, recorded):
            return Finding(
                finding.path, compare.MISSING, reason=f"deleted; version {recorded.version_id} still exists"
            )
        return finding

    def _all(self, paths: Iterable[str], status: str, reason: str) -> list[Finding]:
        findings = [Finding(path, status, reason=reason) for path in paths]
        self.progress.advance(len(findings))
        return findings


def _pinned_exists(provider: Provider, recorded: Entry) -> bool:
    try:
        provider.stat(recorded.remote_url, version_id=recorded.version_id)
    except VersionGone:
        return False
    except RemoteError:
        return False
    return True


def check(providers: Providers, entries: Mapping[str, Entry], jobs: int) -> list[Finding]:
    with Progress("checking", total=len(entries)) as progress:
        return Checker(providers, entries, jobs, progress).run()


def one(providers: Providers, path: str, entry: Entry) -> Finding:
    """One entry's finding from one metadata request, drawing no progress."""
    return Checker(providers, {path: entry}, 1, Progress("checking", 1, stream=io.StringIO())).head(path)


def refresh(
    providers: Providers, entries: Mapping[str, Entry], findings: Sequence[Finding]
) -> dict[str, Entry]:
    """Full metadata (one HEAD each) for the drifted entries that --update will accept.

    A LIST page lacks version ids and checksums on some stores, so it is not what gets recorded.
    """
    fresh = {}
    for finding in findings:
        if finding.status in (compare.MODIFIED, compare.VERSION_GONE):
            recorded = entries[finding.path]
            current = providers.for_url(recorded.remote_url).stat(recorded.remote_url)
            fresh[finding.path] = compare.accepted(recorded, current)
    return fresh


def accept(fresh: Mapping[str, Entry]) -> Callable[[dict[str, Entry]], None]:
    def change(entries: dict[str, Entry]) -> None:
        entries.update(fresh)

    return change
