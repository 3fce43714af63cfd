"""Pytest plugin that runs local S3, GCS and Azure Blob emulators.

Load it with ``pytest_plugins = ["emulators"]`` (``tests/`` must be on
``sys.path``). Each emulator is a real subprocess listening on a free
127.0.0.1 port, started once per session on first use and stopped by PID
(with its whole process group) when the session ends.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 40

AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
AWS_REGION = "us-east-1"

GCS_PROJECT = "test-project"
GCS_LAUNCHER = Path(__file__).resolve().with_name("gcs_emulator_launcher.py")

AZURITE_MAIN = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
AZURE_ACCOUNT_NAME = "devstoreaccount1"
# The fixed development account every Azurite instance accepts; it is public
# (documented by Microsoft), not a secret.
AZURE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


# Execs argv[2:] after asking Linux to SIGKILL it when pytest (pid argv[1])
# dies: pytest-timeout's thread method (os._exit) or a SIGKILLed pytest skip
# fixture teardown, and the emulator would otherwise keep its port forever.
# A wrapper rather than preexec_fn, which is unsafe in threaded processes.
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


class EmulatorStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunningEmulator:
    name: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


@dataclass(frozen=True)
class S3Emulator:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    env: Mapping[str, str]
    server: RunningEmulator


@dataclass(frozen=True)
class GcsEmulator:
    endpoint_url: str
    project: str
    env: Mapping[str, str]
    server: RunningEmulator


@dataclass(frozen=True)
class AzureEmulator:
    endpoint_url: str
    account_name: str
    account_key: str
    connection_string: str
    env: Mapping[str, str]
    server: RunningEmulator


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"<cannot read {path}: {error}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session=True`` and its group."""
    pgid = process.pid
    _signal_group(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(pgid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    # Children that ignored SIGTERM keep the group (and so its id) alive after
    # the leader is reaped, so this cannot hit an unrelated process.
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _answers_http(url: str) -> bool:
    # An empty ProxyHandler stops urllib from sending 127.0.0.1 to an
    # http_proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answering(
    name: str,
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorStartError(
                f"{name} exited with code {process.returncode} before answering "
                f"on {url}; last lines of {log_path}:\n{log_tail(log_path)}"
            )
        if _answers_http(url):
            return
        time.sleep(0.05)
    raise EmulatorStartError(
        f"{name} did not answer on {url} within {timeout:g}s; last lines of {log_path}:\n{log_tail(log_path)}"
    )


def _dying_with_pytest(argv: Sequence[str]) -> list[str]:
    if sys.platform != "linux":
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]


def start_emulator(
    name: str,
    command: Callable[[int], Sequence[str]],
    *,
    ready_path: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> RunningEmulator:
    """Start ``command(port)`` on a free port and wait until it answers HTTP.

    The port is only reserved until the probe socket closes, so another
    process can take it before the emulator binds; the emulator then exits
    early ("address already in use" in Python's and Node's wording alike)
    and a fresh port is tried.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        log_path = log_dir / f"{name}-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                _dying_with_pytest(command(port)),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=log_dir,
                start_new_session=True,
            )
        try:
            wait_until_answering(name, process, f"http://{HOST}:{port}{ready_path}", log_path, timeout)
        except EmulatorStartError:
            exited_by_itself = process.poll() is not None
            stop_process(process)
            if exited_by_itself and "address already in use" in log_tail(log_path).lower():
                continue
            raise
        except BaseException:
            stop_process(process)
            raise
        return RunningEmulator(name, process, HOST, port, log_path)
    raise EmulatorStartError(
        f"{name} found its port taken {PORT_ATTEMPTS} times; last log {log_path}:\n{log_tail(log_path)}"
    )


def _base_env(drop: Sequence[str] = ()) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in drop}


def start_moto(log_dir: Path, extra_env: Mapping[str, str] | None = None) -> RunningEmulator:
    """Start ``moto_server``; ``extra_env`` reaches the server, e.g.
    ``{"INITIAL_NO_AUTH_ACTION_COUNT": "0"}`` to enforce SigV4 and IAM."""
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.is_file():
        raise EmulatorStartError(
            f"{moto_server} not found; install moto[server] into the venv running pytest"
        )
    env = _base_env(drop=("INITIAL_NO_AUTH_ACTION_COUNT", "MOTO_PORT"))
    env.update(extra_env or {})
    return start_emulator(
        "moto",
        lambda port: [str(moto_server), "-H", HOST, "-p", str(port)],
        ready_path="/moto-api/config",
        log_dir=log_dir,
        env=env,
    )


def start_gcs(log_dir: Path) -> RunningEmulator:
    return start_emulator(
        "gcs",
        lambda port: [sys.executable, str(GCS_LAUNCHER), "--host", HOST, "--port", str(port)],
        ready_path="/",
        log_dir=log_dir,
        env=_base_env(drop=("STORAGE_BASE", "STORAGE_DIR")),
    )


def start_azurite(log_dir: Path) -> RunningEmulator:
    if not AZURITE_MAIN.is_file():
        raise EmulatorStartError(
            f"Azurite is not installed ({AZURITE_MAIN} missing): run `npm ci` in {REPO_ROOT}"
        )
    node = shutil.which("node")
    if node is None:
        raise EmulatorStartError("node is not on PATH; Azurite needs Node.js")
    return start_emulator(
        "azurite",
        lambda port: [
            node,
            str(AZURITE_MAIN),
            "--blobHost",
            HOST,
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        ready_path=f"/{AZURE_ACCOUNT_NAME}?comp=list",
        log_dir=log_dir,
        env=_base_env(drop=("AZURITE_ACCOUNTS",)),
    )


def _set_moto_auth_threshold(server: RunningEmulator, count: str) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        # Moto reads the raw body; a form content type would make Flask
        # consume it and moto then sees an empty string.
        headers={"Content-Type": "text/plain"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10):
        pass


def provision_moto_user(server: RunningEmulator, user_name: str = "lfs-meta-test") -> tuple[str, str]:
    """Create an IAM user allowed everything; return its key id and secret.

    While auth is enforced no IAM call can succeed without an existing key,
    so enforcement is lifted for the three calls and then restored to 0,
    which also resets moto's request counter.
    """
    import boto3

    _set_moto_auth_threshold(server, "inf")
    try:
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=server.base_url,
            region_name=AWS_REGION,
            aws_access_key_id=AWS_ACCESS_KEY_ID,
            aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
        )
        iam.create_user(UserName=user_name)
        iam.put_user_policy(
            UserName=user_name,
            PolicyName="allow-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
    finally:
        _set_moto_auth_threshold(server, "0")
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def describe_s3(
    server: RunningEmulator,
    access_key_id: str = AWS_ACCESS_KEY_ID,
    secret_access_key: str = AWS_SECRET_ACCESS_KEY,
) -> S3Emulator:
    env = {
        "AWS_ENDPOINT_URL": server.base_url,
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
        # Keep a developer's ~/.aws (profiles, per-service endpoints, retry
        # settings) and the EC2 metadata probe out of the tests.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return S3Emulator(
        endpoint_url=server.base_url,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=AWS_REGION,
        env=MappingProxyType(env),
        server=server,
    )


def describe_gcs(server: RunningEmulator, project: str = GCS_PROJECT) -> GcsEmulator:
    env = {
        "STORAGE_EMULATOR_HOST": server.base_url,
        "GOOGLE_CLOUD_PROJECT": project,
    }
    return GcsEmulator(
        endpoint_url=server.base_url,
        project=project,
        env=MappingProxyType(env),
        server=server,
    )


def azure_connection_string(endpoint_url: str, account_key: str = AZURE_ACCOUNT_KEY) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURE_ACCOUNT_NAME};"
        f"AccountKey={account_key};"
        f"BlobEndpoint={endpoint_url};"
    )


def describe_azure(server: RunningEmulator) -> AzureEmulator:
    endpoint_url = f"{server.base_url}/{AZURE_ACCOUNT_NAME}"
    connection_string = azure_connection_string(endpoint_url)
    return AzureEmulator(
        endpoint_url=endpoint_url,
        account_name=AZURE_ACCOUNT_NAME,
        account_key=AZURE_ACCOUNT_KEY,
        connection_string=connection_string,
        env=MappingProxyType({"AZURE_STORAGE_CONNECTION_STRING": connection_string}),
        server=server,
    )


def make_s3_client(
    emulator: S3Emulator,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> Any:
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id=access_key_id or emulator.access_key_id,
        aws_secret_access_key=secret_access_key or emulator.secret_access_key,
    )


def make_gcs_client(emulator: GcsEmulator) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=emulator.project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": emulator.endpoint_url},
    )


def make_azure_service(emulator: AzureEmulator, connection_string: str | None = None) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string or emulator.connection_string)


def unique_name(prefix: str = "lfs") -> str:
    """A fresh name valid as an S3 bucket, GCS bucket and Azure container."""
    return f"{prefix}-{uuid.uuid4().hex}"


def session_pids(leader_pid: int) -> set[int]:
    """PIDs of every live process in the session led by ``leader_pid``."""
    pids: set[int] = set()
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and int(fields[3]) == leader_pid:
            pids.add(int(stat_path.parent.name))
    return pids


def _decode_proc_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp* prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def listening_sockets(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of TCP sockets in LISTEN state owned by ``pids`` (Linux)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    listening: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:
                hex_address, hex_port = local.split(":")
                listening.add((_decode_proc_address(hex_address), int(hex_port, 16)))
    return listening


def _start_or_fail(start: Callable[[], RunningEmulator]) -> RunningEmulator:
    try:
        return start()
    except EmulatorStartError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def emulator_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulators")


@pytest.fixture(scope="session")
def s3_emulator(emulator_log_dir: Path) -> Iterator[S3Emulator]:
    server = _start_or_fail(lambda: start_moto(emulator_log_dir))
    try:
        yield describe_s3(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_auth_emulator(emulator_log_dir: Path) -> Iterator[S3Emulator]:
    """A second moto server that checks SigV4 signatures and IAM policies.

    Its ``env`` carries the keys of an IAM user allowed every action; any
    other key id, or a wrong secret, is rejected with 403.
    """
    server = _start_or_fail(lambda: start_moto(emulator_log_dir, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}))
    try:
        access_key_id, secret_access_key = provision_moto_user(server)
        yield describe_s3(server, access_key_id, secret_access_key)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_emulator(emulator_log_dir: Path) -> Iterator[GcsEmulator]:
    server = _start_or_fail(lambda: start_gcs(emulator_log_dir))
    try:
        yield describe_gcs(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azure_emulator(emulator_log_dir: Path) -> Iterator[AzureEmulator]:
    server = _start_or_fail(lambda: start_azurite(emulator_log_dir))
    try:
        yield describe_azure(server)
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_emulator: S3Emulator) -> Any:
    return make_s3_client(s3_emulator)


@pytest.fixture
def gcs_client(gcs_emulator: GcsEmulator) -> Any:
    return make_gcs_client(gcs_emulator)


@pytest.fixture
def azure_service(azure_emulator: AzureEmulator) -> Any:
    return make_azure_service(azure_emulator)


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    name = unique_name()
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def gcs_bucket(gcs_client: Any) -> str:
    name = unique_name()
    gcs_client.create_bucket(name)
    return name


@pytest.fixture
def azure_container(azure_service: Any) -> str:
    name = unique_name()
    azure_service.create_container(name)
    return name
