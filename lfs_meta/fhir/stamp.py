"""What init-meta last wrote, noted in git's directory, so an unchanged index is not mapped again.

The note holds a key, a hash of everything META/ depends on (the index's git blob id, FHIR version,
project, output files, and lfs-meta's own mapping code), and the git blob id of each file written.
When the key is the same and META/ still holds those blobs, the files are known to be current
without parsing the index: the every-commit hook then reads and hashes files, nothing more.
A missing, unreadable or unwritable note only means the work is done in full.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import config, fs, git
from lfs_meta.errors import UserError

NOTE_PATH = "lfs-meta/init-meta.json"  # inside git's directory: never committed, never in `git status`


@dataclass(frozen=True)
class Note:
    """Where the note lives and how git names blobs there (sha1, or sha256 in SHA-256 repositories)."""

    git_dir: Path
    object_format: str

    @classmethod
    def of(cls, location: git.Location | None) -> Note | None:
        """The note of the repository at `location`; None outside git."""
        return None if location is None else cls(location.git_dir, location.object_format)

    @property
    def path(self) -> Path:
        return self.git_dir / NOTE_PATH

    def recall(self, key: str) -> dict[str, str | None] | None:
        """The blob id of each file written under `key`, or None when the note is for something else."""
        try:
            note = json.loads(fs.read_bytes(self.path, self.git_dir))
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
            fs.write_atomic(self.path, text.encode(), self.git_dir, durable=False)


def key(index_id: str, settings: config.Config, files: Sequence[Path], code: str) -> str:
    parts = {
        "index": index_id,
        "settings": dataclasses.asdict(settings),
        "files": [str(path.resolve()) for path in files],
        "code": code,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
