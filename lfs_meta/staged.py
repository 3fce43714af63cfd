"""What git's staging area holds: what the commit being made will record."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lfs_meta.errors import UserError


def blob(root: Path, path: str) -> bytes | None:
    """The staged content of `path` (relative to the repository root `root`), None when not staged."""
    try:
        done = subprocess.run(
            ["git", "cat-file", "blob", f":{path}"], cwd=root, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise UserError("git is not installed; reading what is staged needs it") from None
    return done.stdout if done.returncode == 0 else None
