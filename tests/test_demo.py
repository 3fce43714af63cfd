from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_make_demo_script_runs_end_to_end(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, ROOT / "demo" / "demo.py"], env=cli_env, capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"10,244  data/NA12878\.bam  s3://demo-cohort/data/NA12878\.bam", output)
    assert "META/DocumentReference.ndjson: wrote 3 resource(s)" in output
    assert "5 resources in META/ validate as FHIR R5" in output
    assert '"contentType": "application/x-bam"' in output
    assert "push refused: remote objects changed or could not be checked: data/NA12878.bam." in output
    assert "data/NA12878.bam: updated to the remote's current metadata" in output
    assert "is a signed URL (carries AWSAccessKeyId, Signature)" in output
    signature = re.search(r"Signature=([^&']+)", output)
    assert signature and signature.group(1).endswith("****")
