"""`lfs-meta init-meta`: the index as FHIR NDJSON under META/, rewriting only files whose bytes change."""

from __future__ import annotations

import configparser
import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import attributes, fhir, fs, index, staged, stamp
from lfs_meta.entry import Entry
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.problem import Problem

DEFAULT_OUTPUT = Path("META") / "DocumentReference.ndjson"
Content = bytes | bytearray  # what a META/ file should hold
_CHUNK = 1 << 20
CONFIG_NAME = "config"
STUB_FILES = ("Patient.ndjson", "Specimen.ndjson")
# pre-commit sets it for post-checkout hooks, where regenerating is the whole job, not a finding.
CHECKOUT_VARIABLE = "PRE_COMMIT_CHECKOUT_TYPE"


@dataclass(frozen=True)
class Request:
    index_path: Path
    output: Path | None = None
    version: str | None = None
    project: str | None = None
    staged: bool = False
    check_only: bool = False
    hook: bool = False


@dataclass(frozen=True)
class Settings:
    project: str = ""
    version: str = fhir.R5


def read_settings(path: Path) -> Settings:
    """[fhir] project and version from .lfs-meta/config; defaults when the file does not exist."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        reason = " ".join(str(exc).split())
        raise UserError(
            f"{path}: unreadable ({reason}); write it as '[fhir]' then 'project = <id>'"
        ) from None
    keys = parser.options("fhir") if parser.has_section("fhir") else []
    unknown = [f"[{name}]" for name in parser.sections() if name != "fhir"]
    unknown += [key for key in keys if key not in ("project", "version")]
    if unknown:
        raise UserError(f"{path}: unknown {', '.join(unknown)}; it holds [fhir] with 'project' and 'version'")
    project = parser.get("fhir", "project", fallback="")
    version = parser.get("fhir", "version", fallback=fhir.R5)
    return Settings(project, check_version(version, f"{path}: [fhir] version"))


def check_version(version: str, where: str) -> str:
    if version not in fhir.VERSIONS:
        raise UserError(f"{where} is {version!r}; use one of {', '.join(fhir.VERSIONS)}")
    return version


@dataclass(frozen=True)
class Outcome:
    files: Mapping[Path, Content | None]
    rewrite: list[Path]  # differ on disk from what was generated
    unstaged: list[Path]  # differ in git's staging area (with --staged)
    check_only: bool

    @property
    def changed(self) -> bool:
        return bool(self.rewrite or self.unstaged)

    def to_json(self) -> dict[str, object]:
        return {
            "files": {
                _shown(path): {"resources": _count(data), "changed": path in self.rewrite}
                for path, data in self.files.items()
                if data is not None or path in self.rewrite
            },
            "unstaged": [_shown(path) for path in self.unstaged],
            "written": not self.check_only and bool(self.rewrite),
        }


def outputs(ndjson: Mapping[str, Content], document_file: Path) -> dict[Path, Content | None]:
    """Every file init-meta owns, with its bytes, or None for a stub file that must not exist."""
    files: dict[Path, Content | None] = {document_file: ndjson["DocumentReference"]}
    for name in STUB_FILES:
        files[document_file.with_name(name)] = ndjson[Path(name).stem] or None
    return files


def run(request: Request, environ: Mapping[str, str], as_json: bool) -> int:
    root = request.index_path.parent.parent
    output = request.output or root / DEFAULT_OUTPUT
    within = trusted_directory(output, root)
    _check_output_directory(output, within)
    if output.name in STUB_FILES:
        raise UserError(f"--output {output}: that name is kept for the {output.stem} stubs; use another")
    settings = _settings(request)
    after_checkout = CHECKOUT_VARIABLE in environ  # no commit is being made: nothing to stage
    owned = _owned(output)
    now = _Now.read(request, root, owned, compare_staged=request.staged and not after_checkout)
    if now is None:
        print(
            json.dumps({"files": {}}) if as_json else f"no index at {_index_name(request)}; nothing to write"
        )
        return 0
    note_key = stamp.key(now.index_id, settings.version, settings.project, owned)
    outcome = _recalled(now, note_key, owned, within, request.check_only)
    if outcome is None:
        files = _mapped(now, request, settings, output)
        outcome = Outcome(
            files,
            rewrite=[path for path, data in files.items() if not _holds(path, data, within)],
            unstaged=[
                path for path, staged_id in now.staged_ids.items() if staged_id != now.blob_id(files[path])
            ],
            check_only=request.check_only,
        )
        if not request.check_only:
            for path in outcome.rewrite:
                _write(path, files[path], within)
            if now.repository:
                now.repository.remember(note_key, {path.name: now.blob_id(files[path]) for path in owned})
    if not request.check_only:
        _keep_out_of_filters(request.index_path, root, output, within)
    _report(outcome, as_json)
    if request.check_only or (request.hook and not after_checkout):
        return 1 if outcome.changed else 0
    return 0


@dataclass
class _Now:
    """The index and META/ as they are now: on disk, or in git's staging area."""

    repository: stamp.Repository | None
    index_id: str  # the index's blob id
    raw: bytes | None  # the index's bytes, when read from disk, until taken
    staged_ids: dict[Path, str | None]  # the owned files' staged blob ids, when they must be current there

    @classmethod
    def read(cls, request: Request, root: Path, owned: list[Path], compare_staged: bool) -> _Now | None:
        """None when there is no index."""
        repository = stamp.Repository.of(root)
        relative = _relative(root, owned) if compare_staged else {}
        raw = None
        if request.staged:
            ids = staged.blob_ids(root, [index.INDEX_PATH.as_posix(), *relative.values()])
            index_id = ids.get(index.INDEX_PATH.as_posix())
        else:
            ids = {}
            raw = _read_index(request.index_path, owned[0].parent)
            index_id = None if raw is None else stamp.blob_id(raw, _format(repository))
        if index_id is None:
            return None
        return cls(repository, index_id, raw, {path: ids.get(name) for path, name in relative.items()})

    def blob_id(self, data: Content | None) -> str | None:
        return None if data is None else stamp.blob_id(data, _format(self.repository))

    def take_index(self, root: Path) -> bytes:
        """The index's bytes, no longer held here: at 1M entries they are 300 MB that the FHIR lines
        do not need."""
        raw, self.raw = self.raw, None
        return raw if raw is not None else staged.blob(root, index.INDEX_PATH.as_posix()) or b""


