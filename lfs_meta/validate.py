"""`lfs-meta validate`: report every problem in one or more index files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lfs_meta import index, staged
from lfs_meta.errors import UserError
from lfs_meta.problem import Problem


def run(files: Sequence[Path], as_json: bool, staged: bool = False) -> int:
    if staged:
        results = [(f"{index.INDEX_PATH.as_posix()} (staged)", index.problems_in(_staged_index()))]
    else:
        results = [(str(path), index.check_file(path)) for path in files]
    if as_json:
        report = [p.as_json(name) for name, problems in results for p in problems]
        print(json.dumps({"valid": not report, "problems": report}, indent=2))
    else:
        _print_report(results)
    return 1 if any(problems for _, problems in results) else 0


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


def _staged_index() -> bytes:
    """The index as it is in git's staging area, which is what a commit will record."""
    raw = staged.blob(Path.cwd(), index.INDEX_PATH.as_posix())
    if raw is None:
        raise UserError(
            f"no staged {index.INDEX_PATH.as_posix()} here; run from the repository root after 'git add'"
        )
    return raw
