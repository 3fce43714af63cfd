"""META/ files merged resource by resource: whatever order the sides' lines are in, the result is what
init-meta gives for the merged index, in the order the layout keeps it."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lfs_meta import config
from lfs_meta.cli import main
from lfs_meta.fhir import gen3, mapping, ndjson_merge
from lfs_meta.index import merge
from lfs_meta.index.entry import Entry

from conftest import edited

Generate = Callable[[dict[str, Entry]], bytes]
PROJECT = "lab-cohort"
PROFILES: dict[str, Generate] = {
    "R5": lambda entries: bytes(mapping.ndjson_files(entries, config.R5, PROJECT)["DocumentReference"]),
    "R4B": lambda entries: bytes(mapping.ndjson_files(entries, config.R4B, PROJECT)["DocumentReference"]),
    "gen3": lambda entries: bytes(gen3.ndjson_files(entries, PROJECT)["DocumentReference"]),
}


def by_id(data: bytes) -> bytes:
    """A sharded index's part: the same lines, sorted by resource id."""

    lines = sorted(data.splitlines(keepends=True), key=lambda line: str(orjson.loads(line)["id"]))
    return b"".join(lines)


def shuffled(data: bytes, seed: int) -> bytes:
    lines = data.splitlines(keepends=True)
    random.Random(seed).shuffle(lines)
    return b"".join(lines)


def entry(size: int, patient: int | None = None) -> Entry:
    return Entry(
        remote_url=f"s3://bkt/k{size}",
        size=size,
        patient=None if patient is None else f"Patient/p{patient}",
        specimen=None if patient is None else f"Specimen/s{size}",
    )


PATHS = st.sampled_from(
    ["a.vcf", "b/c.bam", "b/d.cram", "e f.txt", "z.vcf", "Z.vcf", "\u00e9.vcf", "a/b.vcf"]
)
VERSIONS = st.none() | st.builds(entry, st.integers(0, 3), st.none() | st.integers(0, 2))


