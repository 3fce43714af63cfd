"""What every benchmark needs: whole-process time and peak RSS, requests seen by the emulator, medians."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
PEERS = ROOT / ".venv-bench" / "bin"  # check-jsonschema and DVC, kept apart from lfs-meta's own dependencies
RUNS = 3
sys.path.insert(0, str(ROOT / "tests"))


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    stdout: bytes
    requests: int = 0
    cpu: float = 0.0  # the command's own user + system seconds
    server_cpu: float = 0.0  # the emulator's, over the same run: a server saturating a core is the limit


def run(
    argv: Sequence[str | Path],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    *,
    requests: Callable[[], int] | None = None,
    server_pid: int | None = None,
) -> Sample:
    """Run one command to completion: wall time, and its own peak RSS and CPU time from wait4."""
    before = requests() if requests else 0
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        if process.stdin is not None:
            process.stdin.write(stdin or b"")
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode not in (0, 1):
        command = " ".join(map(str, argv))
        raise SystemExit(f"{command} failed ({process.returncode}):\n{stderr.decode()[-2000:]}")
    made = requests() - before if requests else 0
    server = cpu_seconds(server_pid) - server_before if server_pid else 0.0
    return Sample(seconds, usage.ru_maxrss / 1024, stdout, made, usage.ru_utime + usage.ru_stime, server)


def cpu_seconds(pid: int) -> float:
    """User + system time a running process has used so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command(
    argv: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None
) -> Callable[[], Sample]:
    """`run` of these arguments, to call later (for `alternate`)."""
    return lambda: run(argv, cwd, env)


def median(samples: Sequence[Sample]) -> Sample:
    return Sample(
        statistics.median(s.seconds for s in samples),
        statistics.median(s.rss_mb for s in samples),
        samples[-1].stdout,
        int(statistics.median(s.requests for s in samples)),
        statistics.median(s.cpu for s in samples),
        statistics.median(s.server_cpu for s in samples),
    )


def alternate(commands: Mapping[str, Callable[[], Sample]], runs: int = RUNS) -> dict[str, Sample]:
    """Each command `runs` times, in turns (a, b, c, a, b, c, ...), so drift in the machine hits all."""
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(command())
    return {name: median(taken) for name, taken in samples.items()}


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, printed and returned (for bench/RESULTS.md)."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def write_results(path: Path | None, texts: Sequence[str]) -> None:
    """Append tables to the --results file (run_all.py assembles bench/RESULTS.md from it)."""
    if path is not None:
        with path.open("a", encoding="utf-8") as results:
            results.write("\n".join(texts) + "\n")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
