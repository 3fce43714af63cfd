"""`lfs-meta init-meta`: the index as FHIR NDJSON under META/, rewriting only files whose bytes change."""

from __future__ import annotations

import configparser
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import fhir, index, staged
from lfs_meta.entry import Entry
from lfs_meta.errors import CheckFailed, UserError

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
    if output.parent.exists() and not output.parent.is_dir():
        raise UserError(f"{_shown(output.parent)}: not a directory; move it away or choose another --output")
    if output.name in STUB_FILES:
        raise UserError(f"--output {output}: that name is kept for the {output.stem} stubs; use another")
    files = generate(request, output)
    if files is None:
        shown = f"{request.index_path} (staged)" if request.staged else str(request.index_path)
        print(json.dumps({"files": {}}) if as_json else f"no index at {shown}; nothing to write")
        return 0
    after_checkout = CHECKOUT_VARIABLE in environ  # no commit is being made: nothing to stage
    outcome = Outcome(
        files,
        rewrite=[path for path, data in files.items() if not _holds(path, data)],
        unstaged=_unstaged(root, files) if request.staged and not after_checkout else [],
        check_only=request.check_only,
    )
    if not request.check_only:
        for path in outcome.rewrite:
            _write(path, files[path])
    _report(outcome, as_json)
    if request.check_only or (request.hook and not after_checkout):
        return 1 if outcome.changed else 0
    return 0


def generate(request: Request, output: Path) -> dict[Path, Content | None] | None:
    """The bytes each file under `output`'s directory should hold; None when there is no index."""
    settings = read_settings(request.index_path.parent / CONFIG_NAME)
    entries = _entries(request, request.index_path.parent.parent, output.parent)
    if entries is None:
        return None
    version = request.version or settings.version
    project = settings.project if request.project is None else request.project
    return outputs(fhir.ndjson_files(entries, version, project), output)


def out_of_date(index_path: Path) -> list[Path]:
    """The files `lfs-meta init-meta` would rewrite now."""
    files = generate(Request(index_path), index_path.parent.parent / DEFAULT_OUTPUT) or {}
    return [path for path, data in files.items() if not _holds(path, data)]


def _entries(request: Request, root: Path, meta: Path) -> dict[str, Entry] | None:
    try:
        if request.staged:
            raw = staged.blob(root, index.INDEX_PATH.as_posix())
            name = f"{request.index_path} (staged)"
            return None if raw is None else index.loads(raw, name)
        if not request.index_path.exists():
            return None
        return index.load(request.index_path)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}; {_shown(meta)}/ was left as it was") from None


def _unstaged(root: Path, files: Mapping[Path, Content | None]) -> list[Path]:
    """Files whose staged content is not what was generated: the commit would record stale META/."""
    unstaged = []
    for path, data in files.items():
        try:
            relative = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UserError(
                f"--output {path.parent} is outside the repository; --staged needs it inside"
            ) from None
        if staged.blob(root, relative) != data:
            unstaged.append(path)
    return unstaged


def _holds(path: Path, data: Content | None) -> bool:
    """Whether the file holds exactly `data` (None: does not exist), read in chunks, not whole:
    META/ files of a large index are hundreds of megabytes."""
    try:
        with path.open("rb") as stream:
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


def _write(path: Path, data: Content | None) -> None:
    if data is None:
        path.unlink()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path.parent}: cannot create: {exc.strerror}") from None
    index.write_atomic(path, data)


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
