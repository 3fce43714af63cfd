"""`lfs-meta install-merge-driver`: this clone's git config for the merge driver; idempotent.

The committed .gitattributes that ask for the driver are lfs-meta's own (.lfs-meta/.gitattributes,
META/.gitattributes), written with the index and META/; the hooks and the commands that change the
index set this config too, so running this by hand is seldom needed.
"""

from __future__ import annotations

import argparse

from lfs_meta import mergeconfig
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    print(mergeconfig.install(repo.root))
    return 0
