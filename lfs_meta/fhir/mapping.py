"""Index entries as FHIR resources: DocumentReference per entry, Patient and Specimen stubs.

Pure: no files, no git. The same entries, version and project always give the same resources.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lfs_meta import config, gcpause
from lfs_meta.fhir import content_types
from lfs_meta.index.entry import Entry

R5, R4B = config.R5, config.R4B

# Stable names, not fetched by anyone: changing one would orphan every resource already loaded.
BASE_URL = "https://lfs-meta.dev/fhir/"
EXTENSION_URL = BASE_URL + "StructureDefinition/"
PATH_SYSTEM = BASE_URL + "NamingSystem/path"
ETAG = EXTENSION_URL + "etag"
VERSION_ID = EXTENSION_URL + "version-id"
CHECKSUM = EXTENSION_URL + "checksum-"  # + algorithm: md5, sha1, sha256, sha512, crc32, crc32c, crc64nvme
SIZE = EXTENSION_URL + "size"
SPECIMEN = EXTENSION_URL + "specimen"

UNSIGNED_INT_MAX = 2**31 - 1  # R4B Attachment.size
_GENERIC_TYPES = {"binary/octet-stream", "application/octet-stream"}


@dataclass(frozen=True)
class Resources:
    document_references: list[dict[str, Any]]
    patients: list[dict[str, Any]]
    specimens: list[dict[str, Any]]


def project_namespace(project: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE_URL}project/{project}")


def resources(entries: Mapping[str, Entry], version: str, project: str) -> Resources:
    """Every resource for a valid index, each list sorted (by path, then by id)."""
    return Resources(list(documents(entries, version, project)), patients(entries), specimens(entries))


def ndjson_files(entries: Mapping[str, Entry], version: str, project: str) -> dict[str, bytearray]:
    """NDJSON by resource type: what `resources` gives, serialized as it is built, never all held."""
    with gcpause.paused():
        return {
            "DocumentReference": document_lines(entries, version, project),
            "Patient": ndjson(patients(entries)),
            "Specimen": ndjson(specimens(entries)),
        }


def documents(entries: Mapping[str, Entry], version: str, project: str) -> Iterator[dict[str, Any]]:
    namespace = project_namespace(project).bytes
    for path in sorted(entries):
        yield document_reference(path, entries[path], version, namespace)


def document_lines(entries: Mapping[str, Entry], version: str, project: str) -> bytearray:
    """`ndjson(documents(...))`; for R5, the default, written straight to bytes: 4x faster than
    building each resource and serializing it."""
    if version != R5:
        return ndjson(documents(entries, version, project))
    namespace = project_namespace(project).bytes
    # Appended line by line: a join would hold every line and the result at once (2x the file).
    lines = bytearray()
    for path in sorted(entries):
        lines += document_line(path, entries[path], namespace)
    return lines


_DUMPS = orjson.dumps
_SPECIMEN_START = b',"extension":[{"url":' + _DUMPS(SPECIMEN) + b',"valueReference":{"reference":'
_IDENTIFIER_START = b',"identifier":[{"system":' + _DUMPS(PATH_SYSTEM) + b',"value":'


def document_line(path: str, entry: Entry, namespace: bytes) -> bytes:
    """The R5 DocumentReference of `path` as one NDJSON line; every string through orjson."""
    line = [b'{"resourceType":"DocumentReference","id":"', uuid5(namespace, path).encode(), b'"']
    if entry.specimen:
        line += [_SPECIMEN_START, _DUMPS(entry.specimen), b"}}]"]
    line += [_IDENTIFIER_START, _DUMPS(path), b'}],"status":"current"']
    if entry.patient:
        line += [b',"subject":{"reference":', _DUMPS(entry.patient), b"}"]
    line.append(b',"content":[{"attachment":{')
    extensions = _extension_lines(entry)
    if extensions:
        line += [b'"extension":[', b",".join(extensions), b"],"]
    content_type = content_types.guess(path) or recorded_type(entry.content_type)
    if content_type:
        line += [b'"contentType":', _DUMPS(content_type), b","]
    line += [b'"url":', _DUMPS(entry.remote_url), b',"size":"', str(entry.size).encode(), b'"']
    sha1 = entry.checksums.get("sha1")
    if sha1 and "-" not in sha1:
        line += [b',"hash":"', base64.b64encode(bytes.fromhex(sha1)), b'"']
    line += [b',"title":', _DUMPS(path.rpartition("/")[2])]
    if entry.last_modified:
        line += [b',"creation":', _DUMPS(entry.last_modified)]
    line.append(b"}}]}\n")
    return b"".join(line)


def _extension_values(entry: Entry) -> list[tuple[str, str]]:
    """(extension URL, string value) of an attachment, in order, for both versions' builders."""
    checksums = entry.known_checksums()
    found = [(CHECKSUM + algorithm, value) for algorithm, value in sorted(checksums.items())]
    if entry.etag:
        found.append((ETAG, entry.etag))
    if entry.version_id:
        found.append((VERSION_ID, entry.version_id))
    return found


