"""The gen3 profile and the Gen3 indexing manifest, held to the real tools: gen3-tracker's (g3t)
`g3t meta validate` (Python 3.12 only) and the gen3 SDK's manifest validator and parser, both installed
in .venv-gen3 by `make test`."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fhir_core.constraints
import pytest

from lfs_meta import config
from lfs_meta.cli import main
from lfs_meta.fhir import gen3
from lfs_meta.index.entry import Entry

from conftest import ROOT, usage_error

fhir_core.constraints.TYPES_ID_MAX_LENGTH = 64
import fhir.resources  # noqa: E402

GEN3_VENV = ROOT / ".venv-gen3" / "bin"
G3T = GEN3_VENV / "g3t"
NEEDS_G3T = pytest.mark.skipif(
    not G3T.exists(),
    reason="no Python 3.12 here for .venv-gen3: gen3-tracker 0.0.7 does not run on 3.11 (uuid3 of bytes)",
)
CONFIG = "[fhir]\nprofile = gen3\nproject = aced-demo\n"
# S3, GCS, Azure and https entries, with a patient and a specimen, a patient alone, a specimen alone
# and neither; MD5 from an ETag, from a checksum, and none at all.
INDEX = {
    "data/a.bam": {
        "remote_url": "s3://cohort/a.bam",
        "size": 10,
        "etag": "0123456789abcdef0123456789abcdef",
        "etag_kind": "md5",
        "last_modified": "2026-01-31T12:00:00Z",
        "patient": "Patient/P1",
        "specimen": "Specimen/S1",
    },
    "data/b.vcf": {
        "remote_url": "gs://cohort/b.vcf",
        "size": 20,
        "etag": "CJj4",
        "etag_kind": "opaque",
        "checksums": {"md5": "00112233445566778899aabbccddeeff", "crc32c": "a1b2c3d4"},
        "patient": "Patient/P2",
    },
    "data/c.cram": {
        "remote_url": "az://acct.blob.core.windows.net/cohort/c.cram",
        "size": 30,
        "etag": "0123456789abcdef0123456789abcdef",  # looks like an MD5, but the store says it is not one
        "etag_kind": "opaque",
    },
    "data/d.txt": {
        "remote_url": "https://example.org/files/d.txt",
        "size": 40,
        "checksums": {"sha256": "a" * 64},
        "specimen": "Specimen/S9",
    },
    "data/e.fastq.gz": {"remote_url": "s3://cohort/e.fastq.gz", "size": 50, "checksums": {"md5": "f" * 32}},
    "data/f.bam": {
        "remote_url": "s3://cohort/f.bam",
        "size": 60,
        "etag": "0123456789abcdef0123456789abcdef-3",
        "etag_kind": "multipart",
        "patient": "Patient/P1",
    },
}


def write_repo(repo: Path, config: str = CONFIG) -> None:
    (repo / ".lfs-meta").mkdir(exist_ok=True)
    (repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(INDEX))
    (repo / ".lfs-meta" / "config").write_text(config)


def resources(repo: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted((repo / "META").glob("*.ndjson"))
    }


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    write_repo(git_repo)
    return git_repo


def test_ids_are_the_ones_g3t_computed() -> None:
    """Ids that g3t 0.0.7 itself wrote for `g3t add s3://my-bucket/dir/a.bam --patient P1 --specimen S1`
    in project aced-demo; and its DocumentReference rule, as g3t's source states it."""
    assert gen3.resource_id("aced-demo", "Patient", "P1") == "8192d026-c1fa-5d23-a8f7-bc4fb44245ca"
    assert gen3.resource_id("aced-demo", "Specimen", "S1") == "545fec99-9011-5bee-b5a5-7a4dacf5141e"
    assert (
        gen3.resource_id("aced-demo", "ResearchStudy", "aced-demo") == "43433fc9-88a8-53e1-9b8f-5fbb3d8cee3e"
    )
    assert gen3.resource_id("aced-demo", "ResearchSubject", "P1") == "6bbc92f2-e5af-59f9-aa20-176a37d05981"
    assert gen3.document_id("aced-demo", "my-bucket/dir/a.bam") == "c385ff00-6f8e-56a8-a3f7-2d6965b5e0a7"
    namespace = uuid.uuid3(uuid.NAMESPACE_DNS, "aced-idp.org")
    assert gen3.document_id("p-q", "x/y z.vcf") == str(uuid.uuid5(namespace, "p-q::x/y z.vcf"))


