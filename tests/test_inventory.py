"""check --inventory and track-remote --from-inventory against reports written in each store's
documented layout into the emulators' buckets: the findings listing gives, with no listing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import inventories
import pytest

from lfs_meta.cli import main
from lfs_meta.providers import Options, Providers

import emulators
from conftest import Store, use_env

INDEX = Path(".lfs-meta") / "metadata.json"
FORMATS = {"s3": ("csv", "orc", "parquet"), "gs": ("csv", "parquet"), "az": ("csv", "parquet")}


@dataclass(frozen=True)
class Reporting:
    """Writes reports of the store's objects into a destination bucket of the same emulator."""

    store: Store
    rows: Callable[..., list[dict[str, Any]]]
    write: Callable[..., inventories.Written]
    url: Callable[[str], str]  # destination key -> URL
    put: inventories.Put
    configure: Callable[[str | None], None] = lambda prefix: None  # S3: the coverage, by prefix

    def report(self, **options: Any) -> str:
        rows = options.pop("rows", None)
        written = self.write(self.put, rows=self.rows() if rows is None else rows, **options)
        return self.url(written.manifest_key)


@pytest.fixture
def reporting(request: pytest.FixtureRequest, store: Store) -> Reporting:
    destination = emulators.unique_name("inventory")
    if store.scheme == "s3":
        client = request.getfixturevalue("s3_client")
        client.create_bucket(Bucket=destination)

        def put_s3(key: str, data: bytes) -> None:
            client.put_object(Bucket=destination, Key=key, Body=data)

        return Reporting(
            store,
            lambda versions=False: inventories.s3_rows(client, store.container, versions),
            lambda put, rows, **kw: inventories.s3_report(put, store.container, destination, rows, **kw),
            lambda key: f"s3://{destination}/{key}",
            put_s3,
            lambda prefix: inventories.s3_configure(client, store.container, destination, "daily", prefix),
        )
    if store.scheme == "gs":
        client = request.getfixturevalue("gcs_client")
        bucket = client.create_bucket(destination)

        def put_gcs(key: str, data: bytes) -> None:
            bucket.blob(key).upload_from_string(data)

        return Reporting(
            store,
            lambda: inventories.gcs_rows(client, store.container),
            lambda put, rows, **kw: inventories.gcs_report(put, store.container, rows, **kw),
            lambda key: f"gs://{destination}/{key}",
            put_gcs,
        )
    service = request.getfixturevalue("azure_service")
    service.create_container(destination)

    def put_azure(key: str, data: bytes) -> None:
        service.get_blob_client(destination, key).upload_blob(data, overwrite=True)

    endpoint = f"https://{store.host}"
    return Reporting(
        store,
        lambda versions=False: inventories.azure_rows(service, store.container, versions),
        lambda put, rows, **kw: inventories.azure_report(put, endpoint, rows, destination=destination, **kw),
        lambda key: f"az://{store.host}/{destination}/{key}",
        put_azure,
    )


@pytest.fixture
def repo(git_repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, store.env)
    monkeypatch.chdir(git_repo)
    return git_repo


