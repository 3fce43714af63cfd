"""check --inventory and track-remote --from-inventory against reports written in each store's
documented layout into the emulators' buckets: the findings listing gives, with no listing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import inventories
import pytest

from lfs_meta.cli import main
from lfs_meta.drift import scan

import emulators
from conftest import Store, use_env

INDEX = Path(".lfs-meta") / "metadata.json"
# Each store with each format it writes (the `store` fixture takes its store from the first).
WRITTEN = [("s3", "csv"), ("s3", "orc"), ("s3", "parquet"), ("gcs", "csv"), ("gcs", "parquet")]
WRITTEN += [("azure", "csv"), ("azure", "parquet")]


@dataclass(frozen=True)
class Reporting:
    """Writes reports of the store's objects into a destination bucket of the same emulator."""

    store: Store
    rows: Callable[..., list[dict[str, Any]]]
    write: Callable[..., inventories.Written]
    url: Callable[[str], str]  # destination key -> URL
    put: inventories.Put
    configure: Callable[..., None] = lambda prefix, fmt="csv": None  # S3: the coverage, by prefix

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
            lambda prefix, fmt="csv": inventories.s3_configure(
                client, store.container, destination, "daily", prefix, fmt
            ),
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


@pytest.mark.parametrize(("store", "fmt"), WRITTEN, indirect=["store"])
def test_a_report_gives_the_findings_of_listing_without_a_listing(
    repo: Path,
    store: Store,
    reporting: Reporting,
    listings: list[str],
    fmt: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drifted(store, capsys)
    manifest = reporting.report(fmt=fmt)
    reporting.configure(None, fmt)
    code, listed = run(capsys, "check")
    assert listings
    listings.clear()
    code_inventory, found = run(capsys, "check", "--inventory", manifest)
    # What the report finds changed or gone is asked of the store, one HEAD each, never a listing.
    assert (listings, found["without_report"], found["asked"]) == ([], 0, 3)
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


@pytest.mark.parametrize("fmt", ["csv", "orc", "parquet"])
def test_a_versioned_report_counts_current_versions_only(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket=s3_bucket, Key="v/kept.vcf", Body=b"first")
    s3_client.put_object(Bucket=s3_bucket, Key="v/kept.vcf", Body=b"second, longer")
    for name in ("gone", "over", "lost"):
        s3_client.put_object(Bucket=s3_bucket, Key=f"v/{name}.vcf", Body=b"tracked")
    assert main(["track-remote", f"s3://{s3_bucket}/v/", "--recursive", "--path-prefix", "v"]) == 0
    s3_client.delete_object(Bucket=s3_bucket, Key="v/gone.vcf")  # a delete marker, the version kept
    s3_client.put_object(Bucket=s3_bucket, Key="v/over.vcf", Body=b"rewritten")  # the version kept
    lost = json.loads((s3_repo / INDEX).read_text())["v/lost.vcf"]["version_id"]
    s3_client.put_object(Bucket=s3_bucket, Key="v/lost.vcf", Body=b"rewritten")
    s3_client.delete_object(Bucket=s3_bucket, Key="v/lost.vcf", VersionId=lost)  # the version gone
    destination = emulators.unique_name("inventory")
    s3_client.create_bucket(Bucket=destination)
    rows = inventories.s3_rows(s3_client, s3_bucket, versions=True)
    assert sorted((row["Key"], row["IsLatest"], row["IsDeleteMarker"]) for row in rows) == [
        ("v/gone.vcf", False, False),
        ("v/gone.vcf", True, True),
        ("v/kept.vcf", False, False),
        ("v/kept.vcf", True, False),
        ("v/lost.vcf", True, False),
        ("v/over.vcf", False, False),
        ("v/over.vcf", True, False),
    ]
    written = inventories.s3_report(
        lambda key, data: s3_client.put_object(Bucket=destination, Key=key, Body=data),
        s3_bucket,
        destination,
        rows,
        fmt=fmt,
    )
    inventories.s3_configure(s3_client, s3_bucket, destination, "daily", "v/", fmt)
    capsys.readouterr()
    code, found = run(capsys, "check", "--inventory", f"s3://{destination}/{written.manifest_key}")
    expected = {
        "v/gone.vcf": "missing",
        "v/kept.vcf": "unchanged",
        "v/lost.vcf": "version_gone",
        "v/over.vcf": "modified",
    }
    assert (code, statuses(found), found["without_report"], found["asked"]) == (1, expected, 0, 3)
    (gone,) = [finding for finding in found["findings"] if finding["status"] == "missing"]
    assert gone["reason"].endswith("still exists")
    assert statuses(run(capsys, "check")[1]) == expected


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


@pytest.mark.parametrize("store", ["s3", "azure"], indirect=True)  # a GCS report lists its whole bucket
def test_an_object_outside_what_the_report_covers_is_never_called_missing(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str]
) -> None:
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


