"""Which shard file holds a path: decided by the path alone, so every clone agrees on the layout.

A sharded index is `fanout` files under `.lfs-meta/shards-<fanout>/`, named by the first bits of the
SHA-256 of the path (as lowercase hex). No file lists the shards, so two branches that add entries
never edit a common file; a fan-out is a power of two, so `reshard` can always find one that keeps
every file within a size band.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

SINGLE = 1  # the fan-out of `.lfs-meta/metadata.json`, the one-file layout
MAX_FANOUT = 1 << 16
DIRECTORY_PREFIX = "shards-"
DEFAULT_BAND = (1 << 20, 8 << 20)  # bytes: reshard keeps each file between these
_DIRECTORY = re.compile(r"shards-([1-9][0-9]{0,5})")
_HEX = re.compile(r"[0-9a-f]{1,4}")


def is_fanout(value: int) -> bool:
    return 2 <= value <= MAX_FANOUT and value & (value - 1) == 0


def number_of(path: str, fanout: int) -> int:
    """The shard of `path` (0 .. fanout-1)."""
    if fanout == SINGLE:
        return 0
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - fanout.bit_length() + 1)


def file_name(number: int, fanout: int) -> str:
    width = max(1, (fanout.bit_length() - 1 + 3) // 4)
    return f"{number:0{width}x}.json"


def directory_name(fanout: int) -> str:
    return f"{DIRECTORY_PREFIX}{fanout}"


def fanout_of_directory(name: str) -> int | None:
    """The fan-out a `shards-<N>` directory name states; None when the name is not one."""
    match = _DIRECTORY.fullmatch(name)
    if match is None:
        return None
    fanout = int(match.group(1))
    return fanout if is_fanout(fanout) else None


def number_of_file(name: str, fanout: int) -> int | None:
    """The shard number a file name in a `shards-<fanout>` directory stands for; None when it names none."""
    stem, _, suffix = name.partition(".")
    if suffix != "json" or not _HEX.fullmatch(stem):
        return None
    number = int(stem, 16)
    return number if number < fanout and file_name(number, fanout) == name else None


def fanout_for(total_bytes: int, band: tuple[int, int] = DEFAULT_BAND) -> int:
    """SINGLE when one file of `total_bytes` is within the band's top; else the most shards that keep
    each at or above the band's bottom, so each is below twice it (within any band whose top is at
    least twice its bottom). Small shards, because a commit rereads the shards it changes."""
    low, high = band
    if total_bytes <= high:
        return SINGLE
    fanout = 2
    while total_bytes >= low * fanout * 2 and fanout < MAX_FANOUT:
        fanout *= 2
    return fanout


def spread(paths: Iterable[str], fanout: int) -> dict[int, list[str]]:
    """`paths` by shard number."""
    by_number: dict[int, list[str]] = {}
    for path in paths:
        by_number.setdefault(number_of(path, fanout), []).append(path)
    return by_number
