"""A directory swapped with a link while lfs-meta walks to a file: refused as the link it was."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from lfs_meta import fs


def test_a_link_swapped_back_to_a_directory_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NOFOLLOW|O_DIRECTORY met a link (ENOTDIR on Linux); by the time lfs-meta looks, a directory
    is back in its place: the open is refused as a link's, in one UnsafePath, not an OSError."""
    (tmp_path / "a").mkdir()
    real_open = os.open

    def swapped(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == "a" and flags & os.O_DIRECTORY:
            raise OSError(errno.ENOTDIR, "Not a directory")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swapped)
    with pytest.raises(
        fs.UnsafePath, match="a: is a symbolic link \\(changing while lfs-meta looked at it\\)"
    ):
        fs.make_directories(tmp_path / "a" / "b", tmp_path)


def test_a_file_where_a_directory_belongs_is_not_called_a_link(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    with pytest.raises(NotADirectoryError):
        fs.make_directories(tmp_path / "a" / "b", tmp_path)
