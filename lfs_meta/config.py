"""`.lfs-meta/config`: the repository's settings, committed beside the index."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path

from lfs_meta import fs
from lfs_meta.errors import UserError
from lfs_meta.index import shards

PATH = Path(".lfs-meta") / "config"  # from the repository's root
R5 = "R5"
R4B = "R4B"
FHIR_VERSIONS = (R5, R4B)
DEFAULT = "default"
GEN3 = "gen3"  # META/ as gen3-tracker (g3t) writes and validates it
PROFILES = (DEFAULT, GEN3)
_AUTHZ = re.compile(r"(/[^/\s]+)+")
_KEYS = {"fhir": ("project", "version", "profile"), "gen3": ("authz",), "index": ("shard_mb",)}
_BAND = re.compile(r"([1-9][0-9]{0,3})-([1-9][0-9]{0,3})")


@dataclass(frozen=True)
class Config:
    project: str = ""  # [fhir] project: the namespace of the resource ids (<program>-<project> for gen3)
    version: str = R5  # [fhir] version
    profile: str = DEFAULT  # [fhir] profile
    authz: str = ""  # [gen3] authz: the Gen3 authorization path of the files, /programs/<p>/projects/<q>
    shard_band: tuple[int, int] = (
        shards.DEFAULT_BAND
    )  # [index] shard_mb = LOW-HIGH: reshard keeps files in it


def read(path: Path, within: Path) -> Config:
    """The settings in `path`, below `within`; the defaults when the file does not exist. A committed
    link (to /dev/zero, say) or a FIFO in its place is refused, not read."""
    # Comments may follow a value on its line, as the README's examples write them.
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read_string(fs.read_bytes(path, within).decode("utf-8"), source=str(path))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        reason = " ".join(str(exc).split())
        raise UserError(
            f"{path}: unreadable ({reason}); write it as '[fhir]' then 'project = <id>'"
        ) from None
    unknown = [f"[{name}]" for name in parser.sections() if name not in _KEYS]
    for section in parser.sections():
        unknown += [key for key in parser.options(section) if key not in _KEYS.get(section, ())]
    if unknown:
        holds = "[fhir] with 'project', 'version' and 'profile', [gen3] with 'authz', [index] with 'shard_mb'"
        raise UserError(f"{path}: unknown {', '.join(unknown)}; it holds {holds}")
    return Config(
        parser.get("fhir", "project", fallback=""),
        check_version(parser.get("fhir", "version", fallback=R5), f"{path}: [fhir] version"),
        check_profile(parser.get("fhir", "profile", fallback=DEFAULT), f"{path}: [fhir] profile"),
        check_authz(parser.get("gen3", "authz", fallback=""), f"{path}: [gen3] authz"),
        check_band(parser.get("index", "shard_mb", fallback=""), f"{path}: [index] shard_mb"),
    )


def check_band(text: str, where: str) -> tuple[int, int]:
    """A size band in MB, LOW-HIGH, whose top is at least twice its bottom (a power-of-two fan-out
    then always fits); in bytes."""
    if not text:
        return shards.DEFAULT_BAND
    match = _BAND.fullmatch(text.strip())
    if match is None or int(match.group(2)) < 2 * int(match.group(1)):
        raise UserError(f"{where} is {text!r}; write it as LOW-HIGH in MB, HIGH at least twice LOW, e.g. 1-8")
    return int(match.group(1)) << 20, int(match.group(2)) << 20


def check_authz(authz: str, where: str) -> str:
    """A Gen3 authorization path: /programs/<p>/projects/<q>, or any '/'-separated path like it."""
    if authz and not _AUTHZ.fullmatch(authz):
        raise UserError(f"{where} is {authz!r}; write it as /programs/<program>/projects/<project>")
    return authz


def check_profile(profile: str, where: str) -> str:
    if profile not in PROFILES:
        raise UserError(f"{where} is {profile!r}; use one of {', '.join(PROFILES)}")
    return profile


def check_version(version: str, where: str) -> str:
    if version not in FHIR_VERSIONS:
        raise UserError(f"{where} is {version!r}; use one of {', '.join(FHIR_VERSIONS)}")
    return version