@pytest.fixture
def listings(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The URLs the store's provider is asked to LIST (the real listing runs)."""
    listed: list[str] = []
    provider_class = type(Providers(Options()).for_url(store.url("x")))
    real_list = provider_class.list

    def recorded_list(self: Any, url: str) -> Iterator[tuple[str, Any]]:
        listed.append(url)
        return real_list(self, url)

    monkeypatch.setattr(provider_class, "list", recorded_list)
    yield listed


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and out.out.startswith("{"), out.err
    return code, json.loads(out.out)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {finding["path"]: finding["status"] for finding in result["findings"]}


def drifted(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Five objects tracked, then one grown, one rewritten at the same size and one deleted."""
    for name in ("same.vcf", "grown.vcf", "same-size.vcf", "deleted.vcf", "alone/x y.vcf"):
        store.put(f"d/{name}", b"original")
    assert main(["track-remote", store.url("d/"), "--recursive", "--path-prefix", "data"]) == 0
    store.put("d/grown.vcf", b"original plus more")
    store.put("d/same-size.vcf", b"ORIGINAL")
    store.delete("d/deleted.vcf")
    capsys.readouterr()


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_a_report_gives_the_findings_of_listing_without_a_listing(
    repo: Path,
    store: Store,
    reporting: Reporting,
    listings: list[str],
    fmt: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if fmt not in FORMATS[store.scheme]:
        pytest.skip(f"{store.scheme} writes no {fmt} reports")
    drifted(store, capsys)
    manifest = reporting.report(fmt=fmt)
    reporting.configure(None)
    code, listed = run(capsys, "check")
    assert listings
    listings.clear()
    code_inventory, found = run(capsys, "check", "--inventory", manifest)
    # GCS records each object's generation: whether a rewritten one's is gone, only the store says.
    pinned_and_drifted = 2 if store.scheme == "gs" else 0
    assert found["without_report"] == pinned_and_drifted
    assert len(listings) <= pinned_and_drifted
    assert (
        (code_inventory, statuses(found))
        == (code, statuses(listed))
        == (
            1,
            {
                "data/same.vcf": "unchanged",
                "data/grown.vcf": "modified",
                "data/same-size.vcf": "modified",
                "data/deleted.vcf": "missing",
                "data/alone/x y.vcf": "unchanged",
            },
        )
    )
    assert found["summary"] == listed["summary"]
    changed = {f["path"]: [c["field"] for c in f.get("changes", ())] for f in found["findings"]}
    assert changed["data/grown.vcf"][0] == "size"
    assert "etag" in changed["data/same-size.vcf"]
    (report,) = found["reports"]
    assert (report["store"], report["format"], report["objects"]) == (store.scheme, fmt, 4)
    assert datetime.fromisoformat(report["snapshot"]) > datetime.now(UTC) - timedelta(minutes=5)


def test_a_versioned_report_counts_current_versions_only(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket=s3_bucket, Key="v/kept.vcf", Body=b"first")
    s3_client.put_object(Bucket=s3_bucket, Key="v/kept.vcf", Body=b"second, longer")
    s3_client.put_object(Bucket=s3_bucket, Key="v/gone.vcf", Body=b"soon deleted")
    assert main(["track-remote", f"s3://{s3_bucket}/v/", "--recursive", "--path-prefix", "v"]) == 0
    s3_client.delete_object(Bucket=s3_bucket, Key="v/gone.vcf")  # a delete marker, the old version kept
    destination = emulators.unique_name("inventory")
    s3_client.create_bucket(Bucket=destination)
    rows = inventories.s3_rows(s3_client, s3_bucket, versions=True)
    assert sorted((row["Key"], row["IsLatest"], row["IsDeleteMarker"]) for row in rows) == [
        ("v/gone.vcf", False, False),
        ("v/gone.vcf", True, True),
        ("v/kept.vcf", False, False),
        ("v/kept.vcf", True, False),
    ]
    written = inventories.s3_report(
        lambda key, data: s3_client.put_object(Bucket=destination, Key=key, Body=data),
        s3_bucket,
        destination,
        rows,
        fmt="parquet",
    )
    inventories.s3_configure(s3_client, s3_bucket, destination, "daily", "v/")
    capsys.readouterr()
    code, found = run(capsys, "check", "--inventory", f"s3://{destination}/{written.manifest_key}")
    assert (code, statuses(found), found["without_report"]) == (
        1,
        {"v/gone.vcf": "missing", "v/kept.vcf": "unchanged"},
        0,
    )
    (gone,) = [finding for finding in found["findings"] if finding["status"] == "missing"]
    assert "says whether version" in gone["reason"]
    assert statuses(run(capsys, "check")[1]) == statuses(found)


def test_entries_a_report_cannot_speak_for_are_checked_with_the_store(
    repo: Path,
    store: Store,
    reporting: Reporting,
    listings: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.put("early/a.vcf", b"before the report")
    store.put("early/b.vcf", b"before the report")
    manifest = reporting.report(when=datetime.now(UTC) - timedelta(hours=1))  # taken before the objects
    reporting.configure("early/")
    store.put("late/c.vcf", b"after the report")
    assert main(["track-remote", store.url("early/"), "--recursive", "--path-prefix", "early"]) == 0
    assert main(["track-remote", store.url("late/c.vcf"), "--path", "late/c.vcf"]) == 0
    capsys.readouterr()
    listings.clear()
    code, found = run(capsys, "check", "--inventory", manifest)
    # Every object changed (was made) after the report: no entry is judged by it, none called missing.
    assert (code, found["without_report"], found["summary"]["unchanged"]) == (0, 3, 3)
    assert len(listings) == 1  # the usual check: one LIST of the bucket for the three

    assert main(["check", "--inventory", manifest]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("inventory report of ") and " taken " in lines[0]
    assert lines[-2].startswith("3 entries checked with the store, not the report")
    assert lines[-1] == "3 unchanged, 0 modified, 0 version gone, 0 missing, 0 unreachable"


def test_an_object_outside_what_the_report_covers_is_never_called_missing(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str]
) -> None:
    if store.scheme == "gs":
        pytest.skip("a GCS report lists its whole bucket")
    store.put("in/a.vcf", b"listed")
    store.put("out/b.vcf", b"not listed")
    assert main(["track-remote", store.url(""), "--recursive", "--path-prefix", "all"]) == 0
    capsys.readouterr()
    rows = [row for row in reporting.rows() if "in/" in (row.get("Key") or row.get("Name") or "")]
    prefix = "in/" if store.scheme == "s3" else f"{store.container}/in/"
    reporting.configure(prefix)
    manifest = (
        reporting.report(rows=rows, prefix_match=[prefix])
        if store.scheme == "az"
        else reporting.report(rows=rows)
    )
    code, found = run(capsys, "check", "--inventory", manifest)
    assert (code, statuses(found), found["without_report"]) == (
        0,
        {"all/in/a.vcf": "unchanged", "all/out/b.vcf": "unchanged"},
        1,
    )
    store.delete("in/a.vcf")
    code, found = run(
        capsys,
        "check",
        "--inventory",
        reporting.report(rows=[], prefix_match=[prefix])
        if store.scheme == "az"
        else reporting.report(rows=[]),
    )
    assert statuses(found)["all/in/a.vcf"] == "missing"