@settings(max_examples=150, deadline=None)
@given(
    base=st.dictionaries(PATHS, VERSIONS.filter(lambda version: version is not None)),
    ours_edits=st.dictionaries(PATHS, VERSIONS),
    theirs_edits=st.dictionaries(PATHS, VERSIONS),
    profile=st.sampled_from(sorted(PROFILES)),
    sharded=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_merged_documents_are_what_the_merged_index_gives(
    base: dict[str, Entry],
    ours_edits: dict[str, Entry | None],
    theirs_edits: dict[str, Entry | None],
    profile: str,
    sharded: bool,
    seed: int,
) -> None:
    ours, theirs = edited(base, ours_edits), edited(base, theirs_edits)
    merged_index, index_conflicts = merge.merge(base, ours, theirs)
    generate = PROFILES[profile]
    layout: Callable[[bytes], bytes] = by_id if sharded else (lambda data: data)
    sides = [shuffled(layout(generate(side)), seed + n) for n, side in enumerate((base, ours, theirs))]
    result = ndjson_merge.merge_lines(*sides, documents_by_path=not sharded)
    assert result is not None
    text, conflicts = result
    # Entries changed both ways may still give one line (gen3 leaves the patient to the specimen).
    assert set(conflicts) <= set(index_conflicts)
    if not index_conflicts:
        assert text == layout(generate(merged_index))


def test_the_one_files_documents_are_ordered_by_path_even_when_two_lines_look_sorted_by_id() -> None:
    generate = PROFILES["R5"]
    x, y = {"x.vcf": entry(1)}, {"y.vcf": entry(2)}
    namespace = mapping.project_namespace(PROJECT).bytes
    assert mapping.uuid5(namespace, "y.vcf") < mapping.uuid5(namespace, "x.vcf")  # by id, y would be first
    result = ndjson_merge.merge_lines(b"", generate(x), generate(y), documents_by_path=True)
    assert result == (generate(x | y), [])
    assert result[0].index(b"x.vcf") < result[0].index(b"y.vcf")
    sharded = ndjson_merge.merge_lines(b"", generate(x), generate(y), documents_by_path=False)
    assert sharded == (by_id(generate(x | y)), [])


def test_stub_files_merge_by_id_in_either_layout() -> None:
    def patients(*ids: int) -> bytes:
        return bytes(mapping.ndjson({"resourceType": "Patient", "id": f"p{i}"} for i in sorted(ids)))

    for documents_by_path in (True, False):
        result = ndjson_merge.merge_lines(
            patients(1, 5),
            shuffled(patients(1, 5, 3), 1),
            patients(5, 7),
            documents_by_path=documents_by_path,
        )
        assert result == (patients(3, 5, 7), [])


def test_a_resource_changed_both_ways_is_a_conflict_named_by_its_path_keeping_ours() -> None:
    generate = PROFILES["R5"]
    base = {"a.vcf": entry(1), "b.vcf": entry(2)}
    ours, theirs = base | {"a.vcf": entry(3)}, base | {"a.vcf": entry(4), "c.vcf": entry(5)}
    result = ndjson_merge.merge_lines(
        generate(base), generate(ours), generate(theirs), documents_by_path=True
    )
    assert result == (generate(ours | {"c.vcf": entry(5)}), ["a.vcf"])


@pytest.mark.parametrize(
    "side",
    [
        b"not json\n",
        b'["a list"]\n',
        b'{"resourceType":"Patient"}\n',  # no id
        b'{"resourceType":"Patient","id":"p1"}\n{"resourceType":"Patient","id":"p1"}\n',  # twice
        b'{"resourceType":"DocumentReference","id":"d1"}\n',  # the one file orders it by a path it lacks
    ],
)
def test_a_file_that_is_not_lfs_metas_ndjson_is_left_to_gits_line_merge(side: bytes) -> None:
    assert ndjson_merge.merge_lines(b"", side, b"", documents_by_path=True) is None


STUBS: dict[str, Callable[[dict[str, Entry]], dict[str, bytearray]]] = {
    "R5": lambda entries: mapping.ndjson_files(entries, config.R5, PROJECT),
    "gen3": lambda entries: gen3.ndjson_files(entries, PROJECT),
}
ADDED = st.dictionaries(
    st.text("abcdef/", min_size=1, max_size=6).filter(lambda path: "//" not in path),
    st.builds(
        lambda size, patient, specimen: Entry(
            remote_url="s3://bkt/k",
            size=size,
            patient=None if patient is None else f"Patient/p{patient}",
            specimen=None if specimen is None else f"Specimen/s{specimen}",
        ),
        st.integers(0, 2),
        st.none() | st.integers(0, 3),
        st.none() | st.integers(0, 3),
    ),
    max_size=6,
)


def one_patient_per_specimen(entries: dict[str, Entry]) -> bool:
    patients: dict[str, set[str]] = {}
    for entry in entries.values():
        if entry.specimen and entry.patient:
            patients.setdefault(entry.specimen, set()).add(entry.patient)
    return all(len(found) == 1 for found in patients.values())


@settings(max_examples=150, deadline=None)
@given(
    base=ADDED,
    ours_added=ADDED,
    theirs_added=ADDED,
    profile=st.sampled_from(sorted(STUBS)),
    seed=st.integers(),
)
def test_when_both_sides_track_files_the_merged_stubs_are_what_the_merged_index_gives(
    base: dict[str, Entry],
    ours_added: dict[str, Entry],
    theirs_added: dict[str, Entry],
    profile: str,
    seed: int,
) -> None:
    """The team's loop: each side adds entries (new paths). Stubs name patients and specimens that
    entries name, so only additions make them exact from the stub files alone; README says the rest."""
    ours = base | {path: entry for path, entry in ours_added.items() if path not in base}
    theirs = base | {path: entry for path, entry in theirs_added.items() if path not in base}
    merged_index, index_conflicts = merge.merge(base, ours, theirs)
    assume(not index_conflicts and one_patient_per_specimen(merged_index))
    files = [STUBS[profile](side) for side in (base, ours, theirs)]
    expected = STUBS[profile](merged_index)
    for name in expected.keys() - {"DocumentReference"}:
        sides = [shuffled(bytes(side.get(name, b"")), seed + n) for n, side in enumerate(files)]
        assert ndjson_merge.merge_lines(*sides, documents_by_path=True) == (bytes(expected[name]), []), name


def test_a_stub_removed_on_one_side_and_named_anew_on_the_other_keeps_the_new_line() -> None:
    base = b'{"resourceType":"Specimen","id":"s1"}\n'
    theirs = b'{"resourceType":"Specimen","id":"s1","subject":{"reference":"Patient/p1"}}\n'
    for documents_by_path in (True, False):
        assert ndjson_merge.merge_lines(base, b"", theirs, documents_by_path=documents_by_path) == (
            theirs,
            [],
        )
        assert ndjson_merge.merge_lines(base, theirs, b"", documents_by_path=documents_by_path) == (
            theirs,
            [],
        )
    changed_both_ways = b'{"resourceType":"Specimen","id":"s1","subject":{"reference":"Patient/p2"}}\n'
    assert ndjson_merge.merge_lines(base, theirs, changed_both_ways, documents_by_path=True) == (
        theirs,
        ["Specimen/s1"],
    )
    # Removed on one side, lost its patient on the other: neither says more, so a conflict (ours kept).
    assert ndjson_merge.merge_lines(theirs, b"", base, documents_by_path=True) == (b"", ["Specimen/s1"])


def test_a_conflict_named_by_a_branchs_path_reaches_the_terminal_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = "data/\x1b]0;pwned\x07\u202ename.vcf"  # an OSC title sequence and a bidi override

    def document(size: int) -> bytes:
        return orjson.dumps(
            {
                "resourceType": "DocumentReference",
                "id": "d1",
                "identifier": [{"system": mapping.PATH_SYSTEM, "value": hostile}],
                "size": size,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )

    for name, data in (("base", document(1)), ("ours", document(2)), ("theirs", document(3))):
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    assert main(["merge-driver", "base", "ours", "theirs", "META/DocumentReference.ndjson"]) == 1
    err = capsys.readouterr().err
    assert "data/\\u001b]0;pwned\\u0007\\u202ename.vcf changed differently on both sides" in err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
