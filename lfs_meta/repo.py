"""The repository a command works in, found once and passed to everything that needs it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lfs_meta import config, git
from lfs_meta.index import storage


@dataclass(frozen=True)
class Repo:
    """Where lfs-meta's files are; git's directories and the config are read when first asked for."""

    root: Path  # the directory holding .lfs-meta/, as seen from the current directory
    index_path: Path  # the index: .lfs-meta/metadata.json below root, unless --index names another

    @classmethod
    def discover(cls, cwd: Path, index_path: Path | None = None) -> Repo:
        """The repository `cwd` is in: the nearest directory above it with a .lfs-meta/ (or a .git)."""
        root = Path(os.path.relpath(storage.find_root(cwd), cwd))
        return cls(root, index_path or root / storage.INDEX_PATH)

    @cached_property
    def git_dirs(self) -> git.Location | None:
        """git's directories for this working tree; None when it is not in one."""
        return git.locate(self.root)

    @cached_property
    def settings(self) -> config.Config:
        return config.read(self.root / config.PATH)
