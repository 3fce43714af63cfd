"""`lfs-meta export --format gen3`: the Gen3 indexing manifest, joined to META/ by the guid."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from lfs_meta import config, fs
from lfs_meta.errors import UserError
from lfs_meta.fhir import gen3, meta
from lfs_meta.repo import Repo


def run(repo: Repo, args: argparse.Namespace) -> int:
    settings = meta.settings_of(repo, meta.Request())
    authz = settings.authz or (settings.project and _derived_authz(settings))
    if not authz:
        raise UserError(
            f"{repo.root / config.PATH}: no [gen3] authz; add '[gen3]' then "
            "'authz = /programs/<program>/projects/<project>' (the files' Gen3 authorization path)"
        )
    if not repo.index.exists():  # anything else there, the layout names
        raise UserError(
            f"{repo.index.shown}: no such file; track something first ('lfs-meta track-remote URL')"
        )
    if args.output is not None:
        _check_output(repo, args.output)
    entries = repo.index.load()
    guids = {path: meta.document_id(settings, path) for path in entries}
    text, left_out = gen3.manifest(entries, guids, authz)
    if args.output is None:
        sys.stdout.write(text)
    else:
        fs.write_atomic(args.output, text.encode(), meta.trusted_directory(args.output, repo.root))
        written = len(entries) - len(left_out)
        print(f"{meta.shown(args.output)}: {written} file(s) for indexd", file=sys.stderr)
    for path, why in left_out.items():
        fix = {
            gen3.NO_MD5: f"run 'lfs-meta checksum {shlex.quote(path)}' (add --read to read it once)",
            gen3.LOCAL: "put the file in a bucket the commons reads and track that URL",
            gen3.NO_ACCOUNT: f"run 'lfs-meta check --update {shlex.quote(path)}' to record it",
            gen3.UNCARRIED: "copy the object to a key without them and track that URL",
        }[why]
        print(f"lfs-meta: {path}: left out of the manifest: {why}; {fix}", file=sys.stderr)
    return 1 if left_out else 0


def _check_output(repo: Repo, output: Path) -> None:
    """Never over lfs-meta's own files; and a .tsv name, since the gen3 SDK reads any other as CSV."""
    own = [repo.index_path, *meta.owned(repo.root / meta.DEFAULT_OUTPUT)]
    if any(fs.lexical(output) == fs.lexical(path) for path in own) or fs.inside(
        output, repo.root / ".lfs-meta"
    ):
        raise UserError(f"-o {output}: that is one of lfs-meta's own files; write the manifest elsewhere")
    if output.suffix != ".tsv":
        raise UserError(
            f"-o {output}: name it .tsv: the gen3 SDK reads a manifest with any other name as CSV"
        )


def _derived_authz(settings: config.Config) -> str:
    """/programs/<p>/projects/<q> from a '<p>-<q>' project, as g3t derives it."""
    try:
        return gen3.default_authz(gen3.check_project(settings.project, "[fhir] project"))
    except UserError:
        raise UserError(
            f"[fhir] project {settings.project!r} is not <program>-<project>, so no authz follows from it; "
            "add '[gen3]' then 'authz = /programs/<program>/projects/<project>' to .lfs-meta/config"
        ) from None
