"""What git's staging area holds: what the commit being made will record."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lfs_meta.errors import UserError


def blob(root: Path, path: str) -> bytes | None:
    """The staged content of `path` (relative to the repository root `root`), None when not staged."""
    done = _git(root, "cat-file", "blob", f":{path}")
    return done.stdout if done.returncode == 0 else None


def blob_ids(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """Staged object id by path, for the `paths` that are staged."""
    done = _git(root, "ls-files", "--stage", "-z", "--", *paths)
    ids = {}
    for record in done.stdout.split(b"\0"):
        if record:
            info, _, name = record.partition(b"\t")
            ids[name.decode()] = info.split()[1].decode()
    return ids


def blob_id(data: bytes) -> str:
    """The id git gives `data` as a blob (SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("git is not installed; reading what is staged needs it") from None
