"""`lfs-meta install-hooks` and `uninstall-hooks`: one command and its undoing, so one module."""

from __future__ import annotations

import argparse
import json

from lfs_meta import git, githooks
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    directory = git.hooks_directory(repo.root)
    done = githooks.install(directory) if args.action == "install" else githooks.uninstall(directory)
    if args.json:
        print(json.dumps({"hooks_directory": str(directory), "hooks": done}, indent=2))
    else:
        print(f"hooks directory: {directory}")
        for name, what in done.items():
            print(f"{name}: {what}")
    return 0
