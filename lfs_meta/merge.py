"""Merging the index entry by entry: the git merge driver, its installation, and resolving conflicts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lfs_meta import attributes, fs, index, staged
from lfs_meta.entry import Entry
from lfs_meta.errors import CheckFailed, UserError

DRIVER_NAME = "lfs-meta"
ATTRIBUTE_LINE = f"/{index.INDEX_PATH.as_posix()} merge={DRIVER_NAME}"
DRIVER_COMMAND = "lfs-meta merge-driver %O %A %B %P"
STAGES = {"ours": 2, "theirs": 3}


def merge(
    base: Mapping[str, Entry], ours: Mapping[str, Entry], theirs: Mapping[str, Entry]
) -> tuple[dict[str, Entry], list[str]]:
    """(merged index, conflicting paths). A conflicting path keeps our side in the merged index."""
    merged, conflicts = {}, []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        old, mine, their = base.get(path), ours.get(path), theirs.get(path)
        if their in (mine, old):
            chosen = mine
        elif mine == old:
            chosen = their
        else:
            conflicts.append(path)
            chosen = mine
        if chosen is not None:
            merged[path] = chosen
    return merged, conflicts


def run_driver(base: Path, ours: Path, theirs: Path, shown: str) -> int:
    """git's merge driver: the result goes to `ours`; exit 1 leaves the merge to the user."""
    sides = [
        _read_side(path, f"{shown} ({name})")
        for path, name in ((base, "base"), (ours, "ours"), (theirs, "theirs"))
    ]
    merged, conflicts = merge(*sides)
    text = index.dumps(merged)
    problems = index.problems_in(text.encode())
    if problems:
        raise CheckFailed(
            f"{problems[0].format(shown)}; merged, the two sides make an invalid index, so ours was kept; "
            "fix it by hand, then git add it"
        )
    fs.write_atomic(ours, text.encode(), ours.parent)  # the file git made for the result
    if conflicts:
        print(
            f"lfs-meta: {shown}: {', '.join(conflicts)} changed differently on both sides "
            "(our version kept for now); take one side per path with "
            f"'lfs-meta merge-resolve --ours|--theirs PATH...', then 'git add {shown}'",
            file=sys.stderr,
        )
        return 1
    return 0


def _read_side(path: Path, name: str) -> dict[str, Entry]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    return index.loads(raw, name) if raw.strip() else {}  # no common ancestor: git passes an empty base


def resolve(root: Path, index_path: Path, side: str, paths: Sequence[str]) -> list[str]:
    """Take `side`'s version (or absence) of each path from the conflicted merge; returns the paths taken."""
    raw = staged.blob(root, index.INDEX_PATH.as_posix(), stage=STAGES[side])
    if raw is None:
        raise UserError(f"{index.INDEX_PATH}: no merge conflict in progress; nothing to resolve")
    chosen = index.loads(raw, f"{index.INDEX_PATH} ({side})")

    def take(entries: dict[str, Entry]) -> list[str]:
        for path in paths:
            if path in chosen:
                entries[path] = chosen[path]
            else:
                entries.pop(path, None)
        return list(paths)

    return index.update(index_path, take)


def install_driver(root: Path) -> list[str]:
    """This clone's git config for the driver, and the .gitattributes line (committed, shared); idempotent."""
    for key, value in (("name", "lfs-meta index, merged entry by entry"), ("driver", DRIVER_COMMAND)):
        done = subprocess.run(
            ["git", "config", f"merge.{DRIVER_NAME}.{key}", value], cwd=root, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise UserError(f"{root.resolve()}: not inside a git repository; run this from your repository")
    installed = [f"git config: merge.{DRIVER_NAME}.driver = {DRIVER_COMMAND}"]
    path = root / attributes.FILE_NAME
    try:
        text = fs.read_bytes(path, root).decode("utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}; fix or remove it") from None
    if ATTRIBUTE_LINE not in text.splitlines():
        text += ("" if not text or text.endswith("\n") else "\n") + ATTRIBUTE_LINE + "\n"
        fs.write_atomic(path, text.encode(), root)
        installed.append(f".gitattributes: added '{ATTRIBUTE_LINE}' (commit it)")
    return installed
