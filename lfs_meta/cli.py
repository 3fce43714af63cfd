"""The `lfs-meta` command line: argparse and dispatch to lfs_meta.commands, nothing else."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from lfs_meta import __version__, terminal
from lfs_meta.errors import UserError
from lfs_meta.repo import Repo

# Spelled out, not imported: every hook run starts here, so commands import their modules when run.
FHIR_VERSIONS = ("R5", "R4B")
PROFILES = ("default", "gen3")
FHIR_OUTPUT = "META/DocumentReference.ndjson"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the fix is in --help.
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _add_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index",
        type=Path,
        metavar="PATH",
        help="the index file (default: .lfs-meta/metadata.json in this repository)",
    )


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    defaults: Mapping[str, str]  # `module` names the lfs_meta.commands module that runs it


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given `argv`, only the subcommand it names is built: building all of
    them costs every hook run about 10 ms (argparse looks up translations for each parser)."""
    parser = _Parser(
        prog="lfs-meta",
        description="Track files in cloud buckets in git by their metadata alone.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    action = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    wanted = None if argv is None else _named_command(argv)
    for command in COMMANDS:
        if wanted in (None, command.name):
            subparser = action.add_parser(command.name, help=command.help, description=command.description)
            command.arguments(subparser)
            subparser.set_defaults(**command.defaults)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` runs, when it names a known one before any other word; None (build them
    all) after an option that is not --version, such as -h or --, which argparse reads first."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMAND_NAMES else None
        if word != "--version":
            return None
    return None


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="index files (default: this repository's)"
    )
    parser.add_argument(
        "--staged", action="store_true", help="validate the index as staged in git (what a commit records)"
    )
    _add_json(parser)


def _index_and_json(parser: argparse.ArgumentParser) -> None:
    _add_index(parser)
    _add_json(parser)


def _ls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="entries or directories to list (default: all)"
    )
    _add_index(parser)
    _add_json(parser)


def _untrack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="tracked paths or directories")
    _add_index(parser)
    _add_json(parser)


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="entries or directories to check (default: all)"
    )
    parser.add_argument(
        "--update", action="store_true", help="accept the remote's current metadata for drifted entries"
    )
    parser.add_argument(
        "--allow-unreachable", action="store_true", help="exit 0 even when some objects could not be reached"
    )
    parser.add_argument(
        "--pre-push",
        action="store_true",
        help="check the index as pushed: at PRE_COMMIT_TO_REF (else HEAD), read through git",
    )
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="with --pre-push: only entries added or changed since PRE_COMMIT_FROM_REF",
    )
    parser.add_argument("--stats", action="store_true", help="print the requests made per store on stderr")
    parser.add_argument(
        "--jobs", type=_positive, default=16, metavar="N", help="parallel LIST and HEAD requests (default 16)"
    )
    parser.add_argument(
        "--inventory",
        action="append",
        metavar="REPORT",
        help="read the bucket's inventory report (its manifest's URL or a local copy) instead of listing; "
        "once per bucket (needs the extra lfs-meta[inventory])",
    )
    parser.add_argument(
        "--max-age",
        type=_duration,
        metavar="AGE",
        help="with --inventory: refuse a report taken longer ago than AGE (e.g. 36h, 7d)",
    )
    _add_remote_options(parser)
    _add_index(parser)
    _add_json(parser)


def _checksum_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="entries or directories to fill in (default: all)"
    )
    parser.add_argument("--sha256", action="store_true", help="also a SHA-256 for every entry")
    parser.add_argument(
        "--read",
        action="store_true",
        help="read each object still lacking one, once, as a stream (never to disk), and hash it",
    )
    parser.add_argument(
        "--s3-batch-manifest",
        type=Path,
        metavar="FILE",
        help="write the CSV manifest of an S3 Batch Operations Compute checksum job for the S3 objects "
        "lacking an MD5, and nothing else",
    )
    parser.add_argument(
        "--from-report",
        metavar="URL",
        help="record the MD5s of a finished Compute checksum job: the s3:// (or file://) URL of its "
        "completion report's manifest.json",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=4,
        metavar="N",
        help="objects read at once (default 4, each holding at most 4 MiB); metadata requests: 4N at once",
    )
    _add_remote_options(parser)
    _add_index(parser)
    _add_json(parser)


def _pull_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="entries or directories to pull")
    parser.add_argument("--all", action="store_true", help="pull every entry")
    parser.add_argument(
        "--force", action="store_true", help="replace files that were changed locally since they were pulled"
    )
    parser.add_argument(
        "--jobs", type=_positive, default=8, metavar="N", help="parallel downloads (default 8)"
    )
    _add_remote_options(parser)
    _add_index(parser)
    _add_json(parser)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="entries or directories (default: all)")
    parser.add_argument("--remote", action="store_true", help="also check each object in its store")
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=16,
        metavar="N",
        help="with --remote: parallel LIST and HEAD requests",
    )
    _add_remote_options(parser)
    _add_index(parser)
    _add_json(parser)


def _init_meta_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        dest="index",
        type=Path,
        metavar="PATH",
        help="the index (default: .lfs-meta/metadata.json here)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help=f"the DocumentReference file (default: {FHIR_OUTPUT} at the repository root)",
    )
    parser.add_argument(
        "--fhir-version",
        choices=FHIR_VERSIONS,
        help="R5 (default) or R4B; also [fhir] version in .lfs-meta/config",
    )
    parser.add_argument(
        "--project",
        metavar="ID",
        help="namespace of the resource ids; also [fhir] project in .lfs-meta/config",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        help="default, or gen3: META/ as gen3-tracker (g3t) writes it; also [fhir] profile",
    )
    parser.add_argument(
        "--staged",
        action="store_true",
        help="read the index as staged, and also require the files as staged to be current",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when anything is out of date"
    )
    parser.add_argument(
        "--hook", action="store_true", help="exit 1 when anything was rewritten (the lfs-meta-fhir hook)"
    )
    _add_json(parser)


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("gen3",), required=True, help="gen3: the indexing manifest")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    _add_index(parser)


def _merge_driver_arguments(parser: argparse.ArgumentParser) -> None:
    for name, placeholder in (("base", "O"), ("ours", "A"), ("theirs", "B")):
        parser.add_argument(name, type=Path, help=f"the {name} version (git's %%{placeholder})")
    parser.add_argument("path", help="the index's path in the repository (git's %%P)")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _merge_resolve_arguments(parser: argparse.ArgumentParser) -> None:
    side = parser.add_mutually_exclusive_group(required=True)
    side.add_argument("--ours", dest="side", action="store_const", const="ours")
    side.add_argument("--theirs", dest="side", action="store_const", const="theirs")
    parser.add_argument("paths", nargs="+", metavar="PATH")


def _add_remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials",
        metavar="X",
        help="S3 profile or credentials file; GCS service-account JSON; file with an Azure connection string",
    )
    parser.add_argument(
        "--endpoint-url", metavar="URL", help="S3-compatible endpoint (MinIO, Ceph, an emulator)"
    )


def _track_remote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", metavar="URL", help="s3://, gs://, az://, https:// or file:// URL")
    parser.add_argument("--path", help="the repo path for a single URL (default: the object's key)")
    parser.add_argument(
        "--recursive", action="store_true", help="track every object under the URL prefix (LIST)"
    )
    parser.add_argument(
        "--path-prefix",
        default="",
        metavar="DIR",
        help="with --recursive or --from-inventory: repo directory to put them in",
    )
    parser.add_argument(
        "--from-manifest", type=Path, metavar="FILE", help="CSV/TSV with columns url, path, patient, specimen"
    )
    parser.add_argument(
        "--from-inventory",
        metavar="REPORT",
        help="track the objects a bucket's inventory report lists (its manifest's URL or a local copy), "
        "with no listing (needs the extra lfs-meta[inventory])",
    )
    parser.add_argument(
        "--prefix",
        default="",
        metavar="DIR",
        help="with --from-inventory: only the objects below DIR/ (Azure: <container>/...), named from there",
    )
    parser.add_argument(
        "--max-age",
        type=_duration,
        metavar="AGE",
        help="with --from-inventory: refuse a report taken longer ago than AGE (e.g. 36h, 7d)",
    )
    parser.add_argument("--patient", metavar="Patient/ID", help="FHIR Patient reference for the entries")
    parser.add_argument("--specimen", metavar="Specimen/ID", help="FHIR Specimen reference for the entries")
    _add_remote_options(parser)
    parser.add_argument("--hash", action="store_true", help="file:// only: compute sha256 locally")
    parser.add_argument("--force", action="store_true", help="overwrite entries that are already tracked")
    parser.add_argument(
        "--jobs", type=_positive, default=8, metavar="N", help="parallel metadata requests (default 8)"
    )
    _add_index(parser)
    _add_json(parser)


def _reshard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fanout",
        type=_fanout,
        metavar="N",
        help="this many shards (1: the one file .lfs-meta/metadata.json; else a power of two up to 65536); "
        "default: the fewest that keep every file within [index] shard_mb (1-8 MB)",
    )
    parser.add_argument(
        "--keep",
        choices=("single", "sharded"),
        help="after a merge across a reshard: keep this layout's version of an entry both changed",
    )
    _add_json(parser)


COMMANDS = (
    _Command(
        "validate",
        help="check index files against the schema and lfs-meta's rules",
        description="Report every problem in each index file, one per line. "
        "Exit 0 when all are valid, 1 when any is not, 2 on a usage error.",
        arguments=_validate_arguments,
        defaults={"module": "validate"},
    ),
    _Command(
        "ls",
        help="list tracked entries",
        description="List the tracked entries at or under each PATH (default: every entry): size, path, "
        "remote URL. A file path reads only its own shard of a sharded index.",
        arguments=_ls_arguments,
        defaults={"module": "ls"},
    ),
    _Command(
        "track-remote",
        help="record remote objects' metadata in the index (nothing is downloaded)",
        description="Read objects' metadata with the store's metadata API (HEAD, LIST) and record it. "
        "Paths are relative to the repository root.",
        arguments=_track_remote_arguments,
        defaults={"module": "track_remote"},
    ),
    _Command(
        "check",
        help="compare entries with the remote objects now (drift)",
        description="Classify each entry as unchanged, modified, missing, version gone or unreachable. "
        "Exit 0 when all are unchanged, 1 on any drift or unreachable object, 2 on a usage error.",
        arguments=_check_arguments,
        defaults={"module": "check"},
    ),
    _Command(
        "pull",
        help="download tracked objects into the working tree, verified, kept out of commits",
        description="Download each entry's object next to its path, check it against the index (size, "
        "ETag MD5, checksums, version) and rename it into place. A drifted object is refused unless its "
        "pinned version still exists. Pulled paths are listed in .git/info/exclude. Exit 1 if any failed.",
        arguments=_pull_arguments,
        defaults={"module": "pull"},
    ),
    _Command(
        "status",
        help="each entry: not pulled, pulled, modified locally, or outdated; --remote adds drift",
        description="Say for each entry whether its file is here as pulled, changed locally, outdated by "
        "a newer index, or not pulled. With --remote, also compare with the store (as 'check' does) and "
        "exit 1 on drift.",
        arguments=_status_arguments,
        defaults={"module": "status"},
    ),
    _Command(
        "init-meta",
        help="write the index as FHIR DocumentReference NDJSON (plus Patient and Specimen stubs)",
        description="Write one DocumentReference per entry, and Patient.ndjson and Specimen.ndjson next to "
        "it for every referenced id. Files are rewritten only when their bytes change.",
        arguments=_init_meta_arguments,
        defaults={"module": "init_meta"},
    ),
    _Command(
        "export",
        help="write the index as a Gen3 indexing manifest (TSV for the gen3 SDK's indexing)",
        description="Write guid, md5, size, authz, urls and file_name for every entry with a known MD5 "
        "(indexd needs one); guid is the id of the entry's DocumentReference in META/. An entry with no "
        "MD5 is left out and named. Exit 1 when any was left out.",
        arguments=_export_arguments,
        defaults={"module": "export"},
    ),
    _Command(
        "checksum",
        help="fill in the MD5 (and SHA-256) of entries that lack one, without reading unless asked",
        description="For entries with no MD5 (or, with --sha256, no SHA-256): take what each store "
        "already knows (one metadata request per object); with --read, read each object still lacking "
        "one once and hash it; or go through an S3 Batch Operations Compute checksum job. Without "
        "--read, say how many objects and bytes a read would take. Exit 1 when any entry is still "
        "lacking or failed.",
        arguments=_checksum_arguments,
        defaults={"module": "checksum"},
    ),
    _Command(
        "untrack",
        help="remove entries",
        description="Remove entries (a directory removes everything under it).",
        arguments=_untrack_arguments,
        defaults={"module": "untrack"},
    ),
    _Command(
        "install-hooks",
        help="install the plain git hooks into this repository",
        description="Install lfs-meta's pre-commit, pre-merge-commit, pre-push and post-checkout hooks into "
        "this repository's hooks directory (core.hooksPath honoured), and set this clone's merge driver. "
        "A hook already there is kept and runs first.",
        arguments=_add_json,
        defaults={"module": "hooks", "action": "install"},
    ),
    _Command(
        "uninstall-hooks",
        help="remove them, putting back what was there",
        description="Remove the hooks 'install-hooks' wrote and put back the hooks that were there before.",
        arguments=_add_json,
        defaults={"module": "hooks", "action": "uninstall"},
    ),
    _Command(
        "merge-driver",
        help="git's merge driver for the index and META/ (see install-merge-driver)",
        description="Merge the index entry by entry, and META/ resource by resource, against the common "
        "ancestor; exit 1 on a conflict.",
        arguments=_merge_driver_arguments,
        defaults={"module": "merge_driver"},
    ),
    _Command(
        "install-merge-driver",
        help="merge the index and META/ entry by entry in this clone (the hooks set it up too)",
        description="Set this clone's git config for the merge driver that lfs-meta's committed "
        ".gitattributes ask for (merge.lfs-meta.driver), to this lfs-meta.",
        arguments=_no_arguments,
        defaults={"module": "install_merge_driver"},
    ),
    _Command(
        "merge-resolve",
        help="take one side's version of conflicting entries",
        description="During a merge that conflicted in the index, take our or their version of each PATH.",
        arguments=_merge_resolve_arguments,
        defaults={"module": "merge_resolve"},
    ),
    _Command(
        "reshard",
        help="store the index as one file or as shards, whichever keeps files within the size band",
        description="Rewrite the index in the layout that keeps each file within [index] shard_mb (or "
        "with --fanout N shards), and META/ to match. After a merge across a reshard, which leaves both "
        "layouts, merges them entry by entry against the common ancestor. Exit 1 on a conflict.",
        arguments=_reshard_arguments,
        defaults={"module": "reshard"},
    ),
    _Command(
        "doctor",
        help="say what would stop lfs-meta working here, and how to fix it",
        description="Check the index and META/, each store's credentials (one HEAD each), and the hooks "
        "(pre-commit framework or plain, git-lfs chained). Exit 1 when something needs fixing.",
        arguments=_index_and_json,
        defaults={"module": "doctor"},
    ),
)
COMMAND_NAMES = tuple(command.name for command in COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A path in the index must never crash a report on a terminal that is not UTF-8.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else argv
    # Everything printed, argparse's words included, is made safe for a terminal in this one place.
    with terminal.guarded():
        return _run(argv)


def _run(argv: Sequence[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        # Each command's module is imported only when it runs: hooks start often.
        run: Callable[[Repo, argparse.Namespace], int] = importlib.import_module(
            f"lfs_meta.commands.{args.module}"
        ).run
        code = run(Repo.discover(Path.cwd(), args.index if "index" in args else None), args)
        sys.stdout.flush()  # a reader that has gone (`| head`) is found here, not at exit
        return code
    except BrokenPipeError:
        # Stop quietly, as git does; stdout goes nowhere, so the interpreter's last flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away
    except UserError as exc:
        print(f"lfs-meta: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lfs-meta: interrupted; nothing was changed", file=sys.stderr)
        return 130


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not re.fullmatch(r"[0-9]{1,6}", number):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of minutes, hours or days (90m, 36h, 7d), not {text!r}"
        )
    return timedelta(seconds=int(number) * _UNITS[unit])


def _fanout(text: str) -> int:
    value = _positive(text)
    if value != 1 and not (value & (value - 1) == 0 and value <= 1 << 16):
        raise argparse.ArgumentTypeError(f"must be 1 or a power of two up to 65536, not {text!r}")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
