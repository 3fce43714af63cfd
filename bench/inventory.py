"""`check --inventory` against LIST: the store's own inventory report read in place of listing it.

.venv/bin/python bench/inventory.py [N ...] [--scratch DIR] [--keep] [--runs R] [--results FILE]
(default N: 1,000,000 10,000,000)

For each N, two S3 Inventory reports of bench/list_server.py's N objects (object i: key
`run7/batch<i % 100>/sample<i>.vcf.gz` in `cohort-bucket`, size 5,000,000,000 + i, ETag i in hex),
written by `write_report` as a downloaded copy in the layout AWS documents: CSV (gzip, no header
row) and Parquet, one data file per 1,000,000 objects, manifest.json and manifest.checksum (its
MD5). A report is taken 2026-12-01T00:00Z, after every entry's recorded change (2026-01-31T12:00Z),
so it speaks for every entry.

Up to 2,000,000 entries (`BUILD_LIMIT`): bench/shards.py's `build` makes the one-file repository
and its resharded copy (init-meta, reshard, committed); `lfs-meta check --inventory MANIFEST` (each
report) and `lfs-meta check` against bench/list_server.py (LIST, 1,000 keys a request) run in turns
on both layouts. Goal, judged from 1,000,000 entries: LIST seconds / inventory seconds >= 10 on the
sharded index.

Above it: the sharded layout only, written directly by `write_sharded` (the shard files reshard
would write, without init-meta, the one file or a commit), verified once by `lfs-meta validate`;
then `check --inventory` with each report, the store's endpoint a port nothing listens on (a request
would fail the run). No LIST. Goals: under 10 minutes and under 1 GB peak RSS.

Every check must say N unchanged and nothing else; an inventory run must also decide every entry
from the report (no entry "checked with the store") and send the store no request. 3 runs (medians)
below 200,000 entries, 1 at and above. Peak RSS is measure.run's (wait4: the largest process of the
command, its workers included); reports and the large index are written in child processes
(`in_child`), so that this process stays small (see bench/shards.py's `in_child`).

--scratch DIR builds in DIR/<N>/ and reuses what an earlier run finished there (DIR is kept); without
it a temporary directory is used, removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import list_server
import measure
import shards
from init_meta import entry
from list_server import BUCKET, key

from lfs_meta.drift import compare
from lfs_meta.index import attributes, storage
from lfs_meta.index import shards as layout
from lfs_meta.index.entry import Entry

import emulators

LFS_META = measure.BIN / "lfs-meta"
FORMATS = ("csv", "parquet")
BUILD_LIMIT = 2_000_000  # above it: the sharded layout only, written directly; no LIST
GOAL_AT = 1_000_000  # the ratio goal is judged from this many entries
RATIO_TARGET = 10.0
SECONDS_TARGET = 600.0
RSS_TARGET_MB = 1024
MB = 1e6
SEP = " / "  # between a layout and its command in the names of measure.alternate's commands
PER_FILE = 1_000_000  # objects a data file
CHUNK = 100_000  # objects generated at a time
SIZE_BASE = 5_000_000_000
MODIFIED = "2026-01-31T12:00:00Z"  # every entry's last_modified (bench/init_meta.py's `entry`)
MODIFIED_MS = 1_769_860_800_000
CREATED_MS = 1_796_083_200_000  # the reports' creationTimestamp: 2026-12-01T00:00Z
SNAPSHOT = "2026-12-01T00-00Z"  # the manifest's directory, named after it
PREFIX = "inventory"  # the destination's prefix
CONFIG = "daily"  # the inventory configuration's id
DESTINATION = "arn:aws:s3:::cohort-inventory"
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet"}
SUFFIXES = {"csv": "csv.gz", "parquet": "parquet"}
# fileSchema as S3 writes it: the CSV's column names in order, the Parquet file's message type.
FILE_SCHEMAS = {
    "csv": "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass",
    "parquet": "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); "
    "optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); "
    "optional binary e_tag (UTF8); optional binary storage_class (UTF8); }",
}


def path_of(i: int) -> str:
    return shards.path_of(i)


# The reports.


@dataclass(frozen=True)
class Written:
    """A report as written: its manifest, data files and their bytes; seconds None when reused."""

    manifest: str
    files: int
    bytes: int
    seconds: float | None


def report_top(directory: Path) -> Path:
    """<destination prefix>/<source bucket>/<configuration id>: the data files and each day's manifest."""
    return directory / PREFIX / BUCKET / CONFIG


