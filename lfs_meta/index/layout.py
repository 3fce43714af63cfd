"""The index as stored: one file (`.lfs-meta/metadata.json`), or shards under `.lfs-meta/shards-<N>/`.

Every command reads and writes the index through a `Layout`, so none of them knows which it is.
Each shard is an index file in the one canonical format, holding exactly the paths `shards`
assigns to it; the rules that span files (file-vs-directory, Unicode twins, one patient per
specimen) are checked across all of them: by a full read, or, for a change, against the note of
rows (`rows`) kept in git's directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lfs_meta import codekey, fs, gcpause, processes
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import attributes, rules, selection, shards, storage, strictjson
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem, json_pointer

if TYPE_CHECKING:
    # Imported where a sharded index is changed: sqlite3 and the note are 4 ms that every commit
    # hook of the one-file layout would pay for nothing.
    from lfs_meta.index import rows

T = TypeVar("T")
FileProblems = list[tuple[str, list[Problem]]]  # (file as shown, its problems), file by file


@dataclass(frozen=True)
class Layout:
    """Where the entries are. `single` is the one index file (fan-out 1); otherwise the shards are
    below `directory`, the index's directory, which also holds the one lock of either layout."""

    directory: Path
    fanout: int
    within: Path  # the work tree's root: no link is followed below it
    single: Path | None = None
    notes: rows.Place | None = None  # where a sharded index's note of rows is kept (git's directory)

    @classmethod
    def find(cls, root: Path, index_path: Path | None = None) -> Layout:
        """The layout below `root`, or the one file `index_path` names (--index)."""
        default = root / storage.INDEX_PATH
        if index_path is not None and os.path.normpath(index_path) != os.path.normpath(default):
            return cls(index_path.parent, shards.SINGLE, index_path.parent.parent, index_path)
        found = cls.present(root)
        if len(found) > 1:
            held = ", ".join(layout.shown for layout in found)
            raise UserError(
                f"{default.parent}: holds the index in two layouts ({held}), as a merge across a reshard "
                "leaves it; run 'lfs-meta reshard' to merge them into one"
            )
        return found[0] if found else cls.single_file(root)

    @classmethod
    def single_file(cls, root: Path) -> Layout:
        return cls(root / storage.INDEX_PATH.parent, shards.SINGLE, root, root / storage.INDEX_PATH)

    @classmethod
    def sharded(cls, root: Path, fanout: int) -> Layout:
        return cls(root / storage.INDEX_PATH.parent, fanout, root)

    @classmethod
    def present(cls, root: Path) -> list[Layout]:
        """Every layout with files below `root`: one, except midway through a merge across a reshard."""
        directory = root / storage.INDEX_PATH.parent
        try:
            names = fs.listdir(directory, root)
        except (FileNotFoundError, NotADirectoryError):
            names = []
        except OSError as exc:
            raise UserError(f"{directory}: cannot read: {exc.strerror}") from None
        found = [cls.single_file(root)] if storage.INDEX_PATH.name in names else []
        for name in sorted(names):
            if not name.startswith(shards.DIRECTORY_PREFIX):
                continue
            fanout = shards.fanout_of_directory(name)
            if fanout is None:
                raise UserError(
                    f"{directory / name}: not a shard directory (shards-N, N a power of two from 2 to "
                    f"{shards.MAX_FANOUT}); lfs-meta reads no index there: move it out of {directory} "
                    "(or remove it) and run again"
                )
            sharded = cls.sharded(root, fanout)
            if sharded.files()[0]:  # a directory a checkout left with no shard in it is no layout
                found.append(sharded)
        return found

    @property
    def shard_directory(self) -> Path:
        return self.directory / shards.directory_name(self.fanout)

    @property
    def shown(self) -> str:
        """The index as messages name it."""
        return str(self.single or self.shard_directory)

    def path_of(self, number: int) -> Path:
        if self.single is not None:
            return self.single
        return self.shard_directory / shards.file_name(number, self.fanout)

    def file_of(self, path: str) -> Path:
        return self.path_of(shards.number_of(path, self.fanout))

    def exists(self) -> bool:
        if self.single is not None:
            return self.single.exists()
        return self.shard_directory.is_dir()

    def files(self) -> tuple[dict[int, Path], list[Path]]:
        """The shard files there are, by number, and the files in the shard directory that are none."""
        if self.single is not None:
            return ({0: self.single} if self.single.exists() else {}), []
        try:
            names = fs.listdir(self.shard_directory, self.within)
        except FileNotFoundError:
            return {}, []
        except OSError as exc:
            raise UserError(f"{self.shard_directory}: cannot read: {exc.strerror}") from None
        numbered, strays = {}, []
        for name in sorted(names):
            number = shards.number_of_file(name, self.fanout)
            if number is not None:
                numbered[number] = self.shard_directory / name
            elif name not in _COMPANIONS and not name.startswith("."):
                strays.append(self.shard_directory / name)
        return numbered, strays

    def raw_shards(self) -> Iterator[tuple[int, Path, bytes | Problem]]:
        """Each shard's bytes (or why they cannot be read), one at a time: never all held."""
        for number, path in self.files()[0].items():
            yield number, path, self.read(path)

    def read(self, path: Path) -> bytes | Problem:
        if self.single is not None:
            return storage.read(path)
        try:
            with fs.open_file(path, self.within, os.O_RDONLY) as stream:
                too_big = strictjson.size_problem(os.fstat(stream.fileno()).st_size)
                return too_big or stream.read()
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None

    def load(self, *, misfiled: bool = False) -> dict[str, Entry]:
        """Every entry; none when there is no index yet. With `misfiled`, an entry in a shard not its
        own is taken (reshard files it where it belongs)."""
        if self.single is not None:
            return storage.load(self.single)
        index: dict[str, Entry] = {}
        found_in: dict[str, Path] = {}
        for path, part in self._parts(misfiled):
            for key, entry in part.items():
                if key in index and index[key] != entry:
                    fix = "remove the one that is wrong"
                    raise CheckFailed(
                        f"{path}: {key!r} is also in {found_in[key]}, recorded differently; {fix}"
                    )
                index[key], found_in[key] = entry, path
        _refuse_cross_file_problems(index, self)
        return index

    def select(self, paths: Sequence[str]) -> dict[str, Entry]:
        """`selection.select` of the index, reading only the shards `paths` can be in: a tracked
        file's own shard; for a directory, every shard, a few at a time, keeping only what it names."""
        if not paths:
            return self.load()
        if self.single is not None:
            return selection.select(self.load(), paths, self.shown)
        numbered, _ = self.files()
        wanted: dict[int, list[str]] = {}
        for target in paths:
            wanted.setdefault(shards.number_of(target, self.fanout), []).append(target)
        chosen: dict[str, Entry] = {}
        for number in sorted(wanted.keys() & numbered.keys()):
            part = self._entries(number, numbered[number], self.read(numbered[number]), False)
            chosen.update((path, part[path]) for path in wanted[number] if path in part)
        directories = [target for target in paths if target not in chosen]  # nothing is under a file
        if directories:
            for part in Passes(self)():
                chosen.update(selection.matching(part, directories))
        selection.refuse_unmatched(chosen, paths, self.shown)
        return chosen

    def _parts(self, misfiled: bool) -> Iterator[tuple[Path, dict[str, Entry]]]:
        """Each shard's entries, parsed and checked in worker processes (one per core) when there
        are a few shards, a few at a time."""
        numbered, _ = self.files()
        pieces = (
            (number, str(path), self.read(path), self.fanout, misfiled) for number, path in numbered.items()
        )
        for number, part in processes.ordered(_parse_part, pieces, len(numbered)):
            yield numbered[number], part

    def _entries(self, number: int, path: Path, raw: bytes | Problem, misfiled: bool) -> dict[str, Entry]:
        return _parse_part((number, str(path), raw, self.fanout, misfiled))[1]

    def check(self) -> FileProblems:
        """Every problem, file by file; a FileNotFoundError when there is no index."""
        if self.single is not None:
            return [(str(self.single), storage.check_file(self.single))]
        numbered, strays = self.files()
        if not numbered and not strays and not self.shard_directory.is_dir():
            raise FileNotFoundError(self.shard_directory)
        results: dict[Path, list[Problem]] = {}
        references: list[rules.Reference] = []
        pieces = ((number, self.read(path), self.fanout) for number, path in numbered.items())
        for number, problems, held in processes.ordered(_check_part, pieces, len(numbered)):
            results[numbered[number]] = problems
            references += held
        for key, problem in rules.cross_file_problems(references, self.file_of):
            results.setdefault(self.file_of(key), []).append(problem)
        for stray in strays:
            results[stray] = [Problem(f"not a shard of {self.shard_directory}", "move it away")]
        return [(str(path), problems) for path, problems in sorted(results.items())]

    def update(self, paths: Collection[str], change: Callable[[dict[str, Entry]], T]) -> T:
        """Apply `change` to the entries at and under `paths` (every entry it may read, add or remove)
        under the lock, and rewrite the files whose bytes change, each atomically; every file is
        checked before the first is written. If `change` raises, or the result is invalid, every file
        is left byte for byte as it was. A sharded index reads only the shards holding those entries;
        when a path is no entry (a directory, or a path the change adds), or the change brings a path,
        specimen or patient, also the shards changed since the note of rows last saw them, and the
        rules that span shards are checked against its rows. The cost follows the change."""
        from lfs_meta.index import rows

        if self.single is not None:
            return storage.update(self.single, change)
        with (
            storage.locked(self.directory / storage.INDEX_PATH.name),
            rows.Note.open(self.notes, self.fanout) as note,
        ):
            numbered, _ = self.files()
            stats = self._stats(numbered)  # every shard: a link among them is refused, as `load` would
            held: dict[int, bytes | Problem] = {}
            index: dict[str, Entry] = {}

            def take(numbers: Iterable[int]) -> None:
                for number in sorted(set(numbers) & numbered.keys() - held.keys()):
                    held[number] = self.read(numbered[number])
                    index.update(self._entries(number, numbered[number], held[number], False))

            take(shards.number_of(path, self.fanout) for path in paths)
            current = not set(paths) <= index.keys()
            if current:  # what is under a directory is found in the note's rows
                self._bring(note, numbered, stats)
                take(note.numbers_under(paths))
            before = _rows(index, self.fanout)
            result = change(index)
            spread = shards.spread(index, self.fanout)
            if not spread.keys() <= held.keys() | {shards.number_of(path, self.fanout) for path in paths}:
                raise ValueError(
                    "Layout.update: the change added an entry in a shard none of its paths is in"
                )
            texts = _texts(index, spread)
            changed = {number: text for number, text in texts.items() if held.get(number) != text}
            emptied = sorted(held.keys() - texts.keys())
            self._check(changed)
            after = _rows(index, self.fanout)
            if not current and any(set(after[n]) - set(before.get(n, ())) for n in changed):
                self._bring(note, numbered, stats)
                current = True
            recorded = note.blobs()
            came: list[rows.Row] = []
            noted = []  # the shards whose rows now are of their new bytes
            for number in [*changed, *emptied]:
                # A note not brought current keeps its rows of a shard only if they were of its old
                # bytes; others stay as they were, stat and all, to be read again next time.
                old = held.get(number)
                if current or (isinstance(old, bytes) and recorded.get(number) == note.blob_id(old)):
                    text = changed.get(number)
                    blob = None if text is None else note.blob_id(text)
                    came += note.replace(number, blob, after.get(number, []))
                    noted.append(number)
            for path, problem in note.problems(came):
                raise CheckFailed(f"{problem.format(str(self.file_of(path)))}; the index was not changed")
            attributes.ensure(self.shard_directory, self.within, attributes.SHARD_RULES, create_parents=True)
            storage.ensure_gitignore(self.shard_directory, self.within)
            self._write(changed)
            for number in emptied:
                fs.unlink(numbered[number], self.within)
            with contextlib.suppress(UserError):  # written: a stat not recorded is hashed next time
                note.saw_written(self._stats(changed.keys() & set(noted)))
            return result

    def _bring(self, note: rows.Note, numbered: Mapping[int, Path], stats: Mapping[int, rows.Stat]) -> None:
        """Make the note hold the rows of the shard files as they are, reading only those whose stat
        it has not seen (and parsing only those whose bytes it has not): a fresh note reads them all.
        A problem in a shard, or across shards, is refused as `load` refuses it."""
        from lfs_meta.index import rows

        recorded = note.blobs()
        for number in recorded.keys() - numbered.keys():
            note.replace(number, None, [])
        references: list[rules.Reference] = []
        came: list[rows.Row] = []
        unsettled = [number for number, stat in stats.items() if not note.settled(number, stat)]
        pieces = ((number, numbered[number], recorded.get(number)) for number in unsettled)
        shared = (self, note.object_format)
        for number, blob, held in processes.ordered(_note_part, pieces, len(unsettled), shared):
            if held is not None:
                changes = note.replace(number, blob, rows.rows_of(held, number))
                if recorded:
                    came += changes
                else:
                    references += held
            note.saw(number, stats[number])
        problems = note.problems(came) if recorded else rules.cross_file_problems(references, self.file_of)
        for path, problem in problems:
            raise CheckFailed(f"{problem.format(str(self.file_of(path)))}; run 'lfs-meta validate' for all")

    def _stats(self, numbers: Iterable[int]) -> dict[int, rows.Stat]:
        """The stat of shard files by number; UnsafePath when one is a link or no regular file."""
        from lfs_meta.index import rows

        names = {shards.file_name(number, self.fanout): number for number in sorted(numbers)}
        try:
            found = fs.regular_stats(self.shard_directory, self.within, names)
        except OSError as exc:
            raise UserError(f"{self.shard_directory}: cannot read: {exc.strerror}") from None
        return {names[name]: rows.stat_of(info) for name, info in found.items()}

    def write(self, index: Mapping[str, Entry]) -> None:
        """Make the layout's files hold exactly `index`, each replaced atomically, all checked before
        the first is written (the caller holds the lock)."""
        numbered, _ = self.files()
        texts = _texts(index, shards.spread(index, self.fanout))
        if self.single is not None and not texts:
            texts[0] = storage.dumps({}).encode()
        changed = {
            number: text for number, text in texts.items() if _differs(numbered.get(number), text, self)
        }
        self._check(changed)
        if self.single is None:
            _refuse_cross_file_problems(index, self)
            attributes.ensure(self.shard_directory, self.within, attributes.SHARD_RULES, create_parents=True)
            storage.ensure_gitignore(self.shard_directory, self.within)
        self._write(changed)
        for number in sorted(numbered.keys() - texts.keys()):
            fs.unlink(numbered[number], self.within)

    def _check(self, texts: Mapping[int, bytes]) -> None:
        for number, text in texts.items():
            problems = storage.problems_in(text)
            if problems:
                raise CheckFailed(
                    f"{problems[0].format(str(self.path_of(number)))}; the index was not changed"
                )

    def _write(self, texts: Mapping[int, bytes]) -> None:
        for number, text in sorted(texts.items()):
            fs.write_atomic(self.path_of(number), text, self.within)

    def remove(self) -> None:
        """Delete the layout's files (another layout now holds the entries)."""
        numbered, _ = self.files()
        for path in numbered.values():
            fs.unlink(path, self.within)
        if self.single is None:
            for companion in _COMPANIONS:
                fs.unlink(self.shard_directory / companion, self.within)
            with contextlib.suppress(OSError), fs.directory(self.directory, self.within) as parent:
                os.rmdir(self.shard_directory.name, dir_fd=parent)


