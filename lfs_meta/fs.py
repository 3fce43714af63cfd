"""Every file lfs-meta writes, reads back or deletes, reached from a directory it trusts.

A branch can commit symlinks (`META -> /elsewhere`, `data -> .git`), so a path below a work tree is
never handed to the OS whole: each directory is opened in turn with O_NOFOLLOW relative to the one
above it, and the file last, so there is no moment between a check and its use in which a component
can be swapped for a link. A link, or a `.git` look-alike, anywhere below the trusted directory is
refused with `UnsafePath`; nothing is created or written before that is known.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from lfs_meta.errors import UserError
from lfs_meta.gitnames import is_git_dir_name

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # non-blocking: a FIFO must not hang the open


class UnsafePath(UserError):
    """A path whose writing would go through a symbolic link or into a git directory."""


def lexical(path: Path) -> Path:
    """`path` made absolute without asking the file system (resolving would follow the links)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def inside(path: Path, within: Path) -> bool:
    return lexical(path).is_relative_to(lexical(within))


@contextlib.contextmanager
def directory(path: Path, within: Path, *, create: bool = False) -> Iterator[int]:
    """A descriptor of the directory `path`, below `within`, reached with no link on the way."""
    parts = lexical(path).relative_to(lexical(within)).parts
    fd = os.open(lexical(within), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, name in enumerate(parts):
            below = _step(fd, name, Path(*parts[: depth + 1]), create)
            os.close(fd)
            fd = below
        yield fd
    finally:
        os.close(fd)


def _step(parent: int, name: str, shown: Path, create: bool) -> int:
    """Open `name` inside the directory `parent` as a directory, never through a link."""
    if is_git_dir_name(name):
        raise UnsafePath(
            f"{shown}: is a git directory (or a name the file system takes for one); "
            "lfs-meta never writes into it; choose a path outside it"
        )
    try:
        return _open_directory(parent, name, shown)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):  # another process may make it in between
        os.mkdir(name, 0o777, dir_fd=parent)
    return _open_directory(parent, name, shown)


def _open_directory(parent: int, name: str, shown: Path) -> int:
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            # O_NOFOLLOW|O_DIRECTORY on a link is ENOTDIR on Linux: a directory there now was a
            # link a moment ago (swapped back), and is refused as one.
            _refuse_link(
                parent, name, shown, was_link=exc.errno == errno.ELOOP or _is_directory(parent, name)
            )
        raise


def _is_directory(parent: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode)
    except OSError:
        return False


def _refuse_link(parent: int, name: str, shown: Path, *, was_link: bool = False) -> None:
    """Raise UnsafePath when `name` in `parent` is a symbolic link, or `was_link` (an O_NOFOLLOW open
    met one); return when it is not one.

    The name can change between the calls (a link swapped with a directory while lfs-meta runs): a
    link gone, or no longer one, by the time it is looked at is refused as a link all the same."""
    try:
        info: os.stat_result | None = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        info = None
    target = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        with contextlib.suppress(OSError):  # EINVAL, ENOENT: swapped back or removed meanwhile
            target = os.readlink(name, dir_fd=parent)
    elif not was_link:
        return
    what = f"to {target}" if target is not None else "changing while lfs-meta looked at it"
    raise UnsafePath(
        f"{shown}: is a symbolic link ({what}); lfs-meta never writes or reads through a link "
        f"in the work tree; remove the link ('git rm {shown}' if it is committed) and run again"
    )


