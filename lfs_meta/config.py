"""`.lfs-meta/config`: the repository's settings, committed beside the index."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from lfs_meta.errors import UserError

PATH = Path(".lfs-meta") / "config"  # from the repository's root
R5 = "R5"
R4B = "R4B"
FHIR_VERSIONS = (R5, R4B)


@dataclass(frozen=True)
class Config:
    project: str = ""  # [fhir] project: the namespace of the resource ids
    version: str = R5  # [fhir] version


def read(path: Path) -> Config:
    """The settings in `path`; the defaults when the file does not exist."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        reason = " ".join(str(exc).split())
        raise UserError(
            f"{path}: unreadable ({reason}); write it as '[fhir]' then 'project = <id>'"
        ) from None
    keys = parser.options("fhir") if parser.has_section("fhir") else []
    unknown = [f"[{name}]" for name in parser.sections() if name != "fhir"]
    unknown += [key for key in keys if key not in ("project", "version")]
    if unknown:
        raise UserError(f"{path}: unknown {', '.join(unknown)}; it holds [fhir] with 'project' and 'version'")
    project = parser.get("fhir", "project", fallback="")
    version = parser.get("fhir", "version", fallback=R5)
    return Config(project, check_version(version, f"{path}: [fhir] version"))


def check_version(version: str, where: str) -> str:
    if version not in FHIR_VERSIONS:
        raise UserError(f"{where} is {version!r}; use one of {', '.join(FHIR_VERSIONS)}")
    return version
