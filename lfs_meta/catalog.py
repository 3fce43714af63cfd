"""`validate --staged` of a sharded index at the cost of the change, not of the index.

A commit's hook parses only the shards whose staged blob differs from those the note of rows
(`index.rows`) holds, and checks the rules that span shards for the entries that came or changed in
them against every other row. When the staged index has a problem, nothing is recorded, so the next
run checks the same entries again. A fresh clone, an unusable note, or a change to the code that
checks pays one full check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lfs_meta import git
from lfs_meta.errors import UserError
from lfs_meta.index import layout as layouts
from lfs_meta.index import rows, rules, shards, storage
from lfs_meta.index.problem import Problem
from lfs_meta.repo import Repo

Results = list[tuple[str, list[Problem]]]


def validate_staged(repo: Repo) -> Results:
    """Every problem with the staged sharded index, file by file."""
    layout = repo.index
    directory = _relative(layout.shard_directory, repo.root)
    staged = git.staged_blob_ids(repo.root, [directory])
    shard_ids: dict[int, str] = {}
    results: dict[str, list[Problem]] = {}
    for name, blob in staged.items():
        file_name = name.rpartition("/")[2]
        number = shards.number_of_file(file_name, layout.fanout)
        if number is not None and name == f"{directory}/{file_name}":
            shard_ids[number] = blob
        elif not file_name.startswith("."):  # .gitattributes, .gitignore, and what a full run skips too
            results[f"{name} (staged)"] = [Problem(f"not a shard of {directory}", "git rm --cached it")]
    if not shard_ids:
        raise UserError(f"no staged {directory}/ here; run from the repository root after 'git add'")
    also = git.staged_blob_ids(repo.root, [storage.INDEX_PATH.as_posix()])
    if also:
        fix = "'git rm --cached' the layout you moved away from (see 'lfs-meta reshard')"
        results[f"{storage.INDEX_PATH.as_posix()} (staged)"] = [
            Problem(f"staged beside {directory}/: a commit must hold the index in one layout", fix)
        ]
    with rows.Note.open(repo.rows_place, layout.fanout) as note:
        recorded = note.blobs()
        changed = sorted(n for n, blob in shard_ids.items() if recorded.get(n) != blob)
        fresh = not recorded
        references: list[rules.Reference] = []
        came: list[rows.Row] = []
        for number, data, problems in _parsed(repo.root, {n: shard_ids[n] for n in changed}, layout.fanout):
            results[f"{directory}/{shards.file_name(number, layout.fanout)} (staged)"] = problems
            held = list(rows.references_in(data))
            changes = note.replace(number, shard_ids[number], rows.rows_of(held, number))
            if fresh:
                references.extend(held)
            else:
                came += changes
        for number in recorded.keys() - shard_ids.keys():
            note.replace(number, None, [])
        cross = (
            rules.cross_file_problems(references, lambda path: shards.number_of(path, layout.fanout))
            if fresh
            else note.problems(came)
        )
        for path, problem in cross:
            number = shards.number_of(path, layout.fanout)
            shown = f"{directory}/{shards.file_name(number, layout.fanout)} (staged)"
            results.setdefault(shown, []).append(problem)
        if any(results.values()):
            note.abandon()
    for number in shard_ids:
        results.setdefault(f"{directory}/{shards.file_name(number, layout.fanout)} (staged)", [])
    return sorted(results.items())


def _parsed(root: Path, ids: dict[int, str], fanout: int) -> Iterator[tuple[int, Any, list[Problem]]]:
    """Each shard's data and problems; a shard over the size limit is that problem, never read."""
    numbers = list(ids)
    for number, (_, raw) in zip(numbers, git.blobs_in_turns(root, [ids[n] for n in numbers]), strict=True):
        if isinstance(raw, Problem):
            yield number, None, [raw]
        else:
            yield number, *layouts.parse_shard(raw or b"", number, fanout)


def _relative(path: Path, root: Path) -> str:
    """As git names it; lexical, so a link in the way is not followed (git reads its own index)."""
    return Path(os.path.relpath(path, root)).as_posix()
