"""The block of `.git/info/exclude` that keeps pulled files out of `git status` and commits.

info/exclude is git's own per-clone ignore file: nothing is committed, and every tool that honours
.gitignore honours it too. Only the lines between the markers are lfs-meta's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lfs_meta import fs
from lfs_meta.errors import UserError

BEGIN = "# >>> lfs-meta: files pulled from their stores (kept by 'lfs-meta pull'; do not edit)"
END = "# <<< lfs-meta"
PART_SUFFIX = ".lfs-meta-part"
PART_PATTERN = f".*{PART_SUFFIX}"  # downloads in progress, next to their targets
_SPECIAL = re.compile(r"([*?\[\\])")


def pattern(path: str) -> str:
    """A gitignore line matching exactly the repo-relative `path`, whatever characters it holds."""
    escaped = "/" + _SPECIAL.sub(r"\\\1", path)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "  # git drops unescaped trailing spaces
    return escaped


def with_block(text: str, paths: Iterable[str]) -> str:
    """`text` (the exclude file) with lfs-meta's block replaced by one for `paths`."""
    kept, inside = [], False
    for line in text.splitlines():
        if line == BEGIN:
            inside = True
        elif inside and line == END:
            inside = False
        elif not inside:
            kept.append(line)
    lines = [*kept, BEGIN, PART_PATTERN, *(pattern(path) for path in sorted(paths)), END]
    return "\n".join(lines) + "\n"


def write(common_dir: Path, paths: Iterable[str]) -> None:
    """Make the block in `common_dir`'s info/exclude list exactly `paths`; info/ must not be a link."""
    exclude = common_dir / "info" / "exclude"
    try:
        current = fs.read_bytes(exclude, common_dir).decode("utf-8")
    except FileNotFoundError:
        current = ""
    except OSError as exc:
        raise UserError(f"{exclude}: cannot read: {exc.strerror}; fix its permissions") from None
    except UnicodeDecodeError:
        raise UserError(f"{exclude}: is not UTF-8 text; fix or remove it") from None
    updated = with_block(current, paths)
    if updated != current:
        fs.write_atomic(exclude, updated.encode(), common_dir)
