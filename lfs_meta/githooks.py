"""The plain git hooks that `install-hooks` writes and `uninstall-hooks` removes, each chained to the
hook already there.

Each hook becomes a small wrapper that runs the previous hook (moved aside, never edited) and then
lfs-meta's, with the same arguments and, for pre-push, the same standard input: git-lfs's pre-push
reads the refs being pushed from it and uploads nothing without them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from lfs_meta import fs
from lfs_meta.errors import UserError

HOOKS = ("pre-commit", "pre-merge-commit", "pre-push", "post-checkout")
BODY = ".lfs-meta"
PREVIOUS = ".lfs-meta-previous"
MARKER = "# lfs-meta install-hooks wrapper"

_WRAPPER = """#!/bin/sh
{marker}: runs {name}{previous} (the hook that was here
# before, if any) and then lfs-meta's {name}{body}. 'lfs-meta uninstall-hooks' puts the previous one back.
dir=$(dirname "$0")
status=0
{run}exit $status
"""
_RUN = """if [ -x "$dir/{name}{previous}" ]; then
    "$dir/{name}{previous}" "$@"{stdin} || status=$?
fi
sh "$dir/{name}{body}" "$@"{stdin} || status=$?
"""
_SAVE_STDIN = """input=$(mktemp) || exit 1
trap 'rm -f "$input"' EXIT
cat >"$input"
"""


def wrapper(name: str) -> str:
    stdin = ' <"$input"' if name == "pre-push" else ""
    run = _RUN.format(name=name, previous=PREVIOUS, body=BODY, stdin=stdin)
    if stdin:
        run = _SAVE_STDIN + run
    return _WRAPPER.format(marker=MARKER, name=name, previous=PREVIOUS, body=BODY, run=run)


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(directory: Path) -> dict[str, str]:
    """What was done per hook; idempotent, and a hook already there is kept and chained."""
    done = {}
    directory.mkdir(parents=True, exist_ok=True)
    for name in HOOKS:
        hook, previous = directory / name, directory / (name + PREVIOUS)
        if is_ours(hook):
            done[name] = "updated"
        elif hook.exists() or hook.is_symlink():
            if previous.exists() or previous.is_symlink():
                raise UserError(
                    f"{previous} exists already; move it away, then run 'lfs-meta install-hooks' again"
                )
            hook.rename(previous)
            done[name] = f"installed; runs the existing hook first (kept as {previous.name})"
        else:
            done[name] = "installed"
        _write_executable(
            directory / (name + BODY), resources.files("lfs_meta.hooks").joinpath(name).read_text()
        )
        _write_executable(hook, wrapper(name))
    return done


def uninstall(directory: Path) -> dict[str, str]:
    """What was done per hook: ours removed and the previous hook put back exactly as it was."""
    done = {}
    for name in HOOKS:
        hook, previous = directory / name, directory / (name + PREVIOUS)
        if not is_ours(hook):
            done[name] = "not installed by lfs-meta; left alone" if hook.exists() else "not installed"
            continue
        hook.unlink()
        (directory / (name + BODY)).unlink(missing_ok=True)
        if previous.exists() or previous.is_symlink():
            previous.rename(hook)
            done[name] = "removed; the previous hook is back"
        else:
            done[name] = "removed"
    return done


def _write_executable(path: Path, text: str) -> None:
    fs.write_atomic(path, text.encode(), path.parent, mode=0o755)  # a link there is refused
