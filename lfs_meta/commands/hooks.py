"""`lfs-meta install-hooks` and `uninstall-hooks`: one command and its undoing, so one module."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lfs_meta import git, githooks, mergeconfig
from lfs_meta.errors import UserError
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    """install-hooks also sets the merge driver: with the hooks, a team needs nothing else set up.
    uninstall-hooks leaves it: the committed .gitattributes still ask for it."""
    directory = git.hooks_directory(repo.root)
    done = githooks.install(directory) if args.action == "install" else githooks.uninstall(directory)
    try:
        configured = mergeconfig.install(repo.root) if args.action == "install" else None
    except UserError as exc:
        _report(directory, done, None, args.json)
        raise UserError(
            f"{exc}; then run 'lfs-meta install-merge-driver' (the hooks are installed)"
        ) from None
    _report(directory, done, configured, args.json)
    return 0


def _report(directory: Path, done: dict[str, str], configured: str | None, as_json: bool) -> None:
    if as_json:
        merge_driver = {"merge_driver": mergeconfig.command()} if configured else {}
        print(json.dumps({"hooks_directory": str(directory), "hooks": done, **merge_driver}, indent=2))
    else:
        print(f"hooks directory: {directory}")
        for name, what in done.items():
            print(f"{name}: {what}")
        if configured:
            print(configured)
