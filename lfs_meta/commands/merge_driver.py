"""`lfs-meta merge-driver`: git's merge driver for the index and META/; the result goes to git's %A
file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path, PurePosixPath

from lfs_meta import fs, git
from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.fhir import meta, ndjson_merge
from lfs_meta.index import merge, problem, storage
from lfs_meta.index.entry import Entry
from lfs_meta.index.layout import Layout
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    """Exit 1 leaves the merge to the user."""
    if args.path.endswith(".ndjson"):
        return _merge_ndjson(args)
    shown = args.path
    sides = [
        _read_side(path, f"{shown} ({name})", base=name == "base")
        for path, name in ((args.base, "base"), (args.ours, "ours"), (args.theirs, "theirs"))
    ]
    merged, conflicts = merge.merge(*sides)
    text = storage.dumps(merged)
    problems = storage.problems_in(text.encode())
    if problems:
        raise CheckFailed(
            f"{problems[0].format(shown)}; merged, the two sides make an invalid index, so ours was kept; "
            "fix it by hand, then git add it"
        )
    fs.write_atomic(args.ours, text.encode(), args.ours.parent)  # the file git made for the result
    if conflicts:
        _say(
            f"lfs-meta: {shown}: {', '.join(conflicts)} changed differently on both sides "
            "(our version kept for now); take one side per path with "
            f"'lfs-meta merge-resolve --ours|--theirs PATH...', then 'git add {shown}'"
        )
        return 1
    return 0


def _read_side(path: Path, name: str, base: bool) -> dict[str, Entry]:
    """One side's entries. Its size is looked at before it is read; an empty or blank side is the
    invalid index `validate` calls it, except an empty base: git's stand-in for no common ancestor."""
    try:
        raw = storage.read(path)
    except FileNotFoundError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if isinstance(raw, Problem):
        raise storage.failure([raw], name)
    return {} if base and not raw else storage.loads(raw, name)


def _is_sharded(path: str) -> bool:
    """Whether the index that `path` (git's %P, from the top of the work tree, where git runs the
    driver) belongs to is sharded: the nearest .lfs-meta/ above it, as every command finds it."""
    root = Path(os.path.relpath(storage.find_root(Path(path).parent)))
    try:
        return Layout.find(root).single is None
    except UserError:  # midway through a merge across a reshard: left to git and then reshard
        return False


def _merge_ndjson(args: argparse.Namespace) -> int:
    """A META/ file init-meta writes, resource by resource, so two branches that add entries never
    conflict: in the order the layout keeps it (a sharded index's parts by id; the one file's
    DocumentReferences by path). Any other file (one of yours, say) gets git's own line merge."""
    sides = [_read_bytes(path) for path in (args.base, args.ours, args.theirs)]
    merged = None
    if meta.is_generated_name(PurePosixPath(args.path).name):
        merged = ndjson_merge.merge_lines(*sides, documents_by_path=not _is_sharded(args.path))
    if merged is None:
        return 0 if git.merge_file(args.ours, args.base, args.theirs) else 1
    text, conflicts = merged
    fs.write_atomic(args.ours, text, args.ours.parent)
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        _say(
            f"lfs-meta: {args.path}: {shown} changed differently on both sides (ours kept for now); once the "
            "index is merged ('lfs-meta merge-resolve' where it conflicts too), run 'lfs-meta init-meta' and "
            "'git add META'"
        )
        return 1
    return 0


def _say(line: str) -> None:
    """A conflict's line: the paths come from the branches merged, so through the escaper."""
    print(problem.printable(line), file=sys.stderr)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
