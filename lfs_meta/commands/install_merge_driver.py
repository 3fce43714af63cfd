"""`lfs-meta install-merge-driver`: this clone's git config for the driver, and the committed
.gitattributes line that shares it; idempotent."""

from __future__ import annotations

import argparse

from lfs_meta import fs, git
from lfs_meta.errors import UserError
from lfs_meta.index import attributes, merge, storage
from lfs_meta.repo import Repo

ATTRIBUTE_LINE = f"/{storage.INDEX_PATH.as_posix()} merge={merge.DRIVER_NAME}"
META_LINE = f"/META/*.ndjson merge={merge.DRIVER_NAME}"  # resource by resource (see merge_driver)


def run(repo: Repo, args: argparse.Namespace) -> int:
    for line in install(repo):
        print(line)
    return 0


def install(repo: Repo) -> list[str]:
    for key, value in (("name", "lfs-meta index, merged entry by entry"), ("driver", merge.DRIVER_COMMAND)):
        git.set_config(repo.root, f"merge.{merge.DRIVER_NAME}.{key}", value)
    installed = [f"git config: merge.{merge.DRIVER_NAME}.driver = {merge.DRIVER_COMMAND}"]
    path = repo.root / attributes.FILE_NAME
    try:
        text = fs.read_bytes(path, repo.root).decode("utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}; fix or remove it") from None
    missing = [line for line in (ATTRIBUTE_LINE, META_LINE) if line not in text.splitlines()]
    if missing:
        text += ("" if not text or text.endswith("\n") else "\n") + "".join(line + "\n" for line in missing)
        fs.write_atomic(path, text.encode(), repo.root)
        installed += [f".gitattributes: added '{line}' (commit it)" for line in missing]
    return installed
