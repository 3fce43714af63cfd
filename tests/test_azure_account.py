"""Azure entries name their storage account (fence's az://<account>.blob.core.windows.net/... form), and
entries written before, az://container/blob, keep working and are migrated by `check --update`; against
Azurite, whose account devstoreaccount1 the connection string serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lfs_meta.cli import main

from conftest import use_env
from emulators import AzureEmulator, unique_name

INDEX = Path(".lfs-meta") / "metadata.json"
NAMED = "az://devstoreaccount1.blob.core.windows.net"
NOTE = "lfs-meta: note: {} no Azure storage account"


@pytest.fixture
def repo(git_repo: Path, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_env(monkeypatch, azure_emulator.env)
    monkeypatch.chdir(git_repo)
    return git_repo


def index() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(INDEX.read_text())
    return loaded


def test_tracking_records_the_account_whatever_form_is_given(
    repo: Path, azure_service: Any, azure_container: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("d/a.vcf", "d/sub/b c.vcf", "e.vcf"):
        azure_service.get_blob_client(azure_container, name).upload_blob(b"x")

    assert main(["track-remote", f"az://{azure_container}/e.vcf"]) == 0
    assert main(["track-remote", f"az://{azure_container}/d/", "--recursive", "--path-prefix", "d"]) == 0
    fence_form = f"{NAMED}/{azure_container}/d/a.vcf"
    assert main(["track-remote", fence_form, "--path", "fence/a.vcf"]) == 0
    assert main(["validate"]) == 0

    assert {path: entry["remote_url"] for path, entry in index().items()} == {
        "e.vcf": f"{NAMED}/{azure_container}/e.vcf",
        "d/a.vcf": fence_form,
        "d/sub/b c.vcf": f"{NAMED}/{azure_container}/d/sub/b%20c.vcf",
        "fence/a.vcf": fence_form,
    }
    capsys.readouterr()
    assert main(["check"]) == 0
    assert "note" not in capsys.readouterr().err


def test_legacy_entries_check_clean_with_a_note_and_update_records_the_account(
    repo: Path, azure_service: Any, azure_container: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = unique_name()
    azure_service.create_container(other)
    for container, name in ((azure_container, "d/a.vcf"), (azure_container, "d/b.vcf"), (other, "c d.vcf")):
        azure_service.get_blob_client(container, name).upload_blob(b"same")
    azure_service.get_blob_client(azure_container, "grown.vcf").upload_blob(b"short")
    for path, url in (
        ("a.vcf", f"az://{azure_container}/d/a.vcf"),
        ("b.vcf", f"az://{azure_container}/d/b.vcf"),
        ("c.vcf", f"az://{other}/c%20d.vcf"),
        ("grown.vcf", f"az://{azure_container}/grown.vcf"),
    ):
        assert main(["track-remote", url, "--path", path]) == 0
    legacy = {
        path: {**entry, "remote_url": "az://" + entry["remote_url"].partition("windows.net/")[2]}
        for path, entry in index().items()
    }
    legacy["a.vcf"]["patient"] = "Patient/P1"
    INDEX.write_text(json.dumps(legacy))
    capsys.readouterr()

    assert main(["check"]) == 0  # what the pre-push hook decides on
    out, err = capsys.readouterr()
    assert "4 unchanged, 0 modified" in out
    assert NOTE.format("4 entries name") in err and "'lfs-meta check --update' records" in err
    assert json.loads(INDEX.read_text()) == legacy

    azure_service.get_blob_client(azure_container, "grown.vcf").upload_blob(b"longer now", overwrite=True)
    assert main(["check", "--update"]) == 0
    out, err = capsys.readouterr()
    assert "recorded the Azure storage account of 3 unchanged entries" in out
    assert "grown.vcf: updated to the remote's current metadata" in out
    assert "note" not in err
    migrated = index()
    assert {path: entry["remote_url"] for path, entry in migrated.items()} == {
        "a.vcf": f"{NAMED}/{azure_container}/d/a.vcf",
        "b.vcf": f"{NAMED}/{azure_container}/d/b.vcf",
        "c.vcf": f"{NAMED}/{other}/c%20d.vcf",
        "grown.vcf": f"{NAMED}/{azure_container}/grown.vcf",
    }
    for path in ("a.vcf", "b.vcf", "c.vcf"):  # everything else kept as it was
        assert migrated[path] == {**legacy[path], "remote_url": migrated[path]["remote_url"]}
    assert migrated["grown.vcf"]["size"] == len(b"longer now")
    assert main(["check"]) == 0
    assert "4 unchanged" in capsys.readouterr().out

    (repo / ".lfs-meta" / "config").write_text("[gen3]\nauthz = /programs/a/projects/b\n")
    assert main(["export", "--format", "gen3"]) == 0  # Azurite stores each upload's Content-MD5
    rows = capsys.readouterr().out.splitlines()[1:]
    assert sorted(row.split("\t")[4] for row in rows) == sorted(e["remote_url"] for e in migrated.values())


def test_a_missing_legacy_entry_is_not_migrated_and_stays_in_the_note(
    repo: Path, azure_container: str, capsys: pytest.CaptureFixture[str]
) -> None:
    INDEX.parent.mkdir()
    INDEX.write_text(json.dumps({"gone.vcf": {"remote_url": f"az://{azure_container}/gone.vcf", "size": 1}}))

    assert main(["check", "--update"]) == 1
    out, err = capsys.readouterr()
    assert "gone.vcf: missing" in out
    assert NOTE.format("1 entry names") in err
    assert index()["gone.vcf"]["remote_url"] == f"az://{azure_container}/gone.vcf"
