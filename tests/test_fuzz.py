"""Schemathesis fuzzes the running app from info_openapi_v2.yaml, as a hostile client would.

Every check of schemathesis runs (no 5xx, only documented statuses, content types, headers
and bodies that match the spec, invalid input refused, auth not ignored, 405 for other
methods) over all its phases: the spec's examples, boundary coverage, random fuzzing and
stateful POST-then-GET sequences. The seed is fixed and the examples per operation are
bounded, so a run is reproducible and takes about a minute. docs/api.md shows the same
command run by hand for longer.
"""

import subprocess
import sys
from pathlib import Path

from conftest import HTTP_PASS, HTTP_USER, REPO

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 20261129
EXAMPLES_PER_OPERATION = 50


def test_fuzzing_from_the_spec_finds_no_failure(local_service):
    command = [
        str(SCHEMATHESIS),
        "run",
        str(REPO / "info_openapi_v2.yaml"),
        f"--url={local_service}/info/v2",
        f"--auth={HTTP_USER}:{HTTP_PASS}",
        "--checks=all",
        f"--seed={SEED}",
        f"--max-examples={EXAMPLES_PER_OPERATION}",
        "--workers=1",
        # No example database: a run never replays cases an earlier run stored.
        "--generation-database=none",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-20000:]}{result.stderr}"
    assert "No issues found" in result.stdout