_COMPANIONS = (attributes.FILE_NAME, ".gitignore")


class Passes:
    """The index read in passes, a shard at a time, by work that cannot hold it whole (`check`), in
    worker processes. Every shard is parsed and checked against its own rules in each pass (those
    that span shards are `validate`'s), except that a shard whose bytes are those an earlier pass
    checked (its hash says so) is only parsed; and only the entries whose remote URL `keep` wants
    are made and sent back, so that a pass after the first costs a fraction of a full read."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.checked: dict[int, bytes] = {}  # shard number -> hash of the bytes found valid

    def __call__(self, keep: Callable[[str], bool] | None = None) -> Iterator[dict[str, Entry]]:
        """Each shard's entries that `keep` wants (all without it). With spawned workers `keep` is
        pickled: a module-level function or an object, not a closure."""
        if self.layout.single is not None:
            yield self.layout.load()
            return
        yield from self.shaped(_Entries(keep))

    def shaped(self, shape: Callable[[dict[str, Any]], T]) -> Iterator[T]:
        """Each shard's entries, checked, as `shape` makes them of their JSON values in the worker
        process (`shape` is pickled: a module-level function or an object): for work that reads a
        few fields of every entry of a large index, where making every Entry would cost the most."""
        if self.layout.single is not None:
            yield shape(storage.load_values(self.layout.single))
            return
        numbered, _ = self.layout.files()
        pieces = ((number, path, self.checked.get(number)) for number, path in numbered.items())
        shared = (self.layout, shape)
        for number, digest, part in processes.ordered(_shaped_part, pieces, len(numbered), shared):
            self.checked[number] = digest
            yield part


@dataclass(frozen=True)
class _Entries:
    """A shard's entries that `keep` wants (all without it), made of their checked JSON values."""

    keep: Callable[[str], bool] | None

    def __call__(self, data: dict[str, Any]) -> dict[str, Entry]:
        with gcpause.paused():
            return {
                path: Entry.from_json(value)
                for path, value in data.items()
                if self.keep is None or self.keep(value["remote_url"])
            }


