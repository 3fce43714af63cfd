"""Every git command lfs-meta runs: one place that spawns git, reads its NUL-separated output and
turns its failures into one error type.

GitPython is not used: importing it takes longer (about 0.13 s here) than the whole pre-push hook
otherwise spends starting, and it runs these same git commands underneath.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lfs_meta.errors import CheckFailed, UserError
from lfs_meta.index.problem import Problem


class GitError(UserError):
    """git is not installed, or the directory is not in a repository, or a ref names no commit."""


@dataclass(frozen=True)
class Location:
    """Where a working tree's repository keeps its files (absolute paths), and how it names objects."""

    git_dir: Path  # a linked worktree's own
    common_dir: Path  # shared by all worktrees: info/exclude, hooks
    prefix: str  # the directory git was asked about, below the top of the working tree: 'sub/' or ''
    object_format: str  # sha1, or sha256 in SHA-256 repositories


def _run(args: Sequence[str], cwd: Path, *, literal: bool = False) -> subprocess.CompletedProcess[bytes]:
    command = ["git", "--literal-pathspecs", *args] if literal else ["git", *args]
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        if exc.filename != "git":
            raise GitError(f"{cwd}: no such directory") from None
        raise GitError(
            "git is not installed; lfs-meta reads the repository through it (install git)"
        ) from None
    except NotADirectoryError:
        raise GitError(f"{cwd}: not a directory") from None


def _not_a_repository(directory: Path) -> GitError:
    return GitError(f"{directory.resolve()}: not inside a git repository; run this from your repository")


_MORE_FACTS = ("--show-prefix", "--show-object-format")
OBJECT_FORMATS = ("sha1", "sha256")


def locate(directory: Path) -> Location | None:
    """The repository holding `directory`; None outside git, or where git is too old to say
    (before 2.31, which added --path-format); GitError when git is not installed."""
    done = _run(
        # --git-dir, not --git-path: that one resolves a link at the file it names.
        ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", *_MORE_FACTS],
        directory,
    )
    lines = done.stdout.decode("utf-8", "surrogateescape").split("\n")
    if done.returncode != 0 or len(lines) != 5 or lines[4]:
        return None
    git_dir, common_dir, prefix, object_format = lines[:4]
    if (
        not (Path(git_dir).is_absolute() and Path(common_dir).is_absolute())
        or object_format not in OBJECT_FORMATS
    ):
        return None
    return Location(Path(git_dir), Path(common_dir), prefix, object_format)


def hooks_directory(directory: Path) -> Path:
    """Where git runs hooks from: honours core.hooksPath, and is shared by linked worktrees."""
    done = _run(["rev-parse", "--path-format=absolute", "--git-path", "hooks"], directory)
    if done.returncode != 0:
        raise _not_a_repository(directory)
    return Path(done.stdout.decode("utf-8", "surrogateescape").rstrip("\n"))


def staged_blob(root: Path, path: str, stage: int = 0) -> bytes | None:
    """The staged index file `path` (relative to the top of the working tree), None when not staged;
    CheckFailed, without reading it, when it is larger than an index may be.

    During a conflicted merge, stage 1 holds the common ancestor's version, 2 ours and 3 theirs.
    """
    name = f":{stage}:{path}" if stage else f":{path}"
    found = index_blob(root, name)
    if isinstance(found, Problem):  # its size was asked first: never read whole
        raise CheckFailed(found.format(name))
    return found


