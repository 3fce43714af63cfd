from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lfs_meta import mergeconfig
from lfs_meta.cli import main
from lfs_meta.providers import Options, Providers

pytest_plugins = ["emulators"]
V = TypeVar("V")


def pytest_configure(config: pytest.Config) -> None:
    """The developer's own git config (a global core.hooksPath, a merge.lfs-meta.driver of theirs)
    never reaches a test: git reads a global config of the run's own, holding an identity only."""
    directory = Path(tempfile.mkdtemp(prefix="lfs-meta-git-config-"))
    config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    (directory / "config").write_text("[user]\n\tname = lfs-meta tests\n\temail = tests@example.invalid\n")
    os.environ["GIT_CONFIG_GLOBAL"] = str(directory / "config")
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"


ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SEED_INDEX = (
    '{"data/foo.vcf": {"remote_url": "s3://my-bucket/data/foo.vcf", "etag": "abc123etag", '
    '"size": 12345678, "patient": "Patient/1234", "specimen": "Specimen/XYZ"}}'
)


# A downstream repository's .pre-commit-config.yaml, as the README gives it.
PRE_COMMIT_CONFIG = """default_install_hook_types: [pre-commit, pre-merge-commit, pre-push, post-checkout]
repos:
- repo: {repo}
  rev: {rev}
  hooks:
  - id: lfs-meta-validate
  - id: lfs-meta-fhir
  - id: lfs-meta-drift
"""


def edited(start: Mapping[str, V], edits: Mapping[str, V | None]) -> dict[str, V]:
    """`start` with each path of `edits` set to its value, or removed for None."""
    out = dict(start)
    for path, value in edits.items():
        if value is None:
            out.pop(path, None)
        else:
            out[path] = value
    return out


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)


def lfs_meta(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "lfs-meta", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


def with_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    assert subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=False).returncode == 0
    assert git(repo, "remote", "add", "origin", str(remote)).returncode == 0


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A web server on a free 127.0.0.1 port, answering with `handler` in a thread; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def in_processes(target: Callable[..., None], argses: list[tuple[object, ...]]) -> None:
    """`target` in one spawned process per tuple of arguments, all at once; each must exit 0."""
    context = multiprocessing.get_context("spawn")
    started = [context.Process(target=target, args=args) for args in argses]
    for process in started:
        process.start()
    try:
        for process in started:
            process.join(timeout=120)
            assert process.exitcode == 0
    finally:
        for process in started:
            process.kill()


def commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    assert git(repo, "add", "-A").returncode == 0
    done = git(repo, "commit", "-qm", message, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A throwaway git repository with an identity, so commits work anywhere, and lfs-meta's merge
    driver set up as the hooks set it (tests/test_team.py starts from clones without it)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "Test"),
        ("config", "user.email", "test@example.invalid"),
        ("config", "commit.gpgsign", "false"),
        ("config", mergeconfig.KEY, mergeconfig.command()),
    ):
        assert git(repo, *args).returncode == 0
    return repo


@pytest.fixture
def write_index(tmp_path: Path) -> Callable[[str | bytes], Path]:
    def write(content: str | bytes) -> Path:
        path = tmp_path / ".lfs-meta" / "metadata.json"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for running the installed `lfs-meta` as a user would."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    assert shutil.which("lfs-meta", path=env["PATH"]), "lfs-meta is not installed in this venv"
    return env


def use_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Make `env` the credential environment: a developer's own cloud settings must not leak in."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "STORAGE_EMULATOR", "AZURE_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """stderr of a command that must fail with exit 2 and one line, however argparse exits."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(str(exit_.code))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    return err


@dataclass(frozen=True)
class Store:
    """One emulated bucket or container, driven through its own SDK, for scenarios every store runs."""

    scheme: str
    container: str
    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]
    env: dict[str, str]
    provider: str
    host: str = ""  # Azure: the storage account's, which az:// URLs name as fence writes them

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.host}{'/' if self.host else ''}{self.container}/{key}"


@pytest.fixture(params=["s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest) -> Store:
    name = request.param
    if name == "s3":
        client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("s3_bucket")
        return Store(
            "s3",
            bucket,
            lambda k, b: client.put_object(Bucket=bucket, Key=k, Body=b),
            lambda k: client.delete_object(Bucket=bucket, Key=k),
            dict(request.getfixturevalue("s3_emulator").env),
            "s3",
        )
    if name == "gcs":
        client, bucket = request.getfixturevalue("gcs_client"), request.getfixturevalue("gcs_bucket")
        return Store(
            "gs",
            bucket,
            lambda k, b: client.bucket(bucket).blob(k).upload_from_string(b),
            lambda k: client.bucket(bucket).blob(k).delete(),
            dict(request.getfixturevalue("gcs_emulator").env),
            "gcs",
        )
    service, container = request.getfixturevalue("azure_service"), request.getfixturevalue("azure_container")
    return Store(
        "az",
        container,
        lambda k, b: service.get_blob_client(container, k).upload_blob(b, overwrite=True),
        lambda k: service.get_blob_client(container, k).delete_blob(),
        dict(request.getfixturevalue("azure_emulator").env),
        "azure",
        f"{service.account_name}.blob.core.windows.net",
    )


@pytest.fixture
def listings(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The URLs the store's provider is asked to LIST (the real listing runs)."""
    listed: list[str] = []
    provider_class = type(Providers(Options()).for_url(store.url("x")))
    real_list = provider_class.list

    def recorded_list(self: Any, url: str) -> Iterator[tuple[str, Any]]:
        listed.append(url)
        return real_list(self, url)

    monkeypatch.setattr(provider_class, "list", recorded_list)
    yield listed


@dataclass(frozen=True)
class S3Object:
    """One object in the S3 emulator, tracked in `repo` (the working directory) at `path`."""

    repo: Path
    client: Any
    bucket: str
    key: str
    path: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def put(self, body: bytes, **put_args: Any) -> Any:
        """Write the object again (new content, or a new version in a versioned bucket)."""
        return self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, **put_args)


@pytest.fixture
def s3_repo(git_repo: Path, s3_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`git_repo` as the working directory, with the S3 emulator's endpoint and keys in the environment."""
    use_env(monkeypatch, s3_emulator.env)
    monkeypatch.chdir(git_repo)
    return git_repo


@pytest.fixture
def track_s3(
    s3_repo: Path, s3_client: Any, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> Callable[..., S3Object]:
    """Put an object in the S3 emulator and track it with `lfs-meta track-remote` in `s3_repo`
    (at its key, unless `path` is given); the command's output is consumed."""

    def track(
        key: str = "data/a.vcf", body: bytes = b"x", path: str | None = None, **put_args: Any
    ) -> S3Object:
        tracked = S3Object(s3_repo, s3_client, s3_bucket, key, path or key)
        tracked.put(body, **put_args)
        assert main(["track-remote", tracked.url, "--path", tracked.path]) == 0
        capsys.readouterr()
        return tracked

    return track


Completed = subprocess.CompletedProcess[str]


def pre_commit(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> Completed:
    return subprocess.run(
        [BIN / "pre-commit", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout as it is now (uncommitted work included), committed in a repo of its own."""
    snapshot = tmp_path_factory.mktemp("lfs-meta-snapshot")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        if (ROOT / name).is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, snapshot / name)
    for args in (
        ("init", "-q"),
        ("add", "-A"),
        ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "s"),
    ):
        assert git(snapshot, *args).returncode == 0
    return snapshot, git(snapshot, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def hook_env(pre_commit_home: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env.pop("PRE_COMMIT", None)
    yield env
