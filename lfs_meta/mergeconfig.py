"""This clone's git config for lfs-meta's merge driver.

The .gitattributes files lfs-meta writes (and commits) ask for `merge=lfs-meta` on the index and on
META/, but git runs a merge driver only when the clone's own config names its command, and a clone
never gets config from the repository: without it git silently falls back to its line merge, which
conflicts on any two branches that add entries next to each other. So every hook lfs-meta ships,
and every command that changes the index, sets it when it is missing or can no longer run.

The command names this interpreter by its absolute path (`<python> -P -m lfs_meta merge-driver`), so
it works where lfs-meta is installed only in pre-commit's own environment, not on PATH. git runs
drivers from the top of the work tree, and `-m` alone would put that directory first on the import
path: a branch that commits `lfs_meta/` or `orjson.py` there would run as code. `-P` (Python 3.11)
leaves it out.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from lfs_meta import git
from lfs_meta.errors import UserError

NAME = "lfs-meta"  # merge=lfs-meta in .gitattributes, [merge "lfs-meta"] in git config
KEY = f"merge.{NAME}.driver"
LABEL = "lfs-meta index and META/, merged entry by entry"
_ARGUMENTS = "merge-driver %O %A %B %P"
# What lfs-meta has written: by this module (`-P` left out before it was known to matter), or
# `lfs-meta merge-driver ...` by versions before it.
_WRITTEN = re.compile(rf"(?:lfs-meta|(?P<python>.+?) (?P<safe>-P )?-m lfs_meta) {re.escape(_ARGUMENTS)}")
_PURPOSE = "so the index and META/ merge entry by entry"


def command(python: str | None = None) -> str:
    """The driver command that runs the lfs-meta of `python` (default: this interpreter)."""
    return f"{shlex.quote(python or sys.executable)} -P -m lfs_meta {_ARGUMENTS}"


def problem(configured: str | None) -> str | None:
    """Why `configured` (the driver command git would run, or None) cannot run lfs-meta's driver
    safely; None when it can, or when it is a command of the user's own, which is theirs to keep."""
    if configured is None:
        return f"this clone's git config has no {KEY}"
    written = _WRITTEN.fullmatch(configured)
    if written is None:
        return None
    if written["python"] is None:
        return None if shutil.which("lfs-meta") else f"{KEY} runs 'lfs-meta', which is not on PATH"
    python = _interpreter(written)
    if python is None:
        return None  # not a command lfs-meta wrote after all
    if not os.access(python, os.X_OK):
        return f"{KEY} runs {python}, which is gone (an environment removed or upgraded)"
    if written["safe"] is None:
        return f"{KEY} runs 'python -m lfs_meta' without -P, which imports code a branch commits"
    return None


def _interpreter(written: re.Match[str]) -> str | None:
    """The interpreter of a command lfs-meta wrote: one absolute path (never a name found on PATH,
    which only a command of the user's own would use)."""
    try:
        (python,) = shlex.split(written["python"])
    except ValueError:
        return None
    return python if os.path.isabs(python) else None


def _outdated(configured: str | None, environ: Mapping[str, str]) -> str | None:
    """Why a driver that works is still not the one to keep: `lfs-meta` found on PATH (a hook's PATH
    has it, a shell's may not), or, in a pre-commit hook, another environment's lfs-meta (an older
    `rev` whose environment `pre-commit gc` has not removed yet)."""
    written = _WRITTEN.fullmatch(configured or "")
    if written is None:
        return None
    if written["python"] is None:
        return f"{KEY} ran 'lfs-meta' from PATH, which a merge's environment may lack"
    python = _interpreter(written)
    if environ.get("PRE_COMMIT") == "1" and python is not None and python != sys.executable:
        return f"{KEY} ran {python}, not the lfs-meta these hooks run"
    return None


def install(root: Path) -> str:
    """Point this clone's driver at this interpreter's lfs-meta; the line that says so."""
    git.set_config(root, f"merge.{NAME}.name", LABEL)
    git.set_config(root, KEY, command())
    return f"git config: {KEY} = {command()}"


def ensure(root: Path, environ: Mapping[str, str]) -> str | None:
    """Install the driver when this clone lacks a working one of its own, and say so in one line;
    None when it has one or `root` is not in git. Never fails: a hook must not stop a commit over it."""
    try:
        configured = git.config_value(root, KEY)
    except UserError:  # no git at all: nothing to configure
        return None
    why = problem(configured) or _outdated(configured, environ)
    if why is None:
        return None
    try:
        install(root)
    except UserError as exc:
        if git.locate(root) is None:
            return None
        return f"lfs-meta: {exc}; run 'lfs-meta install-merge-driver' {_PURPOSE}"
    return f"lfs-meta: {why}; set it to '{command()}' {_PURPOSE}"


def note(root: Path) -> None:
    """`ensure`, its line (if any) on stderr."""
    line = ensure(root, os.environ)
    if line:
        print(line, file=sys.stderr)
