"""info-v2/run.sh end to end: its own emulator, the catalogue, the README curl examples, and
how it stops: on Ctrl-C, and on a signal sent to its PID alone."""

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests
from conftest import INFO_DIR, run_sh_env, running_run_sh


def port_is_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_run_sh_serves_the_catalogue_and_stops_everything_on_ctrl_c(run_sh):
    base, db_port, process = run_sh
    auth = ("watch", "watch-local")

    assert requests.get(base + "/", timeout=10).status_code == 200
    watch = requests.get(f"{base}/info/v2/watch/CAL5185B", auth=auth, timeout=10)
    assert watch.status_code == 200
    assert watch.json()["year"] == 2016
    assert requests.get(f"{base}/info/v2/watch/CAL5185B", timeout=10).status_code == 401
    assert requests.get(f"{base}/info/v2/ui/", timeout=10).status_code == 200
    assert port_is_open(db_port)

    smoke = subprocess.run(
        [sys.executable, str(INFO_DIR / "smoke_test.py"), "--url", f"{base}/info/v2"],
        env={**os.environ, "HTTP_USER": auth[0], "HTTP_PASS": auth[1]},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr

    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert "read 4000, written 3990, skipped 10" in output
    assert "Swagger UI" in output
    assert "Warning" not in output, "run.sh printed a warning that is not the user's business"
    assert not port_is_open(db_port), "run.sh left its DynamoDB emulator running"


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_to_run_sh_alone_stops_everything_it_started(aws_env, signal_number):
    """What `kill PID`, `timeout` and supervisors send: the signal reaches run.sh only, not
    its process group as a terminal's Ctrl-C does."""
    env = run_sh_env(aws_env)
    with running_run_sh(env) as (base, process):
        assert requests.get(base + "/", timeout=10).status_code == 200
        process.send_signal(signal_number)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, output
    assert f"stopping on {signal.Signals(signal_number).name}" in output
    assert not port_is_open(int(env["PORT"])), "run.sh left its server running"
    assert not port_is_open(int(env["DB_PORT"])), "run.sh left its DynamoDB emulator running"