def _format(repository: stamp.Repository | None) -> str:
    return repository.object_format if repository else "sha1"


def _keep_out_of_filters(index_path: Path, root: Path, output: Path, within: Path) -> None:
    """Best effort: a read-only checkout still gets its META/ checked; doctor names what is missing."""
    with contextlib.suppress(OSError, UserError):
        if index_path.parent.name == index.INDEX_PATH.parent.name and fs.inside(index_path, root):
            attributes.ensure(index_path.parent, root, attributes.INDEX_RULES)
        if within == root:  # an --output outside the work tree is not git's business
            attributes.ensure(output.parent, within, attributes.META_RULES)


def trusted_directory(output: Path, root: Path) -> Path:
    """Where the walk to META/ starts: the work tree's root, below which no link is followed, or the
    directory of an --output outside the work tree, which the user named (and is made here)."""
    if fs.inside(output, root):
        return root
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{_shown(output.parent)}: cannot create: {exc.strerror}") from None
    return output.parent


def _check_output_directory(output: Path, within: Path) -> None:
    """Refuse, before anything is read or written, a META/ that is a link or not a directory."""
    try:
        with fs.directory(output.parent, within):
            pass
    except FileNotFoundError:
        pass  # made when the files are written
    except NotADirectoryError:
        fix = "move it away or choose another --output"
        raise UserError(f"{_shown(output.parent)}: not a directory; {fix}") from None
    except OSError as exc:
        raise UserError(f"{_shown(output.parent)}: cannot open: {exc.strerror}") from None


def _recalled(now: _Now, note_key: str, owned: list[Path], within: Path, check_only: bool) -> Outcome | None:
    """Nothing to do, when the note says the files on disk (and staged) are what `note_key`
    generates; None whenever that is not certain."""
    known = now.repository.recall(note_key) if now.repository else None
    if known is None:
        return None
    files: dict[Path, Content | None] = {}
    for path in owned:
        try:
            files[path] = fs.read_bytes(path, within)
        except FileNotFoundError:
            files[path] = None
        except (OSError, UserError):
            return None  # the full run reports it
        if now.blob_id(files[path]) != known.get(path.name):
            return None
    if any(staged_id != known.get(path.name) for path, staged_id in now.staged_ids.items()):
        return None
    return Outcome(files, rewrite=[], unstaged=[], check_only=check_only)


