"""`make demo`: lfs-meta against a local S3 emulator (moto), no cloud account needed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lfs_meta import index  # noqa: E402

import emulators  # noqa: E402

OBJECTS = {
    "data/NA12878.vcf.gz": b"##fileformat=VCFv4.3\n" * 400,
    "data/NA12878.bam": b"BAM\x01" + bytes(range(256)) * 40,
    "clinical/samples.csv": b"sample,patient\nNA12878,1234\n",
}


def show(*args: str, cwd: Path, env: dict[str, str] | None = None) -> int:
    print(f"\n$ {shlex.join(args)}", flush=True)
    return subprocess.run(args, cwd=cwd, env=env, check=False).returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lfs-meta-demo-") as scratch:
        work = Path(scratch)
        server = emulators.start_moto(work)
        try:
            return run(work, emulators.describe_s3(server))
        finally:
            server.stop()


def run(work: Path, s3: emulators.S3Emulator) -> int:
    print(f"S3 emulator (moto) on {s3.endpoint_url}, pid {s3.server.pid}")
    client = emulators.make_s3_client(s3)
    client.create_bucket(Bucket="demo-cohort")
    for key, body in OBJECTS.items():
        client.put_object(Bucket="demo-cohort", Key=key, Body=body, ContentType="application/octet-stream")

    repo = work / "analysis"
    repo.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "Demo"],
        ["config", "user.email", "d@x"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    shutil.copy2(ROOT / "hooks" / "pre-commit", repo / ".git" / "hooks" / "pre-commit")

    env = {**os.environ, **s3.env}
    print(f"\nTracking {len(OBJECTS)} objects in s3://demo-cohort without downloading them:")
    failures = show(
        *("lfs-meta", "track-remote", "s3://demo-cohort/data/", "--recursive", "--path-prefix", "data"),
        *("--patient", "Patient/1234", "--specimen", "Specimen/NA12878"),
        cwd=repo,
        env=env,
    )
    failures += show(
        *(
            "lfs-meta",
            "track-remote",
            "s3://demo-cohort/clinical/samples.csv",
            "--path",
            "clinical/samples.csv",
        ),
        cwd=repo,
        env=env,
    )
    failures += show("lfs-meta", "validate", cwd=repo)
    failures += show("lfs-meta", "ls", cwd=repo)
    failures += show("git", "add", ".lfs-meta", cwd=repo)
    failures += show("git", "commit", "-qm", "Track the cohort's files", cwd=repo)

    signed = client.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-cohort", "Key": "data/NA12878.bam"}
    )
    text = (repo / index.INDEX_PATH).read_text().replace('"s3://demo-cohort/data/NA12878.bam"', f'"{signed}"')
    (repo / index.INDEX_PATH).write_text(text)
    print("\nNow someone pastes a presigned URL into the index; the commit hook refuses it:")
    refused = show("git", "commit", "-qam", "Use a download link", cwd=repo) != 0
    show("git", "log", "--oneline", cwd=repo)
    print("\nThe signature is masked (****) in the report; the commit did not happen.")
    return 0 if refused and not failures else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