def test_meta_follows_g3t_conventions_and_validates_as_r5(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init-meta"]) == 0
    found = resources(repo)
    assert sorted(found) == sorted(gen3.RESOURCE_TYPES)
    assert len(found["ResearchStudy"]) == 1 and len(found["ResearchSubject"]) == 2  # one per patient
    ids = {f"{kind}/{resource['id']}" for kind, items in found.items() for resource in items}
    system = "https://aced-idp.org/aced-demo"
    for kind, items in found.items():
        for resource in items:
            fhir.resources.get_fhir_model_class(kind).model_validate(resource)
            assert resource["identifier"][0]["system"] == system and resource["identifier"][0]["value"]
            for reference in _references(resource):
                assert reference in ids
    documents = {doc["content"][0]["attachment"]["url"]: doc for doc in found["DocumentReference"]}
    assert sorted(documents) == [f"file:///{path}" for path in sorted(INDEX)]
    subjects = {url: doc["subject"]["reference"].partition("/")[0] for url, doc in documents.items()}
    assert subjects == {
        "file:///data/a.bam": "Specimen",
        "file:///data/b.vcf": "Patient",
        "file:///data/c.cram": "ResearchStudy",
        "file:///data/d.txt": "Specimen",
        "file:///data/e.fastq.gz": "ResearchStudy",
        "file:///data/f.bam": "Patient",
    }
    a_bam = documents["file:///data/a.bam"]["content"][0]["attachment"]
    assert {
        e["url"].rpartition("/")[2]: e.get("valueString", e.get("valueUrl")) for e in a_bam["extension"]
    } == {
        "md5": INDEX["data/a.bam"]["etag"],
        "etag": INDEX["data/a.bam"]["etag"],
        "source_path": "s3://cohort/a.bam",
    }
    c_cram = documents["file:///data/c.cram"]["content"][0]["attachment"]["extension"]
    assert c_cram == [
        {"url": gen3.SOURCE_PATH, "valueUrl": "az://acct.blob.core.windows.net/cohort/c.cram"}
    ]  # an opaque ETag is no hash


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference":
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


@pytest.mark.parametrize(
    ("config", "argv", "words"),
    [
        (CONFIG + "version = R4B\n", [], "FHIR R4B with the gen3 profile: gen3-tracker reads R5 only"),
        (CONFIG, ["--fhir-version", "R4B"], "FHIR R4B with the gen3 profile"),
        ("[fhir]\nprofile = gen3\n", [], "[fhir] project is ''; the gen3 profile needs the Gen3 project"),
        (CONFIG, ["--project", "aced"], "--project is 'aced'; the gen3 profile needs"),
        ("[fhir]\nprofile = gen4\n", [], "[fhir] profile is 'gen4'; use one of default, gen3"),
    ],
)
def test_a_gen3_profile_it_cannot_honour_is_a_usage_error_and_writes_nothing(
    repo: Path, config: str, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".lfs-meta" / "config").write_text(config)
    assert words in usage_error(["init-meta", *argv], capsys)
    assert not (repo / "META").exists()


def test_the_profile_flag_switches_and_the_other_profiles_files_go(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".lfs-meta" / "config").write_text("[fhir]\nproject = aced-demo\n")
    assert main(["init-meta", "--profile", "gen3"]) == 0
    assert (repo / "META" / "ResearchSubject.ndjson").exists()
    assert main(["init-meta", "--profile", "gen3", "--check"]) == 0
    assert main(["init-meta", "--check"]) == 1  # the default profile's bytes differ
    assert main(["init-meta"]) == 0
    assert sorted(resources(repo)) == ["DocumentReference", "Patient", "Specimen"]  # no stale study
    documents = resources(repo)["DocumentReference"]
    assert documents[0]["content"][0]["attachment"]["url"] == "s3://cohort/a.bam"  # the default's shape


def _gen3_sdk(script: str, *args: str) -> str:
    done = subprocess.run(
        [GEN3_VENV / "python", "-c", script, *args], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_export_is_a_manifest_the_gen3_sdk_validates_and_indexes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init-meta"]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "gen3", "-o", "manifest.tsv"]) == 1  # three entries have no MD5
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "manifest.tsv: 3 file(s) for indexd"
    assert [line.partition(": left out")[0] for line in err[1:]] == [
        "lfs-meta: data/c.cram",
        "lfs-meta: data/d.txt",
        "lfs-meta: data/f.bam",  # a multipart ETag is no MD5
    ]
    assert all("indexd requires an MD5" in line for line in err[1:])
    validate = (
        "import sys\nfrom gen3.tools.indexing import is_valid_manifest_format\n"
        "print(is_valid_manifest_format(sys.argv[1], allowed_protocols=['s3', 'gs', 'az', 'https']))"
    )
    assert _gen3_sdk(validate, str(repo / "manifest.tsv")).splitlines()[-1] == "True"
    # What index_object_manifest reads before it calls indexd: the rows it would register.
    parse = (
        "import json, sys\nfrom gen3.tools.utils import get_and_verify_fileinfos_from_manifest\n"
        "files, _ = get_and_verify_fileinfos_from_manifest(sys.argv[1])\n"
        "fields = ('guid', 'md5', 'size', 'authz', 'urls', 'file_name')\n"
        "print(json.dumps([[str(f[name]) for name in fields] for f in files]))"
    )
    rows = json.loads(_gen3_sdk(parse, str(repo / "manifest.tsv")).splitlines()[-1])
    documents = {
        doc["content"][0]["attachment"]["url"]: doc["id"] for doc in resources(repo)["DocumentReference"]
    }
    assert [row[0] for row in rows] == [documents[f"file:///{row[5]}"] for row in rows]  # guid = FHIR id
    assert [row[5] for row in rows] == ["data/a.bam", "data/b.vcf", "data/e.fastq.gz"]
    assert {row[3] for row in rows} == {"/programs/aced/projects/demo"}


ACCOUNT = "devstoreaccount1.blob.core.windows.net"
# Awkward keys as an entry holds them (S3 and GCS raw, Azure percent-encoded), and what indexd must get
# for fence to sign them: the raw key, Azure in fence's az://<account host>/<container>/<blob> form.
AWKWARD = {
    "s3.bam": ("s3://cohort/run 1/a  b+c,d%41\u00e9.bam", "s3://cohort/run 1/a  b+c,d%41\u00e9.bam"),
    "gs.bam": ("gs://cohort/run 1/a b.bam", "gs://cohort/run 1/a b.bam"),
    "az.bam": (
        f"az://{ACCOUNT}/cohort/run%201/a%20%20b%2Bc%2Cd%C3%A9.bam",
        f"az://{ACCOUNT}/cohort/run 1/a  b+c,d\u00e9.bam",
    ),
    "https.bam": (f"https://{ACCOUNT}/cohort/x%20y.bam", f"az://{ACCOUNT}/cohort/x y.bam"),
}
CANNOT = "its key holds a character that the gen3 SDK's manifest reader drops or splits on"
LEFT_OUT = {
    "legacy.bam": (
        "az://cohort/legacy.bam",
        "names no Azure storage account; run 'lfs-meta check --update legacy.bam'",
    ),
    "quote.bam": ("s3://cohort/it's.bam", CANNOT),
    "bracket.bam": ("gs://cohort/a[1].bam", CANNOT),
    "escape.bam": ("s3://cohort/a%20b.bam", CANNOT),  # a literal '%20', which the reader would decode
    "percent.bam": (f"az://{ACCOUNT}/cohort/a%2541.bam", CANNOT),  # fence's https URL would decode it
}
MD5 = "a" * 32


def test_awkward_keys_round_trip_through_the_gen3_sdk(tmp_path: Path) -> None:
    """Spaces and what else the reader splits on, as the SDK's validator and reader take them; the
    entries are made here, since the index holds no raw space in an S3 or GCS URL."""
    entries = {path: Entry(url, 1, checksums={"md5": MD5}) for path, (url, _) in AWKWARD.items()}
    text, left_out = gen3.manifest(entries, dict.fromkeys(entries, "g"), "/programs/a/projects/b")
    assert left_out == {}
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(text)
    validate = (
        "import sys\nfrom gen3.tools.indexing import is_valid_manifest_format\n"
        "print(is_valid_manifest_format(sys.argv[1], allowed_protocols=['s3', 'gs', 'az']))"
    )
    assert _gen3_sdk(validate, str(manifest)).splitlines()[-1] == "True"
    # The urls index_object_manifest sends to indexd: its reader's, then its get_urls.
    parse = (
        "import json, sys\nfrom gen3.tools.utils import get_and_verify_fileinfos_from_manifest\n"
        "from gen3.utils import get_urls\n"
        "files, _ = get_and_verify_fileinfos_from_manifest(sys.argv[1])\n"
        "print(json.dumps({f['file_name']: get_urls(f['urls']) for f in files}))"
    )
    sent = json.loads(_gen3_sdk(parse, str(manifest)).splitlines()[-1])
    assert sent == {path: [indexd] for path, (_, indexd) in AWKWARD.items()}


def test_export_writes_fences_azure_form_and_names_what_it_leaves_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = {path: AWKWARD[path] for path in ("az.bam", "https.bam")}
    index = {
        path: {"remote_url": url, "size": 1, "checksums": {"md5": MD5}}
        for path, (url, _) in {**kept, **LEFT_OUT}.items()
    }
    (repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(index))
    assert main(["export", "--format", "gen3"]) == 1
    out, err = capsys.readouterr()
    assert [line.split("\t")[4] for line in out.splitlines()[1:]] == [
        f"az://{ACCOUNT}/cohort/run%201/a%20%20b+c,d\u00e9.bam",
        f"az://{ACCOUNT}/cohort/x%20y.bam",
    ]
    lines = err.splitlines()
    assert len(lines) == len(LEFT_OUT)
    for path, (_, why) in LEFT_OUT.items():
        assert any(line.startswith(f"lfs-meta: {path}: left out of the manifest: {why}") for line in lines)


def test_a_bad_md5_row_is_refused_by_the_same_validator(repo: Path) -> None:
    """The SDK check above can fail: a manifest with an ETag that is no MD5 is refused."""
    manifest = repo / "bad.tsv"
    manifest.write_text(
        "guid\tmd5\tsize\tauthz\turls\tfile_name\nx\tCJj4\t1\t/programs/a/projects/b\tgs://b/k\tk\n"
    )
    validate = (
        "import sys\nfrom gen3.tools.indexing import is_valid_manifest_format\n"
        "print(is_valid_manifest_format(sys.argv[1]))"
    )
    assert _gen3_sdk(validate, str(manifest)).splitlines()[-1] == "False"


def test_export_needs_an_authz_and_names_where_to_put_it(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    write_repo(git_repo, config="")
    err = usage_error(["export", "--format", "gen3"], capsys)
    assert "no [gen3] authz; add '[gen3]' then 'authz = /programs/<program>/projects/<project>'" in err
    (git_repo / ".lfs-meta" / "config").write_text("[gen3]\nauthz = /programs/x/projects/y\n")
    assert main(["export", "--format", "gen3"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "guid\tmd5\tsize\tauthz\turls\tfile_name"
    assert all(line.split("\t")[3] == "/programs/x/projects/y" for line in out[1:]) and len(out) == 4


@pytest.fixture
def g3t_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project made by `g3t init aced-demo --no-server`, and the environment g3t needs to start
    (a gen3 client profile in HOME, a git identity)."""
    home = tmp_path / "home"
    (home / ".gen3").mkdir(parents=True)
    (home / ".gen3" / "gen3_client_config.ini").write_text(
        "[local]\napi_endpoint=https://localhost\napi_key=x\n"
    )
    identity = {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "t"), ("EMAIL", "t@example.org"))
    }
    env = {**os.environ, "HOME": str(home), **identity}
    project = tmp_path / "project"
    project.mkdir()
    done = subprocess.run(
        [G3T, "init", "aced-demo", "--no-server"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return project, env


def _g3t_validate(project: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    done = subprocess.run(
        [G3T, "meta", "validate", "META"], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("META")]
    return done.returncode, problems


@NEEDS_G3T
def test_g3t_meta_validate_accepts_the_gen3_profile(
    g3t_project: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project, env = g3t_project
    monkeypatch.chdir(project)
    write_repo(project)
    assert main(["validate"]) == 0
    assert main(["init-meta"]) == 0
    assert _g3t_validate(project, env) == (0, [])

    # The same validator, shown to be recomputing ids here (it skips that outside a g3t project).
    patients = project / "META" / "Patient.ndjson"
    first = json.loads(patients.read_text().splitlines()[0])
    patients.write_text(patients.read_text().replace(first["id"], str(uuid.uuid4())))
    _, problems = _g3t_validate(project, env)
    assert any("does not equal the calculated one" in line for line in problems), problems


def test_doctor_names_a_gen3_profile_it_cannot_honour(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".lfs-meta" / "config").write_text("[fhir]\nprofile = gen3\nproject = aced\n")
    assert main(["doctor", "--json"]) == 1
    problems = [p["problem"] for p in json.loads(capsys.readouterr().out)["problems"]]
    assert "META/: [fhir] project is 'aced'; the gen3 profile needs the Gen3 project" in problems[0]


def test_the_readme_config_examples_read_as_written(tmp_path: Path) -> None:
    """The README writes comments after values; they are comments, not part of the project or authz."""
    blocks = (ROOT / "README.md").read_text().split("```ini\n")[1:]
    assert len(blocks) >= 2
    for block in blocks:
        path = tmp_path / "config"
        path.write_text(block.split("```", 1)[0])
        settings = config.read(path, tmp_path)
        assert " " not in settings.project and "#" not in settings.authz, settings


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-o", ".lfs-meta/metadata.json"], "that is one of lfs-meta's own files"),
        (["-o", "META/DocumentReference.ndjson"], "that is one of lfs-meta's own files"),
        (["-o", "manifest.csv"], "name it .tsv: the gen3 SDK reads a manifest with any other name as CSV"),
        (["--index", "nope.json"], "nope.json: no such file; track something first"),
    ],
)
def test_export_refuses_what_would_lose_or_garble_something(
    repo: Path, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (repo / ".lfs-meta" / "metadata.json").read_bytes()
    assert words in usage_error(["export", "--format", "gen3", *argv], capsys)
    assert (repo / ".lfs-meta" / "metadata.json").read_bytes() == before


def test_a_bad_authz_and_a_local_file_are_named(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".lfs-meta" / "config").write_text(CONFIG + "[gen3]\nauthz = programs//x\n")
    assert "[gen3] authz is 'programs//x'; write it as /programs/<program>/projects/<project>" in usage_error(
        ["export", "--format", "gen3"], capsys
    )
    (repo / ".lfs-meta" / "config").write_text(CONFIG)
    local = {
        **INDEX,
        "data/local.vcf": {"remote_url": "file:///srv/local.vcf", "size": 1, "checksums": {"md5": "e" * 32}},
    }
    (repo / ".lfs-meta" / "metadata.json").write_text(json.dumps(local))
    assert main(["export", "--format", "gen3"]) == 1
    out, err = capsys.readouterr()
    assert "file:///srv/local.vcf" not in out
    assert (
        "lfs-meta: data/local.vcf: left out of the manifest: a file:// URL names a file on this machine"
        in err
    )


def test_export_says_why_no_authz_follows_from_a_project(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".lfs-meta" / "config").write_text("[fhir]\nproject = my-study-2\n")
    err = usage_error(["export", "--format", "gen3"], capsys)
    assert "[fhir] project 'my-study-2' is not <program>-<project>, so no authz follows from it" in err


@NEEDS_G3T
def test_g3t_meta_validate_accepts_a_sharded_meta(
    g3t_project: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project, env = g3t_project
    monkeypatch.chdir(project)
    write_repo(project)
    assert main(["reshard", "--fanout", "4"]) == 0
    parts = sorted(path.name for path in (project / "META").glob("*.ndjson"))
    assert "DocumentReference.ndjson" in parts and any(
        name.startswith("DocumentReference-") for name in parts
    )
    assert _g3t_validate(project, env) == (0, [])
    assert main(["reshard", "--fanout", "1"]) == 0
    assert not any("-" in path.name for path in (project / "META").glob("*.ndjson"))
    assert _g3t_validate(project, env) == (0, [])
