"""The index as stored: one file (`.lfs-meta/metadata.json`), or shards under `.lfs-meta/shards-<N>/`.

Every command reads and writes the index through a `Layout`, so none of them knows which it is.
Each shard is an index file in the one canonical format, holding exactly the paths `shards`
assigns to it; the rules that span files (file-vs-directory, Unicode twins, one patient per
specimen) are checked across all of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lfs_meta import fs
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index import attributes, rules, selection, shards, storage, strictjson
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem, json_pointer

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
                    f"{shards.MAX_FANOUT}); move it away, or run 'lfs-meta reshard'"
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
        file's own shard; for a directory, every shard, one at a time, keeping only what it names."""
        if not paths:
            return self.load()
        if self.single is not None:
            return selection.select(self.load(), paths, self.shown)
        numbered, _ = self.files()
        wanted = {target: shards.number_of(target, self.fanout) for target in paths}
        chosen: dict[str, Entry] = {}
        for number in sorted(set(wanted.values()) & numbered.keys()):
            part = self._entries(number, numbered[number], self.read(numbered[number]), False)
            chosen.update((path, part[path]) for path in paths if wanted[path] == number and path in part)
        directories = [target for target in paths if target not in chosen]  # nothing is under a file
        if directories:
            for part in self.parts():
                chosen.update(selection.matching(part, directories))
        selection.refuse_unmatched(chosen, paths, self.shown)
        return chosen

    def parts(self) -> Iterator[dict[str, Entry]]:
        """Every entry, a shard at a time, for work that never needs them all at once. Each shard is
        checked as `load` checks it; the rules that span shards are left to `validate`, which holds
        one row per entry to check them."""
        if self.single is not None:
            yield storage.load(self.single)
            return
        for _, part in self._parts(misfiled=False):
            yield part

    def _parts(self, misfiled: bool) -> Iterator[tuple[Path, dict[str, Entry]]]:
        for number, path, raw in self.raw_shards():
            yield path, self._entries(number, path, raw, misfiled)

    def _entries(self, number: int, path: Path, raw: bytes | Problem, misfiled: bool) -> dict[str, Entry]:
        if isinstance(raw, Problem):
            data, problems = None, [raw]
        elif misfiled:
            data, problems = storage.parse_checked(raw)
        else:
            data, problems = parse_shard(raw, number, self.fanout)
        return storage.entries(data, problems, str(path))

    def check(self) -> FileProblems:
        """Every problem, file by file; a FileNotFoundError when there is no index."""
        if self.single is not None:
            return [(str(self.single), storage.check_file(self.single))]
        numbered, strays = self.files()
        if not numbered and not strays and not self.shard_directory.is_dir():
            raise FileNotFoundError(self.shard_directory)
        results: dict[Path, list[Problem]] = {}
        references: list[rules.Reference] = []
        for number, shard, raw in self.raw_shards():
            if isinstance(raw, Problem):
                results[shard] = [raw]
                continue
            data, results[shard] = parse_shard(raw, number, self.fanout)
            references.extend(_references(data))
        for key, problem in rules.cross_file_problems(references, self.file_of):
            results.setdefault(self.file_of(key), []).append(problem)
        for stray in strays:
            results[stray] = [Problem(f"not a shard of {self.shard_directory}", "move it away")]
        return [(str(path), problems) for path, problems in sorted(results.items())]

    def update(self, change: Callable[[dict[str, Entry]], T]) -> T:
        """Apply `change` to the index under the lock and rewrite the files whose bytes change, each
        atomically; every file is checked before the first is written. If `change` raises, or the
        result is invalid, every file is left byte for byte as it was."""
        if self.single is not None:
            return storage.update(self.single, change)
        with storage.locked(self.directory / storage.INDEX_PATH.name):
            index = self.load()
            result = change(index)
            self.write(index)
            return result

    def update_entries(self, paths: Collection[str], change: Callable[[dict[str, Entry]], T]) -> T:
        """`update` for a change to some of the entries at `paths` that keeps every path, patient and
        specimen (what the rules across shards read): only the shards holding `paths` are read,
        given to `change` and rewritten, so memory follows the change, not the index."""
        if self.single is not None:
            return storage.update(self.single, change)
        with storage.locked(self.directory / storage.INDEX_PATH.name):
            numbered, _ = self.files()
            wanted = {shards.number_of(path, self.fanout) for path in paths} & numbered.keys()
            index: dict[str, Entry] = {}
            for number in sorted(wanted):
                index.update(self._entries(number, numbered[number], self.read(numbered[number]), False))
            before = _subjects(index)
            result = change(index)
            if _subjects(index) != before:
                raise ValueError("update_entries: the change moved a path, a patient or a specimen")
            texts = _texts(index, self.fanout)
            changed = {n: text for n, text in texts.items() if _differs(numbered[n], text, self)}
            self._check(changed)
            self._write(changed)
            return result

    def write(self, index: Mapping[str, Entry]) -> None:
        """Make the layout's files hold exactly `index`, each replaced atomically, all checked before
        the first is written (the caller holds the lock)."""
        numbered, _ = self.files()
        texts = _texts(index, self.fanout)
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


def _subjects(index: Mapping[str, Entry]) -> dict[str, tuple[str | None, str | None]]:
    return {path: (entry.patient, entry.specimen) for path, entry in index.items()}


def _texts(index: Mapping[str, Entry], fanout: int) -> dict[int, bytes]:
    return {
        number: storage.dumps({path: index[path] for path in sorted(paths)}).encode("utf-8")
        for number, paths in shards.spread(index, fanout).items()
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
