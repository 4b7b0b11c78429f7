"""The smoke-test command (info-v2/smoke_test.py) against the local service over real HTTP."""

import os
import subprocess
import sys

import yaml
from conftest import HTTP_PASS, HTTP_USER, INFO_DIR, TABLE
from smoke_test import ENUMS

SMOKE_TEST = INFO_DIR / "smoke_test.py"


def smoke_test(*args, user=HTTP_USER, password=HTTP_PASS):
    env = {**os.environ, "HTTP_USER": user, "HTTP_PASS": password}
    # -I -S: no site-packages at all, as for a user's bare python3: standard library only.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SMOKE_TEST), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_smoke_test_passes_against_the_local_service(local_service):
    result = smoke_test("--url", f"{local_service}/info/v2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    checks = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(checks) >= 15
    assert all(line.startswith("PASS") for line in checks)
    assert (
        lines[-1] == f"{len(checks)} of {len(checks)} checks passed against {local_service}/info/v2"
    )


def test_read_only_checks_pass_and_change_no_data(local_service, aws):
    def table():
        return aws("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"]

    before = table()
    result = smoke_test("--url", f"{local_service}/info/v2", "--read-only")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert "PASS  POST a copy of the stored watch: 200 (idempotent)" in checks
    assert not any("POST a new watch" in line for line in checks)
    assert table() == before


def test_smoke_test_fails_with_wrong_credentials(local_service):
    result = smoke_test("--url", f"{local_service}/info/v2", password="not-the-password")
    assert result.returncode == 1
    assert "FAIL  GET a stored watch: 200, the record: expected 200, got 401" in result.stdout


def test_smoke_test_needs_credentials():
    result = smoke_test("--url", "http://127.0.0.1:9/info/v2", user="")
    assert result.returncode == 2
    assert result.stderr.strip() == "smoke_test.py: error: set HTTP_USER and HTTP_PASS"


def test_the_smoke_tests_enums_are_the_specs():
    """smoke_test.py runs on a bare python3 (no YAML parser), so it spells the enums it picks
    a stored watch by; this keeps them the spec's."""
    spec = yaml.safe_load((INFO_DIR / "info_openapi_v2.yaml").read_text(encoding="utf-8"))
    properties = spec["components"]["schemas"]["Watch"]["properties"]
    assert ENUMS == {name: set(properties[name]["enum"]) for name in ENUMS}
