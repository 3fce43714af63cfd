"""lfs-meta init-meta: files under META/, written only when their bytes change; the lfs-meta-fhir hooks."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lfs_meta import codekey
from lfs_meta import git as git_layer
from lfs_meta.cli import main
from lfs_meta.fhir import mapping, meta, stamp

from conftest import ROOT, SEED_INDEX, git, pre_commit, usage_error

INDEX = Path(".lfs-meta") / "metadata.json"
META = Path("META")
DOCS = META / "DocumentReference.ndjson"


def write(repo: Path, entries: dict[str, dict[str, object]]) -> None:
    (repo / INDEX).parent.mkdir(exist_ok=True)
    (repo / INDEX).write_text(json.dumps(entries))


def entry(name: str, **fields: object) -> dict[str, object]:
    return {"remote_url": f"s3://bkt/{name}", "size": 10, **fields}


def snapshot(repo: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((repo / META).glob("*"))}


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    monkeypatch.delenv("PRE_COMMIT_CHECKOUT_TYPE", raising=False)
    return git_repo


def test_writes_three_files_then_nothing_until_the_index_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        repo,
        {
            "b.vcf": entry("b.vcf", patient="Patient/2", specimen="Specimen/S2"),
            "a.bam": entry("a.bam", patient="Patient/1"),
        },
    )
    assert main(["init-meta"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "META/DocumentReference.ndjson: wrote 2 resource(s)",
        "META/Patient.ndjson: wrote 2 resource(s)",
        "META/Specimen.ndjson: wrote 1 resource(s)",
    ]
    documents = [json.loads(line) for line in (repo / DOCS).read_text().splitlines()]
    assert [d["identifier"][0]["value"] for d in documents] == ["a.bam", "b.vcf"]
    before = snapshot(repo)

    assert main(["init-meta"]) == 0
    assert capsys.readouterr().out == "META/ is up to date\n"
    assert snapshot(repo) == before  # same bytes, and not even rewritten

    os.utime(repo / INDEX, ns=(1, 1))  # an old index is not a reason to rewrite: content decides
    write(repo, {"a.bam": entry("a.bam", patient="Patient/1")})
    assert main(["init-meta", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == {
        "META/DocumentReference.ndjson": {"resources": 1, "changed": True},
        "META/Patient.ndjson": {"resources": 1, "changed": True},
        "META/Specimen.ndjson": {"resources": 0, "changed": True},
    }
    assert sorted(p.name for p in (repo / META).iterdir()) == [
        ".gitattributes",
        "DocumentReference.ndjson",
        "Patient.ndjson",
    ]
    assert (repo / META / "Patient.ndjson").read_text() == '{"resourceType":"Patient","id":"1"}\n'


def test_output_is_byte_identical_across_runs_and_machines(repo: Path, tmp_path: Path) -> None:
    write(repo, {f"d/{i}.vcf": entry(f"{i}.vcf", patient=f"Patient/{i % 3}") for i in range(50)})
    assert main(["init-meta", "--project", "p"]) == 0
    first = (repo / DOCS).read_bytes()
    other = tmp_path / "elsewhere"
    shutil.copytree(repo / ".lfs-meta", other / ".lfs-meta")
    done = subprocess.run(
        [sys.executable, "-m", "lfs_meta", "init-meta", "--project", "p"],
        cwd=other,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (other / DOCS).read_bytes() == first


def test_project_and_version_come_from_the_config_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, {"a.vcf": entry("a.vcf", size=5 * 10**9)})
    assert main(["init-meta"]) == 0
    default = json.loads((repo / DOCS).read_text())
    (repo / ".lfs-meta" / "config").write_text("[fhir]\nproject = study-9\nversion = R4B\n")
    assert main(["init-meta"]) == 0
    configured = json.loads((repo / DOCS).read_text())
    assert configured["id"] != default["id"]
    assert default["content"][0]["attachment"]["size"] == "5000000000"
    assert "size" not in configured["content"][0]["attachment"]  # R4B: in the size extension
    assert main(["init-meta", "--project", "", "--fhir-version", "R5"]) == 0
    assert json.loads((repo / DOCS).read_text()) == default
    capsys.readouterr()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("[fhir]\nversion = R4\n", "[fhir] version is 'R4'; use one of R5, R4B"),
        ("[fhir]\nprojekt = x\n", "unknown projekt; it holds [fhir] with 'project', 'version' and 'profile'"),
        ("[other]\n", "unknown [other]"),
        ("project = x\n", "unreadable (File contains no section headers."),
    ],
)
def test_bad_config_is_one_line_and_nothing_is_written(
    repo: Path, config: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    (repo / ".lfs-meta" / "config").write_text(config)
    err = usage_error(["init-meta"], capsys)
    assert err.startswith("lfs-meta: error: .lfs-meta/config: ") and words in err
    assert not (repo / META).exists()


def test_invalid_index_leaves_meta_untouched(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"a.vcf": entry("a.vcf", patient="Patient/1")})
    assert main(["init-meta"]) == 0
    before = snapshot(repo)
    (repo / INDEX).write_text('{"a.vcf": {"remote_url": "s3://bkt/a.vcf", "size": -1}}')
    capsys.readouterr()
    assert main(["init-meta"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("lfs-meta: error: .lfs-meta/metadata.json: /a.vcf/size: must be at least 0")
    assert err[0].endswith("META/ was left as it was")
    assert snapshot(repo) == before


def test_check_writes_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    assert main(["init-meta", "--check"]) == 1
    assert capsys.readouterr().out == (
        "META/DocumentReference.ndjson: out of date; run 'lfs-meta init-meta' to regenerate it\n"
    )
    assert not (repo / META).exists()
    assert main(["init-meta"]) == 0
    assert main(["init-meta", "--check"]) == 0


def test_no_index_is_nothing_to_do(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init-meta"]) == 0
    assert capsys.readouterr().out == "no index at .lfs-meta/metadata.json; nothing to write\n"
    assert not (repo / META).exists()


def test_output_elsewhere_and_reserved_names(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"a.vcf": entry("a.vcf", patient="Patient/1")})
    assert main(["init-meta", "--input", str(INDEX), "--output", "out/docs.ndjson"]) == 0
    written = sorted(p.name for p in (repo / "out").iterdir())
    assert written == [".gitattributes", "Patient.ndjson", "docs.ndjson"]
    assert "that name is kept for the Patient stubs" in usage_error(
        ["init-meta", "--output", "out/Patient.ndjson"], capsys
    )


def test_hook_mode_fails_when_it_wrote_except_after_checkout(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    assert main(["init-meta", "--hook"]) == 1
    assert main(["init-meta", "--hook"]) == 0
    write(repo, {"b.vcf": entry("b.vcf")})
    monkeypatch.setenv("PRE_COMMIT_CHECKOUT_TYPE", "1")
    assert main(["init-meta", "--hook"]) == 0
    assert "b.vcf" in (repo / DOCS).read_text()
    capsys.readouterr()


def test_staged_mode_compares_with_what_the_commit_records(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    assert main(["init-meta", "--hook", "--staged"]) == 0  # nothing staged: nothing to check
    assert git(repo, "add", str(INDEX)).returncode == 0
    assert main(["init-meta", "--hook", "--staged"]) == 1  # written, not yet staged
    assert main(["init-meta", "--hook", "--staged"]) == 1  # current on disk, still not staged
    assert capsys.readouterr().out.splitlines()[-1] == (
        "META/DocumentReference.ndjson: staged content is not what the index gives; "
        "run 'git add META' and commit again"
    )
    assert git(repo, "add", "META").returncode == 0
    assert main(["init-meta", "--hook", "--staged"]) == 0

    (repo / INDEX).write_text("{not staged, so not read")
    assert main(["init-meta", "--hook", "--staged"]) == 0


class Mappings:
    """Counts the index's mappings to FHIR, each made by the real function."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.count = 0
        self.capsys = capsys
        real = mapping.ndjson_files

        def counted(*args: Any) -> dict[str, bytearray]:
            self.count += 1
            return real(*args)

        monkeypatch.setattr(mapping, "ndjson_files", counted)

    def made(self, argv: list[str]) -> tuple[int, str, int]:
        """(exit status, JSON report, mappings made) of one init-meta run."""
        before = self.count
        code = main([*argv, "--json"])
        return code, self.capsys.readouterr().out, self.count - before