def write_report(directory: str, count: int, fmt: str) -> Written:
    """An S3 Inventory report of list_server's `count` objects in `directory`, as a downloaded copy
    lays it out: data/<uuid>.<suffix> (a file per PER_FILE objects), <snapshot>/manifest.json, and
    <snapshot>/manifest.checksum (the manifest's MD5, written last: the report is complete)."""
    started = time.perf_counter()
    top = report_top(Path(directory))
    (top / "data").mkdir(parents=True)
    files: list[dict[str, str | int]] = []
    for number, low in enumerate(range(0, count, PER_FILE)):
        name = f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{fmt}/{count}/{number}')}.{SUFFIXES[fmt]}"
        path = top / "data" / name
        write_data_file(path, fmt, low, min(count, low + PER_FILE))
        files.append(
            {
                "key": f"{PREFIX}/{BUCKET}/{CONFIG}/data/{name}",
                "size": path.stat().st_size,
                "MD5checksum": md5_of(path),
            }
        )
    manifest = {
        "sourceBucket": BUCKET,
        "destinationBucket": DESTINATION,
        "version": "2016-11-30",
        "creationTimestamp": str(CREATED_MS),
        "fileFormat": FORMAT_NAMES[fmt],
        "fileSchema": FILE_SCHEMAS[fmt],
        "files": files,
    }
    raw = json.dumps(manifest, indent=2).encode()
    (top / SNAPSHOT).mkdir()
    (top / SNAPSHOT / "manifest.json").write_bytes(raw)
    (top / SNAPSHOT / "manifest.checksum").write_text(hashlib.md5(raw).hexdigest())
    total = sum((top / "data" / Path(str(file["key"])).name).stat().st_size for file in files)
    return Written(str(top / SNAPSHOT / "manifest.json"), len(files), total, time.perf_counter() - started)


def schema(fmt: str) -> Any:
    """The data files' columns: the CSV's as text (sizes written as numbers), Parquet's typed as S3's."""
    import pyarrow as pa

    modified = pa.string() if fmt == "csv" else pa.timestamp("ms", tz="UTC")
    return pa.schema(
        [
            pa.field("bucket", pa.string(), nullable=False),
            pa.field("key", pa.string(), nullable=False),
            ("size", pa.int64()),
            ("last_modified_date", modified),
            ("e_tag", pa.string()),
            ("storage_class", pa.string()),
        ]
    )


def objects(fmt: str, low: int, high: int) -> Any:
    """Objects low .. high - 1 as a record batch of `schema(fmt)`."""
    import pyarrow as pa

    rows = high - low
    modified = (
        pa.scalar("2026-01-31T12:00:00.000Z")
        if fmt == "csv"
        else pa.scalar(MODIFIED_MS, pa.timestamp("ms", tz="UTC"))
    )
    return pa.RecordBatch.from_arrays(
        [
            pa.repeat(pa.scalar(BUCKET), rows),
            pa.array([key(i) for i in range(low, high)], pa.string()),
            pa.array(range(SIZE_BASE + low, SIZE_BASE + high), pa.int64()),
            pa.repeat(modified, rows),
            pa.array([f"{i:032x}" for i in range(low, high)], pa.string()),
            pa.repeat(pa.scalar("STANDARD"), rows),
        ],
        schema=schema(fmt),
    )


