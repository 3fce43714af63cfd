"""The gen3 profile: META/ as gen3-tracker (g3t) 0.0.7 derives and validates it, and the Gen3 indexing
manifest that registers the same objects in indexd under the same ids.

Pure: no files, no git. g3t recomputes every id from the project and an identifier (or, for a
DocumentReference, from its attachment's file:/// URL), so the rules below are g3t's, not ours.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from lfs_meta.errors import UserError
from lfs_meta.fhir import content_types, mapping
from lfs_meta.index import urls
from lfs_meta.index.entry import Entry

NAMESPACE = uuid.uuid3(uuid.NAMESPACE_DNS, "aced-idp.org").bytes  # gen3_tracker.ACED_NAMESPACE
EXTENSION_URL = "http://aced-idp.org/fhir/StructureDefinition/"
SOURCE_PATH = EXTENSION_URL + "source_path"
FILE_URL = "file:///"  # a DocumentReference's attachment: the file at this path in the repository
# The hashes g3t accepts, in its order, each with the form it checks ('crc' is left out: g3t's CRC is
# not one of the CRCs the stores report).
HASHES = {
    "md5": re.compile(r"[0-9a-f]{32}"),
    "sha1": re.compile(r"[0-9a-f]{40}"),
    "sha256": re.compile(r"[0-9a-f]{64}"),
    "sha512": re.compile(r"[0-9a-f]{128}"),
    "etag": re.compile(r"[0-9a-f]{32}(-[0-9]+)?"),
}
RESOURCE_TYPES = ("DocumentReference", "Patient", "Specimen", "ResearchStudy", "ResearchSubject")
MANIFEST_COLUMNS = ("guid", "md5", "size", "authz", "urls", "file_name")
_PROJECT = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+")


def check_project(project: str, where: str) -> str:
    """g3t's project id: '<program>-<project>', one '-' between two names."""
    if not _PROJECT.fullmatch(project):
        raise UserError(
            f"{where} is {project!r}; the gen3 profile needs the Gen3 project as <program>-<project>, "
            "such as 'aced-demo' (set [fhir] project in .lfs-meta/config)"
        )
    return project


def system(project: str) -> str:
    """The identifier system g3t gives every resource of `project`."""
    return f"https://aced-idp.org/{project}"


def document_id(project: str, path: str) -> str:
    return mapping.uuid5(NAMESPACE, f"{project}::{path}")


def resource_id(project: str, resource_type: str, value: str) -> str:
    return mapping.uuid5(NAMESPACE, f"{project}/{resource_type}/{system(project)}|{value}")


def default_authz(project: str) -> str:
    program, _, name = project.partition("-")
    return f"/programs/{program}/projects/{name}"


def md5_of(entry: Entry) -> str | None:
    """The object's MD5 when one is known: a recorded checksum, or an ETag that is one; never an
    opaque or multipart ETag."""
    md5 = entry.known_checksums().get("md5")
    return md5 if md5 and HASHES["md5"].fullmatch(md5) else None


def ndjson_files(entries: Mapping[str, Entry], project: str) -> dict[str, bytearray]:
    """NDJSON by resource type, each sorted (documents by path, the rest by id)."""
    patients = _values(entry.patient for entry in entries.values())
    specimens: dict[str, str | None] = {}
    for entry in entries.values():
        if entry.specimen:
            specimens[_value(entry.specimen)] = _value(entry.patient) or specimens.get(_value(entry.specimen))
    study = resource_id(project, "ResearchStudy", project)
    return {
        "DocumentReference": mapping.ndjson(
            document_reference(path, entries[path], project, study) for path in sorted(entries)
        ),
        "Patient": mapping.ndjson(sorted((_patient(project, value) for value in patients), key=_by_id)),
        "Specimen": mapping.ndjson(
            sorted((_specimen(project, value, specimens[value]) for value in specimens), key=_by_id)
        ),
        "ResearchStudy": mapping.ndjson([_research_study(project, study)]),
        "ResearchSubject": mapping.ndjson(
            sorted((_research_subject(project, value, study) for value in patients), key=_by_id)
        ),
    }


def document_reference(path: str, entry: Entry, project: str, study: str) -> dict[str, Any]:
    """g3t's DocumentReference: the file at file:///<path>, its store's URL in source_path, and a
    subject always (the specimen, else the patient, else the study)."""
    own_id = document_id(project, path)
    if entry.specimen:
        subject = f"Specimen/{resource_id(project, 'Specimen', _value(entry.specimen))}"
    elif entry.patient:
        subject = f"Patient/{resource_id(project, 'Patient', _value(entry.patient))}"
    else:
        subject = f"ResearchStudy/{study}"
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": own_id,
        "identifier": [_identifier(project, own_id)],
        "status": "current",
        "docStatus": "final",
        "subject": {"reference": subject},
    }
    if entry.last_modified:
        document["date"] = entry.last_modified
    attachment: dict[str, Any] = {
        "extension": [*_hash_extensions(entry), {"url": SOURCE_PATH, "valueUrl": entry.remote_url}],
        "contentType": content_types.guess(path) or mapping.recorded_type(entry.content_type) or _OCTETS,
        "url": FILE_URL + path,
        "size": entry.size,
        "title": path.rpartition("/")[2],
    }
    if entry.last_modified:
        attachment["creation"] = entry.last_modified
    document["content"] = [{"attachment": attachment}]
    return document


