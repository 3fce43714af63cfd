"""META/: the index as FHIR NDJSON files, kept current by rewriting only files whose bytes change."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import lfs_meta
from lfs_meta import codekey, config, fs, git
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.fhir import content_types, mapping, stamp
from lfs_meta.index import attributes, entry, schema, storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo

DEFAULT_OUTPUT = Path("META") / "DocumentReference.ndjson"  # from the repository's root
Content = bytes | bytearray  # what a META/ file should hold
_CHUNK = 1 << 20
# The files beside the DocumentReference file, written when they have something to hold and removed
# when not. Patient and Specimen are in both profiles; ResearchStudy and ResearchSubject only in gen3,
# and the default profile removes them: they would refer to Patients that are gone.
_PART = re.compile(
    r"(?:DocumentReference|Patient|Specimen|ResearchStudy|ResearchSubject)-[0-9a-f]{1,4}\.ndjson"
)
STUB_FILES = ("Patient.ndjson", "Specimen.ndjson", "ResearchStudy.ndjson", "ResearchSubject.ndjson")


def is_generated_name(name: str) -> bool:
    """Whether a file of this name in META/ is one init-meta writes (by default), not one of yours."""
    return name == DEFAULT_OUTPUT.name or name in STUB_FILES or _PART.fullmatch(name) is not None


@dataclass(frozen=True)
class Request:
    output: Path | None = None  # the DocumentReference file; DEFAULT_OUTPUT below the root when None
    version: str | None = None  # overrides [fhir] version
    project: str | None = None  # overrides [fhir] project
    profile: str | None = None  # overrides [fhir] profile
    staged: bool = False  # read the index as staged
    compare_staged: bool = False  # and also say which files as staged are not current
    check_only: bool = False  # write nothing
    # Replace the .gitattributes an earlier lfs-meta wrote; not after a checkout, where the file is
    # as the checked-out commit has it, and a change would stop the next checkout or merge.
    update_rules: bool = True


@dataclass(frozen=True)
class Outcome:
    files: Mapping[Path, int | None]  # each file generated: its resources (None: must not exist)
    rewrite: list[Path]  # differ on disk from what was generated
    unstaged: list[Path]  # differ in git's staging area (with --staged)
    check_only: bool
    rules_updated: Path | None = None  # META/'s .gitattributes, replaced (see Request.update_rules)

    @property
    def changed(self) -> bool:
        return bool(self.rewrite or self.unstaged or self.rules_updated)

    def to_json(self) -> dict[str, object]:
        return {
            "files": {
                shown(path): {"resources": resources or 0, "changed": path in self.rewrite}
                for path, resources in self.files.items()
                if resources is not None or path in self.rewrite
            },
            "unstaged": [shown(path) for path in self.unstaged],
            "rules_updated": shown(self.rules_updated) if self.rules_updated else None,
            "written": not self.check_only and bool(self.rewrite),
        }


def outputs(ndjson: Mapping[str, Content], files_owned: list[Path]) -> dict[Path, Content | None]:
    """Every file init-meta owns (`owned`'s list), with its bytes, or None for a file that must not
    exist (a stub with nothing in it, or a part that a sharded index left)."""
    document_file = files_owned[0]
    files: dict[Path, Content | None] = {document_file: ndjson["DocumentReference"]}
    for name in STUB_FILES:
        files[document_file.with_name(name)] = ndjson.get(Path(name).stem) or None
    for path in files_owned[len(files) :]:
        files[path] = None
    return files


def refresh(repo: Repo, request: Request) -> Outcome | None:
    """Bring META/ up to date (unless `check_only`); None when there is no index."""
    output = request.output or repo.root / DEFAULT_OUTPUT
    within = trusted_directory(output, repo.root)
    _check_output_directory(output, within)
    if not request.check_only:
        fs.remove_stale_aside(output.parent, within, ".ndjson")
    settings = settings_of(repo, request)
    if output.name in STUB_FILES:
        raise UserError(f"--output {output}: that name is kept for the {output.stem} stubs; use another")
    if repo.index.single is None:
        from lfs_meta.fhir import parts  # here: it imports this module

        sharded = parts.refresh(repo, request, settings, output, within)
        if sharded is not None and not request.check_only:
            return _keep_out_of_filters(repo, request, sharded, output, within)
        return sharded
    # A part committed before is removed by the commit too, even when it is gone from disk already.
    files_owned = owned(output, _staged_names(repo.root, output.parent) if request.compare_staged else ())
    now = _Now.read(repo, request, files_owned)
    if now is None:
        return None
    code = code_fingerprint(settings.profile)
    # Without the code's bytes nothing can say a note is for this code: none is read or kept.
    note = now.note if code is not None else None
    note_key = stamp.key(now.index_id, settings, files_owned, code or "")
    outcome = _recalled(now, note, note_key, files_owned, within, check_only=request.check_only)
    if outcome is None:
        files = _mapped(now, repo, request, settings, files_owned)
        outcome = Outcome(
            resources(files),
            rewrite=[path for path, data in files.items() if not holds(path, data, within)],
            unstaged=[
                path for path, staged_id in now.staged_ids.items() if staged_id != now.blob_id(files[path])
            ],
            check_only=request.check_only,
        )
        if not request.check_only:
            for path in outcome.rewrite:
                write(path, files[path], within)
            if note:
                note.remember(note_key, {path.name: now.blob_id(files[path]) for path in files_owned})
    if not request.check_only:
        return _keep_out_of_filters(repo, request, outcome, output, within)
    return outcome


def index_name(repo: Repo, request: Request) -> str:
    return f"{repo.index_path} (staged)" if request.staged else str(repo.index_path)


@dataclass
class _Now:
    """The index and META/ as they are now: on disk, or in git's staging area."""

    note: stamp.Note | None
    index_id: str  # the index's blob id
    raw: bytes | None  # the index's bytes, when read from disk, until taken
    staged_ids: dict[Path, str | None]  # the owned files' staged blob ids, when they must be current there

    @classmethod
    def read(cls, repo: Repo, request: Request, files_owned: list[Path]) -> _Now | None:
        """None when there is no index."""
        try:
            note = stamp.Note.of(repo.git_dirs)
        except git.GitError:  # no git: no note, and --staged says what is missing when it asks git
            note = None
        relative = _relative(repo.root, files_owned) if request.compare_staged else {}
        raw = None
        if request.staged:
            ids = git.staged_blob_ids(repo.root, [storage.INDEX_PATH.as_posix(), *relative.values()])
            index_id = ids.get(storage.INDEX_PATH.as_posix())
        else:
            ids = {}
            raw = _read_index(repo.index_path, files_owned[0].parent)
            index_id = None if raw is None else codekey.blob_id(raw, _format(note))
        if index_id is None:
            return None
        return cls(note, index_id, raw, {path: ids.get(name) for path, name in relative.items()})

    def blob_id(self, data: Content | None) -> str | None:
        return None if data is None else codekey.blob_id(data, _format(self.note))

    def take_index(self, root: Path) -> bytes:
        """The index's bytes, no longer held here: at 1M entries they are 300 MB that the FHIR lines
        do not need."""
        raw, self.raw = self.raw, None
        if raw is not None:
            return raw
        staged = git.index_blob(root, self.index_id)  # by its id, its size asked first
        if isinstance(staged, Problem):
            name = f"{storage.INDEX_PATH.as_posix()} (staged)"
            raise CheckFailed(f"{storage.failure([staged], name)}; META/ was left as it was")
        return staged or b""


def _format(note: stamp.Note | None) -> str:
    return note.object_format if note else "sha1"


def code_fingerprint(profile: str, *more: ModuleType) -> str | None:
    """The source of every module that decides META/'s bytes under `profile`, this one and `more`
    included, found through the import system: editing any of them invalidates every note."""
    shaping = [lfs_meta, mapping, content_types, entry, config, sys.modules[__name__], *more]
    if profile == config.GEN3:
        from lfs_meta.fhir import gen3  # here and below: only the gen3 profile imports it

        shaping.append(gen3)
    return codekey.fingerprint(shaping, schema.source())


def _keep_out_of_filters(
    repo: Repo, request: Request, outcome: Outcome, output: Path, within: Path
) -> Outcome:
    """`outcome`, and whether META/'s .gitattributes was replaced. The index's .gitattributes are
    written where missing too: .lfs-meta/'s and, for a sharded index, its shard directory's (as every
    write of the index does), so that doctor's one fix for any of them is this command. Best effort:
    a read-only checkout still gets its META/ checked; doctor names what is missing. A link in the
    place of one is refused, not passed over: git ignores it, and the no-filter rule with it."""
    index_path = repo.index_path
    updated = None
    try:
        if index_path.parent.name == storage.INDEX_PATH.parent.name and fs.inside(index_path, repo.root):
            attributes.ensure(index_path.parent, repo.root, attributes.INDEX_RULES)
        if repo.index.single is None:
            attributes.ensure(repo.index.shard_directory, repo.index.within, attributes.SHARD_RULES)
        # An --output outside the work tree is not git's business.
        if within == repo.root and attributes.ensure(
            output.parent, within, attributes.META_RULES, update=request.update_rules
        ):
            updated = output.parent / attributes.FILE_NAME
    except fs.UnsafePath:
        raise
    except (OSError, UserError):
        pass
    return dataclasses.replace(outcome, rules_updated=updated) if updated else outcome


def trusted_directory(output: Path, root: Path) -> Path:
    """Where the walk to META/ starts: the work tree's root, below which no link is followed, or the
    directory of an --output outside the work tree, which the user named (and is made here)."""
    if fs.inside(output, root):
        return root
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{shown(output.parent)}: cannot create: {exc.strerror}") from None
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
        raise UserError(f"{shown(output.parent)}: not a directory; {fix}") from None
    except OSError as exc:
        raise UserError(f"{shown(output.parent)}: cannot open: {exc.strerror}") from None


def _recalled(
    now: _Now,
    note: stamp.Note | None,
    note_key: str,
    files_owned: list[Path],
    within: Path,
    *,
    check_only: bool,
) -> Outcome | None:
    """Nothing to do, when the note says the files on disk (and staged) are what `note_key`
    generates; None whenever that is not certain."""
    known = note.recall(note_key) if note else None
    if known is None:
        return None
    files: dict[Path, Content | None] = {}
    for path in files_owned:
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
    return Outcome(resources(files), rewrite=[], unstaged=[], check_only=check_only)


def settings_of(repo: Repo, request: Request) -> config.Config:
    """.lfs-meta/config, overridden by the command line; the gen3 profile's needs are checked here."""
    configured = repo.settings
    settings = dataclasses.replace(
        configured,
        project=configured.project if request.project is None else request.project,
        version=request.version or configured.version,
        profile=request.profile or configured.profile,
    )
    if settings.profile == config.GEN3:
        if settings.version != config.R5:
            raise UserError(
                f"FHIR {settings.version} with the gen3 profile: gen3-tracker reads R5 only; "
                "drop --fhir-version R4B (or [fhir] version) or use the default profile"
            )
        from lfs_meta.fhir import gen3

        gen3.check_project(settings.project, "[fhir] project" if request.project is None else "--project")
    return settings


def document_id(settings: config.Config, path: str) -> str:
    """The id of `path`'s DocumentReference in META/ under `settings`."""
    if settings.profile == config.GEN3:
        from lfs_meta.fhir import gen3

        return gen3.document_id(settings.project, path)
    return mapping.uuid5(mapping.project_namespace(settings.project).bytes, path)


def owned(output: Path, staged: Iterable[str] = ()) -> list[Path]:
    """The files init-meta writes for the DocumentReference file `output`: it and the stubs beside it,
    then any part a sharded index left there, on disk or among the `staged` names beside `output`
    (the one-file layout removes them)."""
    files = [output, *(output.with_name(name) for name in STUB_FILES)]
    if output.name != DEFAULT_OUTPUT.name:
        return files
    try:
        names = set(os.listdir(output.parent))
    except OSError:  # none yet, or unreadable: the writes that follow say which
        names = set()
    names.update(staged)
    return files + [output.with_name(name) for name in sorted(names) if _PART.fullmatch(name)]


def _staged_names(root: Path, directory: Path) -> list[str]:
    """The names of the files staged in `directory`."""
    (inside,) = _relative(root, [directory]).values()
    return [
        name.rpartition("/")[2]
        for name in git.staged_blob_ids(root, [inside])
        if name.rpartition("/")[0] == inside
    ]


def _mapped(
    now: _Now, repo: Repo, request: Request, settings: config.Config, files_owned: list[Path]
) -> dict[Path, Content | None]:
    entries = _entries(now.take_index(repo.root), index_name(repo, request), files_owned[0].parent)
    if settings.profile == config.GEN3:
        from lfs_meta.fhir import gen3

        return outputs(gen3.ndjson_files(entries, settings.project), files_owned)
    return outputs(mapping.ndjson_files(entries, settings.version, settings.project), files_owned)


def out_of_date(repo: Repo) -> list[Path]:
    """The files `lfs-meta init-meta` would rewrite now, in either layout (what `--check` finds)."""
    outcome = refresh(repo, Request(check_only=True))
    return [] if outcome is None else list(outcome.rewrite)


def _read_index(path: Path, directory: Path) -> bytes | None:
    try:
        raw = storage.read(path)
    except FileNotFoundError:
        return None
    if isinstance(raw, Problem):
        raise CheckFailed(f"{storage.failure([raw], str(path))}; {shown(directory)}/ was left as it was")
    return raw


def _entries(raw: bytes, name: str, directory: Path) -> dict[str, Entry]:
    try:
        return storage.loads(raw, name)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}; {shown(directory)}/ was left as it was") from None


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


def holds(path: Path, data: Content | None, within: Path) -> bool:
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


def write(path: Path, data: Content | None, within: Path) -> None:
    if data is None:
        fs.unlink(path, within)
        return
    # Not fsynced: a META/ file is regenerated whenever its bytes are not what they should be.
    fs.write_atomic(path, data, within, durable=False)


def count(data: Content) -> int:
    """The resources in an NDJSON file's bytes: one per line."""
    return data.count(b"\n")


def resources(files: Mapping[Path, Content | None]) -> dict[Path, int | None]:
    return {path: None if data is None else count(data) for path, data in files.items()}


def shown(path: Path) -> str:
    return os.path.relpath(path)
