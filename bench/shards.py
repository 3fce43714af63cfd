"""The sharded index against the one file: largest committed file, one-entry commit hooks, full runs.

.venv/bin/python bench/shards.py [N ...] [--computed M] [--no-check] [--keep] [--results FILE]
(default N: 10,000 100,000 1,000,000; default M: 10,000,000; --computed 0 skips it)

For each N, a git repository holds N "listed" entries (bench/init_meta.py's `entry(i, False)`) in
the one file `.lfs-meta/metadata.json` and META/ from `lfs-meta init-meta`, committed; a copy runs
`lfs-meta reshard` (the default fan-out; `--fanout 2` where the default is the one file, so that
there is a sharded layout to compare) and commits that. Measured, every figure a whole process:

1. Each layout as committed (`git ls-tree -l HEAD`): index files and META/ files, how many and the
   largest, and the fan-out reshard chose.
2. A one-entry commit: one entry's size edited in its file (the canonical text, one number changed),
   `git add -A`, then the hooks a commit needs: `validate --staged`, `init-meta --hook --staged`
   (exit 1, META/ regenerated), `git add META`, `init-meta --hook --staged` again (exit 0). "Hook
   seconds" is the sum of the three runs. The first commit in a fresh `git clone` (no note in
   .git/lfs-meta: a full scan) is reported apart; then, in the same clone, 3 commits in turns with
   the other layout, each after `git reset --hard HEAD`, so the notes are warm (the steady state).
   Each commit gives the entry another size, so every run's shard blob is one the notes have not
   seen. Goal: sharded hook seconds at 1M <= 2x those at 10k, and under 1 s.
3. Full runs in turns, single against sharded: `validate`, `init-meta` with META/ and
   .git/lfs-meta/ deleted (from nothing), and `check` against bench/list_server.py (a local S3
   LIST endpoint holding the same N objects). Goal: peak RSS under 600 MB at 1M sharded.
   3 runs (medians) below 200,000 entries, 1 at and above.
4. The layout of M entries computed without git: every entry's canonical bytes (`storage.dumps`,
   10,000 entries at a time) summed by `shards.number_of(path, 65536)`, whose top bits are the shard
   at every smaller fan-out; `shards.fanout_for` of the one-file size gives the fan-out. The same
   computation for each N is shown beside what reshard wrote, as its check.

Peak RSS is measure.run's (wait4), which on Linux is never below the benchmark's own peak when the
command started; so this process does nothing big itself (see `in_child`), and prints its peak.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import list_server
import measure
from init_meta import entry
from memory import write_index

from lfs_meta.index import shards, storage
from lfs_meta.index.entry import Entry

import emulators

LFS_META = measure.BIN / "lfs-meta"
LAYOUTS = ("single", "sharded")
HOOK_SECONDS_TARGET = 1.0
SCALING_TARGET = 2.0  # sharded hook seconds at the largest N over those at the smallest
RSS_TARGET_MB = 600
MB = 1e6
SEP = " / "  # between a command and its layout in the names of measure.alternate's commands
BATCH = 10_000
TOP_KEY = re.compile(rb'\n  "')  # a top-level key of a canonical index: two spaces, a quote
COMMIT = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-q", "--no-verify"]


def path_of(i: int) -> str:
    return f"data/{i:07d}.vcf.gz"


def git(repo: Path, *argv: str) -> bytes:
    return subprocess.run(["git", *argv], cwd=repo, check=True, capture_output=True).stdout


@dataclass(frozen=True)
class Built:
    repo: Path
    fanout: int
    forced: bool  # --fanout 2: the default was the one file
    reshard: measure.Sample | None


def build(scratch: Path, count: int) -> dict[str, Built]:
    """The one-file repository, committed, and its resharded copy, committed."""
    single = scratch / "single"
    git(scratch, "init", "-q", str(single))
    (single / ".lfs-meta").mkdir()
    write_index(single / ".lfs-meta" / "metadata.json", count)
    subprocess.run([LFS_META, "init-meta"], cwd=single, check=True, capture_output=True)
    git(single, "add", "-A")
    git(single, *COMMIT, "-m", "index: one file")
    sharded = scratch / "sharded"
    shutil.copytree(single, sharded, symlinks=True)
    total = (single / storage.INDEX_PATH).stat().st_size
    forced = shards.fanout_for(total) == shards.SINGLE
    sample = measure.run([LFS_META, "reshard", "--json", *(["--fanout", "2"] if forced else [])], sharded)
    fanout = int(json.loads(sample.stdout)["fanout"])
    git(sharded, "add", "-A")
    git(sharded, *COMMIT, "-m", f"index: {fanout} shards")
    return {
        "single": Built(single, shards.SINGLE, False, None),
        "sharded": Built(sharded, fanout, forced, sample),
    }


@dataclass(frozen=True)
class Committed:
    index_files: int
    largest_index: int
    meta_files: int
    largest_meta: int
    total: int


def committed(repo: Path) -> Committed:
    """The index files and META/ files of HEAD, by their blob sizes."""
    index, meta = [], []
    for line in git(repo, "ls-tree", "-r", "-l", "-z", "HEAD").decode().split("\0"):
        if not line:
            continue
        fields, _, name = line.partition("\t")
        size = int(fields.split()[3])
        if name.startswith(".lfs-meta/") and name.endswith(".json"):
            index.append(size)
        elif name.startswith("META/") and name.endswith(".ndjson"):
            meta.append(size)
    return Committed(len(index), max(index), len(meta), max(meta), sum(index) + sum(meta))


def in_child(function: str, *args: object) -> object:
    """`function` of this module run in a child process, its result back through JSON. Linux starts a
    child's peak RSS at its parent's (exec keeps the old memory's high-water mark), so whatever needs
    memory here (a 300 MB index edited, a layout computed) is done in a child, keeping this process
    small and the peak RSS that measure.run reports the command's own."""
    script = (
        "import dataclasses, json, sys; sys.path.insert(0, sys.argv[1]); import shards; "
        "result = getattr(shards, sys.argv[2])(*json.loads(sys.argv[3])); "
        "print(json.dumps(dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result))"
    )
    argv: list[str | Path] = [measure.PYTHON, "-c", script, Path(__file__).parent, function, json.dumps(args)]
    return json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)


