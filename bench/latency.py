"""`lfs-meta check` behind a network's latency: wall time by `--jobs`, to choose the default from.

.venv/bin/python bench/latency.py [N ...] [--jobs 1 4 16 64] [--latency-ms 20 50] [--seed S] [--results FILE]
(default N: 100,000 and 1,000,000 entries)

bench/list_server.py holds the N objects (as for memory.py: 100 directories, `run7/batch000/` to
`run7/batch099/`, so `check` lists them apart, in its pool of --jobs threads); between it and `check`
sits a proxy (the relay) run by this script in its own process, which holds every request for a delay drawn
uniformly from --latency-ms (seeded) before forwarding it, one thread per client connection, keeping
client connections alive. Per run: wall seconds, peak RSS and CPU seconds of `check`, the requests and
connections the relay saw, the most requests it held at once, the CPU seconds of the relay and of
list_server, and the waiting floor (the delays a perfect scheduler of the LIST pages over --jobs
threads cannot avoid, at the mean delay). Every run must find all N entries unchanged, or it is a
failed measurement and marked so. One run each at 200,000 entries and above; 3 in turns, medians, below.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import list_server
import measure
from list_server import PAGE
from memory import write_index

import emulators

HOST = "127.0.0.1"
DIRECTORIES = 100  # list_server.key(i) puts object i under run7/batch<i % 100>/
STATS = "/__relay"  # asked by this script, not forwarded and not counted
# Hop-by-hop headers (RFC 9110 7.6.1) and the length, which the relay sets itself.
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class Relay:
    """What the relay's threads share: the seeded delays and the counts."""

    def __init__(self, backend: tuple[str, int], low_ms: float, high_ms: float, seed: int) -> None:
        self.backend = backend
        self.low, self.high = low_ms / 1000, high_ms / 1000
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = self.connections = self.in_flight = self.peak = 0

    def delay(self) -> float:
        with self.lock:
            return self.random.uniform(self.low, self.high)

    def started(self, new_connection: bool) -> None:
        with self.lock:
            self.requests += 1
            self.connections += new_connection
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def ended(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def stats(self, reset: bool) -> dict[str, int]:
        """The counts so far; with `reset`, the peak of requests held at once starts again from now."""
        with self.lock:
            counts = {"requests": self.requests, "connections": self.connections, "peak": self.peak}
            if reset:
                self.peak = self.in_flight
            return counts


class RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep client connections alive
    relay: Relay
    upstream: http.client.HTTPConnection
    forwarded: bool

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.forwarded = False  # connections that only ask for the counts are not counted
        # One connection to the backend per client connection; http.client opens it again when the
        # backend closes it (list_server answers in HTTP/1.0, one request per connection).
        self.upstream = http.client.HTTPConnection(*self.relay.backend, timeout=60)

    def finish(self) -> None:
        self.upstream.close()
        super().finish()

    def do_GET(self) -> None:
        if self.path.partition("?")[0] == STATS:
            counts = self.relay.stats(reset=self.path.endswith("?reset"))
            self._answer(200, [("Content-Type", "application/json")], json.dumps(counts).encode())
        else:
            self._forward()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP}
        self.relay.started(new_connection=not self.forwarded)
        self.forwarded = True
        try:
            time.sleep(self.relay.delay())
            try:
                self.upstream.request(self.command, self.path, body, headers)
                response = self.upstream.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.upstream.close()
                self._answer(502, [("Content-Type", "text/plain")], f"relay: {exc!r}".encode())
                return
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in HOP | {"content-length", "date", "server"}
            ]
            self._answer(response.status, kept, b"" if self.command == "HEAD" else data, len(data))
        finally:
            self.relay.ended()

    def _answer(
        self, status: int, headers: Sequence[tuple[str, str]], data: bytes, length: int | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        self.wfile.write(data)


class RelayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 threads connecting at once must not overflow the listen backlog


def serve_relay(backend_port: int, low_ms: float, high_ms: float, seed: int) -> int:
    """The relay's own process: prints `ready PORT` and serves until terminated."""
    RelayHandler.relay = Relay((HOST, backend_port), low_ms, high_ms, seed)
    server = RelayServer((HOST, 0), RelayHandler)
    print(f"ready {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


@dataclass(frozen=True)
class Run:
    sample: measure.Sample
    relay_cpu: float
    connections: int
    peak: int
    verdict: str  # "yes" when every entry was found unchanged


def relay_stats(endpoint: str, reset: bool = False) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + STATS + ("?reset" if reset else "")) as answer:
        counts: dict[str, int] = json.load(answer)
        return counts


def verdict(sample: measure.Sample, count: int) -> str:
    """ "yes" when `check --json` found all `count` entries unchanged; what it found otherwise."""
    try:
        summary = json.loads(sample.stdout)["summary"]
    except (ValueError, KeyError) as exc:
        return f"NO: unreadable output ({exc})"
    others = {status: n for status, n in summary.items() if status != "unchanged" and n}
    if summary.get("unchanged") == count and not others:
        return "yes"
    return f"NO: {summary}"


@dataclass(frozen=True)
class Stack:
    """A repository of `count` entries, and the relay (at `endpoint`) and list_server behind it."""

    count: int
    repo: Path
    env: dict[str, str]
    endpoint: str
    relay_pid: int
    server_pid: int


def check_once(stack: Stack, jobs: int) -> Run:
    count, endpoint, relay_pid = stack.count, stack.endpoint, stack.relay_pid
    before = relay_stats(endpoint, reset=True)
    relay_before = measure.cpu_seconds(relay_pid)
    sample = measure.run(
        [measure.BIN / "lfs-meta", "check", "--json", "--jobs", str(jobs)],
        stack.repo,
        stack.env,
        requests=lambda: relay_stats(endpoint)["requests"],
        server_pid=stack.server_pid,
    )
    after = relay_stats(endpoint)
    relay_cpu = measure.cpu_seconds(relay_pid) - relay_before
    # The relay's own counts leave out these questions about them.
    run = Run(
        sample, relay_cpu, after["connections"] - before["connections"], after["peak"], verdict(sample, count)
    )
    print(
        f"  {count:,} entries, --jobs {jobs}: {sample.seconds:.1f} s, {sample.requests} requests, "
        f"{run.peak} at once, all unchanged: {run.verdict}, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return run


def median(runs: Sequence[Run]) -> Run:
    failed = [run.verdict for run in runs if run.verdict != "yes"]
    return Run(
        measure.median([run.sample for run in runs]),
        statistics.median(run.relay_cpu for run in runs),
        int(statistics.median(run.connections for run in runs)),
        int(statistics.median(run.peak for run in runs)),
        failed[0] if failed else "yes",
    )


def waiting_floor(count: int, jobs: int, mean_delay: float) -> float:
    """Seconds of delay the LIST plan cannot avoid over `jobs` threads: one GetBucketVersioning first (the
    listings wait on it), then each directory's pages one after another, the directories handed to
    whichever thread is free, in order (as lfs_meta.workers does)."""
    sizes = [count // DIRECTORIES + (d < count % DIRECTORIES) for d in range(min(count, DIRECTORIES))]
    if sum(math.ceil(size / PAGE) for size in sizes) > math.ceil(count / PAGE):
        sizes = [count]  # apart would cost more pages: lfs_meta.drift.scan.plan lists the one prefix
    free_at = [0.0] * min(jobs, len(sizes))
    for size in sizes:
        heapq.heappush(free_at, heapq.heappop(free_at) + math.ceil(size / PAGE) * mean_delay)
    return mean_delay + max(free_at)


def measure_count(
    count: int, jobs: Sequence[int], latency_ms: tuple[float, float], seed: int, scratch: Path
) -> list[list[object]]:
    low_ms, high_ms = latency_ms
    runs = 1 if count >= 200_000 else measure.RUNS
    repo = scratch / f"repo-{count}"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".lfs-meta").mkdir()
    write_index(repo / ".lfs-meta" / "metadata.json", count)
    port = emulators.free_port()
    server = list_server.launch(count, port)
    relay_argv = [__file__, "--relay-for", str(port), "--latency-ms", str(low_ms), str(high_ms)]
    relay = subprocess.Popen([sys.executable, *relay_argv, "--seed", str(seed)], stdout=subprocess.PIPE)
    try:
        assert relay.stdout is not None
        endpoint = f"http://{HOST}:{int(relay.stdout.readline().split()[1])}"
        env = list_server.client_environment(endpoint)
        stack = Stack(count, repo, env, endpoint, relay.pid, server.pid)
        taken: dict[int, list[Run]] = {j: [] for j in jobs}
        for _ in range(runs):  # in turns, so drift in the shared machine hits every --jobs value
            for j in jobs:
                taken[j].append(check_once(stack, j))
    finally:
        for process in (relay, server):
            process.terminate()
            process.wait()
    results = {j: median(taken[j]) for j in jobs}
    best = min(run.sample.seconds for run in results.values())
    mean_delay = (low_ms + high_ms) / 2000
    return [
        [
            f"{count:,}",
            j,
            runs,
            f"{run.sample.seconds:.1f}",
            f"{run.sample.seconds / best:.2f}x",
            f"{run.sample.cpu:.1f}",
            f"{run.sample.rss_mb:,.0f}",
            run.sample.requests,
            run.connections,
            run.peak,
            f"{run.sample.server_cpu:.1f}",
            f"{run.relay_cpu:.1f}",
            f"{waiting_floor(count, j, mean_delay):.1f}",
            run.verdict,
        ]
        for j, run in results.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--latency-ms", nargs=2, type=float, default=[20.0, 50.0], metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--relay-for", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    low, high = args.latency_ms
    if args.relay_for is not None:
        return serve_relay(args.relay_for, low, high, args.seed)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        for count in args.counts:
            rows += measure_count(count, args.jobs, (low, high), args.seed, Path(scratch))
    text = measure.table(
        f"check behind a {low:g}-{high:g} ms latency proxy: --jobs, whole process",
        [
            "entries",
            "--jobs",
            "runs",
            "wall s",
            "/ best",
            "own CPU s",
            "peak RSS MB",
            "requests",
            "connections",
            "most at once",
            "list_server CPU s",
            "proxy CPU s",
            "waiting floor s",
            "all unchanged",
        ],
        rows,
    )
    note = (
        f"Machine: {measure.machine()}; load average {load:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end. Delays seeded ({args.seed}). "
        f"Whole run: {time.perf_counter() - started:.0f} s.\n"
    )
    print(note)
    measure.write_results(args.results, [text, note])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