def generate(request: Request, output: Path) -> dict[Path, Content | None] | None:
    """The bytes each file under `output`'s directory should hold; None when there is no index."""
    settings = _settings(request)
    now = _Now.read(request, request.index_path.parent.parent, _owned(output), compare_staged=False)
    return None if now is None else _mapped(now, request, settings, output)


def _settings(request: Request) -> Settings:
    """.lfs-meta/config, overridden by the command line."""
    configured = read_settings(request.index_path.parent / CONFIG_NAME)
    return Settings(
        configured.project if request.project is None else request.project,
        request.version or configured.version,
    )


def _owned(output: Path) -> list[Path]:
    return [output, *(output.with_name(name) for name in STUB_FILES)]


def _mapped(now: _Now, request: Request, settings: Settings, output: Path) -> dict[Path, Content | None]:
    entries = _entries(now.take_index(request.index_path.parent.parent), _index_name(request), output.parent)
    return outputs(fhir.ndjson_files(entries, settings.version, settings.project), output)


def _index_name(request: Request) -> str:
    return f"{request.index_path} (staged)" if request.staged else str(request.index_path)


def out_of_date(index_path: Path) -> list[Path]:
    """The files `lfs-meta init-meta` would rewrite now."""
    root = index_path.parent.parent
    files = generate(Request(index_path), root / DEFAULT_OUTPUT) or {}
    return [path for path, data in files.items() if not _holds(path, data, root)]


def _read_index(path: Path, meta: Path) -> bytes | None:
    try:
        raw = index.read(path)
    except FileNotFoundError:
        return None
    if isinstance(raw, Problem):
        raise CheckFailed(f"{index.failure([raw], str(path))}; {_shown(meta)}/ was left as it was")
    return raw


def _entries(raw: bytes, name: str, meta: Path) -> dict[str, Entry]:
    try:
        return index.loads(raw, name)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}; {_shown(meta)}/ was left as it was") from None


def _relative(root: Path, paths: list[Path]) -> dict[Path, str]:
    """Each path relative to the repository root, as git names it."""
    relative = {}
    for path in paths:
        try:
            relative[path] = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UserError(
                f"--output {path.parent} is outside the repository; --staged needs it inside"
            ) from None
    return relative


def _holds(path: Path, data: Content | None, within: Path) -> bool:
    """Whether the file holds exactly `data` (None: does not exist), read in chunks, not whole:
    META/ files of a large index are hundreds of megabytes."""
    try:
        with fs.open_file(path, within, os.O_RDONLY) as stream:
            if data is None or os.fstat(stream.fileno()).st_size != len(data):
                return False
            view = memoryview(data)
            for start in range(0, len(data), _CHUNK):
                if stream.read(_CHUNK) != view[start : start + _CHUNK]:
                    return False
            return True
    except FileNotFoundError:
        return data is None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _write(path: Path, data: Content | None, within: Path) -> None:
    if data is None:
        fs.unlink(path, within)
        return
    # Not fsynced: a META/ file is regenerated whenever its bytes are not what they should be.
    fs.write_atomic(path, data, within, durable=False)


def _report(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.to_json(), indent=2))
        return
    for path in outcome.rewrite:
        data = outcome.files[path]
        if outcome.check_only:
            print(f"{_shown(path)}: out of date; run 'lfs-meta init-meta' to regenerate it")
        elif data is None:
            print(f"{_shown(path)}: removed, nothing refers to a {path.stem} any more")
        else:
            print(f"{_shown(path)}: wrote {_count(data)} resource(s)")
    if outcome.unstaged:
        names = ", ".join(_shown(path) for path in outcome.unstaged)
        meta = _shown(outcome.unstaged[0].parent)
        print(f"{names}: staged content is not what the index gives; run 'git add {meta}' and commit again")
    if not outcome.changed:
        print(f"{_shown(next(iter(outcome.files)).parent)}/ is up to date")


def _count(data: Content | None) -> int:
    return 0 if data is None else data.count(b"\n")


def _shown(path: Path) -> str:
    return os.path.relpath(path)