def _shaped_part(piece: tuple[int, Path, bytes | None]) -> tuple[int, bytes, Any]:
    """One shard of a `Passes.shaped` pass: its hash, and its checked JSON values as the pass shapes them."""
    number, path, checked = piece
    layout, shape = processes.shared()
    raw = layout.read(path)
    digest = hashlib.sha256(raw).digest() if isinstance(raw, bytes) else b""
    data = strictjson.parse_canonical(raw) if isinstance(raw, bytes) and digest == checked else None
    if not isinstance(data, dict):
        data, problems = parse_shard(raw, number, layout.fanout) if isinstance(raw, bytes) else (None, [raw])
        if problems:
            raise storage.failure(problems, str(path))
    return number, digest, shape(data)


def _note_part(piece: tuple[int, Path, str | None]) -> tuple[int, str, list[rules.Reference] | None]:
    """One shard as the note of rows needs it: its blob id and, unless that is the blob recorded,
    its own rules checked and what the rules across shards read of its entries."""

    number, path, recorded = piece
    layout, object_format = processes.shared()
    raw = layout.read(path)
    blob = codekey.blob_id(raw, object_format) if isinstance(raw, bytes) else ""
    if blob == recorded:
        return number, blob, None
    part = _parse_part((number, str(path), raw, layout.fanout, False))[1]
    return number, blob, [(key, entry.specimen, entry.patient) for key, entry in part.items()]


