from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lfs_meta import __version__
from lfs_meta.cli import main

from conftest import SEED_INDEX, git, usage_error

BIG = 2**60 + 7


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["lfs-meta", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"lfs-meta {__version__}\n"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "validate" in out and "ls" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["ls", "--bogus"], "unrecognized arguments: --bogus"),
        (["validate", "--staged", "x.json"], "FILE arguments or --staged, not both"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(argv, capsys)
    assert words in err and err.startswith("lfs-meta")


def test_ls_human_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "metadata.json"
    data = json.loads(SEED_INDEX)
    data["big/b.cram"] = {"remote_url": "gs://bkt/b.cram", "size": BIG}
    path.write_text(json.dumps(data))
    assert main(["ls", "--index", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{BIG:,}  big/b.cram  gs://bkt/b.cram",
        f"{12345678:>{len(f'{BIG:,}')},}  data/foo.vcf  s3://my-bucket/data/foo.vcf",
    ]
    assert main(["ls", "--json", "--index", str(path)]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [item["path"] for item in listing] == ["big/b.cram", "data/foo.vcf"]
    assert listing[0]["size"] == BIG
    assert listing[1] == {"path": "data/foo.vcf", **data["data/foo.vcf"]}


def test_ls_of_an_invalid_index_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "metadata.json"
    path.write_text('{"a": {"remote_url": "s3://bkt/a", "size": -5}}')
    assert main(["ls", "--index", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "/a/size: must be at least 0" in err and "lfs-meta validate" in err


def test_ls_with_no_index_yet_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--json", "--index", str(tmp_path / "none.json")]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_commands_find_the_index_from_a_subdirectory(git_repo: Path, cli_env: dict[str, str]) -> None:
    (git_repo / ".lfs-meta").mkdir()
    (git_repo / ".lfs-meta" / "metadata.json").write_text('{"a": {"remote_url": "s3://bkt/a"}}')
    sub = git_repo / "data" / "deep"
    sub.mkdir(parents=True)
    done = run(["validate"], sub, cli_env)
    assert done.returncode == 1
    assert done.stdout.startswith("../../.lfs-meta/metadata.json: /a: missing required field size")
    done = run(["validate"], git_repo, cli_env)
    assert done.stdout.startswith(".lfs-meta/metadata.json: /a:")


def test_validate_without_an_index_says_where_it_looked(git_repo: Path, cli_env: dict[str, str]) -> None:
    done = run(["validate"], git_repo, cli_env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "lfs-meta: error: .lfs-meta/metadata.json: no such file; "
        "pass the index path (default .lfs-meta/metadata.json)\n"
    )


def test_validate_staged_reads_what_git_will_commit(git_repo: Path, cli_env: dict[str, str]) -> None:
    index_file = git_repo / ".lfs-meta" / "metadata.json"
    index_file.parent.mkdir()
    index_file.write_text(SEED_INDEX)
    assert git(git_repo, "add", ".lfs-meta/metadata.json").returncode == 0
    index_file.write_text("{broken")
    done = run(["validate", "--staged"], git_repo, cli_env)
    assert (done.returncode, done.stdout) == (0, "1 file(s) valid\n")
    assert git(git_repo, "add", ".lfs-meta/metadata.json").returncode == 0
    done = run(["validate", "--staged"], git_repo, cli_env)
    assert done.returncode == 1
    assert done.stdout.startswith(".lfs-meta/metadata.json (staged):1:2: invalid JSON")


def test_validate_staged_outside_git(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done = run(["validate", "--staged"], tmp_path, cli_env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no staged .lfs-meta/metadata.json" in done.stderr


CLOUD_SDKS = ("boto3", "botocore", "google.cloud", "google.auth", "azure", "git", "pyarrow")


def test_validate_and_ls_import_no_cloud_sdk(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(SEED_INDEX)
    probe = (
        "import sys\n"
        "from lfs_meta.cli import main\n"
        f"codes = [main(['validate', {str(path)!r}]), main(['ls', '--index', {str(path)!r}])]\n"
        f"sdks = {CLOUD_SDKS!r}\n"
        "loaded = sorted(m for m in sys.modules for s in sdks if m == s or m.startswith(s + '.'))\n"
        "print(codes, loaded, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[0, 0] []"


def test_the_parser_spells_out_what_it_does_not_import() -> None:
    from lfs_meta import cli, config
    from lfs_meta.fhir import meta

    assert cli.FHIR_VERSIONS == config.FHIR_VERSIONS
    assert meta.DEFAULT_OUTPUT.as_posix() == cli.FHIR_OUTPUT


def test_validate_loads_only_what_it_runs(tmp_path: Path) -> None:
    """Hooks start often: the validate command imports no other command's module, and no domain."""
    path = tmp_path / "metadata.json"
    path.write_text(SEED_INDEX)
    unneeded = (
        "('lfs_meta.drift', 'lfs_meta.worktree', 'lfs_meta.fhir', 'lfs_meta.providers', 'lfs_meta.tracking')"
    )
    probe = (
        "import sys\n"
        "from lfs_meta.cli import main\n"
        f"code = main(['validate', {str(path)!r}])\n"
        "commands = [m for m in sys.modules if m.startswith('lfs_meta.commands.')]\n"
        f"domain = [m for m in sys.modules if m.startswith({unneeded})]\n"
        "print(code, sorted(commands), sorted(domain), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "0 ['lfs_meta.commands.validate'] []"


def test_module_entry_point(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lfs_meta", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"lfs-meta {__version__}\n")


def test_only_the_subcommand_run_is_built_and_every_name_is_known() -> None:
    from lfs_meta import cli

    def built(argv: list[str] | None) -> list[str]:
        action = next(a for a in cli.build_parser(argv)._actions if isinstance(a, argparse._SubParsersAction))
        return list(action.choices)

    assert sorted(built([])) == sorted(cli.COMMAND_NAMES)
    assert sorted(built(["no-such-command"])) == sorted(cli.COMMAND_NAMES)
    assert sorted(built(["-h", "check"])) == sorted(cli.COMMAND_NAMES)  # argparse shows the top help
    assert sorted(built(None)) == sorted(cli.COMMAND_NAMES)
    for name in cli.COMMAND_NAMES:
        assert built(["--version", name, "x"]) == [name]


def test_a_reader_that_goes_away_stops_the_listing_quietly(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`lfs-meta ls | head -1`: no traceback, and the status a shell gives a writer it cut off."""
    entries = {f"data/{i:05}.vcf": {"remote_url": f"s3://bkt/{i:05}.vcf", "size": i} for i in range(5000)}
    (tmp_path / ".lfs-meta").mkdir()
    (tmp_path / ".lfs-meta" / "metadata.json").write_text(json.dumps(entries))
    listing = subprocess.Popen(
        ["lfs-meta", "ls"], cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert listing.stdout is not None and listing.stderr is not None
    assert listing.stdout.readline().endswith(b"data/00000.vcf  s3://bkt/00000.vcf\n")
    listing.stdout.close()
    assert listing.wait(timeout=60) == 141
    assert listing.stderr.read() == b""
