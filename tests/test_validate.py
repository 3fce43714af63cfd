from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lfs_meta.cli import main
from lfs_meta.index import paths, schema, strictjson, urls

from conftest import SEED_INDEX

IndexWriter = Callable[[str | bytes], Path]


def entry(**fields: object) -> dict[str, object]:
    return {"remote_url": "s3://my-bucket/data/a.vcf", "size": 1, **fields}


def doc(**entries: object) -> str:
    return json.dumps(entries)


def validate(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = main(["validate", str(path), *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out.splitlines()


def test_seed_example_is_valid(write_index: IndexWriter, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = validate(write_index(SEED_INDEX), capsys)
    assert (code, lines) == (0, ["1 file(s) valid"])


def test_full_entry_is_valid(write_index: IndexWriter, capsys: pytest.CaptureFixture[str]) -> None:
    full = entry(
        etag="d41d8cd98f00b204e9800998ecf8427e-12",
        etag_kind="multipart",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        checksums={
            "md5": "d41d8cd98f00b204e9800998ecf8427e",
            "crc32c": "e3069283",
            "sha256": "a" * 64 + "-3",
        },
        content_type="text/x-vcf; charset=utf-8",
        last_modified="2026-01-31T12:00:00.123456789+02:00",
        patient="Patient/p-1.2",
        specimen="Specimen/" + "s" * 64,
        extra={"assay": "WGS", "lanes": [1, 2], "qc": {"passed": True}},
        size=2**63 - 1,
    )
    code, lines = validate(write_index(doc(**{"data/x y/ü.vcf": full})), capsys)
    assert (code, lines) == (0, ["1 file(s) valid"])


# (index text, JSON pointer or line:col the problem is reported at, words the message must contain)
MALFORMED = [
    pytest.param("", None, "empty", id="empty-file"),
    pytest.param('{"a": 1,}', "1:9", "invalid JSON", id="trailing-comma"),
    pytest.param('{"a":\n  {"remote_url" "x"}}', "2:17", "Expecting ':'", id="syntax-line-col"),
    pytest.param("[]", None, "must be a JSON object keyed by path", id="top-level-array"),
    pytest.param(b"\xef\xbb\xbf{}", None, "byte-order mark", id="utf8-bom"),
    pytest.param(b'{\n "a\xff": 1}', "2:4", "not UTF-8", id="not-utf8"),
    pytest.param(doc(a=None), "/a", "must be a JSON object, not null", id="null-entry"),
    pytest.param(doc(a={"size": 1}), "/a", "missing required field remote_url", id="missing-url"),
    pytest.param(
        doc(a=entry(size="12")), "/a/size", "must be an integer, not the string '12'", id="size-string"
    ),
    pytest.param(doc(a=entry(size=-1)), "/a/size", "at least 0", id="size-negative"),
    pytest.param(doc(a=entry(size=2**63)), "/a/size", "at most", id="size-over-int64"),
    pytest.param('{"a": {"remote_url": "s3://bkt/k", "size": 1.0}}', "/a/size", "fraction", id="size-float"),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": 1e3}}', "/a/size", "fraction", id="size-exponent"
    ),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": NaN}}', "/a/size", "NaN is not a JSON number", id="nan"
    ),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": 1, "extra": {"x": -Infinity}}}',
        "/a/extra/x",
        "-Infinity",
        id="infinity",
    ),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": ' + "9" * 5000 + "}}",
        None,
        "unreadable number",
        id="5000-digit-number",
    ),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": 1, "size": 2}}',
        "/a/size",
        "duplicate key 'size'",
        id="duplicate-field",
    ),
    pytest.param(
        '{"a": {"remote_url": "s3://bkt/k", "size": 1}, "a": {"remote_url": "s3://bkt/k", "size": 2}}',
        "/a",
        "duplicate key 'a'",
        id="duplicate-path",
    ),
    pytest.param(
        doc(a=entry(etga="x")), "/a", "unknown entry field 'etga' (did you mean 'etag'?)", id="typo"
    ),
    pytest.param(
        doc(a=entry(checksums={"sha9": "00"})),
        "/a/checksums",
        "unknown checksums field 'sha9'",
        id="unknown-checksum",
    ),
    pytest.param(
        doc(a=entry(checksums={"md5": "ABC"})), "/a/checksums/md5", "not md5 in lowercase hex", id="bad-md5"
    ),
    pytest.param(doc(a=entry(etag='"abc"')), "/a/etag", "contains quotes", id="quoted-etag"),
    pytest.param(doc(a=entry(etag_kind="sha")), "/a/etag_kind", "not valid here", id="etag-kind"),
    pytest.param(doc(a=entry(content_type="vcf")), "/a/content_type", "not a MIME type", id="content-type"),
    pytest.param(
        doc(a=entry(last_modified="yesterday")), "/a/last_modified", "not an RFC 3339", id="date-form"
    ),
    pytest.param(
        doc(a=entry(last_modified="2026-13-40T00:00:00Z")),
        "/a/last_modified",
        "not a real",
        id="date-impossible",
    ),
    pytest.param(
        doc(a=entry(patient="Specimen/XYZ")), "/a/patient", "FHIR Patient reference", id="patient-type"
    ),
    pytest.param(
        doc(a=entry(patient="Patient/")), "/a/patient", "FHIR Patient reference", id="patient-no-id"
    ),
    pytest.param(
        doc(a=entry(patient="Patient/a_b")), "/a/patient", "FHIR Patient reference", id="patient-bad-id"
    ),
    pytest.param(
        doc(a=entry(specimen="Specimen/" + "x" * 65)),
        "/a/specimen",
        "FHIR Specimen reference",
        id="specimen-id-too-long",
    ),
    pytest.param(
        doc(a=entry(specimen="https://x/Specimen/1")), "/a/specimen", "FHIR Specimen", id="absolute-ref"
    ),
    pytest.param(doc(**{"": entry()}), "/", "path is empty", id="path-empty"),
    pytest.param(doc(**{"/etc/passwd": entry()}), "/~1etc~1passwd", "absolute", id="path-absolute"),
    pytest.param(doc(**{"C:/data/a": entry()}), "/C:~1data~1a", "absolute", id="path-drive"),
    pytest.param(doc(**{"a/../b": entry()}), "/a~1..~1b", "'..'", id="path-dotdot"),
    pytest.param(doc(**{"./a": entry()}), "/.~1a", "'.'", id="path-dot"),
    pytest.param(doc(**{"a\\b": entry()}), "/a\\b", "backslash", id="path-backslash"),
    pytest.param(doc(**{"a//b": entry()}), "/a~1~1b", "empty segment", id="path-empty-segment"),
    pytest.param(doc(**{"a/": entry()}), "/a~1", "empty segment", id="path-trailing-slash"),
    pytest.param(doc(**{"a\u0000b": entry()}), "/a\\u0000b", "NUL", id="path-nul"),
    pytest.param(doc(**{".git/config": entry()}), "/.git~1config", "inside .git/", id="path-git"),
    pytest.param(doc(**{"sub/.GIT/x": entry()}), "/sub~1.GIT~1x", "inside .git/", id="path-nested-git"),
    pytest.param(
        doc(**{".lfs-meta/metadata.json": entry()}), "/.lfs-meta~1metadata.json", "inside", id="path-lfs-meta"
    ),
    pytest.param(doc(**{"a": entry(), "a/b": entry()}), "/a~1b", "tracked as a file", id="path-file-and-dir"),
    pytest.param(
        '{"a\\ud800": {"remote_url": "s3://bkt/k", "size": 1}}', "/a\\ud800", "surrogate", id="lone-surrogate"
    ),
    pytest.param(doc(a=entry(remote_url="")), "/a/remote_url", "must not be empty", id="url-empty"),
    pytest.param(doc(a=entry(remote_url="data/a.vcf")), "/a/remote_url", "is not a URL", id="url-not-url"),
    pytest.param(doc(a=entry(remote_url="ftp://h/a")), "/a/remote_url", "scheme 'ftp'", id="url-scheme"),
    pytest.param(
        doc(a=entry(remote_url="s3://b/a")), "/a/remote_url", "invalid bucket name", id="url-bucket"
    ),
    pytest.param(doc(a=entry(remote_url="s3://bkt/")), "/a/remote_url", "names no object", id="url-no-key"),
    pytest.param(doc(a=entry(remote_url="gs://me@bkt/a")), "/a/remote_url", "'user@'", id="url-gs-user"),
    pytest.param(doc(a=entry(remote_url="s3://bkt/a?versionId=1")), "/a/remote_url", "query", id="url-query"),
    pytest.param(doc(a=entry(remote_url="https://h/a b")), "/a/remote_url", "spaces", id="url-space"),
    pytest.param(doc(a=entry(remote_url="https:///a")), "/a/remote_url", "no host", id="url-no-host"),
    pytest.param(doc(a=entry(remote_url="file://server/a")), "/a/remote_url", "file:///", id="url-file-host"),
    pytest.param(
        doc(a=entry(remote_url="https://alice:hunter2hunter2@h/a")),
        "/a/remote_url",
        "password",
        id="secret-password",
    ),
    pytest.param(
        doc(
            a=entry(
                remote_url="https://b.s3.amazonaws.com/a?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature=deadbeefcafe"
            )
        ),
        "/a/remote_url",
        "signed URL",
        id="secret-presigned-s3",
    ),
    pytest.param(
        doc(
            a=entry(
                remote_url="https://acct.blob.core.windows.net/c/a?sv=2022-11-02&sp=r&sig=SASSECRETSASSECRET"
            )
        ),
        "/a/remote_url",
        "sig",
        id="secret-azure-sas",
    ),
    pytest.param(
        doc(
            a=entry(
                remote_url="https://storage.googleapis.com/b/a?X-Goog-Algorithm=x"
                "&x-goog-signature=GOOGSECRETGOOGSECRET"
            )
        ),
        "/a/remote_url",
        "signed URL",
        id="secret-gcs-signed",
    ),
    pytest.param(
        doc(a=entry(extra=json.loads("[" * 70 + "]" * 70))), "/a/extra", "not", id="extra-not-object"
    ),
    pytest.param(
        doc(a=entry(extra={"x": json.loads("[" * 70 + "]" * 70)})),
        "/a/extra/x",
        "nested more",
        id="deep-extra",
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, None, "nested more than", id="deep-document"),
    pytest.param(
        doc(
            a=entry(patient="Patient/1", specimen="Specimen/S"),
            b=entry(specimen="Specimen/S"),
            c=entry(patient="Patient/2", specimen="Specimen/S"),
        ),
        "/c/patient",
        "Specimen/S is from Patient/1 in 'a', but from Patient/2 here",
        id="specimen-of-two-patients",
    ),
]