def _rows(index: Mapping[str, Entry], fanout: int) -> dict[int, list[rows.Row]]:
    from lfs_meta.index import rows

    return {
        number: rows.rows_of(((path, index[path].specimen, index[path].patient) for path in held), number)
        for number, held in shards.spread(index, fanout).items()
    }


def _texts(index: Mapping[str, Entry], spread: Mapping[int, list[str]]) -> dict[int, bytes]:
    """Each shard's canonical bytes, given which paths each holds (`shards.spread`)."""
    return {
        number: storage.dumps({path: index[path] for path in sorted(paths)}).encode("utf-8")
        for number, paths in spread.items()
    }


def parse_shard(raw: bytes, number: int, fanout: int) -> tuple[Any, list[Problem]]:
    """A shard's data and its problems: its own, and each entry filed in a shard not its own."""
    data, problems = storage.parse_checked(raw)
    if problems:
        return data, problems
    fix = "run 'lfs-meta reshard' to file every entry where its path puts it"
    return data, [
        Problem(
            f"belongs in {shards.file_name(shards.number_of(path, fanout), fanout)}, by its path's hash",
            fix,
            pointer=json_pointer([path]),
        )
        for path in data
        if shards.number_of(path, fanout) != number
    ]


def _parse_part(piece: tuple[int, str, bytes | Problem, int, bool]) -> tuple[int, dict[str, Entry]]:
    """A shard's entries, checked; with `misfiled`, an entry in a shard not its own is taken."""
    number, shown, raw, fanout, misfiled = piece
    if isinstance(raw, Problem):
        data, problems = None, [raw]
    elif misfiled:
        data, problems = storage.parse_checked(raw)
    else:
        data, problems = parse_shard(raw, number, fanout)
    return number, storage.entries(data, problems, shown)


def _check_part(piece: tuple[int, bytes | Problem, int]) -> tuple[int, list[Problem], list[rules.Reference]]:
    """A shard's own problems, and what the rules across shards read of its entries."""
    number, raw, fanout = piece
    if isinstance(raw, Problem):
        return number, [raw], []
    data, problems = parse_shard(raw, number, fanout)
    return number, problems, _references(data)


def _references(data: Any) -> list[rules.Reference]:
    if not isinstance(data, dict):
        return []
    return [
        (path, entry.get("specimen"), entry.get("patient")) if isinstance(entry, dict) else (path, None, None)
        for path, entry in data.items()
    ]


def _refuse_cross_file_problems(index: Mapping[str, Entry], layout: Layout) -> None:
    references = ((path, entry.specimen, entry.patient) for path, entry in index.items())
    for path, problem in rules.cross_file_problems(references, layout.file_of):
        raise CheckFailed(f"{problem.format(str(layout.file_of(path)))}; run 'lfs-meta validate' for all")


def _differs(path: Path | None, text: bytes, layout: Layout) -> bool:
    if path is None:
        return True
    try:
        return fs.read_bytes(path, layout.within) != text
    except (OSError, UserError):
        return True