def write_data_file(path: Path, fmt: str, low: int, high: int) -> None:
    """One data file of objects low .. high - 1, CHUNK objects at a time: CSV gzip without a header
    row, every value quoted as S3 writes it; or Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    chunks = (objects(fmt, start, min(high, start + CHUNK)) for start in range(low, high, CHUNK))
    if fmt == "csv":
        options = pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
        with (
            pa.CompressedOutputStream(str(path), "gzip") as stream,
            pcsv.CSVWriter(stream, schema(fmt), write_options=options) as writer,
        ):
            for chunk in chunks:
                writer.write_batch(chunk)
    else:
        with pq.ParquetWriter(str(path), schema(fmt)) as writer:
            for chunk in chunks:
                writer.write_batch(chunk)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def finished_report(directory: Path, count: int, fmt: str) -> Written | None:
    """The report an earlier run wrote in `directory`, when it is complete and of `count` objects in
    `fmt` (its checksum matches, its data files are there at their sizes)."""
    top = report_top(directory)
    try:
        raw = (top / SNAPSHOT / "manifest.json").read_bytes()
        said = (top / SNAPSHOT / "manifest.checksum").read_text().strip()
    except FileNotFoundError:
        return None
    manifest = json.loads(raw)
    files = manifest["files"]
    sizes = [(top / "data" / Path(file["key"]).name, int(file["size"])) for file in files]
    complete = (
        said == hashlib.md5(raw).hexdigest()
        and manifest["fileFormat"] == FORMAT_NAMES[fmt]
        and len(files) == -(-count // PER_FILE)
        and all(path.exists() and path.stat().st_size == size for path, size in sizes)
    )
    if not complete:
        return None
    return Written(str(top / SNAPSHOT / "manifest.json"), len(files), sum(size for _, size in sizes), None)


def prepared_report(place: Path, count: int, fmt: str) -> Written:
    directory = place / f"report-{fmt}"
    found = finished_report(directory, count, fmt)
    if found is not None:
        return found
    shutil.rmtree(directory, ignore_errors=True)
    print(f"   writing the {FORMAT_NAMES[fmt]} report in {directory}", flush=True)
    return Written(**in_child("write_report", str(directory), count, fmt))


# The index, above BUILD_LIMIT.


@dataclass(frozen=True)
class Index:
    """A sharded index as written (or by an earlier run: `reused`), and `validate` of it, once, then."""

    repo: str
    fanout: int
    files: int
    bytes: int
    largest: int
    single_bytes: int
    seconds: float
    validate_seconds: float
    validate_rss_mb: float
    reused: bool = False


def block(i: int) -> str:
    """Entry i (bench/init_meta.py's `entry(i, False)`) as a canonical index file writes it, from
    its first line's indent to its closing brace; `write_sharded` checks whole shards against
    storage.dumps."""
    return (
        f'  "{path_of(i)}": {{\n'
        f'    "etag": "{i:032x}",\n'
        '    "etag_kind": "md5",\n'
        f'    "last_modified": "{MODIFIED}",\n'
        f'    "patient": "Patient/p{i % 5000}",\n'
        f'    "remote_url": "s3://{BUCKET}/{key(i)}",\n'
        f'    "size": {SIZE_BASE + i},\n'
        f'    "specimen": "Specimen/s{i % 20000}"\n'
        "  }"
    )


def write_sharded(root: str, count: int) -> dict[str, int]:
    """The sharded index reshard would write for entries 0 .. count - 1 in a new git repository at
    `root`: the fan-out shards.fanout_for gives the one file's size, each shard's entries in path
    order (a path's digits are fixed-width, so the order of i), a shard at a time. Paths hashed once,
    at the largest fan-out, whose top bits are the shard at every smaller one."""
    assert count <= 10_000_000, "paths have 7 digits"
    repo = Path(root)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    top = layout.MAX_FANOUT
    numbers = array("H")
    blocks = 0
    for i in range(count):
        numbers.append(layout.number_of(path_of(i), top))
        blocks += len(block(i))  # ASCII: characters are bytes
    single_bytes = blocks + 2 * (count - 1) + 5  # "{\n" block (",\n" block)* "\n}\n"
    fanout = max(2, layout.fanout_for(single_bytes))
    shift = top.bit_length() - fanout.bit_length()
    held = [array("I") for _ in range(fanout)]
    for i, number in enumerate(numbers):
        held[number >> shift].append(i)
    del numbers
    directory = repo / storage.INDEX_PATH.parent / layout.directory_name(fanout)
    attributes.ensure(directory, repo, attributes.SHARD_RULES, create_parents=True)
    storage.ensure_gitignore(directory, repo)
    sizes = []
    for number, members in enumerate(held):
        if members:
            text = "{\n" + ",\n".join(block(i) for i in members) + "\n}\n"
            (directory / layout.file_name(number, fanout)).write_bytes(text.encode())
            sizes.append(len(text))
    for number in {0, fanout - 1}:  # two whole shards, byte for byte what lfs-meta writes
        index = {path_of(i): Entry.from_json(entry(i, False)) for i in held[number]}
        assert (directory / layout.file_name(number, fanout)).read_text() == storage.dumps(index)
    for i in range(0, count, max(1, count // 1000)):
        assert i in held[layout.number_of(path_of(i), fanout)]
    return {
        "fanout": fanout,
        "files": len(sizes),
        "bytes": sum(sizes),
        "largest": max(sizes),
        "single_bytes": single_bytes,
    }


def prepared_index(place: Path, count: int) -> Index:
    """The sharded index an earlier run wrote in place/sharded, or a new one, checked by validate."""
    state = place / "index.json"
    if state.exists():
        return Index(**json.loads(state.read_text()) | {"reused": True})
    repo = place / "sharded"
    shutil.rmtree(repo, ignore_errors=True)
    print(f"   writing the sharded index of {count:,} entries in {repo}", flush=True)
    started = time.perf_counter()
    written = in_child("write_sharded", str(repo), count)
    seconds = time.perf_counter() - started
    print(f"   written in {seconds:.0f} s: {written}; lfs-meta validate", flush=True)
    checked = shards.expect(measure.run([LFS_META, "validate"], repo), "file(s) valid", "validate")
    index = Index(
        str(repo),
        seconds=seconds,
        validate_seconds=checked.seconds,
        validate_rss_mb=checked.rss_mb,
        **written,
    )
    state.write_text(json.dumps(asdict(index)))
    return index


def prepared_repositories(place: Path, count: int) -> tuple[dict[str, shards.Built], float | None]:
    """bench/shards.py's two repositories, and the seconds building took (None: an earlier run's)."""
    state = place / "built.json"
    if state.exists():
        said = json.loads(state.read_text())
        return {
            "single": shards.Built(place / "single", layout.SINGLE, False, None),
            "sharded": shards.Built(place / "sharded", said["fanout"], said["forced"], None),
        }, None
    for name in shards.LAYOUTS:
        shutil.rmtree(place / name, ignore_errors=True)
    print(f"   building the repositories of {count:,} entries in {place} (bench/shards.py)", flush=True)
    started = time.perf_counter()
    built = shards.build(place, count)
    seconds = time.perf_counter() - started
    state.write_text(json.dumps({"fanout": built["sharded"].fanout, "forced": built["sharded"].forced}))
    return built, seconds


def in_child(function: str, *args: object) -> Any:
    """`function` of this module in a child process, its result back through JSON (see bench/shards.py's
    `in_child`: this process's peak would be the floor of every peak measured after)."""
    script = (
        "import dataclasses, json, sys; sys.path.insert(0, sys.argv[1]); import inventory; "
        "result = getattr(inventory, sys.argv[2])(*json.loads(sys.argv[3])); "
        "print(json.dumps(dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result))"
    )
    argv: list[str | Path] = [measure.PYTHON, "-c", script, Path(__file__).parent, function, json.dumps(args)]
    return json.loads(subprocess.run(argv, check=True, stdout=subprocess.PIPE).stdout)


# The runs.


def verified(
    run: Callable[[], measure.Sample], count: int, name: str, by_report: bool
) -> Callable[[], measure.Sample]:
    """`run`, each run's output checked: every entry unchanged; for a report, every entry decided by
    it and no request sent to the store."""
    expected = ", ".join(
        f"{count if status == compare.UNCHANGED else 0} {status.replace('_', ' ')}"
        for status in compare.summary(())
    )

    def checked() -> measure.Sample:
        print(f"   {name} ...", end=" ", flush=True)
        sample = run()
        lines = sample.stdout.decode().strip().splitlines()
        problems = [] if lines and lines[-1] == expected else [f"not {expected!r}"]
        if by_report:
            if not lines or f", {count} objects;" not in lines[0]:
                problems.append(f"no report of {count} objects")
            if any("checked with the store, not the report" in line for line in lines):
                problems.append("entries left to the store")
            if sample.requests:
                problems.append(f"{sample.requests} requests to the store")
        if problems:
            raise SystemExit(f"{name}: {'; '.join(problems)}; its output:\n{sample.stdout.decode()[-2000:]}")
        print(f"{sample.seconds:.1f} s, {sample.rss_mb:,.0f} MB, {sample.requests} requests", flush=True)
        return sample

    return checked


def inventory_name(fmt: str) -> str:
    return f"check --inventory ({FORMAT_NAMES[fmt]})"


LIST_NAME = "check (LIST)"


def runs_for(count: int, given: int | None) -> int:
    return given or (1 if count >= 200_000 else measure.RUNS)


def report_rows(count: int, written: dict[str, Written]) -> list[list[object]]:
    return [
        [
            f"{count:,}",
            f"{FORMAT_NAMES[fmt]} report",
            f"{report.files} data file{'s' if report.files != 1 else ''}, {report.bytes / MB:,.1f} MB",
            "reused" if report.seconds is None else f"{report.seconds:.1f}",
        ]
        for fmt, report in written.items()
    ]


def preparation_table(count: int, rows: list[list[object]]) -> str:
    return measure.table(
        f"inventory: what the runs at {count:,} entries read", ["entries", "what", "detail", "seconds"], rows
    )


def with_list(count: int, place: Path, runs: int) -> list[str]:
    """Both layouts from bench/shards.py; each report's check --inventory and LIST, in turns."""
    built, seconds = prepared_repositories(place, count)
    written = {fmt: prepared_report(place, count, fmt) for fmt in FORMATS}
    commands: dict[str, Callable[[], measure.Sample]] = {}
    with shards.store(count) as (env, requests, pid):
        for name in shards.LAYOUTS:
            repo = built[name].repo
            for fmt in FORMATS:
                argv: list[str | Path] = [LFS_META, "check", "--inventory", written[fmt].manifest]
                run = functools.partial(measure.run, argv, repo, env, requests=requests, server_pid=pid)
                title = f"{name}{SEP}{inventory_name(fmt)}"
                commands[title] = verified(run, count, title, by_report=True)
            run = functools.partial(
                measure.run, [LFS_META, "check"], repo, env, requests=requests, server_pid=pid
            )
            commands[f"{name}{SEP}{LIST_NAME}"] = verified(
                run, count, f"{name}{SEP}{LIST_NAME}", by_report=False
            )
        print(f"== {count:,} entries: the checks, {runs} run(s) each in turns", flush=True)
        medians = measure.alternate(commands, runs=runs)
    how = "1 run" if runs == 1 else f"median of {runs}"
    rows: list[list[object]] = []
    ratios: dict[str, float] = {}
    for name in shards.LAYOUTS:
        listing = medians[f"{name}{SEP}{LIST_NAME}"]
        for command in (*map(inventory_name, FORMATS), LIST_NAME):
            sample = medians[f"{name}{SEP}{command}"]
            ratio = listing.seconds / sample.seconds
            if name == "sharded" and command != LIST_NAME:
                ratios[command] = ratio
            rows.append(
                [
                    f"{count:,}",
                    name,
                    built[name].fanout,
                    command,
                    f"{sample.seconds:.1f}",
                    f"{sample.rss_mb:,.0f}",
                    f"{sample.cpu:.1f}",
                    sample.requests,
                    "" if command == LIST_NAME else f"**{ratio:.1f}x**",
                    how,
                ]
            )
    prepared = report_rows(count, written)
    prepared.append(
        [
            f"{count:,}",
            "repositories (bench/shards.py build: init-meta, reshard, commits)",
            f"single, and sharded at fan-out {built['sharded'].fanout}",
            "reused" if seconds is None else f"{seconds:.0f}",
        ]
    )
    return [
        preparation_table(count, prepared),
        measure.table(
            f"inventory: check --inventory against LIST at {count:,} entries, whole process, in turns",
            [
                "entries",
                "layout",
                "fan-out",
                "command",
                "seconds",
                "peak RSS MB",
                "CPU s",
                "store requests",
                "LIST s / this",
                "runs",
            ],
            rows,
        ),
        ratio_goal(count, ratios),
    ]


def ratio_goal(count: int, ratios: dict[str, float]) -> str:
    shown = ", ".join(f"{command}: {ratio:.1f}x" for command, ratio in ratios.items())
    if count < GOAL_AT:
        text = (
            f"LIST seconds / inventory seconds at {count:,} entries, sharded: {shown} (the goal is "
            f"judged from {GOAL_AT:,} entries).\n"
        )
    else:
        met = all(ratio >= RATIO_TARGET for ratio in ratios.values())
        text = (
            f"Goal: LIST seconds / inventory seconds >= {RATIO_TARGET:g}x at {count:,} entries, sharded: "
            f"{shown}: {'met' if met else 'NOT met'}.\n"
        )
    print(text, flush=True)
    return text


def without_list(count: int, place: Path, runs: int) -> list[str]:
    """The sharded index written directly; each report's check --inventory, in turns; no store."""
    index = prepared_index(place, count)
    written = {fmt: prepared_report(place, count, fmt) for fmt in FORMATS}
    env = list_server.client_environment(f"http://127.0.0.1:{emulators.free_port()}")  # nothing there
    commands: dict[str, Callable[[], measure.Sample]] = {}
    for fmt in FORMATS:
        argv: list[str | Path] = [LFS_META, "check", "--inventory", written[fmt].manifest]
        run = functools.partial(measure.run, argv, Path(index.repo), env)
        commands[inventory_name(fmt)] = verified(run, count, inventory_name(fmt), by_report=True)
    print(f"== {count:,} entries: the checks, {runs} run(s) each in turns", flush=True)
    medians = measure.alternate(commands, runs=runs)
    how = "1 run" if runs == 1 else f"median of {runs}"
    rows: list[list[object]] = []
    verdicts = []
    for command, sample in medians.items():
        fast, small = sample.seconds < SECONDS_TARGET, sample.rss_mb < RSS_TARGET_MB
        verdicts.append(f"{command}: {sample.seconds:.1f} s, {sample.rss_mb:,.0f} MB")
        rows.append(
            [
                f"{count:,}",
                "sharded",
                index.fanout,
                command,
                f"**{sample.seconds:.1f}**",
                f"**{sample.rss_mb:,.0f}**",
                f"{sample.cpu:.1f}",
                "yes" if fast else "NO",
                "yes" if small else "NO",
                how,
            ]
        )
    met = all(s.seconds < SECONDS_TARGET and s.rss_mb < RSS_TARGET_MB for s in medians.values())
    goal = (
        f"Goal: check --inventory at {count:,} entries (sharded) under {SECONDS_TARGET / 60:g} minutes and "
        f"{RSS_TARGET_MB:,} MB peak RSS: {'; '.join(verdicts)}: {'met' if met else 'NOT met'}.\n"
    )
    print(goal, flush=True)
    prepared = report_rows(count, written)
    prepared += [
        [
            f"{count:,}",
            "sharded index, written directly (bench/inventory.py write_sharded)",
            f"fan-out {index.fanout}, {index.files:,} files, {index.bytes / MB:,.0f} MB, largest "
            f"{index.largest / MB:.2f} MB",
            f"{index.seconds:.0f}{' (an earlier run)' if index.reused else ''}",
        ],
        [
            f"{count:,}",
            "lfs-meta validate of it, once, when written",
            f"peak RSS {index.validate_rss_mb:,.0f} MB",
            f"{index.validate_seconds:.1f}",
        ],
    ]
    return [
        preparation_table(count, prepared),
        measure.table(
            f"inventory: check --inventory at {count:,} entries, sharded only, whole process",
            [
                "entries",
                "layout",
                "fan-out",
                "command",
                "seconds",
                "peak RSS MB",
                "CPU s",
                f"under {SECONDS_TARGET:g} s",
                f"under {RSS_TARGET_MB:,} MB",
                "runs",
            ],
            rows,
        ),
        goal,
    ]


@contextmanager
def scratch_root(given: Path | None, keep: bool) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
    elif keep:
        kept = Path(tempfile.mkdtemp(prefix="lfs-meta-bench-"))
        print(f"keeping {kept}", flush=True)
        yield kept
    else:
        with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
            yield Path(scratch)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--scratch", type=Path, help="build in DIR/<N>/, reusing what is there; kept")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--runs", type=int, help="runs of each command (default: 3 below 200,000, else 1)")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    print(f"machine: {measure.machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    with scratch_root(args.scratch, args.keep) as root:
        for count in args.counts:
            place = root / str(count)
            place.mkdir(exist_ok=True)
            print(f"== {count:,} entries in {place}", flush=True)
            runs = runs_for(count, args.runs)
            texts = (with_list if count <= BUILD_LIMIT else without_list)(count, place, runs)
            measure.write_results(args.results, texts)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = f"This benchmark's own peak RSS, the floor of every peak RSS above: {own:.0f} MB.\n"
    print(text, flush=True)
    measure.write_results(args.results, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
