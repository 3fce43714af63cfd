"""The FHIR mapping: every resource validates with fhir.resources (R5 and R4B) and our own checks."""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import uuid
from typing import Any

import fhir_core.constraints
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# FHIR ids stop at 64 characters; fhir.resources allows more unless told before its models load.
fhir_core.constraints.TYPES_ID_MAX_LENGTH = 64

import fhir.resources  # noqa: E402
import fhir.resources.R4B  # noqa: E402

from lfs_meta import config  # noqa: E402
from lfs_meta.fhir import content_types, mapping  # noqa: E402
from lfs_meta.index.entry import Entry  # noqa: E402

from conftest import ROOT  # noqa: E402

GB5 = 5 * 10**9
SHA1_EMPTY = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
ENTRIES = {
    "data/run7/NA12878.vcf.gz": Entry(
        remote_url="s3://cohort/run7/NA12878.vcf.gz",
        size=GB5,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        etag_kind="md5",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        checksums={"sha1": SHA1_EMPTY, "crc32c": "e3069283", "sha256": "a" * 64 + "-3"},
        content_type="binary/octet-stream",
        last_modified="2026-01-31T12:00:00.123456789+02:00",
        patient="Patient/1234",
        specimen="Specimen/XYZ",
    ),
    "data/run7/NA12878.bam": Entry(
        remote_url="gs://cohort/run7/NA12878.bam", size=2**31 - 1, specimen="Specimen/XYZ"
    ),
    "data/ü nicode/notes.custom": Entry(
        remote_url="https://host.example/notes.custom", size=0, content_type="text/x-lab-notes"
    ),
    "data/unknown.bin": Entry(remote_url="az://c-1/unknown.bin", size=2**63 - 1, patient="Patient/p.2"),
    "data/orphan.cram": Entry(remote_url="file:///data/orphan.cram", size=7, specimen="Specimen/lone"),
}
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def model(version: str, resource: dict[str, Any]) -> Any:
    package = fhir.resources if version == mapping.R5 else fhir.resources.R4B
    return package.get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


@pytest.mark.parametrize("version", config.FHIR_VERSIONS)
def test_every_resource_validates_and_every_reference_resolves(version: str) -> None:
    out = mapping.resources(ENTRIES, version, project="study-1")
    everything = out.document_references + out.patients + out.specimens
    for resource in everything:
        model(version, resource)  # raises on anything fhir.resources rejects
        assert ID.match(resource["id"])
    for document in out.document_references:
        assert document["status"] == "current"
        assert len(document["content"]) == 1
        assert int(document["content"][0]["attachment"].get("size", 0)) >= 0
    known = {f"{resource['resourceType']}/{resource['id']}" for resource in everything}
    cited = {ref for resource in everything for ref in references(resource)}
    assert cited == {"Patient/1234", "Patient/p.2", "Specimen/XYZ", "Specimen/lone"}
    assert cited <= known
    assert [p["id"] for p in out.patients] == ["1234", "p.2"]
    assert out.specimens == [
        {"resourceType": "Specimen", "id": "XYZ", "subject": {"reference": "Patient/1234"}},
        {"resourceType": "Specimen", "id": "lone"},
    ]


def attachment_of(version: str, path: str) -> dict[str, Any]:
    out = mapping.resources({path: ENTRIES[path]}, version, project="")
    attachment: dict[str, Any] = out.document_references[0]["content"][0]["attachment"]
    return attachment


def extensions(attachment: dict[str, Any]) -> dict[str, Any]:
    return {
        ext["url"].removeprefix(mapping.EXTENSION_URL): next(
            v for k, v in ext.items() if k.startswith("value")
        )
        for ext in attachment.get("extension", [])
    }


def test_r5_attachment_carries_size_as_integer64_and_checksums_as_extensions() -> None:
    attachment = attachment_of(mapping.R5, "data/run7/NA12878.vcf.gz")
    assert attachment["size"] == str(GB5)
    assert attachment["url"] == "s3://cohort/run7/NA12878.vcf.gz"
    assert attachment["title"] == "NA12878.vcf.gz"
    assert attachment["contentType"] == "application/gzip"
    assert attachment["creation"] == "2026-01-31T12:00:00.123456789+02:00"
    assert base64.b64decode(attachment["hash"]).hex() == SHA1_EMPTY
    assert extensions(attachment) == {
        "checksum-crc32c": "e3069283",
        "checksum-md5": "d41d8cd98f00b204e9800998ecf8427e",  # the ETag of a single-part upload is its MD5
        "checksum-sha1": SHA1_EMPTY,
        "checksum-sha256": "a" * 64 + "-3",
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "version-id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    }
    assert (
        model(
            mapping.R5,
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "content": [{"attachment": attachment}],
            },
        )
        .content[0]
        .attachment.size
        == GB5
    )