_OCTETS = "application/octet-stream"


NO_MD5 = "indexd requires an MD5 and none is recorded (its ETag, if any, is not one)"
LOCAL = "a file:// URL names a file on this machine, which no commons can serve"
NO_ACCOUNT = "names no Azure storage account"
UNCARRIED = (
    "its key holds a character that the gen3 SDK's manifest reader drops or splits on, or that fence "
    "cannot sign (a quote, '[', ']', '?', '#', '%20', a tab or line break, a trailing ','; in Azure also '%')"
)
# What the SDK's reader (gen3.tools.utils.get_urls, run by index_object_manifest) does to the urls column:
# it splits on spaces, strips '[' ']' and a trailing ',', deletes every quote and decodes '%20', nothing
# else; its validator splits on any whitespace and on brackets and quotes. fence signs the key exactly as
# indexd holds it (the S3 signer quotes it, Azure's SAS names the blob as written, a '?' or '#' ends it),
# so indexd must hold the raw key: a space goes out as '%20', which the reader turns back into a space,
# and a key with any other of those characters cannot be carried and is left out.
_UNCARRIED = re.compile(r"['\"\[\]?#\x00]|%20|,\Z")


def manifest(entries: Mapping[str, Entry], guid: Mapping[str, str], authz: str) -> tuple[str, dict[str, str]]:
    """(the indexing manifest as TSV, each path left out with why)."""
    lines = ["\t".join(MANIFEST_COLUMNS)]
    left_out = {}
    for path in sorted(entries):
        entry = entries[path]
        md5, url = md5_of(entry), indexd_url(entry.remote_url)
        if md5 is None or url is None:
            left_out[path] = NO_MD5 if md5 is None else _why_not(entry.remote_url)
            continue
        lines.append("\t".join((guid[path], md5, str(entry.size), authz, url.replace(" ", "%20"), path)))
    return "\n".join(lines) + "\n", left_out


def indexd_url(url: str) -> str | None:
    """The URL as indexd should hold it for fence to sign: S3 and GCS keys as they are (an S3 profile
    dropped), Azure blobs in fence's az://<account>.blob.core.windows.net/<container>/<blob> with the
    name decoded, web URLs as they are; None when there is no such URL."""
    if url.startswith("file:") or urls.names_no_account(url):
        return None
    scheme, _, rest = url.partition("://")
    host, _, key = rest.partition("/")
    if host.lower().endswith(urls.AZURE_HOST_SUFFIX):
        # fence puts the name into an https:// URL as it is, where a '%' would be decoded again.
        blob = unquote(key)
        return f"az://{host.lower()}/{blob}" if _carried(blob) and "%" not in blob else None
    if scheme in ("s3", "gs"):
        return f"{scheme}://{host.rpartition('@')[2]}/{key}" if _carried(key) else None
    return url if _carried(url.replace("%20", " ")) else None


def _carried(key: str) -> bool:
    return not _UNCARRIED.search(key) and all(c.isprintable() or c == " " for c in key)


def _why_not(url: str) -> str:
    if url.startswith("file:"):
        return LOCAL
    return NO_ACCOUNT if urls.names_no_account(url) else UNCARRIED


def _hash_extensions(entry: Entry) -> list[dict[str, str]]:
    etag = entry.etag if entry.etag_kind in ("md5", "multipart") else None  # never an opaque one
    found = {"md5": md5_of(entry), "etag": etag}
    found |= {name: entry.checksums.get(name) for name in ("sha1", "sha256", "sha512")}
    return [
        {"url": EXTENSION_URL + name, "valueString": value}
        for name, form in HASHES.items()
        if (value := found[name]) and form.fullmatch(value)
    ]


def _identifier(project: str, value: str) -> dict[str, str]:
    return {"use": "official", "system": system(project), "value": value}


def _patient(project: str, value: str) -> dict[str, Any]:
    own_id = resource_id(project, "Patient", value)
    return {"resourceType": "Patient", "id": own_id, "identifier": [_identifier(project, value)]}


def _specimen(project: str, value: str, patient: str | None) -> dict[str, Any]:
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": resource_id(project, "Specimen", value),
        "identifier": [_identifier(project, value)],
    }
    if patient:
        specimen["subject"] = {"reference": f"Patient/{resource_id(project, 'Patient', patient)}"}
    return specimen


def _research_study(project: str, study: str) -> dict[str, Any]:
    return {
        "resourceType": "ResearchStudy",
        "id": study,
        "identifier": [_identifier(project, project)],
        "status": "active",
    }


def _research_subject(project: str, patient: str, study: str) -> dict[str, Any]:
    """One per patient, as g3t makes them: identified by the patient's own value."""
    return {
        "resourceType": "ResearchSubject",
        "id": resource_id(project, "ResearchSubject", patient),
        "identifier": [_identifier(project, patient)],
        "status": "active",
        "study": {"reference": f"ResearchStudy/{study}"},
        "subject": {"reference": f"Patient/{resource_id(project, 'Patient', patient)}"},
    }


def _value(reference: str | None) -> str:
    """The id part of 'Patient/<id>': the value g3t was given on its command line."""
    return reference.partition("/")[2] if reference else ""


def _values(references: Iterable[str | None]) -> set[str]:
    return {_value(reference) for reference in references if reference}


def _by_id(resource: Mapping[str, Any]) -> str:
    return str(resource["id"])
