"""`lfs-meta validate`: report every problem in one or more index files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lfs_meta import mergeconfig
from lfs_meta.errors import UserError
from lfs_meta.index import storage
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.staged and args.files:
        raise UserError("validate takes FILE arguments or --staged, not both")
    if args.staged and repo.index.single is None:
        from lfs_meta import catalog  # here: only a sharded index has it

        results = catalog.validate_staged(repo)
    elif args.staged:
        raw = _staged_index(repo)
        problems = [raw] if isinstance(raw, Problem) else storage.problems_in(raw)
        results = [(f"{storage.INDEX_PATH.as_posix()} (staged)", problems)]
    elif args.files:
        results = [(str(path), storage.check_file(path)) for path in args.files]
    else:
        results = _whole_index(repo)
    if args.json:
        report = [p.as_json(name) for name, problems in results for p in problems]
        print(json.dumps({"valid": not report, "problems": report}, indent=2))
    else:
        _print_report(results)
    if args.staged:  # the commit hook: the first a clone runs, often before any merge
        mergeconfig.note(repo.root)
    return 1 if any(problems for _, problems in results) else 0


def _whole_index(repo: Repo) -> list[tuple[str, list[Problem]]]:
    layout = repo.index
    try:
        results = layout.check()
    except FileNotFoundError:
        raise UserError(
            f"{layout.shown}: no such file; pass the index path (default {storage.INDEX_PATH})"
        ) from None
    if layout.single is not None:
        _suggest_reshard(repo, layout.single)
    return results


def _suggest_reshard(repo: Repo, path: Path) -> None:
    """A hint, not a problem: the index is valid, but past the size at which shards pay."""
    high = repo.settings.shard_band[1]
    size = os.stat(path).st_size
    if size > high:
        print(
            f"lfs-meta: {path} is {size / 1e6:.0f} MB, over the {high >> 20} MB top of [index] shard_mb; "
            "'lfs-meta reshard' splits it so that each commit rewrites only the files it changes",
            file=sys.stderr,
        )


def _print_report(results: list[tuple[str, list[Problem]]]) -> None:
    for name, problems in results:
        for problem in problems:
            print(problem.format(name))
    total = sum(len(problems) for _, problems in results)
    if total:
        bad = sum(1 for _, problems in results if problems)
        print(f"{total} problem(s) in {bad} of {len(results)} file(s)")
    else:
        print(f"{len(results)} file(s) valid")


def _staged_index(repo: Repo) -> bytes | Problem:
    """The index as it is in git's staging area, which is what a commit will record; its size is
    asked first, and one over the limit is not read."""
    from lfs_meta import git  # here: the commit hook passes FILEs, and validating them needs no git

    raw = git.index_blob(repo.root, f":{storage.INDEX_PATH.as_posix()}")
    if raw is None:
        raise UserError(
            f"no staged {storage.INDEX_PATH.as_posix()} here; run from the repository root after 'git add'"
        )
    return raw