def change_one(root: str, fanout: int, number: int, size: int) -> None:
    """Set entry `number`'s size in the file that holds it: one integer in the canonical text."""
    repo, path = Path(root), path_of(number)
    index = (
        repo / storage.INDEX_PATH
        if fanout == shards.SINGLE
        else repo
        / ".lfs-meta"
        / shards.directory_name(fanout)
        / shards.file_name(shards.number_of(path, fanout), fanout)
    )
    raw = index.read_bytes()
    start = raw.index(b"\n  " + json.dumps(path).encode() + b": {\n")
    value = raw.index(b'"size": ', start) + len(b'"size": ')
    end = raw.index(b"\n", value)
    comma = b"," if raw[end - 1 : end] == b"," else b""
    index.write_bytes(raw[:value] + str(size).encode() + comma + raw[end:])


@dataclass(frozen=True)
class Hooks:
    validate: measure.Sample
    first: measure.Sample  # init-meta --hook --staged: regenerates META/, exit 1
    again: measure.Sample  # the same after `git add META`: exit 0

    @property
    def seconds(self) -> float:
        return self.validate.seconds + self.first.seconds + self.again.seconds

    @property
    def rss_mb(self) -> float:
        return max(self.validate.rss_mb, self.first.rss_mb, self.again.rss_mb)


def expect(sample: measure.Sample, text: str, what: str) -> measure.Sample:
    """measure.run accepts exit 0 and 1: the output says which outcome it was."""
    if text.encode() not in sample.stdout:
        raise SystemExit(f"{what}: expected {text!r} in its output, got:\n{sample.stdout.decode()[-2000:]}")
    return sample


def one_entry_commit(repo: Path, fanout: int, number: int, size: int) -> Hooks:
    """From HEAD: one entry changed and staged, then the commit's hooks, timed."""
    git(repo, "reset", "-q", "--hard", "HEAD")
    in_child("change_one", str(repo), fanout, number, size)
    git(repo, "add", "-A")
    validate = expect(
        measure.run([LFS_META, "validate", "--staged"], repo), "file(s) valid", "validate --staged"
    )
    hook: list[str | Path] = [LFS_META, "init-meta", "--hook", "--staged"]
    first = expect(measure.run(hook, repo), "wrote", "init-meta --hook --staged (stale META/)")
    git(repo, "add", "META")
    again = expect(measure.run(hook, repo), "up to date", "init-meta --hook --staged (after git add META)")
    return Hooks(validate, first, again)


