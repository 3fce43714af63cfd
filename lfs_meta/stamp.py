"""What init-meta last wrote, noted in git's directory, so an unchanged index is not mapped again.

The note holds a key, a hash of everything META/ depends on (the index's git blob id, FHIR version,
project, output files, and lfs-meta's own mapping code), and the git blob id of each file written.
When the key is the same and META/ still holds those blobs, the files are known to be current
without parsing the index: the every-commit hook then reads and hashes files, nothing more.
A missing, unreadable or unwritable note only means the work is done in full.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import lfs_meta
from lfs_meta import fs
from lfs_meta.errors import UserError
from lfs_meta.schema import SCHEMA_FILE

NOTE_PATH = "lfs-meta/init-meta.json"  # inside git's directory: never committed, never in `git status`
# The modules (and the schema) that decide META/'s bytes: editing any one of them invalidates every note.
_SHAPING_MODULES = ("fhir.py", "content_types.py", "entry.py", "init_meta.py")


@dataclass(frozen=True)
class Repository:
    """Where the note lives and how git names blobs there (sha1, or sha256 in SHA-256 repositories)."""

    note: Path
    object_format: str

    @classmethod
    def of(cls, directory: Path) -> Repository | None:
        """The repository holding `directory`; None outside git."""
        try:
            found = subprocess.run(
                [
                    "git",
                    "rev-parse",
                    "--path-format=absolute",
                    "--git-dir",  # not --git-path, which resolves a link at the note itself
                    "--show-object-format",
                ],
                cwd=directory,
                capture_output=True,
                text=True,
                check=False,
            )
        except (FileNotFoundError, NotADirectoryError):
            return None
        lines = found.stdout.splitlines()
        if found.returncode != 0 or len(lines) != 2:
            return None
        return cls(Path(lines[0]) / NOTE_PATH, lines[1])

    def recall(self, key: str) -> dict[str, str | None] | None:
        """The blob id of each file written under `key`, or None when the note is for something else."""
        try:
            note = json.loads(fs.read_bytes(self.note, self.note.parent.parent))
        except (OSError, ValueError, UserError):
            return None
        if not isinstance(note, dict) or note.get("key") != key or not isinstance(note.get("files"), dict):
            return None
        files: dict[str, str | None] = note["files"]
        return files

    def remember(self, key: str, files: Mapping[str, str | None]) -> None:
        text = json.dumps({"key": key, "files": dict(files)}, indent=2, sort_keys=True) + "\n"
        # Atomic, so a reader never sees half a note; a note lost in a crash or never written costs
        # the next run its speed, nothing else.
        with contextlib.suppress(OSError, UserError):
            fs.write_atomic(self.note, text.encode(), self.note.parent.parent, durable=False)


def blob_id(data: bytes | bytearray, object_format: str = "sha1") -> str:
    """What `git hash-object` prints for a file holding `data`."""
    digest = hashlib.new(object_format, b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def key(index_id: str, version: str, project: str, files: Sequence[Path]) -> str:
    parts = {
        "index": index_id,
        "version": version,
        "project": project,
        "files": [str(path.resolve()) for path in files],
        "code": _code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _code_fingerprint() -> str:
    import orjson  # its writing is part of the bytes

    digest = hashlib.sha256(f"{lfs_meta.__version__} orjson {orjson.__version__}".encode())
    package = Path(lfs_meta.__file__).parent
    for name in _SHAPING_MODULES:
        digest.update((package / name).read_bytes())
    digest.update(resources.files("lfs_meta.schemas").joinpath(SCHEMA_FILE).read_bytes())
    return digest.hexdigest()
