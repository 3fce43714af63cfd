"""The pure parts of the drift check: comparison and request planning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from lfs_meta.drift import compare, scan
from lfs_meta.errors import NotFound
from lfs_meta.index.entry import Entry
from lfs_meta.providers import Options, Provider, Providers, RequestCounter

BASE = Entry(
    remote_url="s3://bkt/d/a.vcf", size=5, etag="e1", version_id="v1", checksums={"crc32": "0000000a"}
)


def test_unchanged_when_the_listing_knows_less() -> None:
    listed = Entry(remote_url=BASE.remote_url, size=5, etag="e1")
    assert compare.changes(BASE, listed) == ()


def test_every_differing_field_is_named() -> None:
    now = Entry(
        remote_url=BASE.remote_url, size=6, etag="e2", version_id="v2", checksums={"crc32": "0000000b"}
    )
    assert compare.changes(BASE, now) == (
        compare.Change("size", "5", "6"),
        compare.Change("etag", "e1", "e2"),
        compare.Change("version_id", "v1", "v2"),
        compare.Change("checksums.crc32", "0000000a", "0000000b"),
    )


def test_update_keeps_the_users_fields() -> None:
    mine = Entry(
        remote_url=BASE.remote_url, size=5, patient="Patient/1", specimen="Specimen/2", extra={"run": 7}
    )
    theirs = Entry(remote_url="s3://bkt/d/a.vcf", size=9, etag="e9")
    accepted = compare.accepted(mine, theirs)
    assert (accepted.size, accepted.etag, accepted.patient, accepted.extra) == (
        9,
        "e9",
        "Patient/1",
        {"run": 7},
    )


def test_update_records_only_paths_still_recorded_as_they_were_checked() -> None:
    grown = Entry(remote_url=BASE.remote_url, size=9)
    paths = ("kept", "untracked", "moved", "edited")
    moved = Entry(remote_url="s3://bkt/elsewhere.vcf", size=5)
    edited = Entry(remote_url=BASE.remote_url, size=5, patient="Patient/2")
    index = {"kept": BASE, "moved": moved, "edited": edited, "other": BASE}
    accept = scan.accept(dict.fromkeys(paths, BASE), dict.fromkeys(paths, grown))
    assert accept(index) == ["kept"]
    assert index == {"kept": grown, "moved": moved, "edited": edited, "other": BASE}


def test_changed_paths_are_additions_and_edits() -> None:
    before = {"a": BASE, "b": BASE, "gone": BASE}
    after = {"a": BASE, "b": Entry(remote_url=BASE.remote_url, size=1), "new": BASE}
    assert compare.changed_paths(before, after) == ["b", "new"]


def test_plan_lists_each_bucket_once_from_its_deepest_shared_directory() -> None:
    entries = {
        "x/1": Entry(remote_url="s3://bkt/run/a/1.vcf", size=1),
        "x/2": Entry(remote_url="s3://bkt/run/b/2.vcf", size=1),
        "y": Entry(remote_url="gs://one/run/3.vcf", size=1),
        "q": Entry(remote_url="https://acct.blob.core.windows.net/c/d%20e/4.vcf", size=1),
        "r": Entry(remote_url="https://acct.blob.core.windows.net/c/d%20e/5.vcf", size=1),
        "z": Entry(remote_url="https://host/run/4.vcf", size=1),
        "w": Entry(remote_url="https://host/run/5.vcf", size=1),
    }
    groups, singles = scan.plan(entries)
    assert groups == [
        scan.Group("https://acct.blob.core.windows.net/c/d%20e/", {"4.vcf": ["q"], "5.vcf": ["r"]}),
        scan.Group("s3://bkt/run/", {"a/1.vcf": ["x/1"], "b/2.vcf": ["x/2"]}),
    ]
    assert singles == ["w", "y", "z"]


def _entries(urls: list[str]) -> dict[str, Entry]:
    return {url.partition("://")[2]: Entry(remote_url=url, size=1) for url in urls}


def test_plan_lists_top_directories_apart_when_that_costs_no_more_pages() -> None:
    # 1,000 keys each in run/a/ and run/b/ (with run/b/deep/ below it): 2 pages either way.
    urls = [f"s3://bkt/run/a/{i:04d}.vcf" for i in range(1000)]
    urls += [f"s3://bkt/run/b/{i:04d}.vcf" for i in range(900)]
    urls += [f"s3://bkt/run/b/deep/{i:04d}.vcf" for i in range(100)]
    groups, singles = scan.plan(_entries(urls))
    assert [(group.prefix_url, len(group.members)) for group in groups] == [
        ("s3://bkt/run/a/", 1000),
        ("s3://bkt/run/b/", 1000),
    ]
    assert groups[1].members["deep/0099.vcf"] == ["bkt/run/b/deep/0099.vcf"]
    assert singles == []


def test_plan_keeps_one_listing_when_directories_apart_cost_more_pages() -> None:
    # 1,001 keys in one directory and 999 in another: 2 pages together, 3 apart.
    urls = [f"s3://bkt/run/a/{i:04d}.vcf" for i in range(1001)]
    urls += [f"s3://bkt/run/b/{i:04d}.vcf" for i in range(999)]
    groups, _ = scan.plan(_entries(urls))
    assert [(group.prefix_url, len(group.members)) for group in groups] == [("s3://bkt/run/", 2000)]


def test_plan_never_lists_a_directory_twice() -> None:
    # a-b/ sorts between a/ and its subdirectories ('-' < '/'), and is still listed on its own.
    urls = [f"s3://bkt/a-b/{i:04d}.vcf" for i in range(1000)]
    urls += [f"s3://bkt/a/{i:04d}.vcf" for i in range(1000)]
    urls += [f"s3://bkt/a/sub/{i:04d}.vcf" for i in range(1000)]
    groups, _ = scan.plan(_entries(urls))
    assert [(group.prefix_url, len(group.members)) for group in groups] == [
        ("s3://bkt/a-b/", 1000),
        ("s3://bkt/a/", 2000),
    ]
    # An object at the bucket's top: its listing holds every other one.
    groups, _ = scan.plan(_entries([*urls, "s3://bkt/top.vcf"]))
    assert [(group.prefix_url, len(group.members)) for group in groups] == [("s3://bkt/", 3001)]


def test_listings_are_batched_by_what_they_find_with_heads_first() -> None:
    sizes: dict[str | None, int] = {None: 3, "s3://b/a/": 5, "s3://b/b/": 5, "s3://b/c/": 20}
    assert scan.batches(sizes, 10) == [{None, "s3://b/a/"}, {"s3://b/b/"}, {"s3://b/c/"}]
    assert scan.batches({"s3://b/a/": 5}, 10) == [{None, "s3://b/a/"}]


class Store:
    """Our Provider interface over objects in memory, for the planning alone: LIST pages of 2 keys."""

    name = "memory"

    def __init__(self, objects: dict[str, Entry]) -> None:
        self.objects = objects
        self.requests = RequestCounter()

    def stat(self, url: str, version_id: str | None = None) -> Entry:
        self.requests.record("head")
        if url not in self.objects:
            raise NotFound(f"{url}: no such object")
        return self.objects[url]

    def list(self, url: str) -> Iterator[tuple[str, Entry]]:
        keys = sorted(key for key in self.objects if key.startswith(url))
        for start in range(0, max(len(keys), 1), 2):
            self.requests.record("list")
            for key in keys[start : start + 2]:
                yield key[len(url) :], self.objects[key]


class InMemory(Providers):
    def __init__(self, store: Store) -> None:
        super().__init__(Options())
        self.store = store

    def for_url(self, url: str) -> Provider:
        return cast(Provider, self.store)  # check never downloads nor names credentials


URLS = st.builds(
    "{}{}{}.vcf".format,
    st.sampled_from(["s3://a/", "s3://b/", "gs://c/", "https://host/"]),
    st.sampled_from(["", "x/", "x/y/", "z/"]),
    st.integers(0, 5),
)


@settings(deadline=None)
@given(
    st.dictionaries(
        st.text("pq", min_size=1, max_size=6), st.tuples(URLS, st.sampled_from("=+-")), max_size=25
    ),
    st.integers(1, 6),
    st.integers(1, 4),
)
def test_a_check_in_batches_finds_and_costs_what_one_pass_does(
    recorded: dict[str, tuple[str, str]], hold: int, part_count: int
) -> None:
    """`=` the object as recorded, `+` grown, `-` deleted; the index in `part_count` parts."""
    entries = {path: Entry(remote_url=url, size=1) for path, (url, _) in recorded.items()}
    objects = {url: Entry(remote_url=url, size=1 + (change == "+")) for url, change in recorded.values()}
    for url, change in recorded.values():
        if change == "-":
            objects.pop(url, None)
    paths = sorted(entries)
    parts = [{path: entries[path] for path in paths[number::part_count]} for number in range(part_count)]

    def checked(hold: int) -> tuple[list[compare.Finding], dict[str, Entry], dict[str, int]]:
        store = Store(objects)
        result = scan.check_parts(InMemory(store), lambda keep: parts, jobs=2, hold=hold)
        return result.findings, result.drifted, dict(store.requests.operations)

    whole = checked(len(entries) + 1)
    assert checked(hold) == whole
    findings, drifted, _ = whole
    assert [finding.path for finding in findings] == paths
    assert sorted(drifted) == [f.path for f in findings if f.status == compare.MODIFIED]