def test_r4b_sizes_over_unsigned_int_move_to_an_extension() -> None:
    big = attachment_of(mapping.R4B, "data/run7/NA12878.vcf.gz")
    assert "size" not in big
    assert extensions(big)["size"] == GB5
    assert attachment_of(mapping.R4B, "data/run7/NA12878.bam")["size"] == 2**31 - 1
    huge = attachment_of(mapping.R4B, "data/unknown.bin")
    assert json.dumps(extensions(huge)["size"]) == "9223372036854775807"  # exact, not a float


def test_specimen_is_an_extension_in_r5_and_context_related_in_r4b() -> None:
    path = "data/run7/NA12878.vcf.gz"
    r5 = mapping.resources({path: ENTRIES[path]}, mapping.R5, "").document_references[0]
    r4b = mapping.resources({path: ENTRIES[path]}, mapping.R4B, "").document_references[0]
    assert r5["extension"] == [{"url": mapping.SPECIMEN, "valueReference": {"reference": "Specimen/XYZ"}}]
    assert "context" not in r5
    assert r4b["context"] == {"related": [{"reference": "Specimen/XYZ"}]}
    assert "extension" not in r4b
    assert r5["subject"] == r4b["subject"] == {"reference": "Patient/1234"}


def test_ids_are_uuid5_of_project_and_path() -> None:
    def ids(project: str) -> list[str]:
        return [d["id"] for d in mapping.resources(ENTRIES, mapping.R5, project).document_references]

    assert ids("study-1") == ids("study-1")
    assert len(set(ids("study-1"))) == len(ENTRIES)
    assert not set(ids("study-1")) & set(ids("study-2"))
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
        for i in ids("")
    )
    documents = mapping.resources(ENTRIES, mapping.R5, "").document_references
    assert [d["identifier"][0]["value"] for d in documents] == sorted(ENTRIES)


def test_minimal_example_without_status_does_not_validate_but_ours_does() -> None:
    minimal = {
        "resourceType": "DocumentReference",
        "content": [{"attachment": {"url": "s3://my-bucket/data/foo.vcf", "title": "foo.vcf"}}],
        "subject": {"reference": "Patient/1234"},
    }
    with pytest.raises(ValueError, match="status"):
        model(mapping.R5, minimal)
    entry = Entry(remote_url="s3://my-bucket/data/foo.vcf", size=1, patient="Patient/1234")
    model(mapping.R5, mapping.resources({"data/foo.vcf": entry}, mapping.R5, "").document_references[0])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.vcf", "text/x-vcf"),
        ("A.VCF", "text/x-vcf"),
        ("a.vcf.gz", "application/gzip"),
        ("a.bcf", "application/x-bcf"),
        ("a.bam", "application/x-bam"),
        ("a.bam.bai", "application/x-bam-index"),
        ("a.cram", "application/x-cram"),
        ("a.crai", "application/x-cram-index"),
        ("a.fastq", "text/x-fastq"),
        ("a.fq.gz", "application/gzip"),
        ("a.bed", "text/x-bed"),
        ("a.gtf", "text/x-gtf"),
        ("a.gff3", "text/x-gff3"),
        ("a.bigwig", "application/x-bigwig"),
        ("a.h5ad", "application/x-hdf5"),
        ("a.parquet", "application/vnd.apache.parquet"),
        ("a.csv", "text/csv"),
        ("a.tsv", "text/tab-separated-values"),
        ("a.json", "application/json"),
        ("a.dcm", "application/dicom"),
        ("a.nii.gz", "application/gzip"),
        ("a.pdf", "application/pdf"),
        ("a.unknown", None),
        ("vcf", None),
    ],
)
def test_content_type_table(name: str, expected: str | None) -> None:
    assert content_types.guess(f"dir.d/{name}") == expected


def test_mimetypes_would_have_been_wrong() -> None:
    assert mimetypes.guess_type("a.vcf")[0] != content_types.guess("a.vcf")
    assert mimetypes.guess_type("a.bam")[0] is None


def test_content_type_falls_back_to_the_recorded_one() -> None:
    assert attachment_of(mapping.R5, "data/ü nicode/notes.custom")["contentType"] == "text/x-lab-notes"
    assert "contentType" not in attachment_of(mapping.R5, "data/unknown.bin")


def test_ndjson_is_one_compact_resource_per_line() -> None:
    out = mapping.resources(ENTRIES, mapping.R5, "")
    data = mapping.ndjson(out.document_references)
    lines = data.decode().splitlines()
    assert len(lines) == len(ENTRIES) and data.endswith(b"\n")
    assert [json.loads(line) for line in lines] == out.document_references
    assert "ü nicode" in data.decode() and ": " not in lines[0]
    assert mapping.ndjson([]) == b""


def test_ids_over_64_characters_are_rejected_as_fhir_says() -> None:
    with pytest.raises(ValueError, match="id"):
        model(mapping.R5, {"resourceType": "Patient", "id": "a" * 65})
    model(mapping.R5, {"resourceType": "Patient", "id": "a" * 64})


