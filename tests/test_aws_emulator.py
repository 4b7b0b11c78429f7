"""The offline AWS itself (tools/aws_emulator.sh and .py), where it must behave as AWS does.

Its command: a port in use ends it at once with one line; Ctrl-C ends the functions'
containers with it. An API Gateway stage: its dates, and its settings kept through a new
deployment. DynamoDB's protection of data, through the AWS CLI as the scripts use it:
deletion protection refuses DeleteTable, point-in-time recovery turns on, and an on-demand
backup restores every item, the key schema and the billing mode, also after the table is
gone.
"""

import json
import os
import signal
import socket
import subprocess

import pytest
from conftest import REPO, WATCHES, emulator_session, free_port
from test_lambda_invoke import create_function

EMULATOR = REPO / "tools" / "aws_emulator.sh"
TABLE = "backed-up"


def test_a_port_in_use_ends_the_emulator_with_one_line(aws_env):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(EMULATOR), "--port", str(port)],
            env=aws_env,
            capture_output=True,
            text=True,
            timeout=120,  # it ends at once; the machine may be busy
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"aws_emulator.sh: error: port {port}: Address already in use; see --port"
    ]
    assert result.stdout == ""


def test_ctrl_c_ends_the_emulator_and_its_functions_containers(aws_env):
    port = free_port()
    emulator = subprocess.Popen(
        [str(EMULATOR), "--port", str(port)],
        env=aws_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout.readline().startswith("AWS emulator running")
        session = emulator_session()

        def aws(service):
            return session.client(service, endpoint_url=f"http://127.0.0.1:{port}")

        create_function(aws, "ctrl-c-probe", "A", {})
        answer = aws("lambda").invoke(FunctionName="ctrl-c-probe", Payload=b"{}")
        pid = json.loads(answer["Payload"].read())["pid"]
        os.kill(pid, 0)  # its container runs
        emulator.send_signal(signal.SIGINT)
        assert emulator.wait(timeout=60) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait()


def test_a_stage_has_dates_and_keeps_its_settings_through_a_new_deployment(aws):
    apigateway = aws("apigateway")
    document = {
        "openapi": "3.0.1",
        "info": {"title": "stage-probe", "version": "1", "description": "stage probe"},
        "paths": {
            "/x": {
                "get": {
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                        "arn:aws:lambda:us-east-1:123456789012:function:none/invocations",
                    },
                }
            }
        },
    }
    api_id = apigateway.import_rest_api(body=json.dumps(document))["id"]
    first = apigateway.create_deployment(restApiId=api_id, stageName="dev")["id"]
    throttling = "/*/*/throttling/rateLimit"
    apigateway.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[{"op": "replace", "path": throttling, "value": "7"}],
    )
    updated = apigateway.get_stage(restApiId=api_id, stageName="dev")
    assert updated["createdDate"] <= updated["lastUpdatedDate"]
    second = apigateway.create_deployment(restApiId=api_id, stageName="dev")["id"]
    stage = apigateway.get_stage(restApiId=api_id, stageName="dev")
    assert (first != second) and stage["deploymentId"] == second
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 7
    assert stage["createdDate"] == updated["createdDate"]


def dynamodb_cli(aws_env, *args, check=True):
    """`aws dynamodb ARGS` as the scripts run it: (exit status, parsed output or stderr)."""
    result = subprocess.run(
        ["aws", "dynamodb", *args, "--output", "json"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    if result.returncode:
        return result.returncode, result.stderr
    return 0, json.loads(result.stdout or "{}")


def all_items(aws, table):
    """Every item of TABLE, as DynamoDB JSON, keyed by sku."""
    items = {}
    for page in aws("dynamodb").get_paginator("scan").paginate(TableName=table):
        items.update({item["sku"]["S"]: item for item in page["Items"]})
    return items


@pytest.fixture(scope="module")
def protected_table(aws, aws_env):
    """TABLE, on demand, with deletion protection, holding 500 watches of watches.json."""
    dynamodb_cli(
        aws_env,
        "create-table",
        "--table-name",
        TABLE,
        "--attribute-definitions",
        "AttributeName=sku,AttributeType=S",
        "--key-schema",
        "AttributeName=sku,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
        "--deletion-protection-enabled",
    )
    dynamodb = emulator_session().resource("dynamodb", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    table = dynamodb.Table(TABLE)
    records = json.loads(WATCHES.read_text(encoding="utf-8"))[:500]
    with table.batch_writer(overwrite_by_pkeys=["sku"]) as batch:
        for record in records:
            item = {key: value for key, value in record.items() if value not in (None, "")}
            batch.put_item(Item={**item, "year": int(record["year"].lstrip("\ufeff"))})
    return TABLE


def test_deletion_protection_refuses_delete_table(protected_table, aws, aws_env):
    status, error = dynamodb_cli(aws_env, "delete-table", "--table-name", TABLE, check=False)
    assert status != 0
    assert "DeletionProtectionEnabled" in error.strip().splitlines()[-1]
    assert TABLE in aws("dynamodb").list_tables()["TableNames"]


def test_update_continuous_backups_turns_point_in_time_recovery_on(protected_table, aws_env):
    specification = "PointInTimeRecoveryEnabled=true"
    dynamodb_cli(
        aws_env,
        "update-continuous-backups",
        "--table-name",
        TABLE,
        "--point-in-time-recovery-specification",
        specification,
    )
    _, answer = dynamodb_cli(aws_env, "describe-continuous-backups", "--table-name", TABLE)
    recovery = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_backup_restores_every_item_even_after_the_table_is_deleted(
    protected_table, aws, aws_env
):
    before = all_items(aws, TABLE)
    source = aws("dynamodb").describe_table(TableName=TABLE)["Table"]
    _, backup = dynamodb_cli(
        aws_env, "create-backup", "--table-name", TABLE, "--backup-name", "before-teardown"
    )
    backup_arn = backup["BackupDetails"]["BackupArn"]
    aws("dynamodb").put_item(TableName=TABLE, Item={"sku": {"S": "AFTER-THE-BACKUP"}})

    dynamodb_cli(aws_env, "update-table", "--table-name", TABLE, "--no-deletion-protection-enabled")
    dynamodb_cli(aws_env, "delete-table", "--table-name", TABLE)
    assert TABLE not in aws("dynamodb").list_tables()["TableNames"]
    _, backups = dynamodb_cli(aws_env, "list-backups", "--table-name", TABLE)
    assert [b["BackupArn"] for b in backups["BackupSummaries"]] == [backup_arn]

    dynamodb_cli(
        aws_env,
        "restore-table-from-backup",
        "--target-table-name",
        TABLE,
        "--backup-arn",
        backup_arn,
    )
    restored = aws("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert restored["KeySchema"] == source["KeySchema"]
    assert restored["AttributeDefinitions"] == source["AttributeDefinitions"]
    assert restored["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert restored["RestoreSummary"]["SourceBackupArn"] == backup_arn
    assert all_items(aws, TABLE) == before
    assert len(before) == 500
