"""`make demo`: lfs-meta against a local S3 emulator (moto), no cloud account needed."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lfs_meta.index import storage  # noqa: E402

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
    repo = _repository(work)
    env = {**os.environ, **s3.env}
    run = functools.partial(show, cwd=repo, env=env)

    print(f"\nTracking {len(OBJECTS)} objects in s3://demo-cohort without downloading them:")
    failures = run(
        *("lfs-meta", "track-remote", "s3://demo-cohort/data/", "--recursive", "--path-prefix", "data"),
        *("--patient", "Patient/1234", "--specimen", "Specimen/NA12878"),
    )
    failures += run(
        "lfs-meta", "track-remote", "s3://demo-cohort/clinical/samples.csv", "--path", "clinical/samples.csv"
    )
    failures += run("lfs-meta", "validate")
    failures += run("lfs-meta", "ls")

    print("\nThe same entries as FHIR DocumentReferences, with Patient and Specimen stubs, in META/:")
    failures += run("lfs-meta", "init-meta")
    failures += _validate_fhir(repo / "META")
    failures += run("git", "add", ".lfs-meta", "META")
    failures += run("git", "commit", "-qm", "Track the cohort's files")
    failures += run("git", "push", "-q", "origin", "main")

    print("\nSomeone overwrites a tracked object in the bucket; the next push is refused:")
    client.put_object(Bucket="demo-cohort", Key="data/NA12878.bam", Body=b"re-aligned" * 100)
    (repo / "NOTES.md").write_text("QC done\n")
    failures += run("git", "add", "NOTES.md")
    failures += run("git", "commit", "-qm", "QC notes")
    refused_push = run("git", "push", "-q", "origin", "main") != 0

    print("\nAccept the new state, commit, push again:")
    failures += run("lfs-meta", "check", "--update")
    failures += run("lfs-meta", "init-meta")
    failures += run("git", "commit", "-qam", "Accept the re-aligned BAM")
    failures += run("git", "push", "-q", "origin", "main")

    signed = client.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-cohort", "Key": "data/NA12878.bam"}
    )
    text = (
        (repo / storage.INDEX_PATH).read_text().replace('"s3://demo-cohort/data/NA12878.bam"', f'"{signed}"')
    )
    (repo / storage.INDEX_PATH).write_text(text)
    print("\nSomeone pastes a presigned URL into the index; the commit hook refuses it:")
    refused_commit = run("git", "commit", "-qam", "Use a download link") != 0
    run("git", "log", "--oneline")
    print("\nThe signature is masked (****) in the report; that commit did not happen.")
    return 0 if refused_push and refused_commit and not failures else 1


def _validate_fhir(meta: Path) -> int:
    """Every line of META/ through fhir.resources (FHIR R5), ids held to FHIR's 64 characters."""
    import fhir_core.constraints

    fhir_core.constraints.TYPES_ID_MAX_LENGTH = 64
    import fhir.resources

    count = 0
    for path in sorted(meta.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            fhir.resources.get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            count += 1
    lines = (meta / "DocumentReference.ndjson").read_text().splitlines()
    bam = next(json.loads(line) for line in lines if '"data/NA12878.bam"' in line)
    print(f"\n{count} resources in {meta.name}/ validate as FHIR R5. The BAM's DocumentReference:")
    print(json.dumps(bam, indent=2))
    return 0


def _repository(work: Path) -> Path:
    """A git repository with lfs-meta's plain hooks and a local bare remote."""
    repo, remote = work / "analysis", work / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "Demo"],
        ["config", "user.email", "d@x"],
        ["remote", "add", "origin", str(remote)],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    for hook in ("pre-commit", "pre-push", "post-checkout"):
        shutil.copy2(ROOT / "hooks" / hook, repo / ".git" / "hooks" / hook)
    return repo


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
