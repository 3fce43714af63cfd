"""Track every object under one S3 prefix in a local moto server, then check them all for drift;
print requests and time of each.

.venv/bin/python bench/track_prefix.py [N]   (default 10,000 objects)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import emulators  # noqa: E402


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="lfs-meta-bench-") as scratch:
        work = Path(scratch)
        server = emulators.start_moto(work)
        try:
            s3 = emulators.describe_s3(server)
            client = emulators.make_s3_client(s3)
            client.create_bucket(Bucket="bench")
            keys = [f"cohort/batch{i % 50}/sample{i}.vcf.gz" for i in range(count)]
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(lambda key: client.put_object(Bucket="bench", Key=key, Body=key.encode()), keys)
                )
            repo = work / "repo"
            repo.mkdir()
            subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
            env = {**os.environ, **s3.env}
            lfs_meta = str(Path(sys.executable).parent / "lfs-meta")
            for command in (
                ["track-remote", "s3://bench/cohort/", "--recursive", "--path-prefix", "data"],
                ["check"],
            ):
                started = time.perf_counter()
                done = subprocess.run(
                    [lfs_meta, *command, "--json"],
                    cwd=repo,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds = time.perf_counter() - started
                requests = json.loads(done.stdout)["requests"]
                print(f"{command[0]:<12} objects {count:,}  requests {requests}  {seconds:.2f} s")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
