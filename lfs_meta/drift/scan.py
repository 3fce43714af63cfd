"""Reading every entry's remote object now, as cheaply as possible (`check` and `status --remote`).

Requests are the cost. Entries are grouped by store, bucket and directory; a group of two or more
is read with LIST (one request per 1,000 keys) while listing pays for itself, and everything else
with one metadata request (HEAD) each. Listings and HEADs both run in a bounded set of threads.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from lfs_meta import workers
from lfs_meta.drift import compare
from lfs_meta.drift.compare import Finding
from lfs_meta.errors import NotFound, RemoteError, VersionGone
from lfs_meta.index.entry import Entry
from lfs_meta.index.urls import AZURE_HOST_SUFFIX, names_no_account
from lfs_meta.progress import Progress
from lfs_meta.providers import Provider, Providers

LISTABLE = ("s3", "gs", "az")
REFRESHED = (compare.MODIFIED, compare.VERSION_GONE)  # the findings --update records anew
LIST_PAGE = 1000


HOLD = 250_000  # entries held at once; a larger index is checked in passes over it, a batch of listings each
Keep = Callable[[str], bool]  # by remote URL: the entries a pass needs (None: all)
Parts = Callable[[Keep | None], Iterable[Mapping[str, Entry]]]  # every entry, a part at a time, per pass


@dataclass(frozen=True)
class Group:
    """Entries of one bucket, listed from the deepest directory that holds them all."""

    prefix_url: str
    members: dict[str, list[str]]  # object name below prefix_url -> the index paths recording it


def plan(
    entries: Mapping[str, Entry], route: Mapping[str, str] | None = None
) -> tuple[list[Group], list[str]]:
    """(groups to LIST, paths to HEAD one by one), by `route` (default: the entries' own)."""
    if route is None:
        route = routes(count_directories(entries.values(), {}))
    by_prefix: dict[str, dict[str, list[str]]] = defaultdict(dict)
    singles = []
    for path, entry in entries.items():
        prefix = route.get(directory_of(entry.remote_url))
        if prefix is None:
            singles.append(path)
        else:
            by_prefix[prefix].setdefault(unquote(entry.remote_url[len(prefix) :]), []).append(path)
    groups = [Group(prefix, members) for prefix, members in sorted(by_prefix.items())]
    return groups, sorted(singles)


Directories = dict[str, Counter[str]]  # bucket root -> each directory in it holding entries -> how many


def count_directories(entries: Iterable[Entry], directories: Directories) -> Directories:
    """Add `entries` to `directories`, the only thing the listings are planned from."""
    for directory, count in Counter(directory_of(entry.remote_url) for entry in entries).items():
        root = bucket_root(directory)  # once per directory: parsing every URL took most of the time
        if root is not None:
            directories.setdefault(root, Counter())[directory] += count
    return directories


def directory_of(url: str) -> str:
    return url.rpartition("/")[0] + "/"


def routes(directories: Directories) -> dict[str, str]:
    """Each directory holding entries -> the prefix its entries are listed from; the entries of a
    directory not named are read with HEAD (so are those of a bucket holding only one).

    A bucket is listed from the deepest directory that holds all its entries, or, when that costs
    no more requests, from each of its top directories apart: the listings can then run at once,
    and a store's work per page can grow with the keys under the listed prefix (moto's does).
    """
    route: dict[str, str] = {}
    for counts in directories.values():
        total = sum(counts.values())
        if total < 2:
            continue
        tops = _top_directories(counts)
        if len(tops) > 1 and sum(_pages(count) for count in tops.values()) <= _pages(total):
            route.update((directory, top) for directory, top in _tops_of(counts))
        else:
            deepest = _deepest_directory(counts)
            route.update((directory, deepest) for directory in counts)
    return route


def _deepest_directory(directories: Iterable[str]) -> str:
    # Character-wise on purpose: cut back to the last '/' below, it is the deepest shared directory.
    return os.path.commonprefix(list(directories)).rpartition("/")[0] + "/"  # noqa: RUF071


def _tops_of(counts: Mapping[str, int]) -> Iterator[tuple[str, str]]:
    """(directory, the top directory it is listed from): its own, or the nearest above it that also
    holds entries (listing a prefix returns everything below it)."""
    top = ""
    for directory in sorted(counts):
        # Sorted, the directories below `top` follow it at once.
        if not top or not directory.startswith(top):
            top = directory
        yield directory, top


def _top_directories(counts: Mapping[str, int]) -> dict[str, int]:
    """Each top directory -> the entries below it."""
    tops: Counter[str] = Counter()
    for directory, top in _tops_of(counts):
        tops[top] += counts[directory]
    return tops


def _pages(count: int) -> int:
    return math.ceil(count / LIST_PAGE)


def batches(sizes: Mapping[str | None, int], hold: int) -> list[set[str | None]]:
    """The listing prefixes, by how many entries each finds (None: the entries read with HEAD), in
    sets of at most `hold` entries (a larger listing alone), in order; None goes with the first."""
    found: list[set[str | None]] = [{None}]
    held = sizes.get(None, 0)
    for prefix in sorted(p for p in sizes if p is not None):
        if held and held + sizes[prefix] > hold:
            found.append(set())
            held = 0
        found[-1].add(prefix)
        held += sizes[prefix]
    return found


def bucket_root(url: str) -> str | None:
    """scheme://bucket/ (an Azure account's host: .../container/) for stores that can list; None otherwise."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "az") and parts.netloc.endswith(AZURE_HOST_SUFFIX):
        return f"{parts.scheme}://{parts.netloc}/{parts.path.lstrip('/').partition('/')[0]}/"
    if parts.scheme in LISTABLE:
        return f"{parts.scheme}://{parts.netloc}/"
    return None


class Checker:
    def __init__(
        self, providers: Providers, entries: Mapping[str, Entry], jobs: int, progress: Progress
    ) -> None:
        self.providers = providers
        self.entries = entries
        self.jobs = jobs
        self.progress = progress
        self.named: dict[str, Entry] = {}  # az://container/blob entries, unchanged, as the store named them
        self._lock = threading.Lock()

    def run(self, route: Mapping[str, str] | None = None) -> list[Finding]:
        groups, singles = plan(self.entries, route)
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
                for path in remaining.pop(relative, ()):
                    findings.append(self._compare(provider, path, current))
                    self.progress.advance()
                if not remaining or relative >= last:
                    break
                found = len(group.members) - len(remaining)
                if math.ceil(listed / LIST_PAGE) > found:
                    # The listing has cost more requests than the entries it found: sparse, HEAD the rest.
                    return findings, sorted(_paths(remaining))
        except NotFound as exc:
            return findings + self._all(_paths(remaining), compare.MISSING, str(exc)), []
        except RemoteError as exc:
            return findings + self._all(_paths(remaining), compare.UNREACHABLE, str(exc)), []
        missing = self._all(_paths(remaining), compare.MISSING, "no such object")
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
            if names_no_account(recorded.remote_url) and not names_no_account(current.remote_url):
                with self._lock:
                    self.named[path] = dataclasses.replace(recorded, remote_url=current.remote_url)
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


def _paths(members: Mapping[str, list[str]]) -> list[str]:
    return [path for paths in members.values() for path in paths]


def _pinned_exists(provider: Provider, recorded: Entry) -> bool:
    try:
        provider.stat(recorded.remote_url, version_id=recorded.version_id)
    except VersionGone:
        return False
    except RemoteError:
        return False
    return True


def check(providers: Providers, entries: Mapping[str, Entry], jobs: int) -> list[Finding]:
    return check_parts(providers, held(entries), jobs).findings


def held(entries: Mapping[str, Entry]) -> Parts:
    """Entries already in memory, as the one part of every pass."""
    return lambda keep: [entries]


@dataclass(frozen=True)
class Checked:
    findings: list[Finding]  # one per entry, by path
    drifted: dict[str, Entry]  # the recorded entries whose findings --update records anew
    unnamed: int  # az://container/blob entries, which name no storage account
    recorded: dict[str, Entry]  # the unchanged ones of those whose store named its account ...
    named: dict[str, Entry]  # ... and each as --update records it, naming the account


def check_parts(providers: Providers, parts: Parts, jobs: int, hold: int = HOLD) -> Checked:
    """Every entry's finding, holding at most about `hold` entries at a time (a listing that finds
    more, or a part that holds more, is held whole): a first pass over `parts` counts the
    directories the listings are planned from, keeping the entries only while they fit; past that,
    each batch of listings reads `parts` again for its own entries. Requests are the same either way."""
    directories: Directories = {}
    kept: dict[str, Entry] | None = {}
    total = 0
    for number, part in enumerate(parts(None)):
        count_directories(part.values(), directories)
        total += len(part)
        if kept is not None:
            kept.update(part)
            if len(kept) > hold and number > 0:  # one part alone is read whole on every pass anyway
                kept = None
    route = routes(directories)
    if kept is not None:
        batched: Iterable[Mapping[str, Entry]] = [kept]
    else:
        batched = _batched(parts, route, directories, total, hold)
    findings: list[Finding] = []
    drifted: dict[str, Entry] = {}
    recorded: dict[str, Entry] = {}
    named: dict[str, Entry] = {}
    with Progress("checking", total=total) as progress:
        for batch in batched:
            checker = Checker(providers, batch, jobs, progress)
            found = checker.run(route)
            drifted.update((f.path, batch[f.path]) for f in found if f.status in REFRESHED)
            recorded.update((path, batch[path]) for path in checker.named)
            named.update(checker.named)
            findings.extend(found)
    unnamed = sum(sum(counts.values()) for root, counts in directories.items() if names_no_account(root))
    return Checked(sorted(findings, key=lambda finding: finding.path), drifted, unnamed, recorded, named)


def _batched(
    parts: Parts, route: Mapping[str, str], directories: Directories, total: int, hold: int
) -> Iterator[dict[str, Entry]]:
    """The entries of each batch of listings, read from `parts` again for each."""
    sizes: Counter[str | None] = Counter()
    for counts in directories.values():
        for directory, count in counts.items():
            sizes[route.get(directory)] += count
    sizes[None] += total - sum(sizes.values())
    for wanted in batches(sizes, hold):
        keep = InBatch(route, frozenset(wanted))
        yield {path: entry for part in parts(keep) for path, entry in part.items() if keep(entry.remote_url)}


@dataclass(frozen=True)
class InBatch:
    """Whether a remote URL is listed by one of a batch's prefixes (None: read with HEAD); an object,
    so that worker processes can be sent it."""

    route: Mapping[str, str]
    wanted: frozenset[str | None]

    def __call__(self, url: str) -> bool:
        return self.route.get(directory_of(url)) in self.wanted


def by_head(providers: Providers, entries: Mapping[str, Entry], jobs: int) -> Checked:
    """Each entry's finding from one metadata request (HEAD), never a listing."""
    with Progress("asking the store", total=len(entries)) as progress:
        findings = Checker(providers, entries, jobs, progress).run(route={})
    drifted = {f.path: entries[f.path] for f in findings if f.status in REFRESHED}
    return Checked(findings, drifted, 0, {}, {})


