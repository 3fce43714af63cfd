"""Names that some file system takes for `.git`, as git's verify_path reads them under
core.protectHFS and core.protectNTFS; shared by the index's path rules and the file walks in fs."""

from __future__ import annotations

import re

# The code points HFS+ ignores in names (git's next_hfs_char), so '.g\u200dit' is '.git' on macOS.
HFS_IGNORED = "\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff"
HFS_IGNORED_RE = re.compile(f"[{HFS_IGNORED}]")
# What NTFS takes for '.git' (git's is_ntfs_dotgit): trailing dots and spaces dropped, the 8.3 short
# name 'git~1', and ':' starting an alternate data stream ('.git::$INDEX_ALLOCATION').
_NTFS_DOTGIT = re.compile(r"(?:\.git|git~1)[. ]*(?::.*)?", re.IGNORECASE | re.DOTALL)
NTFS_TRAILING = re.compile(r"[. ]+(?::.*)?$|:.*$", re.DOTALL)


def is_git_dir_name(segment: str) -> bool:
    """Whether some file system takes `segment` for '.git' (exactly, on HFS+ or on NTFS)."""
    return bool(_NTFS_DOTGIT.fullmatch(HFS_IGNORED_RE.sub("", segment)))
