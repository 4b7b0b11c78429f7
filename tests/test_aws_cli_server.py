"""The tests' `aws` (tests/aws_cli_server.py) answers exactly as the virtualenv's `aws` run
as a process of its own: output, errors and exit status, with the caller's folder,
environment and standard input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

AWS = Path(sys.executable).parent / "aws"

# Each call as a user types it, with what it reads besides its arguments.
CALLS = {
    "json output": ["dynamodb", "list-tables"],
    "a query, as text": [
        "dynamodb", "describe-table", "--table-name", "calls",
        "--query", "Table.KeySchema[0].AttributeName", "--output", "text",
    ],
    "a service error (254)": ["dynamodb", "describe-table", "--table-name", "missing"],
    "a usage error (252)": ["dynamodb", "describe-table"],
    "an unknown command (252)": ["dynamodb", "describe-tables"],
    "a file relative to the folder": [
        "dynamodb", "get-item", "--table-name", "calls", "--key", "file://key.json",
    ],
    "standard input": [
        "dynamodb", "get-item", "--table-name", "calls", "--key", "file:///dev/stdin",
    ],
    "the environment's output format": ["dynamodb", "list-tables", "--no-cli-pager"],
    "the environment's config file": ["configure", "get", "region"],
}  # fmt: skip


@pytest.fixture(scope="module")
def caller(aws_env, aws, tmp_path_factory):
    """The folder and environment of the calls, with a table `calls` holding one item."""
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName="calls",
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="calls", Item={"sku": {"S": "a1"}, "name": {"S": "Ä ✓"}})
    folder = tmp_path_factory.mktemp("caller")
    (folder / "key.json").write_text('{"sku": {"S": "a1"}}')
    config = folder / "config"
    config.write_text("[default]\nregion = eu-west-3\n")
    return folder, aws_env | {"AWS_CONFIG_FILE": str(config)}


def run(command, args, folder, env, stdin):
    return subprocess.run(
        [command, *args], cwd=folder, env=env, input=stdin, capture_output=True, text=True
    )


@pytest.mark.parametrize("name", CALLS)
def test_answers_as_the_aws_process(name, caller, aws_cli_folder):
    if aws_cli_folder is None:
        pytest.skip("AWS_CLI_SERVER=off: every call is an aws process")
    folder, env = caller
    if name == "the environment's output format":
        env = env | {"AWS_DEFAULT_OUTPUT": "text"}
    stdin = '{"sku": {"S": "a1"}}'
    served = run(str(aws_cli_folder / "aws"), CALLS[name], folder, env, stdin)
    alone = run(str(AWS), CALLS[name], folder, env, stdin)
    assert (served.returncode, served.stdout, served.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )
    assert alone.stdout or alone.stderr  # each call says something


def test_the_scripts_call_the_server(aws_env, aws_cli_folder):
    if aws_cli_folder is None:
        pytest.skip("AWS_CLI_SERVER=off: every call is an aws process")
    found = subprocess.run(
        ["bash", "-c", "command -v aws"], env=aws_env, capture_output=True, text=True
    )
    assert found.stdout.strip() == str(aws_cli_folder / "aws")
    assert os.access(found.stdout.strip(), os.X_OK)