@pytest.mark.parametrize(("text", "where", "words"), MALFORMED)
def test_malformed_index_gets_one_clear_line_and_file_is_untouched(
    text: str | bytes,
    where: str | None,
    words: str,
    write_index: IndexWriter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_index(text)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    code, lines = validate(path, capsys)
    assert code == 1
    problems, summary = lines[:-1], lines[-1]
    assert summary.endswith("in 1 of 1 file(s)")
    matching = [line for line in problems if words in line]
    assert matching, problems
    prefix = (
        f"{path}:{where}:" if where and where[0].isdigit() else f"{path}: {where}:" if where else f"{path}:"
    )
    assert any(line.startswith(prefix) for line in matching), (prefix, problems)
    assert all(len(line) < 500 for line in lines)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


SECRETS = ["hunter2hunter2", "deadbeefcafe", "AKIAEXAMPLE", "SASSECRETSASSECRET", "GOOGSECRETGOOGSECRET"]


def test_secrets_never_echoed(write_index: IndexWriter, capsys: pytest.CaptureFixture[str]) -> None:
    secret_cases = [str(p.values[0]) for p in MALFORMED if str(p.id).startswith("secret-")]
    entries = {f"f{i}.vcf": json.loads(case)["a"] for i, case in enumerate(secret_cases)}
    path = write_index(json.dumps(entries))
    code, lines = validate(path, capsys)
    json_code, json_lines = validate(path, capsys, "--json")
    assert (code, json_code) == (1, 1)
    assert len([line for line in lines if "remote_url" in line]) == len(secret_cases) == 4
    for secret in SECRETS:
        assert secret not in "\n".join(lines + json_lines)


def test_every_problem_is_reported_not_just_the_first(
    write_index: IndexWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    text = doc(
        **{"/abs": entry(size=-1), "ok.vcf": entry(), "b": entry(remote_url="ftp://x/y", patient="P/1")}
    )
    code, lines = validate(write_index(text), capsys)
    assert code == 1
    assert lines[-1] == "4 problem(s) in 1 of 1 file(s)"
    # Grouped by entry, in the order of the file.
    assert [line.split(": ")[1] for line in lines[:-1]] == [
        "/~1abs",
        "/~1abs/size",
        "/b/patient",
        "/b/remote_url",
    ]


def test_json_report(write_index: IndexWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_index('{"a": {"remote_url": "s3://bkt/k", "size": -1}}')
    code = main(["validate", "--json", str(path)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "file": str(path),
            "pointer": "/a/size",
            "line": None,
            "column": None,
            "message": "must be at least 0, not the number -1",
            "fix": "write the size in bytes as a whole number",
        }
    ]


def test_several_files_report_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(SEED_INDEX)
    bad.write_text("{")
    assert main(["validate", str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{bad}:1:2: invalid JSON")
    assert lines[-1] == "1 problem(s) in 1 of 2 file(s)"


def test_a_50_mb_file_is_reported_not_crashed_on(
    write_index: IndexWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    huge_url = "s3://bkt/" + "k" * 50_000_000
    code, lines = validate(write_index(doc(a=entry(remote_url=huge_url))), capsys)
    assert code == 1
    assert lines[0].endswith(
        "/a/remote_url: is longer than 8192 characters; write it as s3://bucket/key, "
        "gs://bucket/object, az://container/blob, https://host/path or file:///path"
    )


def test_file_over_the_size_limit_is_not_read(
    write_index: IndexWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_index(b"")
    with path.open("r+b") as sparse:
        sparse.truncate((1 << 30) + 1)
    code, lines = validate(path, capsys)
    assert code == 1
    assert lines[0] == (
        f"{path}: file is 1,073,741,825 bytes, over the 1,073,741,824-byte limit for an index; "
        "check that this is the lfs-meta index and not a data file"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.symlink_to(p), "cannot read: Too many levels of symbolic links"),
    ],
    ids=["missing", "directory", "symlink-loop"],
)
def test_unusable_file_is_a_usage_error(
    tmp_path: Path, make: Callable[[Path], object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "metadata.json"
    make(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lfs-meta: error: {path}: {message}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("text", "where", "words"), MALFORMED)
def test_compiled_schema_never_passes_what_jsonschema_rejects(
    text: str | bytes, where: str, words: str
) -> None:
    parsed = strictjson.parse(text.encode() if isinstance(text, str) else text)
    if parsed.data is not None:
        rejected = any(True for _ in schema.validator().iter_errors(parsed.data))
        assert not (rejected and schema.is_valid(parsed.data))


def test_compiled_schema_agrees_on_valid_indexes() -> None:
    data = json.loads(SEED_INDEX)
    assert schema.is_valid(data) and schema.validator().is_valid(data)
    assert not schema.is_valid({"\ud800": entry()})  # what it cannot encode is left to jsonschema


@pytest.mark.parametrize(
    "url",
    [
        "s3://my-bucket/data/a.vcf",
        "s3://bkt.with.dots/k/ü.vcf",
        "s3://b/a",
        "s3://my-bucket/",
        "s3://my-bucket/dir/",
        "s3://My-Bucket/a",
        "S3://bkt/a",
        "s3://bkt:80/a",
        "s3://bkt:x/a",
        "s3://profile@bkt/a",
        "s3://u:pw@bkt/a",
        "s3://bkt/a?versionId=1",
        "s3://bkt/a#f",
        "s3://bkt/a b",
        "s3://bkt/a\n",
        "s3://[::1]/a",
        "s3://bkt//a",
        "s3://bkt/%zz",
        "gs://bkt_x/a",
        "gs://" + "a" * 222 + "/k",
        "gs://-bkt/a",
        "az://$root/a",
        "az://a--b/a",
        "az://ab/c/",
        "az://abc/c",
    ],
)
def test_fast_url_check_agrees_with_the_full_one(url: str) -> None:
    assert urls.url_problems(url) == urls.full_url_problems(url)


@pytest.mark.parametrize(
    "path",
    [
        "data/a.vcf",
        "a",
        "data/.hidden/x",
        "data/..x/y",
        "data/.gitignore",
        "data/x.git",
        ".lfs-metadata/x",
        "data/.lfs-meta/x",
        ".",
        "..",
        "data/./x",
        "data/../x",
        "x/.",
        ".git",
        ".GIT/x",
        "data/.Git/x",
        ".lfs-meta",
        ".LFS-META/x",
        "C:/x",
        "c:x",
        "/abs",
        "data//x",
        "data/",
        "",
        "data\\x",
        "data/\x00x",
        "data/\x7f",
        "data/tab\there",
        "data/ü/ñ.vcf",
        "a" * 4096,
        "a" * 4097,
    ],
)
def test_fast_path_check_agrees_with_the_full_one(path: str) -> None:
    assert paths.path_problems(path) == paths.all_path_problems(path)


@given(st.text(alphabet=st.sampled_from(list("ab./:~1\\\x00 GITlfsmeta-\u200c")), max_size=24))
def test_fast_path_check_agrees_with_the_full_one_on_generated_paths(path: str) -> None:
    assert paths.path_problems(path) == paths.all_path_problems(path)


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab./:~1\\\n GITlfsmeta-")), max_size=12), max_size=6))
def test_one_match_over_many_paths_agrees_with_each_path_on_its_own(many: list[str]) -> None:
    assert paths.all_plain(many) == all(not paths.all_path_problems(path) for path in many)


def test_one_match_over_many_paths_accepts_a_large_plain_index() -> None:
    many = [f"data/batch{i % 100:03d}/sample{i:07d}.vcf.gz" for i in range(100_000)]
    assert paths.all_plain(many)
    assert not paths.all_plain([*many, "data/.git/x"])
    assert not paths.all_plain([*many[:10], "x" * (paths.MAX_PATH_LENGTH + 1)])


@given(st.sets(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4).map("/".join), max_size=8))
def test_nesting_conflicts_name_each_path_under_a_tracked_file(tracked: set[str]) -> None:
    expected = []
    for path in sorted(tracked):
        ancestors = [path[:i] for i in range(len(path)) if path[i] == "/" and path[:i] in tracked]
        if ancestors:
            expected.append((path, ancestors[0]))
    assert paths.nesting_conflicts(tracked) == expected


def _indented(value: object, depth: int = 0) -> str:
    """`value` as lfs-meta writes an index (sorted keys, two-space indent), except that a list of
    pairs is an object whose keys may repeat."""
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, list) and value and all(isinstance(item, tuple) for item in value):
        pairs = sorted(value, key=lambda pair: pair[0])
        items = [
            f"{json.dumps(key, ensure_ascii=False)}: {_indented(item, depth + 1)}" for key, item in pairs
        ]
        return "{" + inner + ("," + inner).join(items) + "\n" + "  " * depth + "}"
    if isinstance(value, list) and value:
        return (
            "["
            + inner
            + ("," + inner).join(_indented(item, depth + 1) for item in value)
            + "\n"
            + "  " * depth
            + "]"
        )
    return json.dumps(value, ensure_ascii=False)


_KEYS = st.text(alphabet=st.sampled_from(list('ab:"\\é\x01\n\x7f\u2028')), max_size=3)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _KEYS
_JSON_VALUES = st.recursive(
    _SCALARS | st.integers(-(2**70), 2**70) | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_KEYS, inner), min_size=1, max_size=4),
    max_leaves=12,
)


def _typed(value: object) -> str:
    return json.dumps(value, sort_keys=True)  # 1.0 == 1 in Python; their JSON differs


@given(_JSON_VALUES, st.booleans())
def test_fast_parse_is_exactly_the_strict_one_or_declines(value: object, newline: bool) -> None:
    raw = (_indented(value) + "\n" * newline).encode()
    repeated: list[str] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({key for key, _ in pairs}) != len(pairs):
            repeated.append("x")
        return dict(pairs)

    strict = json.loads(raw, object_pairs_hook=pairs_hook)
    fast = strictjson.parse_canonical(raw)
    if fast is not None:
        assert not repeated
        assert _typed(fast) == _typed(strict)


@given(
    st.dictionaries(
        _KEYS,
        st.recursive(
            _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3)
        ),
    )
)
def test_fast_parse_takes_every_index_lfs_meta_writes(value: dict[str, object]) -> None:
    raw = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    fast = strictjson.parse_canonical(raw)
    assert fast is not None and _typed(fast) == _typed(value)


def test_repeated_key_in_a_large_index_is_still_found(
    write_index: IndexWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [f'"data/{i:05d}.vcf": {json.dumps(entry())}' for i in range(2000)]
    entries.insert(1500, f'"data/00007.vcf": {json.dumps(entry(size=2))}')
    code, lines = validate(write_index("{" + ",\n".join(entries) + "}"), capsys)
    assert code == 1
    assert "duplicate key 'data/00007.vcf'" in lines[0]