def s3_written(
    s3_client: Any, source: str, **options: Any
) -> tuple[str, inventories.Written, Callable[[str, bytes], None]]:
    """A report of `source`'s objects in a bucket of its own: (destination, what was written, put)."""
    destination = emulators.unique_name("inventory")
    s3_client.create_bucket(Bucket=destination)

    def put(key: str, data: bytes) -> None:
        s3_client.put_object(Bucket=destination, Key=key, Body=data)

    rows = inventories.s3_rows(s3_client, source, versions=False)
    return destination, inventories.s3_report(put, source, destination, rows, **options), put


def damaged_s3(s3_client: Any, source: str, how: str) -> str:
    destination, written, put = s3_written(s3_client, source, checksum=how != "no checksum")
    if how == "manifest edited":
        put(written.manifest_key, written.manifest.replace(b'"files"', b' "files"'))
    elif how == "file damaged":
        data = s3_client.get_object(Bucket=destination, Key=written.files[0])["Body"].read()
        put(written.files[0], bytes([data[0] ^ 1]) + data[1:])
    elif how == "file missing":
        s3_client.delete_object(Bucket=destination, Key=written.files[1])
    elif how == "file cut short":
        data = s3_client.get_object(Bucket=destination, Key=written.files[0])["Body"].read()
        put(written.files[0], data[:-4])
    return f"s3://{destination}/{written.manifest_key}"


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("no checksum", "no manifest.checksum beside it, which the store writes when the report is complete"),
        (
            "manifest edited",
            "does not match the MD5 in manifest.checksum: the report is incomplete or was changed",
        ),
        ("file damaged", "its MD5 is not the one the manifest gives"),
        ("file missing", "the report lists this file and the store has none"),
        ("file cut short", "where the manifest says"),
    ],
)
def test_an_incomplete_or_altered_s3_report_is_refused_and_nothing_changes(
    track_s3: Callable[..., Any],
    s3_client: Any,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    how: str,
    said: str,
) -> None:
    tracked = track_s3("r/a.vcf", b"a")
    track_s3("r/b.vcf", b"b")
    before = (tracked.repo / INDEX).read_bytes()
    manifest = damaged_s3(s3_client, s3_bucket, how)
    err = one_line_error(capsys, ["check", "--inventory", manifest, "--update"], 1)
    assert said in err
    assert (tracked.repo / INDEX).read_bytes() == before