def hook_rows(count: int, built: dict[str, Built], scratch: Path) -> tuple[list[list[object]], float]:
    """The first commit in a fresh clone, then `measure.RUNS` warm commits in turns, per layout."""
    number = count // 2
    base = 5_000_000_000 + number
    clones = {name: scratch / f"{name}-clone" for name in LAYOUTS}
    for name, clone in clones.items():
        git(scratch, "clone", "-q", str(built[name].repo), str(clone))
    fresh = {name: one_entry_commit(clones[name], built[name].fanout, number, base + 1) for name in LAYOUTS}
    warm: dict[str, list[Hooks]] = {name: [] for name in LAYOUTS}
    for run in range(measure.RUNS):
        for name in LAYOUTS:
            warm[name].append(one_entry_commit(clones[name], built[name].fanout, number, base + 2 + run))
    rows = []
    sharded_seconds = 0.0
    for name in LAYOUTS:
        taken = warm[name]
        seconds = statistics.median(h.seconds for h in taken)
        if name == "sharded":
            sharded_seconds = seconds
        rows.append(
            [
                f"{count:,}",
                name,
                built[name].fanout,
                f"{statistics.median(h.validate.seconds for h in taken):.2f}",
                f"{statistics.median(h.first.seconds for h in taken):.2f}",
                f"{statistics.median(h.again.seconds for h in taken):.2f}",
                f"**{seconds:.2f}**",
                f"{max(h.rss_mb for h in taken):.0f}",
                f"{fresh[name].seconds:.2f} ({fresh[name].validate.seconds:.2f} + "
                f"{fresh[name].first.seconds:.2f} + {fresh[name].again.seconds:.2f})",
                f"{fresh[name].rss_mb:.0f}",
            ]
        )
    for clone in clones.values():
        shutil.rmtree(clone)
    return rows, sharded_seconds


