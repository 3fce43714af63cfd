"""Keeping lfs-meta's own files out of git's filters (git-lfs above all).

Data repositories often run `git lfs track "*.json" "*.ndjson"`; the index and META/ would then be
committed as LFS pointers, and everything that reads them from git (the hooks, the merge driver)
would read the pointer. A `.gitattributes` in the file's own directory outranks every rule in the
directories above it (gitattributes(5)), so these two small committed files keep the index and
META/ plain whatever the top-level rules say, and whenever those rules are added.
"""

from __future__ import annotations

import os
from pathlib import Path

from lfs_meta import fs

FILE_NAME = ".gitattributes"
INDEX_RULES = (
    "# lfs-meta: the index is never sent through a filter (git-lfs or any other) and merges entry by entry\n"
    "/metadata.json !filter !diff merge=lfs-meta\n"
)
SHARD_RULES = (
    "# lfs-meta: index shards are never sent through a filter (git-lfs or any other), merge entry by entry\n"
    "/*.json !filter !diff merge=lfs-meta\n"
)
META_RULES = (
    "# lfs-meta: FHIR NDJSON is never sent through a filter (git-lfs or any other), merges by resource\n"
    "/*.ndjson !filter !diff merge=lfs-meta\n"
)
# What lfs-meta wrote before META/ merged resource by resource.
EARLIER_META_RULES = (
    "# lfs-meta: FHIR NDJSON is never sent through a filter (git-lfs or any other)\n/*.ndjson !filter !diff\n"
)
# Rules by what an earlier lfs-meta wrote in their place, which they replace (a file the user wrote
# is never touched).
_EARLIER = {META_RULES: EARLIER_META_RULES}
LFS_POINTER_START = b"version https://git-lfs.github.com/spec/"
# `git add` for the new .gitattributes (--renormalize adds only tracked files), --renormalize for
# the index and META/ files git already holds as pointers.
ADD = "'git add .lfs-meta META', 'git add --renormalize .lfs-meta META' and commit"
FIX = (
    "run 'lfs-meta init-meta' (it adds .lfs-meta/.gitattributes, META/.gitattributes and a sharded "
    "index's .lfs-meta/shards-N/.gitattributes, which keep lfs-meta's files out of filters), "
    f"then {ADD}"
)


def ensure(
    directory: Path, within: Path, rules: str, *, create_parents: bool = False, update: bool = True
) -> bool:
    """Write `rules` as `directory`'s .gitattributes unless one is there (never edited: it is
    committed, and may be the user's own), or, with `update`, replace what an earlier lfs-meta wrote
    there; True when it replaced that (a change to commit that no one asked for). UnsafePath when
    what is there is a link or not a regular file."""
    path = directory / FILE_NAME
    try:
        created = fs.open_file(
            path, within, os.O_WRONLY | os.O_CREAT | os.O_EXCL, create_parents=create_parents
        )
    except FileExistsError:
        # A link (a branch's `.gitattributes -> elsewhere`) or a FIFO there would leave the rules off.
        fs.regular_stats(directory, within, [FILE_NAME])
        earlier = _EARLIER.get(rules) if update else None
        if earlier is None or fs.read_bytes(path, within) != earlier.encode():
            return False
        fs.write_atomic(path, rules.encode(), within, durable=False)
        return True
    with created:
        created.write(rules.encode())
    return False


def is_lfs_pointer(raw: bytes) -> bool:
    return raw.startswith(LFS_POINTER_START)