@pytest.mark.parametrize(
    ("store", "how"), [("azure", "status"), ("azure", "no checksum"), ("gcs", "shards")], indirect=["store"]
)
def test_an_unfinished_azure_or_gcs_report_is_refused(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    store.put("u/a.vcf", b"a")
    assert main(["track-remote", store.url("u/a.vcf"), "--path", "a.vcf"]) == 0
    capsys.readouterr()
    unfinished: dict[str, dict[str, Any]] = {
        "status": {"status": "PartiallySucceeded"},
        "no checksum": {"checksum": False},
        "shards": {"shard_count": 3},
    }
    options = unfinished[how]
    err = one_line_error(capsys, ["check", "--inventory", reporting.report(**options)], 1)
    assert {
        "status": "'PartiallySucceeded', not 'Succeeded'",
        "no checksum": "-manifest.checksum beside it",
        "shards": "lists 1 of its 3 shards: the report is incomplete",
    }[how] in err


def test_max_age_refuses_an_old_report(
    track_s3: Callable[..., Any], s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    track_s3("old/a.vcf", b"a")
    destination, written, _ = s3_written(s3_client, s3_bucket, when=datetime.now(UTC) - timedelta(days=3))
    manifest = f"s3://{destination}/{written.manifest_key}"
    err = one_line_error(capsys, ["check", "--inventory", manifest, "--max-age", "2d"], 2)
    assert "the report was taken 3 d 0 h ago, more than --max-age 2 d 0 h" in err
    assert main(["check", "--inventory", manifest, "--max-age", "80h"]) == 0
    assert "without" not in capsys.readouterr().err
    usage = one_line_error(capsys, ["check", "--max-age", "2d"], 2)
    assert "--max-age goes with --inventory" in usage


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_keys_round_trip_through_a_report(
    track_s3: Callable[..., Any],
    s3_client: Any,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    """S3 CSV reports URL-encode keys ('+' for a space); ORC and Parquet keep them raw."""
    names = ["k/a b+c.vcf", "k/100%.vcf", 'k/ü,n "q".vcf', "k/%41.vcf"]
    for number, name in enumerate(names):
        track_s3(name, b"x" * number, path=f"p/{number}.vcf")
    destination, written, _ = s3_written(s3_client, s3_bucket, fmt=fmt)
    inventories.s3_configure(s3_client, s3_bucket, destination, "daily", None, fmt)
    code, found = run(capsys, "check", "--inventory", f"s3://{destination}/{written.manifest_key}")
    assert (code, found["without_report"], found["summary"]["unchanged"]) == (0, 0, len(names))


def test_a_report_without_sizes_is_refused(
    track_s3: Callable[..., Any], s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    track_s3("s/a.vcf", b"a")
    destination, written, _ = s3_written(s3_client, s3_bucket, columns=["Bucket", "Key", "ETag"])
    err = one_line_error(capsys, ["check", "--inventory", f"s3://{destination}/{written.manifest_key}"], 2)
    assert "the report has no size column, so it cannot show whether an object changed" in err


def test_a_downloaded_copy_of_a_report_is_read_where_it_is(
    track_s3: Callable[..., Any],
    s3_client: Any,
    s3_bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    track_s3("c/a.vcf", b"a")
    track_s3("c/b.vcf", b"b")
    destination, written, _ = s3_written(s3_client, s3_bucket)
    copy = tmp_path / "copy"
    for key in [written.manifest_key, written.manifest_key.replace(".json", ".checksum"), *written.files]:
        target = copy / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3_client.get_object(Bucket=destination, Key=key)["Body"].read())
    code, found = run(capsys, "check", "--inventory", str(copy / written.manifest_key))
    # A copy says nothing of the configuration's prefix: an absence would not count, none here.
    assert (code, found["summary"]["unchanged"], found["requests"]) == (0, 2, {"file": 4})
    (copy / written.files[0]).unlink()
    err = one_line_error(capsys, ["check", "--inventory", str(copy / written.manifest_key)], 1)
    assert "the report lists this file and it is not there; copy every file of the report" in err


def test_update_takes_what_a_report_found_changed(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted(store, capsys)
    reporting.configure(None)
    code, found = run(capsys, "check", "--inventory", reporting.report(), "--update")
    assert (code, sorted(found["updated"])) == (1, ["data/grown.vcf", "data/same-size.vcf"])  # missing: 1
    assert json.loads((repo / INDEX).read_text())["data/grown.vcf"]["size"] == len(b"original plus more")
    assert statuses(run(capsys, "check")[1])["data/grown.vcf"] == "unchanged"


def test_track_from_a_report_records_what_listing_records(
    repo: Path, store: Store, reporting: Reporting, listings: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("t/a.vcf", "t/deep/b c.vcf", "t/e.vcf", "other/x.vcf"):
        store.put(name, name.encode())
    assert main(["track-remote", store.url("t/"), "--recursive", "--path-prefix", "listed"]) == 0
    capsys.readouterr()
    listings.clear()
    prefix = "t" if store.scheme != "az" else f"{store.container}/t"
    manifest = reporting.report()
    assert (
        main(["track-remote", "--from-inventory", manifest, "--prefix", prefix, "--path-prefix", "reported"])
        == 0
    )
    out = capsys.readouterr().out
    assert listings == []
    assert (
        "tracked 3, unchanged 0, skipped 0, failed 0" in out and "recorded as the inventory report of " in out
    )
    index = json.loads((repo / INDEX).read_text())
    listed = {
        path.removeprefix("listed/"): entry for path, entry in index.items() if path.startswith("listed/")
    }
    reported = {
        path.removeprefix("reported/"): entry for path, entry in index.items() if path.startswith("reported/")
    }
    assert reported == listed and len(listed) == 3
    assert main(["check"]) == 0  # every recorded entry is the store's object as it is


def test_track_from_a_report_refuses_paths_it_cannot_record(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put("bad/ok.vcf", b"fine")
    store.put("bad/.git/config", b"no")
    before = (repo / INDEX).read_bytes() if (repo / INDEX).exists() else None
    code = main(["track-remote", "--from-inventory", reporting.report(), "--path-prefix", "r", "--json"])
    result = json.loads(capsys.readouterr().out)
    (failed,) = result["failed"]
    assert code == 1 and failed["path"].endswith("/bad/.git/config")
    assert ((repo / INDEX).read_bytes() if (repo / INDEX).exists() else None) == before


def test_without_the_extra_the_error_names_it(s3_repo: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    blocked = tmp_path / "blocked" / "pyarrow"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('pyarrow is not installed here')\n")
    env = {**cli_env, "PYTHONPATH": str(blocked.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "lfs_meta", "check", "--inventory", "s3://b/inventory/manifest.json"],
        cwd=s3_repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install 'lfs-meta[inventory]'" in done.stderr


@pytest.mark.parametrize("store", ["gcs"], indirect=True)  # only GCS reports may leave out the header
def test_a_gcs_report_without_a_header_is_read_by_its_configured_fields(
    repo: Path, store: Store, reporting: Reporting, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted(store, capsys)
    fields = ("etag", "size", "generation", "name", "md5Hash", "updated")  # an order of its own
    code, found = run(capsys, "check", "--inventory", reporting.report(header=False, fields=fields))
    assert (code, found["summary"]) == (1, run(capsys, "check")[1]["summary"])


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ({"sourceBucket": "cohort\nfake line"}, "sourceBucket is not a bucket name"),
        (
            {"files": [{"key": "a/../../../etc/passwd", "size": 1, "MD5checksum": "0" * 32}]},
            "is not below the report",
        ),
        ({"fileFormat": "JSON"}, "fileFormat 'JSON' is none of CSV, ORC, Parquet"),
        ({"creationTimestamp": "soon"}, "a malformed manifest"),
        ({"files": "all of them"}, "a malformed manifest"),
    ],
)
def test_a_hostile_manifest_is_refused_in_one_line(
    s3_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict[str, Any], said: str
) -> None:
    manifest: dict[str, Any] = {
        "sourceBucket": "cohort",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "creationTimestamp": "1796083200000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, ETag",
        "files": [],
    } | edit
    place = tmp_path / "copy" / "cohort" / "daily" / "2026-12-01T00-00Z"
    place.mkdir(parents=True)
    raw = json.dumps(manifest).encode()
    (place / "manifest.json").write_bytes(raw)
    (place / "manifest.checksum").write_text(hashlib.md5(raw).hexdigest())
    err = one_line_error(capsys, ["check", "--inventory", str(place / "manifest.json")], 2)
    assert said in err and "\x1b" not in err


def test_many_entries_no_report_speaks_for_are_read_again_a_shard_at_a_time(
    track_s3: Callable[..., Any],
    s3_client: Any,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracked = [track_s3(f"m/{number}.vcf", b"x" * number) for number in range(4)]
    tracked[1].put(b"changed")
    other = emulators.unique_name("other")
    s3_client.create_bucket(Bucket=other)
    destination, written, _ = s3_written(s3_client, other)  # a report of another bucket
    monkeypatch.setattr(scan, "HOLD", 2)  # more than this many: the usual check reads the index again
    code, found = run(capsys, "check", "--inventory", f"s3://{destination}/{written.manifest_key}")
    assert (code, found["without_report"], found["asked"]) == (1, 4, 0)
    assert statuses(found) == statuses(run(capsys, "check")[1])
    assert statuses(found)["m/1.vcf"] == "modified"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ({"Key": "h/\x1b[31mred.vcf"}, "path contains NUL or control characters"),  # an escape in a key
        ({"Key": "h/plain.vcf", "ETag": "\x1b]0;owned\x07" + "0" * 24}, "etag"),  # and in an ETag
    ],
)
def test_a_hostile_row_never_reaches_the_index_or_the_terminal(
    track_s3: Callable[..., Any],
    s3_client: Any,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    row: dict[str, str],
    said: str,
) -> None:
    tracked = track_s3("h/a.vcf", b"a")
    before = (tracked.repo / INDEX).read_bytes()
    destination = emulators.unique_name("inventory")
    s3_client.create_bucket(Bucket=destination)
    rows = inventories.s3_rows(s3_client, s3_bucket, versions=False)
    written = inventories.s3_report(
        lambda key, data: s3_client.put_object(Bucket=destination, Key=key, Body=data),
        s3_bucket,
        destination,
        [*rows, dict(rows[0], **row)],
        fmt="parquet",
    )
    manifest = f"s3://{destination}/{written.manifest_key}"
    code = main(["track-remote", "--from-inventory", manifest, "--prefix", "h", "--path-prefix", "copy"])
    out = capsys.readouterr()
    assert code == 1 and "\x1b" not in out.out + out.err and "Traceback" not in out.err
    assert said in out.err
    assert (tracked.repo / INDEX).read_bytes() == before


def test_a_token_in_the_report_url_is_refused_unsent_and_masked(
    s3_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = "https://acct.blob.core.windows.net/inventory/m.json?sig=cafe0123456789abcdef"
    err = one_line_error(capsys, ["check", "--inventory", signed], 2)
    assert "cafe0123456789abcdef" not in err