def test_readme_sample_is_what_init_meta_writes() -> None:
    readme = (ROOT / "README.md").read_text()
    sample = re.search(r"The resource for an S3 object tracked.*?```json\n(.*?)```", readme, re.DOTALL)
    assert sample
    entry = Entry(
        remote_url="s3://demo-cohort/data/NA12878.bam",
        size=10244,
        etag="c72517231ee29fed1411277232301131",
        etag_kind="md5",
        last_modified="2026-11-22T08:10:23Z",
        patient="Patient/1234",
        specimen="Specimen/NA12878",
    )
    written = mapping.resources({"data/NA12878.bam": entry}, mapping.R5, "").document_references[0]
    assert json.loads(sample.group(1)) == written
    assert list(json.loads(sample.group(1))) == list(written)  # same element order too


@pytest.mark.parametrize("name", ["data/a.vcf", "", "ü/ñ.bam", "x" * 4096])
def test_uuid5_matches_the_standard_library(name: str) -> None:
    namespace = mapping.project_namespace("study-1")
    assert mapping.uuid5(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


@given(st.text(st.characters(codec="utf-8")), st.text(max_size=8))
def test_uuid5_matches_the_standard_library_for_any_name(name: str, project: str) -> None:
    namespace = mapping.project_namespace(project)
    assert mapping.uuid5(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


def _guess_suffix_by_suffix(path: str) -> str | None:
    parts = path.rpartition("/")[2].lower().split(".")
    return next(
        filter(None, (content_types.BY_SUFFIX.get(".".join(parts[i:])) for i in range(1, len(parts)))), None
    )


@given(st.lists(st.sampled_from(["a", "VCF", "gz", "nii", "tar", "", "x/y", "bam", "Fastq"]), max_size=5))
def test_guess_takes_the_longest_known_suffix(pieces: list[str]) -> None:
    path = ".".join(pieces)
    assert content_types.guess(path) == _guess_suffix_by_suffix(path)


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_HEX = st.text("0123456789abcdef", min_size=8, max_size=64)


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, Entry]:
    """Entries of every shape the mapping branches on, with strings that need JSON escaping."""
    path = (
        draw(st.sampled_from(["data/", "", "a/b/"]))
        + draw(_TEXT)
        + draw(st.sampled_from(["", ".vcf", ".bam", ".VCF.GZ", ".unknown"]))
    )
    checksums = draw(
        st.dictionaries(
            st.sampled_from(["md5", "sha1", "sha256", "crc32c"]), _HEX | _HEX.map(lambda h: h + "-3")
        )
    )
    if "sha1" in checksums and len(checksums["sha1"].partition("-")[0]) % 2:
        checksums["sha1"] += "0"  # bytes.fromhex needs whole bytes, as a real sha1 has
    entry = Entry(
        remote_url="s3://bucket/" + draw(_TEXT),
        size=draw(st.integers(0, 2**63 - 1)),
        etag=draw(st.none() | _TEXT),
        etag_kind=draw(st.none() | st.sampled_from(["md5", "multipart", "opaque", "weak"])),
        version_id=draw(st.none() | _TEXT),
        checksums=checksums,
        content_type=draw(st.none() | st.sampled_from(["text/x-vcf", "binary/octet-stream", 'a/b; x="\\"'])),
        last_modified=draw(st.none() | st.just("2026-01-31T12:00:00Z")),
        patient=draw(st.none() | _TEXT.map(lambda t: "Patient/" + t)),
        specimen=draw(st.none() | _TEXT.map(lambda t: "Specimen/" + t)),
    )
    return path, entry


@settings(max_examples=60, deadline=None)
@given(entries())
def test_r5_lines_are_compact_json_and_agree_with_r4b_on_every_shared_field(case: tuple[str, Entry]) -> None:
    """R5 is built once, as bytes; R4B by its own builder: where the versions agree, so must they."""
    path, entry = case
    namespace = mapping.project_namespace("p").bytes
    line = mapping.document_line(path, entry, namespace)
    r5 = json.loads(line)
    assert mapping.ndjson([r5]) == line  # one compact line, as orjson writes the resource
    r4b = mapping.document_reference(path, entry, mapping.R4B, namespace)
    for field in ("resourceType", "id", "identifier", "status", "subject"):
        assert r5.get(field) == r4b.get(field)
    r5_attachment, r4b_attachment = r5["content"][0]["attachment"], r4b["content"][0]["attachment"]
    assert int(r5_attachment.pop("size")) == entry.size
    r4b_size = r4b_attachment.pop("size", None)
    r4b_extensions = r4b_attachment.pop("extension", [])
    size_extensions = [e["valueDecimal"] for e in r4b_extensions if e["url"] == mapping.SIZE]
    assert (size_extensions or [r4b_size]) == [entry.size]
    assert r5_attachment.pop("extension", []) == [e for e in r4b_extensions if e["url"] != mapping.SIZE]
    assert r5_attachment == r4b_attachment
    specimens = [e["valueReference"]["reference"] for e in r5.get("extension", [])]
    related = [r["reference"] for r in r4b.get("context", {}).get("related", [])]
    assert specimens == related == ([entry.specimen] if entry.specimen else [])
