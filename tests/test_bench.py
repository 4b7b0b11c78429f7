"""The benchmarks still run: bench_soak end to end with few requests. It builds the service's
package as bench_lambda.py does and measures it in the setting the benchmarks share
(bench_lambda.bench_setting), so a change to the deploy helpers that breaks them shows here."""

import os
import subprocess

from conftest import REPO


def test_a_short_soak_runs_and_prints_its_verdicts(tmp_path):
    result = subprocess.run(
        [REPO / "bench" / "run.sh", "bench_soak", "--requests", "300", "--window", "100"],
        env={**os.environ, "BUILD_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for verdict in ("memory growth after warm-up", "descriptors after warm-up: [", "p99 of"):
        assert verdict in result.stdout
    assert (tmp_path / "bench" / "service.zip").is_file()