@pytest.fixture
def mappings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Mappings:
    return Mappings(monkeypatch, capsys)


def note_of(repo: Path) -> Path:
    return repo / ".git" / stamp.NOTE_PATH


def test_an_unchanged_index_is_not_mapped_again(repo: Path, mappings: Mappings) -> None:
    write(repo, {"a.vcf": entry("a.vcf", patient="Patient/1"), "b.vcf": entry("b.vcf")})
    code, written, count = mappings.made(["init-meta"])
    assert (code, count, json.loads(written)["written"]) == (0, 1, True)
    assert note_of(repo).is_file()
    before = snapshot(repo)
    code, recalled, count = mappings.made(["init-meta"])
    assert (code, count) == (0, 0)
    assert snapshot(repo) == before
    note_of(repo).unlink()  # the same run without the note says exactly the same
    assert mappings.made(["init-meta"]) == (0, recalled, 1)
    assert mappings.made(["init-meta", "--check"])[::2] == (0, 0)

    assert git(repo, "add", ".").returncode == 0
    assert mappings.made(["init-meta", "--hook", "--staged"])[::2] == (0, 0)  # the every-commit case


@pytest.mark.parametrize(
    "change",
    [
        "index",
        "config",
        "fhir version",
        "edited file",
        "deleted file",
        "code",
        "corrupt note",
    ],
)
def test_anything_meta_depends_on_maps_the_index_again(
    repo: Path, mappings: Mappings, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    write(repo, {"a.vcf": entry("a.vcf", patient="Patient/1")})
    assert mappings.made(["init-meta"])[::2] == (0, 1)
    argv = ["init-meta"]
    if change == "index":
        write(repo, {"a.vcf": entry("a.vcf", patient="Patient/2")})
    elif change == "config":
        (repo / ".lfs-meta" / "config").write_text("[fhir]\nproject = other\n")
    elif change == "fhir version":
        argv.append("--fhir-version=R4B")
    elif change == "edited file":
        (repo / DOCS).write_text((repo / DOCS).read_text().replace("a.vcf", "x.vcf"))
    elif change == "deleted file":
        (repo / META / "Patient.ndjson").unlink()
    elif change == "code":
        monkeypatch.setattr(meta, "code_fingerprint", lambda profile, *more: "another lfs-meta")
    else:
        note_of(repo).write_text('{"key": ')
    assert mappings.made(argv)[::2] == (0, 1)
    # What the note knew no longer holds: the files are what a run from nothing writes.
    current = {path.name: path.read_bytes() for path in sorted((repo / META).iterdir())}
    shutil.rmtree(repo / META)
    note_of(repo).unlink()
    assert mappings.made(argv)[::2] == (0, 1)
    assert {path.name: path.read_bytes() for path in sorted((repo / META).iterdir())} == current


def test_staged_files_that_are_not_current_are_found_though_disk_is(repo: Path, mappings: Mappings) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    assert git(repo, "add", str(INDEX)).returncode == 0
    assert mappings.made(["init-meta", "--hook", "--staged"])[::2] == (1, 1)
    assert git(repo, "add", "META").returncode == 0
    assert mappings.made(["init-meta", "--hook", "--staged"])[::2] == (0, 0)
    (repo / DOCS).write_text("stale\n")
    assert git(repo, "add", "META").returncode == 0
    assert mappings.made(["init-meta"])[::2] == (0, 1)  # disk current again; the staged file is still stale
    code, report, count = mappings.made(["init-meta", "--hook", "--staged"])
    assert (code, count, json.loads(report)["unstaged"]) == (1, 1, ["META/DocumentReference.ndjson"])


def test_without_a_note_everything_still_works(
    repo: Path, tmp_path: Path, mappings: Mappings, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_of(repo).parent.write_text("a file where the note's directory would be")
    write(repo, {"a.vcf": entry("a.vcf")})
    assert mappings.made(["init-meta"])[::2] == (0, 1)
    assert mappings.made(["init-meta"])[::2] == (0, 1)
    assert (repo / DOCS).is_file()

    outside = tmp_path / "not-a-repository"
    (outside / INDEX).parent.mkdir(parents=True)
    (outside / INDEX).write_text(json.dumps({"a.vcf": entry("a.vcf")}))
    monkeypatch.chdir(outside)
    assert mappings.made(["init-meta"])[::2] == (0, 1)
    assert mappings.made(["init-meta"])[::2] == (0, 1)
    assert (outside / DOCS).is_file()


def test_the_note_works_in_a_sha256_repository(
    tmp_path: Path, mappings: Mappings, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "sha256"
    assert git(tmp_path, "init", "-q", "--object-format=sha256", str(repo)).returncode == 0
    monkeypatch.chdir(repo)
    write(repo, {"a.vcf": entry("a.vcf")})
    assert git(repo, "add", str(INDEX)).returncode == 0
    assert mappings.made(["init-meta", "--hook", "--staged"])[::2] == (1, 1)
    assert git(repo, "add", "META").returncode == 0
    staged_id = git(repo, "ls-files", "--stage", str(DOCS)).stdout.split()[1]
    assert len(staged_id) == 64 and codekey.blob_id((repo / DOCS).read_bytes(), "sha256") == staged_id
    assert mappings.made(["init-meta", "--hook", "--staged"])[::2] == (0, 0)


def test_blob_ids_are_gits_and_pathspecs_are_literal(repo: Path) -> None:
    for name in ("a*b.ndjson", "axb.ndjson", "plain.ndjson"):
        (repo / name).write_text(f"{name}\n")
    assert git(repo, "add", "a*b.ndjson", "axb.ndjson").returncode == 0
    ids = git_layer.staged_blob_ids(repo, ["a*b.ndjson", "plain.ndjson"])
    hashed = git(repo, "hash-object", "a*b.ndjson").stdout.strip()
    assert ids == {"a*b.ndjson": hashed}
    assert codekey.blob_id((repo / "a*b.ndjson").read_bytes()) == hashed


def test_init_meta_imports_no_cloud_sdk(repo: Path) -> None:
    write(repo, json.loads(SEED_INDEX))
    probe = (
        "import sys; from lfs_meta.cli import main; code = main(['init-meta']); "
        "loaded = [m for m in ('boto3', 'botocore', 'google.cloud', 'google.auth', 'azure', 'git') "
        "if m in sys.modules]; print(code, loaded)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr


def test_fhir_hook_through_pre_commit(
    git_repo: Path, hook_repo: tuple[Path, str], hook_env: dict[str, str]
) -> None:
    repo_path, rev = hook_repo
    (git_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks:\n  - id: lfs-meta-validate\n"
        "  - id: lfs-meta-fhir\n"
    )
    assert git(git_repo, "add", ".pre-commit-config.yaml").returncode == 0
    done = pre_commit("install", "-t", "pre-commit", "-t", "post-checkout", cwd=git_repo, env=hook_env)
    assert done.returncode == 0, done.stderr

    write(git_repo, json.loads(SEED_INDEX))
    assert git(git_repo, "add", str(INDEX)).returncode == 0
    stopped = git(git_repo, "commit", "-m", "track foo", env=hook_env)
    assert stopped.returncode == 1
    output = stopped.stdout + stopped.stderr
    assert re.search(r"regenerate FHIR NDJSON in META/\.+Failed", output)
    assert "META/DocumentReference.ndjson: wrote 1 resource(s)" in output
    assert "run 'git add META' and commit again" in output

    assert git(git_repo, "add", "META").returncode == 0
    accepted = git(git_repo, "commit", "-m", "track foo", env=hook_env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    committed = git(git_repo, "show", "--stat", "HEAD").stdout
    assert committed.count("META/") == 4 and "META/.gitattributes" in committed  # kept out of filters

    manual = pre_commit(
        "run", "--hook-stage", "manual", "lfs-meta-fhir", "--all-files", cwd=git_repo, env=hook_env
    )
    assert manual.returncode == 0, manual.stdout

    # A branch whose META/ was never committed: checking it out regenerates META/ from its own index.
    assert git(git_repo, "checkout", "-q", "-b", "legacy").returncode == 0
    assert git(git_repo, "rm", "-rq", "META").returncode == 0
    write(git_repo, {"data/bar.vcf": entry("bar.vcf")})
    assert git(git_repo, "commit", "-qam", "legacy", "--no-verify").returncode == 0
    assert not (git_repo / META).exists()
    assert git(git_repo, "checkout", "-q", "main", env=hook_env).returncode == 0
    assert "Patient/1234" in (git_repo / DOCS).read_text()
    switched = git(git_repo, "checkout", "legacy", env=hook_env)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert [json.loads(line)["identifier"][0]["value"] for line in (git_repo / DOCS).open()] == [
        "data/bar.vcf"
    ]
    assert not (git_repo / META / "Patient.ndjson").exists()


def test_plain_post_checkout_hook(git_repo: Path, cli_env: dict[str, str]) -> None:
    shutil.copy2(ROOT / "hooks" / "post-checkout", git_repo / ".git" / "hooks" / "post-checkout")
    write(git_repo, json.loads(SEED_INDEX))
    assert git(git_repo, "add", "-A").returncode == 0
    assert git(git_repo, "commit", "-qm", "index, no META", env=cli_env).returncode == 0
    assert git(git_repo, "checkout", "-q", "-b", "other", env=cli_env).returncode == 0
    assert (git_repo / DOCS).exists()
    assert "Patient/1234" in (git_repo / DOCS).read_text()


def test_unwritable_output_is_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"a.vcf": entry("a.vcf")})
    (repo / META).write_text("a file where META/ should be")
    err = usage_error(["init-meta"], capsys)
    assert err == "lfs-meta: error: META: not a directory; move it away or choose another --output\n"
    assert (repo / META).read_text() == "a file where META/ should be"


def test_a_missing_input_named_on_the_command_line_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["init-meta", "--input", "nope.json"], capsys)
    assert err == (
        "lfs-meta: error: --input nope.json: no such file; pass the index (default .lfs-meta/metadata.json)\n"
    )
    assert not (repo / META).exists()


def test_thecode_fingerprint_reads_each_module_through_its_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note's key covers the source of the modules that shape META/, found by import, not by name."""
    module_file = tmp_path / "shaping_probe.py"
    module_file.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = importlib.import_module("shaping_probe")
    first = codekey.fingerprint([mapping, probe])
    assert codekey.fingerprint([mapping, probe]) == first
    module_file.write_text("VALUE = 2\n")
    assert codekey.fingerprint([mapping, probe]) != first
    assert codekey.fingerprint([mapping]) != codekey.fingerprint([meta])
    assert codekey.fingerprint([sys]) is None  # built in: no source, so no note can be trusted
