"""A report's rows, read with pyarrow (the optional extra `lfs-meta[inventory]`) a batch at a time,
turned into lfs-meta's columns, and spilled to one Arrow file that each batch of index entries is
joined with. Only rows that match an entry ever become Python objects."""

from __future__ import annotations

import base64
import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus

from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.inventory import columns
from lfs_meta.inventory.manifest import Report, shown
from lfs_meta.progress import Progress

EXTRA = "pip install 'lfs-meta[inventory]'"
BATCH_ROWS = 64 * 1024
SPILL_ROWS = 1 << 20
_CSV_BLOCK = 8 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def pyarrow() -> ModuleType:
    """pyarrow, imported only by the commands that read reports; the hooks never load it."""
    try:
        import pyarrow
        import pyarrow.compute
    except ImportError:
        raise UserError(
            f"reading inventory reports needs pyarrow, which is not installed; run {EXTRA}"
        ) from None
    module: ModuleType = pyarrow
    return module


def schema() -> Any:
    pa = pyarrow()
    return pa.schema(
        [("name", pa.string()), ("size", pa.int64())]
        + [(name, pa.string()) for name in columns.NAMES[2:]]
        + [("current", pa.bool_())]  # False: an older version of the object, kept by a versioned bucket
    )


def batches(report: Report, path: Path, shown_url: str) -> Iterator[Any]:
    """The objects of one data file and their older versions, in lfs-meta's columns (see `schema`)."""
    pa = pyarrow()
    try:
        for raw in _raw(report, path, shown_url):
            yield _normalized(report, raw, shown_url)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
        raise CheckFailed(
            f"{shown_url}: cannot be read as the report's {report.file_format.upper()} "
            f"({_first_line(exc)}); give the report's own files"
        ) from None


def _first_line(exc: BaseException) -> str:
    return shown(str(exc).strip().partition("\n")[0])[:200]


def _raw(report: Report, path: Path, shown_url: str) -> Iterator[Any]:
    if report.file_format == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        wanted = _wanted(report, parquet.schema_arrow.names, shown_url)
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(wanted), use_threads=True)
    elif report.file_format == "orc":
        import pyarrow.orc as po

        orc = po.ORCFile(path)
        wanted = _wanted(report, orc.schema.names, shown_url)
        for stripe in range(orc.nstripes):
            yield orc.read_stripe(stripe, columns=list(wanted))
    else:
        yield from _csv(report, path, shown_url)


def _csv(report: Report, path: Path, shown_url: str) -> Iterator[Any]:
    from pyarrow import csv as pcsv

    pa = pyarrow()
    with path.open("rb") as head:
        compression = "gzip" if head.read(2) == _GZIP_MAGIC else None
    with pa.input_stream(path, compression=compression) as stream:
        if not stream.read(1):  # a report of no objects
            return
    names = list(report.columns)
    if report.header:
        names = _header(path, compression, report.delimiter)
    wanted = _wanted(report, names, shown_url)
    reader = pcsv.open_csv(
        pa.input_stream(path, compression=compression),
        read_options=pcsv.ReadOptions(
            column_names=names, skip_rows=1 if report.header else 0, block_size=_CSV_BLOCK
        ),
        # S3 URL-encodes keys; GCS and Azure quote a name that holds a newline.
        parse_options=pcsv.ParseOptions(delimiter=report.delimiter, newlines_in_values=report.store != "s3"),
        convert_options=pcsv.ConvertOptions(
            include_columns=list(wanted),
            column_types=dict.fromkeys(wanted, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,  # S3 quotes every field, an empty one too
        ),
    )
    yield from reader


def _header(path: Path, compression: str | None, delimiter: str) -> list[str]:
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw) if compression else nullcontext(raw) as stream:
        line = stream.readline(1 << 20).decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


def _wanted(report: Report, names: Sequence[str], shown_url: str) -> dict[str, str]:
    """The file's columns lfs-meta reads -> what each means; a report that cannot show a change is refused."""
    wanted: dict[str, str] = {}
    for name in names:
        meaning = columns.meaning(report.store, name)
        if meaning is not None and meaning not in wanted.values():
            wanted[name] = meaning
    found = set(wanted.values())
    if "name" not in found or "size" not in found or not found & {"etag", "md5"}:
        lacking = [what for what in ("name", "size") if what not in found] or ["ETag", "MD5"]
        raise UserError(
            f"{shown_url}: the report has no {' or '.join(lacking)} column, so it cannot show whether an "
            "object changed; add the object's name, size and ETag (and MD5 where the store has one) "
            "to the report's fields"
        )
    return wanted


