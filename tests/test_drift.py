"""The pure parts of the drift check: comparison and request planning."""

from __future__ import annotations

from lfs_meta import check, drift
from lfs_meta.entry import Entry

BASE = Entry(
    remote_url="s3://bkt/d/a.vcf", size=5, etag="e1", version_id="v1", checksums={"crc32": "0000000a"}
)


def test_unchanged_when_the_listing_knows_less() -> None:
    listed = Entry(remote_url=BASE.remote_url, size=5, etag="e1")
    assert drift.changes(BASE, listed) == ()


def test_every_differing_field_is_named() -> None:
    now = Entry(
        remote_url=BASE.remote_url, size=6, etag="e2", version_id="v2", checksums={"crc32": "0000000b"}
    )
    assert drift.changes(BASE, now) == (
        drift.Change("size", "5", "6"),
        drift.Change("etag", "e1", "e2"),
        drift.Change("version_id", "v1", "v2"),
        drift.Change("checksums.crc32", "0000000a", "0000000b"),
    )


def test_update_keeps_the_users_fields() -> None:
    mine = Entry(
        remote_url=BASE.remote_url, size=5, patient="Patient/1", specimen="Specimen/2", extra={"run": 7}
    )
    theirs = Entry(remote_url="s3://bkt/d/a.vcf", size=9, etag="e9")
    accepted = drift.accepted(mine, theirs)
    assert (accepted.size, accepted.etag, accepted.patient, accepted.extra) == (
        9,
        "e9",
        "Patient/1",
        {"run": 7},
    )


def test_changed_paths_are_additions_and_edits() -> None:
    before = {"a": BASE, "b": BASE, "gone": BASE}
    after = {"a": BASE, "b": Entry(remote_url=BASE.remote_url, size=1), "new": BASE}
    assert drift.changed_paths(before, after) == ["b", "new"]


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
    groups, singles = check.plan(entries)
    assert groups == [
        check.Group("https://acct.blob.core.windows.net/c/d%20e/", {"4.vcf": "q", "5.vcf": "r"}),
        check.Group("s3://bkt/run/", {"a/1.vcf": "x/1", "b/2.vcf": "x/2"}),
    ]
    assert singles == ["w", "y", "z"]