@contextmanager
def store(count: int) -> Iterator[tuple[dict[str, str], Callable[[], int], int]]:
    """bench/list_server.py holding the N objects: the environment that points boto3 at it, a
    request counter and the server's pid."""
    port = emulators.free_port()
    server = list_server.launch(count, port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = list_server.client_environment(endpoint)

        def requests() -> int:
            with urllib.request.urlopen(f"{endpoint}/__requests") as answer:
                return int(answer.read())

        yield env, requests, server.pid
    finally:
        server.terminate()
        server.wait()


def full_rows(count: int, built: dict[str, Built], with_check: bool) -> list[list[object]]:
    """validate, init-meta from nothing and check, single and sharded in turns."""
    runs = 1 if count >= 200_000 else measure.RUNS

    def from_nothing(repo: Path) -> Callable[[], measure.Sample]:
        def run() -> measure.Sample:
            shutil.rmtree(repo / "META")
            shutil.rmtree(repo / ".git" / "lfs-meta", ignore_errors=True)
            return expect(measure.run([LFS_META, "init-meta"], repo), "wrote", "init-meta")

        return run

    def validate(repo: Path) -> Callable[[], measure.Sample]:
        return lambda: expect(measure.run([LFS_META, "validate"], repo), "file(s) valid", "validate")

    commands: dict[str, Callable[[], measure.Sample]] = {}
    for name in LAYOUTS:
        commands[f"validate{SEP}{name}"] = validate(built[name].repo)
        commands[f"init-meta (no META/, no note){SEP}{name}"] = from_nothing(built[name].repo)
    checks: dict[str, str] = {}
    if with_check:
        with store(count) as (env, requests, pid):
            for name in LAYOUTS:
                commands[f"check{SEP}{name}"] = functools.partial(
                    measure.run, [LFS_META, "check"], built[name].repo, env, requests=requests, server_pid=pid
                )
            medians = measure.alternate(commands, runs=runs)
    else:
        medians = measure.alternate(commands, runs=runs)
    for name in LAYOUTS:
        # META/ written from nothing is what was committed: the sharded parts match reshard's. (Only
        # the NDJSON: with a sharded index init-meta does not write META/.gitattributes back.)
        changed = git(built[name].repo, "status", "--porcelain", "--", "META/*.ndjson", ".lfs-meta")
        if changed:
            raise SystemExit(
                f"{name}: init-meta from nothing differs from what was committed:\n{changed.decode()}"
            )
        if with_check:
            checks[name] = medians[f"check{SEP}{name}"].stdout.decode().strip().splitlines()[-1]
    rows: list[list[object]] = []
    for command in dict.fromkeys(key.partition(SEP)[0] for key in medians):
        single, sharded = medians[f"{command}{SEP}single"], medians[f"{command}{SEP}sharded"]
        rows.append(
            [
                f"{count:,}",
                command,
                f"{single.seconds:.1f}",
                f"{single.rss_mb:,.0f}",
                f"{sharded.seconds:.1f}",
                f"**{sharded.rss_mb:,.0f}**",
                "yes" if sharded.rss_mb < RSS_TARGET_MB else "NO",
                f"{single.requests} / {sharded.requests}" if command == "check" else "",
                "1 run" if runs == 1 else f"median of {runs}",
            ]
        )
    for name, said in checks.items():
        print(f"check ({name}) says: {said}", flush=True)
    return rows


@dataclass(frozen=True)
class Computed:
    count: int
    single_bytes: int
    fanout: int
    shard_files: int
    largest: int
    smallest: int
    seconds: float


def computed_layout(count: int, fanout: int | None = None) -> Computed:
    """The layout reshard gives `count` entries, from their canonical bytes, 10,000 at a time: no
    more entries than that are held. `fanout` overrides the default (shards.fanout_for)."""
    started = time.perf_counter()
    buckets = shards.MAX_FANOUT  # number_of(path, MAX_FANOUT) >> k is the shard at MAX_FANOUT >> k
    block_bytes, block_count = [0] * buckets, [0] * buckets
    for low in range(0, count, BATCH):
        batch = {path_of(i): Entry.from_json(entry(i, False)) for i in range(low, min(low + BATCH, count))}
        text = storage.dumps(batch).encode("utf-8")
        starts = [match.start() for match in TOP_KEY.finditer(text)]
        # "{\n" block (",\n" block)* "\n}\n": each block from after its newline to before the comma.
        sizes = [after - at - 2 for at, after in itertools.pairwise(starts)] + [len(text) - starts[-1] - 4]
        assert len(sizes) == len(batch) and sum(sizes) + 2 * (len(sizes) - 1) + 5 == len(text)
        for path, size in zip(sorted(batch), sizes, strict=True):
            bucket = shards.number_of(path, buckets)
            block_bytes[bucket] += size
            block_count[bucket] += 1
        del batch, text
    single_bytes = sum(block_bytes) + 2 * (count - 1) + 5
    chosen = fanout or shards.fanout_for(single_bytes)
    width = buckets // chosen
    files = []
    for number in range(chosen):
        entries = sum(block_count[number * width : (number + 1) * width])
        if entries:
            files.append(sum(block_bytes[number * width : (number + 1) * width]) + 2 * (entries - 1) + 5)
    # The top bits are the shard: checked against number_of at the chosen fan-out on a sample.
    for i in range(0, count, max(1, count // 1000)):
        path = path_of(i)
        assert shards.number_of(path, chosen) == shards.number_of(path, buckets) // width
    return Computed(
        count, single_bytes, chosen, len(files), max(files), min(files), time.perf_counter() - started
    )


def layout_rows(count: int, built: dict[str, Built]) -> list[list[object]]:
    """What each layout committed, and the computed layout beside the sharded one."""
    rows: list[list[object]] = []
    for name in LAYOUTS:
        held, made = committed(built[name].repo), built[name]
        computed = ""
        if name == "sharded":
            result = in_child("computed_layout", count, made.fanout if made.forced else None)
            assert isinstance(result, dict)
            done = Computed(**result)
            same = done.largest == held.largest_index and done.fanout == made.fanout
            computed = f"{done.fanout}, {done.largest / MB:.2f} MB {'(same)' if same else '(DIFFERS)'}"
        rows.append(
            [
                f"{count:,}",
                name,
                f"{made.fanout}{' (--fanout 2: the default is 1)' if made.forced else ''}",
                held.index_files,
                f"{held.largest_index / MB:.2f}",
                held.meta_files,
                f"{held.largest_meta / MB:.2f}",
                f"{held.total / MB:.0f}",
                f"{made.reshard.seconds:.1f} s, {made.reshard.rss_mb:,.0f} MB" if made.reshard else "",
                computed,
            ]
        )
    return rows


def scaling_goal(seconds: dict[int, float]) -> str:
    small, large = min(seconds), max(seconds)
    ratio = seconds[large] / seconds[small]
    met = ratio <= SCALING_TARGET and seconds[large] < HOOK_SECONDS_TARGET
    return (
        f"Goal: sharded hook seconds at {large:,} entries <= {SCALING_TARGET:g}x those at {small:,} and "
        f"under {HOOK_SECONDS_TARGET:g} s: {seconds[large]:.2f} s against {seconds[small]:.2f} s, "
        f"{ratio:.2f}x: {'met' if met else 'NOT met'}.\n"
    )


def computed_table(done: Computed) -> str:
    return measure.table(
        f"sharded index: the layout of {done.count:,} entries, computed without git (one process)",
        [
            "entries",
            "one file MB",
            "fan-out",
            "shard files",
            "largest shard bytes",
            "smallest shard bytes",
            "largest <= 8 MiB",
            "seconds",
        ],
        [
            [
                f"{done.count:,}",
                f"{done.single_bytes / MB:,.0f}",
                done.fanout,
                done.shard_files,
                f"{done.largest:,}",
                f"{done.smallest:,}",
                "yes" if done.largest <= shards.DEFAULT_BAND[1] else "NO",
                f"{done.seconds:.0f}",
            ]
        ],
    )


@contextmanager
def scratch_directory(keep: bool) -> Iterator[str]:
    if keep:
        yield tempfile.mkdtemp(prefix="lfs-meta-bench-")
    else:
        with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
            yield scratch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--computed", type=int, default=10_000_000, help="entries of the computed layout; 0: none"
    )
    parser.add_argument("--no-check", action="store_true", help="leave out lfs-meta check")
    parser.add_argument("--keep", action="store_true", help="keep the repositories (for profiling)")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    print(f"machine: {measure.machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    layouts: list[list[object]] = []
    hooks: list[list[object]] = []
    full: list[list[object]] = []
    sharded_hook_seconds: dict[int, float] = {}
    for count in args.counts:
        with scratch_directory(args.keep) as scratch:
            print(f"== {count:,} entries: building in {scratch}", flush=True)
            built = build(Path(scratch), count)
            layouts += layout_rows(count, built)
            print(f"== {count:,} entries: one-entry commits", flush=True)
            rows, sharded_hook_seconds[count] = hook_rows(count, built, Path(scratch))
            hooks += rows
            print(f"== {count:,} entries: full runs", flush=True)
            full += full_rows(count, built, not args.no_check)
    texts = []
    if args.counts:
        texts += [
            measure.table(
                "sharded index: the layouts as committed (git ls-tree -l HEAD)",
                [
                    "entries",
                    "layout",
                    "fan-out",
                    "index files",
                    "largest index file MB",
                    "META/ files",
                    "largest META/ file MB",
                    "committed MB",
                    "reshard (whole process)",
                    "computed without git: fan-out, largest shard",
                ],
                layouts,
            ),
            measure.table(
                f"sharded index: a one-entry commit's hooks, seconds, medians of {measure.RUNS} warm runs",
                [
                    "entries",
                    "layout",
                    "fan-out",
                    "validate --staged",
                    "init-meta --hook --staged (exit 1)",
                    "again after git add META (exit 0)",
                    "hook seconds",
                    "peak RSS MB",
                    "first run in a fresh clone (v + i1 + i2)",
                    "its peak RSS MB",
                ],
                hooks,
            ),
            scaling_goal(sharded_hook_seconds),
            measure.table(
                "sharded index: full runs, single against sharded in turns",
                [
                    "entries",
                    "command",
                    "single s",
                    "single peak RSS MB",
                    "sharded s",
                    "sharded peak RSS MB",
                    f"sharded < {RSS_TARGET_MB} MB",
                    "LIST requests (single / sharded)",
                    "runs",
                ],
                full,
            ),
        ]
        print(texts[2], flush=True)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        texts.append(f"This benchmark's own peak RSS, the floor of every peak RSS above: {own:.0f} MB.\n")
        print(texts[-1], flush=True)
    if args.computed:
        print(f"== {args.computed:,} entries: the layout computed", flush=True)
        texts.append(computed_table(computed_layout(args.computed)))
    measure.write_results(args.results, texts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
