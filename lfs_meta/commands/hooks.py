"""`lfs-meta install-hooks` and `uninstall-hooks`: one command and its undoing, so one module."""

from __future__ import annotations

import argparse
import json

from lfs_meta import git, githooks, mergeconfig
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    """install-hooks also sets the merge driver: with the hooks, a team needs nothing else set up.
    uninstall-hooks leaves it: the committed .gitattributes still ask for it."""
    directory = git.hooks_directory(repo.root)
    done = githooks.install(directory) if args.action == "install" else githooks.uninstall(directory)
    configured = mergeconfig.install(repo.root) if args.action == "install" else None
    if args.json:
        merge_driver = {"merge_driver": mergeconfig.command()} if configured else {}
        print(json.dumps({"hooks_directory": str(directory), "hooks": done, **merge_driver}, indent=2))
    else:
        print(f"hooks directory: {directory}")
        for name, what in done.items():
            print(f"{name}: {what}")
        if configured:
            print(configured)
    return 0
