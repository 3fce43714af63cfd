"""What git's staging area holds: what the commit being made will record."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lfs_meta.errors import UserError


def blob(root: Path, path: str, stage: int = 0) -> bytes | None:
    """The staged content of `path` (relative to the repository root `root`), None when not staged.

    During a conflicted merge, stage 1 holds the common ancestor's version, 2 ours and 3 theirs.
    """
    spec = f":{stage}:{path}" if stage else f":{path}"
    try:
        done = subprocess.run(["git", "cat-file", "blob", spec], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("git is not installed; reading what is staged needs it") from None
    return done.stdout if done.returncode == 0 else None


def blob_ids(root: Path, paths: list[str]) -> dict[str, str]:
    """The staged blob id of each of `paths` (relative to `root`) that is staged; one git call for all.

    A conflicted path (stages 1-3, no stage 0) is not staged: the commit cannot record it as is.
    """
    try:
        done = subprocess.run(
            ["git", "--literal-pathspecs", "ls-files", "--stage", "-z", "--", *paths],
            cwd=root,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise UserError("git is not installed; reading what is staged needs it") from None
    ids = {}
    for record in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = record.partition("\t")
        fields = meta.split(" ")
        if len(fields) == 3 and fields[2] == "0":
            ids[path] = fields[1]
    return ids
