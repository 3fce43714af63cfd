"""`lfs-meta export --format gen3`: the Gen3 indexing manifest, joined to META/ by the guid."""

from __future__ import annotations

import argparse
import sys

from lfs_meta import config, fs
from lfs_meta.errors import UserError
from lfs_meta.fhir import gen3, meta
from lfs_meta.index import storage
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    settings = meta.settings_of(repo, meta.Request())
    authz = settings.authz or (settings.project and _derived_authz(settings))
    if not authz:
        raise UserError(
            f"{repo.root / config.PATH}: no [gen3] authz; add '[gen3]' then "
            "'authz = /programs/<program>/projects/<project>' (the files' Gen3 authorization path)"
        )
    entries = storage.load(repo.index_path)
    guids = {path: meta.document_id(settings, path) for path in entries}
    text, left_out = gen3.manifest(entries, guids, authz)
    if args.output is None:
        sys.stdout.write(text)
    else:
        fs.write_atomic(args.output, text.encode(), meta.trusted_directory(args.output, repo.root))
        written = len(entries) - len(left_out)
        print(f"{meta.shown(args.output)}: {written} file(s) for indexd", file=sys.stderr)
    for path in left_out:
        print(
            f"lfs-meta: {path}: left out of the manifest: indexd requires an MD5 and none is recorded "
            "(its ETag, if any, is not one); add checksums.md5 to its entry, then export again",
            file=sys.stderr,
        )
    return 1 if left_out else 0


def _derived_authz(settings: config.Config) -> str:
    """/programs/<p>/projects/<q> from a '<p>-<q>' project, as g3t derives it."""
    return gen3.default_authz(gen3.check_project(settings.project, "[fhir] project"))