def _normalized(report: Report, raw: Any, shown_url: str) -> Any:
    """The batch in lfs-meta's columns, without the rows that are no object's content (folder
    markers, delete markers, soft-deleted blobs, snapshots); older versions marked not current."""
    pa = pyarrow()
    pc = pa.compute
    by_meaning = {
        columns.meaning(report.store, name): raw.column(i) for i, name in enumerate(raw.schema.names)
    }
    names = by_meaning["name"]
    if report.store == "s3" and report.file_format == "csv":
        names = _url_decoded(names)
    keep = pc.invert(pc.fill_null(pc.ends_with(names, "/"), True))
    for what in ("deleted", "folder"):  # a delete marker is no version of the content
        if what in by_meaning:
            keep = pc.and_(keep, pc.invert(pc.fill_null(_truth(by_meaning[what]), False)))
    if "snapshot" in by_meaning:
        snapshot = by_meaning["snapshot"].cast(pa.string())
        keep = pc.and_(keep, pc.fill_null(pc.equal(snapshot, ""), True))
    kept = {what: values.filter(keep) for what, values in by_meaning.items() if what is not None}
    rows = len(kept["name"])
    current = kept.get("current")
    out = [names.filter(keep), _size(kept.get("size"), rows, shown_url)]
    out += [_text(kept.get(what), rows) for what in columns.NAMES[2:]]
    out.append(pc.fill_null(_truth(current), True) if current is not None else pa.array([True] * rows))
    return pa.RecordBatch.from_arrays(out, schema=schema())


def _truth(values: Any) -> Any:
    pa = pyarrow()
    if pa.types.is_boolean(values.type):
        return values
    return pa.compute.equal(pa.compute.utf8_lower(values.cast(pa.string())), "true")


def _url_decoded(names: Any) -> Any:
    """S3 Inventory's CSV keys, URL-encoded ('+' for a space): decoded where they hold '%' or '+' only."""
    pa = pyarrow()
    encoded = pa.compute.match_substring_regex(names, r"[%+]")
    if not pa.compute.any(encoded).as_py():
        return names
    values = names.to_pylist()
    flags = encoded.to_pylist()
    return pa.array(
        [unquote_plus(value) if flag else value for value, flag in zip(values, flags, strict=True)]
    )


def _size(values: Any, rows: int, shown_url: str) -> Any:
    pa = pyarrow()
    if values is None:
        return pa.nulls(rows, pa.int64())
    try:
        return values.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise CheckFailed(
            f"{shown_url}: a size that is not a whole number; give the report's own files"
        ) from None


