"""`lfs-meta pull`: download tracked objects into the working tree, verified, kept out of commits."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lfs_meta import git, providers
from lfs_meta.errors import UserError
from lfs_meta.progress import Progress, human_bytes
from lfs_meta.repo import Repo
from lfs_meta.worktree import state
from lfs_meta.worktree.download import FAILED, PRESENT, PULLED, Puller, Result, credentials_first


def run(repo: Repo, args: argparse.Namespace) -> int:
    if bool(args.paths) == args.all:
        raise UserError("pull takes PATHs or --all (one of them); 'lfs-meta status' shows what is pulled")
    remotes = providers.Providers(
        providers.Options(credentials=args.credentials, endpoint_url=args.endpoint_url)
    )
    entries = repo.index.select(args.paths)
    workspace = state.Workspace.of(repo)
    results: list[Result] = []
    in_git = git.tracked_paths(workspace.root) & entries.keys()
    for path in sorted(in_git):
        fix = f"'git rm --cached {path}' to let lfs-meta manage it, or 'lfs-meta untrack {path}'"
        results.append(Result(path, FAILED, message=f"{path}: is committed to git itself; {fix}"))
    wanted = {path: entry for path, entry in entries.items() if path not in in_git}
    credentials_first(remotes, wanted.values())
    with workspace.locked() as journal:
        recorded = workspace.records()
        workspace.exclude_only(recorded.keys() | wanted.keys())
        total = sum(entry.size for entry in wanted.values())
        with Progress("pulling", total=total, in_bytes=True) as progress:
            puller = Puller(workspace.root, remotes, recorded, journal, force=args.force, progress=progress)
            try:
                results += puller.pull_all(wanted, args.jobs)
            except KeyboardInterrupt:
                print(
                    f"lfs-meta: interrupted; {len(puller.recorded)} file(s) are in place, and "
                    "'lfs-meta pull' again resumes the rest",
                    file=sys.stderr,
                )
                return 130
            finally:
                kept = {
                    path: record
                    for path, record in (recorded | puller.recorded).items()
                    if _is_file(workspace.root / path)
                }
                workspace.compact(kept)
                workspace.exclude_only(kept.keys())
    results.sort(key=lambda result: result.path)
    _report(results, remotes.operation_counts(), args.json)
    return 1 if any(result.status == FAILED for result in results) else 0


def _report(results: Sequence[Result], requests: Mapping[str, Mapping[str, int]], as_json: bool) -> None:
    counts = dict.fromkeys((PULLED, PRESENT, FAILED), 0)
    for result in results:
        counts[result.status] += 1
    size = sum(result.size for result in results)
    if as_json:
        summary = {**counts, "bytes": size}
        print(
            json.dumps(
                {"summary": summary, "results": [r.as_json() for r in results], "requests": dict(requests)},
                indent=2,
            )
        )
        return
    for result in results:
        if result.status == PULLED:
            print(f"{result.path}: pulled, {human_bytes(result.size)}, verified {', '.join(result.verified)}")
        elif result.status == FAILED:
            print(result.message, file=sys.stderr)
    pulled_size = f"{counts[PULLED]} pulled ({human_bytes(size)})"
    print(f"{pulled_size}, {counts[PRESENT]} already here, {counts[FAILED]} failed")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a path no file system takes (a name too long), so nothing is there
        return False