def write_atomic(
    path: Path, data: bytes | bytearray, within: Path, *, durable: bool = True, mode: int | None = None
) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a mix.

    `durable` also waits until the bytes are on disk, so a crash cannot leave the new name with
    missing content; files that are regenerated from the index anyway skip that wait (as git does
    for the files it checks out). Missing directories below `within` are created.
    """
    aside = write_aside(path, data, within, durable=durable, mode=mode)
    try:
        with directory(path.parent, within) as parent:
            _mode_of(parent, path.name, path)  # a link put at `path` meanwhile is refused, not replaced
            os.replace(aside.name, path.name, src_dir_fd=parent, dst_dir_fd=parent)
            if durable:
                os.fsync(parent)
    except BaseException as exc:
        with contextlib.suppress(OSError, UserError):
            unlink(aside, within)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: cannot write: {exc.strerror}; it was not changed") from None
        raise


def write_aside(
    path: Path, data: bytes | bytearray, within: Path, *, durable: bool = True, mode: int | None = None
) -> Path:
    """A new hidden file beside `path` holding `data`, with the mode `path` has (or `mode`), for
    `replace` to rename over it once every file of a change is written."""
    name = path.name
    tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"  # the form _ASIDE matches
    try:
        with directory(path.parent, within, create=True) as parent:
            kept = _mode_of(parent, name, path)  # also refuses a link at `path`
            mode = kept if mode is None else mode
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    if durable:
                        out.flush()
                        os.fsync(out.fileno())
                if mode is not None:
                    os.chmod(tmp, mode, dir_fd=parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=parent)
                raise
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror}; it was not changed") from None
    return path.parent / tmp


_ASIDE = re.compile(r"\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp")  # the file name, the process id


def remove_stale_aside(path: Path, within: Path, suffix: str) -> None:
    """Remove what `write_aside` left in the directory `path` for files named with `suffix` when
    its process was killed before renaming (a running process's files are left alone): they
    would show as untracked files."""
    with contextlib.suppress(FileNotFoundError), directory(path, within) as parent:
        for name in os.listdir(parent):
            made_by = _ASIDE.fullmatch(name)
            if made_by and made_by[1].endswith(suffix) and not _running(int(made_by[2])):
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(name, dir_fd=parent).st_mode):
                        os.unlink(name, dir_fd=parent)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's, or no process id at all: left alone
        pass
    return True


def _mode_of(parent: int, name: str, path: Path) -> int | None:
    """The mode an existing file keeps; None for a new one (0o666 less the umask, like any other)."""
    try:
        info = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        _refuse_link(parent, name, _shown(path))
    return info.st_mode & 0o777


def _shown(path: Path) -> Path:
    with contextlib.suppress(ValueError):
        return lexical(path).relative_to(Path.cwd())
    return path


def open_file(path: Path, within: Path, flags: int, *, create_parents: bool = False) -> BinaryIO:
    """`path` opened with `flags` (os.O_*), refused when it or a directory on the way is a link or
    when it is not a regular file (a FIFO would block, a device never end)."""
    mode = "rb"
    if flags & os.O_APPEND:
        mode = "ab"
    elif flags & os.O_WRONLY:
        mode = "wb"
    elif flags & os.O_RDWR:
        mode = "r+b"
    with directory(path.parent, within, create=create_parents) as parent:
        try:
            fd = os.open(path.name, flags | _FILE_FLAGS, 0o666, dir_fd=parent)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                _refuse_link(parent, path.name, _shown(path), was_link=True)
            raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{_shown(path)}: is not a regular file; move it away and run again")
    os.set_blocking(fd, True)
    return cast(BinaryIO, os.fdopen(fd, mode))  # a binary mode: one of the buffered byte streams


def make_directories(path: Path, within: Path) -> None:
    """`path` and every missing directory above it, up to `within`, with no link on the way."""
    with directory(path, within, create=True):
        pass


def read_bytes(path: Path, within: Path) -> bytes:
    with open_file(path, within, os.O_RDONLY) as stream:
        return stream.read()


def lstat(path: Path, within: Path) -> os.stat_result:
    """The file's own status (a link is not followed), reached with no link on the way to it."""
    with directory(path.parent, within) as parent:
        return os.lstat(path.name, dir_fd=parent)


def regular_stats(path: Path, within: Path, names: Iterable[str]) -> dict[str, os.stat_result]:
    """The status of each of `names` in the directory `path`, reached with no link on the way;
    UnsafePath as `open_file` refuses it when one is a link or not a regular file."""
    found = {}
    with directory(path, within) as parent:
        for name in names:
            info = os.lstat(name, dir_fd=parent)
            if stat.S_ISLNK(info.st_mode):
                _refuse_link(parent, name, _shown(path / name))
            if not stat.S_ISREG(info.st_mode):
                raise UnsafePath(f"{_shown(path / name)}: is not a regular file; move it away and run again")
            found[name] = info
    return found


def unlink(path: Path, within: Path) -> None:
    """Remove `path` (a link is removed itself, never its target); absent is fine."""
    with contextlib.suppress(FileNotFoundError), directory(path.parent, within) as parent:
        os.unlink(path.name, dir_fd=parent)


def listdir(path: Path, within: Path) -> list[str]:
    with directory(path, within) as fd:
        return os.listdir(fd)


def replace(source: Path, target: Path, within: Path) -> None:
    """Rename `source` over `target`, both in one directory; a link at `target` is refused."""
    with directory(target.parent, within) as parent:
        _mode_of(parent, target.name, target)
        os.replace(source.name, target.name, src_dir_fd=parent, dst_dir_fd=parent)
