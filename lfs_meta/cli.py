"""The `lfs-meta` command line: parsing in one place, one function per command."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from lfs_meta import __version__, index, ls, validate
from lfs_meta.errors import UserError


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lfs-meta",
        description="Track files in cloud buckets in git by their metadata alone.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    validate_parser = commands.add_parser(
        "validate",
        help="check index files against the schema and lfs-meta's rules",
        description="Report every problem in each index file, one per line. "
        "Exit 0 when all are valid, 1 when any is not, 2 on a usage error.",
    )
    validate_parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="index files (default: this repository's)"
    )
    validate_parser.add_argument(
        "--staged", action="store_true", help="validate the index as staged in git (what a commit records)"
    )
    _add_json(validate_parser)
    validate_parser.set_defaults(run=_validate)

    ls_parser = commands.add_parser(
        "ls", help="list tracked entries", description="List every tracked entry: size, path, remote URL."
    )
    _add_index(ls_parser)
    _add_json(ls_parser)
    ls_parser.set_defaults(run=_ls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A path in the index must never crash a report on a terminal that is not UTF-8.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except UserError as exc:
        print(f"lfs-meta: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lfs-meta: interrupted; nothing was changed", file=sys.stderr)
        return 130


def _validate(args: argparse.Namespace) -> int:
    if args.staged and args.files:
        raise UserError("validate takes FILE arguments or --staged, not both")
    return validate.run(args.files or [_default_index()], args.json, staged=args.staged)


def _ls(args: argparse.Namespace) -> int:
    return ls.run(args.index or _default_index(), args.json)


def _default_index() -> Path:
    found = index.find_index(Path.cwd())
    return Path(os.path.relpath(found))


if __name__ == "__main__":
    raise SystemExit(main())