def staged_blob_ids(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """The staged blob id of each of `paths` (relative to `root`) that is staged; one git call for all.

    A conflicted path (stages 1-3, no stage 0) is not staged: the commit cannot record it as is.
    """
    done = _run(["ls-files", "--stage", "-z", "--", *paths], root, literal=True)
    ids = {}
    for record in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = record.partition("\t")
        fields = meta.split(" ")
        if len(fields) == 3 and fields[2] == "0":
            ids[path] = fields[1]
    return ids


def blobs(root: Path, ids: Sequence[str]) -> dict[str, bytes]:
    """The content of each blob in `ids` that the repository has; one git process for all."""
    found, out, at = {}, _batch(root, "--batch", ids), 0
    for wanted in ids:
        end = out.find(b"\n", at)
        if end == -1:
            break
        header = out[at:end].split(b" ")
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<id> missing", or not a blob
        size = int(header[2])
        found[wanted] = out[at : at + size]
        at += size + 1
    return found


def blob_sizes(root: Path, names: Sequence[str]) -> dict[str, tuple[str, int]]:
    """(blob id, size) of each blob `names` names (an id, ':path', 'commit:path') that the repository
    has; one git process for all, and no content read."""
    sizes = {}
    for name, line in zip(names, _batch(root, "--batch-check", names).split(b"\n"), strict=False):
        header = line.split(b" ")
        if len(header) == 3 and header[1] == b"blob":
            sizes[name] = (header[0].decode(), int(header[2]))
    return sizes


def _batch(root: Path, option: str, names: Sequence[str]) -> bytes:
    if not names:
        return b""
    try:
        done = subprocess.run(
            ["git", "cat-file", option],
            cwd=root,
            input="".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape"),
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError(
            "git is not installed; lfs-meta reads the repository through it (install git)"
        ) from None
    return done.stdout


def blobs_in_turns(
    root: Path, names: Sequence[str], turn: int = 8
) -> Iterator[tuple[str, bytes | Problem | None]]:
    """Each index file `names` names (a blob id, ':path', 'commit:path') with its content (None: the
    repository lacks it), `turn` blobs per git process: a large index's shards are never all held at
    once. Every size is asked first, in one git process: a blob over the index's size limit is that
    problem, never read (reading could exhaust memory)."""
    sizes = blob_sizes(root, names)
    for start in range(0, len(names), turn):
        some = names[start : start + turn]
        wanted = [sizes[name][0] for name in some if name in sizes and not _too_large(*sizes[name])]
        found = blobs(root, wanted)  # by id: what a name points at may change between the two calls
        for name in some:
            blob, size = sizes.get(name, ("", 0))
            yield name, _too_large(blob, size) or found.get(blob)


def index_blob(root: Path, name: str) -> bytes | Problem | None:
    """One index file by name (':path', 'commit:path'), as `blobs_in_turns` reads it."""
    return next(blobs_in_turns(root, [name]))[1]


def _too_large(blob: str, size: int) -> Problem | None:
    from lfs_meta.index import strictjson  # imported here: the hooks' start-up does without orjson

    limit = strictjson.MAX_INDEX_BYTES  # read here, not bound at import
    if size <= limit:
        return None
    return Problem(
        f"blob {blob} is {size:,} bytes, over the {limit:,}-byte limit for an index, so it was not read",
        "check that this is the lfs-meta index and not a data file",
    )


def tracked_paths(root: Path) -> set[str]:
    """Every path git itself tracks below `root` (relative to it)."""
    done = _run(["ls-files", "-z"], root)
    if done.returncode != 0:
        raise _not_a_repository(root)
    return {name.decode("utf-8", "surrogateescape") for name in done.stdout.split(b"\0") if name}


def _commit(root: Path, ref: str) -> str:
    """The commit `ref` names; GitError when it names none."""
    found = _run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], root)
    if found.returncode == 1:
        raise GitError(f"{ref}: not a commit in {root.resolve()}")
    if found.returncode != 0:
        raise _not_a_repository(root)
    return found.stdout.decode().strip()


def committed_blob(root: Path, ref: str, path: str) -> bytes | Problem | None:
    """The index file `path` (relative to the top of the working tree) in the commit `ref` names, as
    `index_blob` reads it; None when that commit has no such file."""
    return index_blob(root, f"{_commit(root, ref)}:{path}")


def committed_tree(root: Path, ref: str, directory: str) -> dict[str, tuple[str, str]]:
    """(type, object id) of each name directly in `directory` (relative to the top of the working
    tree) in the commit `ref` names, type 'blob' or 'tree'; empty when it has no such directory."""
    commit = _commit(root, ref)
    done = _run(["ls-tree", "-z", f"{commit}:{directory}"], root)
    ids = {}
    for record in done.stdout.decode("utf-8", "surrogateescape").split("\0") if done.returncode == 0 else ():
        meta, _, name = record.partition("\t")
        fields = meta.split(" ")
        if len(fields) == 3:
            ids[name] = (fields[1], fields[2])
    return ids


def filters(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """The filter driver git would run on each of `paths` (relative to `root`), for those that have one."""
    return {
        path: value
        for path, value in attribute(root, "filter", paths).items()
        if value not in ("unspecified", "unset", "set")
    }


def attribute(root: Path, name: str, paths: Sequence[str]) -> dict[str, str]:
    """git's value of attribute `name` for each of `paths` (relative to `root`): a driver's name, or
    'set', 'unset', 'unspecified'; nothing when git cannot say (no git, no such directory)."""
    try:
        done = _run(["check-attr", "-z", name, "--", *paths], root)
    except GitError:
        return {}
    fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    return dict(zip(fields[0::3], fields[2::3], strict=False))


def merge_file(ours: Path, base: Path, theirs: Path) -> bool:
    """git's own line merge of three files into `ours`, conflict markers and all; True when clean."""
    done = _run(
        ["merge-file", "-L", "ours", "-L", "base", "-L", "theirs", str(ours), str(base), str(theirs)],
        ours.parent,
    )
    if done.returncode < 0:
        raise GitError(f"{ours}: git merge-file failed: {done.stderr.decode(errors='replace').strip()}")
    return done.returncode == 0


def merge_base(root: Path) -> str | None:
    """The common ancestor of HEAD and the commit being merged in; None when no merge is under way."""
    done = _run(["merge-base", "HEAD", "MERGE_HEAD"], root)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def config_value(root: Path, key: str) -> str | None:
    """`key` as git reads it for this clone (its own config, the user's, the system's); None when unset."""
    done = _run(["config", "--get", key], root)
    return done.stdout.decode("utf-8", "surrogateescape").rstrip("\n") if done.returncode == 0 else None


def set_config(root: Path, key: str, value: str) -> None:
    """Set `key` in this clone's git config."""
    done = _run(["config", key, value], root)
    if done.returncode != 0:
        if locate(root) is None:
            raise _not_a_repository(root)
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["git config failed"]
        stale = "; if no other git is running, remove the .lock file it names" if "lock" in reason[-1] else ""
        raise GitError(f"{root.resolve()}: cannot set {key}: {reason[-1]}{stale}")
