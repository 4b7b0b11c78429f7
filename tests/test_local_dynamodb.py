"""run.sh and initialize_dynamodb.sh against DynamoDB-only endpoints, as users run them.

dynalite stands in for DynamoDB Local: like it, it speaks DynamoDB and nothing else (no
STS). The Docker branch of run.sh runs against tests/docker_standin/docker, which answers
`docker info` and runs the DynamoDB Local image as dynalite behind a port that opens before
DynamoDB answers, as Docker's port proxy does.
"""

import json
import os
import signal
import socket
from pathlib import Path

import pytest
import requests
from conftest import (
    answering_server,
    dynalite,
    free_port,
    run_script,
    run_sh_env,
    running_run_sh,
)

AUTH = ("watch", "watch-local")
STANDIN = Path(__file__).resolve().parent / "docker_standin"
NO_AWS_CONFIG = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
}


def port_is_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def serves_the_catalogue(base):
    watch = requests.get(f"{base}/info/v2/watch/CAL5185B", auth=AUTH, timeout=10)
    assert watch.status_code == 200, watch.text
    assert watch.json()["year"] == 2016


def press_ctrl_c(process):
    os.killpg(process.pid, signal.SIGINT)
    return process.communicate(timeout=60)[0]


def test_run_sh_serves_the_catalogue_from_a_dynamodb_only_endpoint(aws_env, dynalite_command):
    with dynalite(dynalite_command) as endpoint:
        env = run_sh_env(aws_env, AWS_ENDPOINT_URL=endpoint, **NO_AWS_CONFIG)
        with running_run_sh(env) as (base, process):
            serves_the_catalogue(base)
            created = requests.post(
                f"{base}/info/v2/watch",
                auth=AUTH,
                json={"sku": "LOCAL-1", "type": "watch", "status": "old", "gender": "man"}
                | {"year": 1999},
                timeout=10,
            )
            assert created.status_code == 200, created.text
            output = press_ctrl_c(process)
        assert "read 4000, written 3990, skipped 10" in output
        assert "dummy ones" in output  # no credentials configured: local ones are sent
        assert port_is_open(int(endpoint.rsplit(":", 1)[1])), (
            "run.sh stopped a DynamoDB it did not start"
        )


@pytest.fixture(scope="module")
def refusing_endpoint():
    """Answers every request the way DynamoDB answers an unknown access key."""
    refusal = {
        "__type": "com.amazon.coral.service#UnrecognizedClientException",
        "message": "The security token included in the request is invalid.",
    }
    body = json.dumps(refusal).encode()
    with answering_server(400, "application/x-amz-json-1.0", body) as url:
        yield url


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unreachable", "cannot reach DynamoDB at http://127.0.0.1:"),
        ("no credentials", "no usable AWS credentials: none were found"),
        ("refused credentials", "no usable AWS credentials: DynamoDB at http://127.0.0.1:"),
        ("not AWS", "answers HTML, not the AWS API: is the URL right?"),
    ],
)
def test_initialize_dynamodb_names_the_real_cause(
    case, expected, aws_env, dynalite_command, refusing_endpoint, html_endpoint
):
    with dynalite(dynalite_command) as endpoint:
        env = {**aws_env, "AWS_ENDPOINT_URL": endpoint}
        if case == "unreachable":
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        elif case == "no credentials":
            env = {k: v for k, v in env.items() if not k.startswith("AWS_SECRET")}
            env = {k: v for k, v in env.items() if k != "AWS_ACCESS_KEY_ID"} | NO_AWS_CONFIG
        elif case == "not AWS":
            env["AWS_ENDPOINT_URL"] = html_endpoint
        else:
            env["AWS_ENDPOINT_URL"] = refusing_endpoint
        result = run_script("initialize_dynamodb.sh", env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert expected in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    if case == "refused credentials":
        assert "security token included in the request is invalid" in lines[-1]


def test_initialize_dynamodb_works_without_sts(aws_env, dynalite_command):
    with dynalite(dynalite_command) as endpoint:
        env = {**aws_env, "AWS_ENDPOINT_URL": endpoint}
        # A local DynamoDB has no deletion protection: the table can only be a throwaway one.
        refused = run_script("initialize_dynamodb.sh", env=env, check=False)
        result = run_script("initialize_dynamodb.sh", env={**env, "TABLE_PROTECTION": "off"})
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"initialize_dynamodb.sh: error: the DynamoDB at {endpoint} has no deletion protection "
        "for table 'project1' (a local DynamoDB?); for a throwaway table, set TABLE_PROTECTION=off"
    )
    assert "read 4000, written 3990, skipped 10" in result.stdout + result.stderr


def test_deploy_scripts_say_a_dynamodb_only_endpoint_cannot_deploy(aws_env, dynalite_command):
    with dynalite(dynalite_command) as endpoint:
        env = {**aws_env, "AWS_ENDPOINT_URL": endpoint}
        result = run_script("create_api_gateway.sh", env=env, check=False)
    assert result.returncode == 1
    assert "does not answer STS" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("script", ["status.sh", "create_lambdas.sh"])
def test_deploy_scripts_say_an_endpoint_that_is_not_aws_answers_html(
    script, aws_env, html_endpoint
):
    result = run_script(script, env={**aws_env, "AWS_ENDPOINT_URL": html_endpoint}, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"{script}: error: {html_endpoint} answers HTML, not the AWS API: is the URL right?"
    )


@pytest.fixture
def docker_env(aws_env, dynalite_command, tmp_path):
    """run.sh's environment with the docker stand-in first on PATH."""
    return run_sh_env(
        aws_env,
        PATH=f"{STANDIN}{os.pathsep}{aws_env['PATH']}",
        DOCKER_STANDIN_STATE=str(tmp_path / "docker"),
        DYNALITE=str(dynalite_command),
    )


def containers(env):
    folder = Path(env["DOCKER_STANDIN_STATE"]) / "containers"
    return sorted(path.stem for path in folder.glob("*.json"))


def test_docker_branch_waits_for_dynamodb_replaces_a_leftover_and_stops_on_ctrl_c(docker_env):
    db_port = int(docker_env["DB_PORT"])
    with running_run_sh(docker_env) as (base, process):
        serves_the_catalogue(base)
        # An unclean exit (the terminal closed, kill -9): the container outlives run.sh.
        os.killpg(process.pid, signal.SIGKILL)
        first_output = process.communicate(timeout=10)[0]
    assert "pulling the amazon/dynamodb-local image" in first_output
    assert f"waiting for DynamoDB Local to answer on port {db_port}" in first_output
    assert containers(docker_env) == ["watch-info-dynamodb-local"]
    assert port_is_open(db_port)

    with running_run_sh(docker_env) as (base, process):
        serves_the_catalogue(base)
        output = press_ctrl_c(process)
    assert "removing container watch-info-dynamodb-local, left over" in output
    assert "pulling" not in output
    assert "read 4000, written 3990, skipped 10" in output
    assert containers(docker_env) == [], "Ctrl-C left the container running"
    assert not port_is_open(db_port)


def test_docker_branch_gives_up_with_one_line_when_dynamodb_never_answers(docker_env):
    env = {**docker_env, "DOCKER_STANDIN_DELAY": "never", "DB_START_SECONDS": "3"}
    with pytest.raises(AssertionError, match="did not serve") as failure:
        with running_run_sh(env, timeout=120):
            pass
    message = str(failure.value)
    assert f"DynamoDB Local did not answer on port {env['DB_PORT']} within 3 s" in message
    assert "Traceback" not in message
    assert containers(env) == [], "the container of a failed start was left running"
