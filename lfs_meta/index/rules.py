"""Every problem with a parsed index: the JSON Schema first, then what a schema cannot say."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lfs_meta import terminal
from lfs_meta.index import paths, schema, strictjson, urls
from lfs_meta.index.problem import Problem, describe, json_pointer

if TYPE_CHECKING:
    import jsonschema

_FIXES = {
    "remote_url": "write it as s3://bucket/key, gs://bucket/object, az://container/blob, "
    "https://host/path or file:///path",
    "size": "write the size in bytes as a whole number",
    "etag": "write the ETag without surrounding quotes",
    "etag_kind": "use md5, multipart, opaque or weak",
    "version_id": "write the version id as a string",
    "checksums": "write lowercase hex keyed by md5, sha1, sha256, sha512, crc32, crc32c or crc64nvme",
    "content_type": "write a MIME type such as text/plain or application/octet-stream",
    "last_modified": "write an RFC 3339 time with a zone, e.g. 2026-01-31T12:00:00Z",
    "patient": "write 'Patient/<id>', the id 1-64 letters, digits, '-' or '.'",
    "specimen": "write 'Specimen/<id>', the id 1-64 letters, digits, '-' or '.'",
    "extra": "put your own fields in an object under 'extra'",
}
_CONTROL_FIX = (
    "write the {field} as the store reports it, without them ('lfs-meta check --update PATH' "
    "records the store's own)"
)
_PATTERN_MESSAGES = {
    "etag": "{shown} contains quotes",
    "checksums": "{shown} is not {name} in lowercase hex",
    "content_type": "{shown} is not a MIME type",
    "last_modified": "{shown} is not an RFC 3339 time with a zone",
    "patient": "must be a relative FHIR Patient reference, not {shown}",
    "specimen": "must be a relative FHIR Specimen reference, not {shown}",
}


def find_problems(data: Any) -> list[Problem]:
    """All problems with parsed index data, grouped by entry in document order."""
    if not isinstance(data, dict):
        return [_schema_problem(error) for error in _schema_errors(data)]
    by_entry: dict[str, list[Problem]] = defaultdict(list)
    for path, problem in _path_problems(data):
        by_entry[path].append(problem)
    for error in _schema_errors(data):
        by_entry[str(error.absolute_path[0])].append(_schema_problem(error))
    for path, entry in data.items():
        if isinstance(entry, dict) and not _plainly_fine(entry):
            by_entry[path].extend(_entry_problems(path, entry))
    for path, problem in specimen_problems(data):
        by_entry[path].append(problem)
    if not by_entry:
        return []
    return [problem for path in data if path in by_entry for problem in by_entry[path]]


def _plainly_fine(entry: Mapping[str, Any]) -> bool:
    """The common entry, decided without building a generator: the fast path of a large index."""
    url, size, stamp = entry.get("remote_url"), entry.get("size"), entry.get("last_modified")
    return (
        isinstance(url, str)
        and urls.plainly_fine(url)
        and not isinstance(size, float)
        and (not isinstance(stamp, str) or _is_real_time(stamp))
        and "extra" not in entry
    )


def _schema_errors(data: Any) -> Iterator[jsonschema.ValidationError]:
    if schema.is_valid(data):
        return
    for error in schema.validator().iter_errors(data):
        # Index keys get fuller checks (with fixes) in paths.path_problems.
        if error.schema_path and error.schema_path[0] == "propertyNames":
            continue
        yield error


def _schema_problem(error: jsonschema.ValidationError) -> Problem:
    location = list(error.absolute_path)
    field = next((str(p) for p in reversed(location[1:]) if str(p) in _FIXES), None)
    instance: Any = error.instance
    shown = (
        f"a URL of {len(instance):,} characters"
        if field == "remote_url" and isinstance(instance, str)
        else describe(instance)
    )
    keyword = error.validator
    value: Any = error.validator_value
    fix = _FIXES.get(field or "")
    if keyword == "type":
        message = f"must be {_article(value)}, not {shown}"
        if len(location) == 1:
            fix = 'write {"remote_url": ..., "size": ...}'
        elif not location:
            message = f"the index must be a JSON object keyed by path, not {shown}"
            fix = 'write {"data/file.vcf": {"remote_url": ..., "size": ...}}'
    elif keyword == "required":
        missing = [name for name in value if name not in instance]
        message = f"missing required field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        fix = "add the missing field"
    elif keyword == "additionalProperties":
        schema_here: Any = error.schema
        return _unknown_fields(location, instance, schema_here["properties"])
    elif keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        message = f"must be {bound} {value}, not {shown}"
    elif keyword in ("minLength", "maxLength"):
        message = "must not be empty" if keyword == "minLength" else f"is longer than {value} characters"
    elif keyword == "pattern" and field in ("etag", "version_id") and terminal.UNPRINTABLE.search(instance):
        message = f"{shown} contains control or bidi characters, which can drive a terminal"
        fix = _CONTROL_FIX.format(field="ETag" if field == "etag" else "version id")
    elif keyword == "pattern" and field in _PATTERN_MESSAGES:
        message = _PATTERN_MESSAGES[field].format(shown=shown, name=location[-1])
    else:
        message = f"{shown} is not valid here ({keyword})"
    return Problem(message, fix, pointer=json_pointer(location))


def _unknown_fields(location: list[Any], instance: Mapping[str, Any], known: Mapping[str, Any]) -> Problem:
    unknown = sorted(set(instance) - set(known))
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(known), n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    where = "checksums" if location and location[-1] == "checksums" else "entry"
    fix = (
        _FIXES["checksums"]
        if where == "checksums"
        else "fix the spelling, or move your own fields under 'extra'"
    )
    return Problem(
        f"unknown {where} field{'s' if len(unknown) > 1 else ''} {', '.join(hints)}",
        fix,
        pointer=json_pointer(location),
    )


def _article(type_name: Any) -> str:
    names = {"integer": "an integer", "object": "a JSON object", "string": "a string"}
    return names.get(str(type_name), f"of type {type_name}")


def _path_problems(index: Mapping[str, Any]) -> Iterator[tuple[str, Problem]]:
    well_formed = list(index) if paths.all_plain(index.keys()) else []
    for path in () if well_formed else index:
        problems = paths.path_problems(path)
        for message, fix in problems:
            yield path, Problem(message, fix, pointer=json_pointer([path]))
        if not problems:
            well_formed.append(path)
    for path, twin in paths.normalization_twins(well_formed):
        yield path, twin_problem(path, twin)
    for path, ancestor in paths.nesting_conflicts(well_formed):
        yield path, nesting_problem(path, ancestor)


def twin_problem(path: str, twin: str) -> Problem:
    return Problem(
        f"{_escaped(path)} and {_escaped(twin)} differ only in Unicode normalization "
        "(one NFC, one NFD), so macOS keeps them as one file",
        "untrack one of the two",
        pointer=json_pointer([path]),
    )


def nesting_problem(path: str, ancestor: str) -> Problem:
    return Problem(
        f"{ancestor!r} is tracked as a file, so {path!r} cannot be inside it",
        "untrack one of the two",
        pointer=json_pointer([path]),
    )


def _escaped(path: str) -> str:
    return "'" + path.encode("ascii", "backslashreplace").decode() + "'"


def specimen_problems(index: Mapping[str, Any]) -> Iterator[tuple[str, Problem]]:
    """A specimen comes from one patient: every entry naming both must agree on which."""
    references = (
        (path, entry.get("specimen"), entry.get("patient"))
        for path, entry in index.items()
        if isinstance(entry, dict)
    )
    for path, seen_path, specimen, seen_patient, patient in specimen_conflicts(references):
        yield path, specimen_problem(path, seen_path, specimen, seen_patient, patient)


Reference = tuple[str, Any, Any]  # (path, specimen, patient), as an entry records them


def specimen_conflicts(references: Iterable[Reference]) -> Iterator[tuple[str, str, str, str, str]]:
    """(path, first path, specimen, first patient, patient) for each entry whose specimen an earlier
    entry gave another patient."""
    first: dict[str, tuple[str, str]] = {}
    for path, specimen, patient in references:
        if not (isinstance(specimen, str) and isinstance(patient, str)):
            continue
        seen_path, seen_patient = first.setdefault(specimen, (path, patient))
        if seen_patient != patient:
            yield path, seen_path, specimen, seen_patient, patient


def specimen_problem(path: str, seen_path: str, specimen: str, seen_patient: str, patient: str) -> Problem:
    return Problem(
        f"{specimen} is from {seen_patient} in {seen_path!r}, but from {patient} here",
        "correct the patient of one of the two entries",
        pointer=json_pointer([path, "patient"]),
    )


def cross_file_problems(
    references: Iterable[Reference], file_of: Callable[[str], object]
) -> Iterator[tuple[str, Problem]]:
    """The rules that span files, for an index kept in several (`file_of` names a path's file):
    each problem whose two entries are in one file that file's own check reports, and is left out."""
    held = list(references)
    keys = [path for path, _, _ in held]
    for path, twin in paths.normalization_twins(keys):
        if file_of(path) != file_of(twin):
            yield path, twin_problem(path, twin)
    for path, ancestor in paths.nesting_conflicts(keys):
        if file_of(path) != file_of(ancestor):
            yield path, nesting_problem(path, ancestor)
    for path, seen_path, specimen, seen_patient, patient in specimen_conflicts(held):
        if file_of(path) != file_of(seen_path):
            yield path, specimen_problem(path, seen_path, specimen, seen_patient, patient)


def _entry_problems(path: str, entry: Mapping[str, Any]) -> Iterator[Problem]:
    url = entry.get("remote_url")
    if isinstance(url, str) and url:
        for message, fix in urls.url_problems(url):
            yield Problem(
                f"remote_url {urls.redact(url)!r} {message}", fix, pointer=json_pointer([path, "remote_url"])
            )
    size = entry.get("size")
    if isinstance(size, float) and size.is_integer():
        yield Problem(
            f"size is written as {size!r}, with a fraction or exponent",
            _FIXES["size"],
            pointer=json_pointer([path, "size"]),
        )
    stamp = entry.get("last_modified")
    if isinstance(stamp, str) and _RFC3339.match(stamp) and not _is_real_time(stamp):
        yield Problem(
            f"{describe(stamp)} is not a real RFC 3339 time",
            _FIXES["last_modified"],
            pointer=json_pointer([path, "last_modified"]),
        )
    extra = entry.get("extra")
    if isinstance(extra, dict):
        yield from strictjson.depth_problems(extra, (path, "extra"))


_RFC3339 = re.compile(schema.load_schema()["$defs"]["entry"]["properties"]["last_modified"]["pattern"])


def _is_real_time(stamp: str) -> bool:
    """The schema checks the form; this catches 2026-13-45T25:00:00Z."""
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True
