"""The repository a command works in, found once and passed to everything that needs it."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from lfs_meta.index import storage
from lfs_meta.index.layout import Layout

if TYPE_CHECKING:
    from lfs_meta.config import Config
    from lfs_meta.git import Location
    from lfs_meta.index import rows


@dataclass(frozen=True)
class Repo:
    """Where lfs-meta's files are; git's directories and the config are read when first asked for
    (and their modules imported then: `lfs-meta validate FILE` starts without either)."""

    root: Path  # the directory holding .lfs-meta/, as seen from the current directory
    index_path: Path  # the index: .lfs-meta/metadata.json below root, unless --index names another

    @classmethod
    def discover(cls, cwd: Path, index_path: Path | None = None) -> Repo:
        """The repository `cwd` is in: the nearest directory above it with a .lfs-meta/ (or a .git)."""
        root = Path(os.path.relpath(storage.find_root(cwd), cwd))
        return cls(root, index_path or root / storage.INDEX_PATH)

    @cached_property
    def index(self) -> Layout:
        """The index's layout: one file, or shards (which keep their note of rows in git's directory)."""
        layout = Layout.find(self.root, self.index_path)
        return layout if layout.single else dataclasses.replace(layout, notes=self.rows_place)

    @cached_property
    def rows_place(self) -> rows.Place | None:
        """Where the note of a sharded index's rows is kept; None outside git."""
        from lfs_meta.index import rows  # only a sharded index has a note

        location = self.git_dirs
        return rows.Place(location.git_dir / "lfs-meta", location.object_format) if location else None

    @cached_property
    def git_dirs(self) -> Location | None:
        """git's directories for this working tree; None when it is not in one."""
        from lfs_meta import git

        return git.locate(self.root)

    @cached_property
    def settings(self) -> Config:
        """.lfs-meta/config below the root."""
        from lfs_meta import config

        return config.read(self.root / config.PATH, self.root)