def _text(values: Any, rows: int) -> Any:
    pa = pyarrow()
    if values is None:
        return pa.nulls(rows, pa.string())
    if pa.types.is_timestamp(values.type):  # to the second, in UTC whatever zone the file names
        seconds = values.cast(pa.timestamp("s", tz=values.type.tz or "UTC"), safe=False)
        return pa.compute.strftime(seconds.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    return values.cast(pa.string())


class Spill:
    """A report's live objects in one Arrow file of lfs-meta's columns, read back a batch at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0  # the objects, older versions left out
        self._writer: Any = pyarrow().ipc.new_file(str(path), schema())
        self._held: list[Any] = []

    def add(self, batch: Any) -> None:
        self._held.append(batch)
        self.rows += pyarrow().compute.sum(batch.column("current")).as_py() or 0
        if sum(map(len, self._held)) >= SPILL_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        # Large batches: each is looked up against one hash table of a join batch's names, built anew.
        if self._held:
            self._writer.write_table(pyarrow().Table.from_batches(self._held, schema()).combine_chunks())
            self._held = []

    def _batches(self) -> Iterator[Any]:
        pa = pyarrow()
        with pa.OSFile(str(self.path)) as file:  # read, not mapped: a batch held at a time
            reader = pa.ipc.open_file(file)
            for number in range(reader.num_record_batches):
                yield reader.get_batch(number)

    def aligned(self, names: Sequence[str]) -> Any:
        """A table with the row of each object of `names`, in their order (a row of nulls for one the
        report does not list): one pass over the file."""
        pa = pyarrow()
        pc = pa.compute
        asked = pa.array(names, pa.string())
        wanted = pc.unique(asked)
        parts = []
        for batch in self._batches():
            matched = batch.filter(
                pc.and_(pc.is_in(batch.column(0), value_set=wanted), batch.column("current"))
            )
            if len(matched):
                parts.append(matched)
        found = pa.Table.from_batches(parts, schema=schema()).combine_chunks()
        return found.take(pc.index_in(asked, value_set=found.column(0).combine_chunks()))

    def under(self, prefix: str) -> Iterator[dict[str, Any]]:
        """The rows of the objects whose names start with `prefix`."""
        pa = pyarrow()
        for batch in self._batches():
            live = pa.compute.and_(pa.compute.starts_with(batch.column(0), prefix), batch.column("current"))
            yield from batch.filter(live).to_pylist()


@dataclass
class Recorded:
    """What the index records of the objects a report is asked about, a column each."""

    sizes: list[int] = field(default_factory=list)
    etags: list[str | None] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)
    md5s: list[str | None] = field(default_factory=list)  # hex
    crc32cs: list[str | None] = field(default_factory=list)  # hex

    def add(self, size: int, etag: str | None, version: str | None, checksums: Mapping[str, str]) -> None:
        self.sizes.append(size)
        self.etags.append(etag)
        self.versions.append(version)
        self.md5s.append(checksums.get("md5"))
        self.crc32cs.append(checksums.get("crc32c"))

    def extend(self, other: Recorded, at: Sequence[int] | None = None) -> None:
        """`other`'s objects (those numbered `at`, or all) after these."""
        for name in ("sizes", "etags", "versions", "md5s", "crc32cs"):
            values = getattr(other, name)
            getattr(self, name).extend(values if at is None else [values[number] for number in at])


def unchanged(rows: Any, recorded: Recorded) -> list[bool]:
    """For each object, True where its row certainly says what the index records: the same size, and
    the same ETag, version and checksums wherever both sides have one (the report's checksums base64
    or hex). The rest are compared one by one (`compare.changes`), a few of them only when nothing
    changed."""
    pa = pyarrow()
    pc = pa.compute

    def agrees(row: Any, mine: Any, *alternatives: Any) -> Any:
        same = pc.equal(row, mine)
        for other in alternatives:
            same = pc.or_kleene(same, pc.equal(row, other))
        return pc.or_kleene(pc.or_kleene(pc.is_null(row), pc.is_null(mine)), same)

    versions = pc.if_else(pc.equal(rows.column("version_id"), "null"), None, rows.column("version_id"))
    md5s = pa.array(recorded.md5s, pa.string())
    crc32cs = pa.array(recorded.crc32cs, pa.string())
    checks = [
        pc.equal(rows.column("size"), pa.array(recorded.sizes, pa.int64())),
        agrees(pc.utf8_trim(rows.column("etag"), '"'), pa.array(recorded.etags, pa.string())),
        agrees(versions, pa.array(recorded.versions, pa.string())),
        agrees(rows.column("md5"), md5s, pa.array([_base64(value) for value in recorded.md5s], pa.string())),
        agrees(rows.column("crc32c"), crc32cs, pa.array([_base64(v) for v in recorded.crc32cs], pa.string())),
    ]
    every = checks[0]
    for check in checks[1:]:
        every = pc.and_kleene(every, check)
    return [bool(same) for same in pc.fill_null(every, False).to_pylist()]


def taken(rows: Any, numbers: Sequence[int]) -> list[dict[str, Any]]:
    """The rows numbered `numbers`, as Python values."""
    pa = pyarrow()
    chosen: list[dict[str, Any]] = rows.take(pa.array(numbers, pa.int64())).to_pylist()
    return chosen


def _base64(hex_digest: str | None) -> str | None:
    if hex_digest is None:
        return None
    try:
        return base64.b64encode(bytes.fromhex(hex_digest)).decode()
    except ValueError:
        return None


def spill(report: Report, files: Iterable[tuple[Path, str]], path: Path) -> Spill:
    """Every data file's live objects, each file (local path, URL to show) as it comes, into one Arrow
    file at `path`."""
    spilled = Spill(path)
    try:
        with Progress("reading the report (objects)") as progress:
            for local, shown_url in files:
                for batch in batches(report, local, shown_url):
                    spilled.add(batch)
                    progress.advance(len(batch))
    finally:
        spilled.close()
    return spilled
