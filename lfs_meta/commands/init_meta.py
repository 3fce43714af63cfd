"""`lfs-meta init-meta`: write the index as FHIR NDJSON under META/ (the lfs-meta-fhir hook runs it)."""

from __future__ import annotations

import argparse
import json
import os

from lfs_meta import mergeconfig
from lfs_meta.errors import UserError
from lfs_meta.fhir import meta
from lfs_meta.index import storage
from lfs_meta.repo import Repo

# pre-commit sets it for post-checkout hooks, where regenerating is the whole job, not a finding.
CHECKOUT_VARIABLE = "PRE_COMMIT_CHECKOUT_TYPE"


def run(repo: Repo, args: argparse.Namespace) -> int:
    if args.index and not args.staged and not args.index.is_file():
        raise UserError(f"--input {args.index}: no such file; pass the index (default {storage.INDEX_PATH})")
    after_checkout = CHECKOUT_VARIABLE in os.environ  # no commit is being made: nothing to stage
    request = meta.Request(
        output=args.output,
        version=args.fhir_version,
        project=args.project,
        profile=args.profile,
        staged=args.staged,
        compare_staged=args.staged and not after_checkout,
        check_only=args.check,
        update_rules=not after_checkout,
    )
    outcome = meta.refresh(repo, request)
    if outcome is None:
        name = meta.index_name(repo, request)
        print(json.dumps({"files": {}}) if args.json else f"no index at {name}; nothing to write")
        return 0
    _report(outcome, args.json)
    if not args.check:  # META/ is written, so merged: the lfs-meta-fhir hook runs at every commit
        mergeconfig.note(repo.root)
    if args.check or (args.hook and not after_checkout):
        return 1 if outcome.changed else 0
    return 0


def _report(outcome: meta.Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.to_json(), indent=2))
        return
    for path in outcome.rewrite:
        resources = outcome.files[path]
        if outcome.check_only:
            print(f"{meta.shown(path)}: out of date; run 'lfs-meta init-meta' to regenerate it")
        elif resources is None:
            print(f"{meta.shown(path)}: removed, nothing refers to a {path.stem} any more")
        else:
            print(f"{meta.shown(path)}: wrote {resources} resource(s)")
    if outcome.rules_updated:
        rules, where = meta.shown(outcome.rules_updated), meta.shown(outcome.rules_updated.parent)
        print(f"{rules}: now asks for lfs-meta's merge driver; run 'git add {where}'")
    if outcome.unstaged:
        names = ", ".join(meta.shown(path) for path in outcome.unstaged)
        where = meta.shown(outcome.unstaged[0].parent)
        print(f"{names}: staged content is not what the index gives; run 'git add {where}' and commit again")
    if not outcome.changed:
        print(f"{meta.shown(next(iter(outcome.files)).parent)}/ is up to date")