def one(providers: Providers, path: str, entry: Entry) -> Finding:
    """One entry's finding from one metadata request, drawing no progress."""
    return Checker(providers, {path: entry}, 1, Progress("checking", 1, stream=io.StringIO())).head(path)


def refresh(providers: Providers, drifted: Mapping[str, Entry]) -> dict[str, Entry]:
    """Full metadata (one HEAD each) for the drifted entries that --update will accept.

    A LIST page lacks version ids and checksums on some stores, so it is not what gets recorded.
    """
    current: dict[str, Entry] = {}  # one HEAD per object, however many paths record it
    fresh = {}
    for path, recorded in sorted(drifted.items()):
        url = recorded.remote_url
        if url not in current:
            current[url] = providers.for_url(url).stat(url)
        fresh[path] = compare.accepted(recorded, current[url])
        if names_no_account(url):
            fresh[path] = dataclasses.replace(fresh[path], remote_url=current[url].remote_url)
    return fresh


def accept(
    drifted: Mapping[str, Entry], fresh: Mapping[str, Entry]
) -> Callable[[dict[str, Entry]], list[str]]:
    """The change recording `fresh`, for the paths still recorded as they were when checked
    (another command may have untracked or edited one meanwhile); it returns those paths."""

    def change(entries: dict[str, Entry]) -> list[str]:
        kept = sorted(path for path in fresh if entries.get(path) == drifted[path])
        entries.update((path, fresh[path]) for path in kept)
        return kept

    return change