_EXTENSION_STARTS: dict[str, bytes] = {}  # b'{"url":"<url>","valueString":' for each URL, made once


def _extension_lines(entry: Entry) -> list[bytes]:
    lines = []
    for url, value in _extension_values(entry):
        start = _EXTENSION_STARTS.get(url)
        if start is None:
            start = _EXTENSION_STARTS[url] = b'{"url":' + _DUMPS(url) + b',"valueString":'
        lines.append(start + _DUMPS(value) + b"}")
    return lines


def patients(entries: Mapping[str, Entry]) -> list[dict[str, Any]]:
    referenced = {entry.patient for entry in entries.values() if entry.patient}
    return [{"resourceType": "Patient", "id": _id_of(reference)} for reference in sorted(referenced)]


def specimens(entries: Mapping[str, Entry]) -> list[dict[str, Any]]:
    """Specimen stubs, each with the patient that any entry names alongside it (validation makes it one)."""
    subjects: dict[str, str | None] = {}
    for entry in entries.values():
        if entry.specimen:
            subjects[entry.specimen] = entry.patient or subjects.get(entry.specimen)
    return [_specimen(reference, subjects[reference]) for reference in sorted(subjects)]


def document_reference(path: str, entry: Entry, version: str, namespace: bytes) -> dict[str, Any]:
    if version == R5:  # one builder for R5, the bytes one: the dicts are read back from it
        return orjson.loads(document_line(path, entry, namespace))  # type: ignore[no-any-return]
    document: dict[str, Any] = {"resourceType": "DocumentReference", "id": uuid5(namespace, path)}
    document["identifier"] = [{"system": PATH_SYSTEM, "value": path}]
    document["status"] = "current"
    if entry.patient:
        document["subject"] = {"reference": entry.patient}
    document["content"] = [{"attachment": _r4b_attachment(path, entry)}]
    if entry.specimen:
        document["context"] = {"related": [{"reference": entry.specimen}]}
    return document


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # RFC 9562 variant 10xx


def uuid5(namespace: bytes, name: str) -> str:
    """str(uuid.uuid5(UUID(bytes=namespace), name)), without building UUID objects 100,000 times:
    the SHA-1 in hex, with the version digit set to 5 and the variant bits to 10."""
    text = hashlib.sha1(namespace + name.encode(), usedforsecurity=False).hexdigest()
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


def _r4b_attachment(path: str, entry: Entry) -> dict[str, Any]:
    extensions = _extensions(entry)
    out: dict[str, Any] = {}
    content_type = content_types.guess(path) or recorded_type(entry.content_type)
    if content_type:
        out["contentType"] = content_type
    out["url"] = entry.remote_url
    if entry.size <= UNSIGNED_INT_MAX:
        out["size"] = entry.size
    else:
        extensions.append({"url": SIZE, "valueDecimal": entry.size})
    sha1 = entry.checksums.get("sha1")
    if sha1 and "-" not in sha1:  # hash is the SHA-1 of the whole content, not a composite
        out["hash"] = base64.b64encode(bytes.fromhex(sha1)).decode("ascii")
    out["title"] = path.rpartition("/")[2]
    if entry.last_modified:
        out["creation"] = entry.last_modified
    if extensions:
        return {"extension": extensions, **out}
    return out


def _extensions(entry: Entry) -> list[dict[str, Any]]:
    return [{"url": url, "valueString": value} for url, value in _extension_values(entry)]


def recorded_type(recorded: str | None) -> str | None:
    if recorded and recorded.split(";")[0].strip().lower() in _GENERIC_TYPES:
        return "application/octet-stream"  # binary/octet-stream, S3's default, is not a registered type
    return recorded


def _specimen(reference: str, patient: str | None) -> dict[str, Any]:
    specimen: dict[str, Any] = {"resourceType": "Specimen", "id": _id_of(reference)}
    if patient:
        specimen["subject"] = {"reference": patient}
    return specimen


def _id_of(reference: str) -> str:
    return reference.partition("/")[2]


def ndjson(items: Iterable[Mapping[str, Any]]) -> bytearray:
    """One compact JSON resource per line, UTF-8: the FHIR bulk-data format."""
    lines = bytearray()
    for item in items:
        lines += orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE)
    return lines
