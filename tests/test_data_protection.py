"""Data that no command loses, on the emulator: initialize_dynamodb.sh protects its tables
(point-in-time recovery, deletion protection), on existing tables too; delete_all.sh keeps
the table unless --delete-table, and with it backs the table up first: the printed restore
command brings back every item.
"""

import json
import shlex
import subprocess

import pytest
from conftest import REPO, run_script
from test_lambda import one_line_error
from test_loader import make_table

TABLE = "protected-watches"


@pytest.fixture(scope="module")
def env(aws_env):
    return {**aws_env, "DYNAMODB_TABLE": TABLE}


@pytest.fixture(scope="module")
def watches_file(tmp_path_factory):
    records = json.loads((REPO / "watches.json").read_text(encoding="utf-8-sig"))[:40]
    path = tmp_path_factory.mktemp("watches") / "watches.json"
    path.write_text(json.dumps(records))
    return path


def protection(aws, table):
    """(deletion protection, point-in-time recovery status) of TABLE."""
    dynamodb = aws("dynamodb")
    deletion = dynamodb.describe_table(TableName=table)["Table"].get("DeletionProtectionEnabled")
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return deletion, backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def items(aws, table):
    return sorted(aws("dynamodb").scan(TableName=table)["Items"], key=lambda item: item["sku"]["S"])


@pytest.fixture(scope="module")
def initialized(env, watches_file):
    return run_script("initialize_dynamodb.sh", "--file", str(watches_file), env=env)


def test_a_new_table_has_point_in_time_recovery_and_deletion_protection(initialized, aws):
    assert protection(aws, TABLE) == (True, "ENABLED")
    assert f"table {TABLE}: point-in-time recovery and deletion protection on" in (
        initialized.stderr
    )
    dynamodb = aws("dynamodb")
    with pytest.raises(
        dynamodb.exceptions.ClientError, match="DeletionProtectionEnabled is set to True"
    ):
        dynamodb.delete_table(TableName=TABLE)


def test_an_existing_unprotected_table_is_protected_and_it_says_so(aws, aws_env, watches_file):
    table = make_table(aws, "older-watches")  # as an earlier initialize_dynamodb.sh made it
    assert protection(aws, table) == (False, "DISABLED")
    result = run_script(
        "initialize_dynamodb.sh", "--table", table, "--file", str(watches_file), env=aws_env
    )
    assert f"turning on deletion protection of table {table}" in result.stderr
    assert f"turning on point-in-time recovery of table {table}" in result.stderr
    assert protection(aws, table) == (True, "ENABLED")
    again = run_script(
        "initialize_dynamodb.sh", "--table", table, "--file", str(watches_file), env=aws_env
    )
    assert "turning on" not in again.stderr


def test_table_protection_off_leaves_a_throwaway_table_unprotected(aws, aws_env, watches_file):
    table = "throwaway-watches"
    result = run_script(
        "initialize_dynamodb.sh",
        "--table",
        table,
        "--file",
        str(watches_file),
        env={**aws_env, "TABLE_PROTECTION": "off"},
    )
    assert "TABLE_PROTECTION=off" in result.stderr
    assert protection(aws, table) == (False, "DISABLED")
    aws("dynamodb").delete_table(TableName=table)


def test_table_protection_takes_on_or_off_only(aws_env):
    result = run_script(
        "initialize_dynamodb.sh", env={**aws_env, "TABLE_PROTECTION": "maybe"}, check=False
    )
    assert "TABLE_PROTECTION must be 'on' or 'off', not 'maybe'" in one_line_error(
        result, "initialize_dynamodb.sh"
    )


def test_teardown_without_delete_table_keeps_the_table(initialized, aws, env):
    before = items(aws, TABLE)
    result = run_script("delete_all.sh", env=env)
    assert f"kept DynamoDB table {TABLE}" in result.stderr
    assert items(aws, TABLE) == before
    assert protection(aws, TABLE) == (True, "ENABLED")


@pytest.fixture(scope="module")
def torn_down(initialized, aws, env):
    """delete_all.sh --delete-table; the items before, and its run."""
    before = items(aws, TABLE)
    return before, run_script("delete_all.sh", "--delete-table", env=env)


def test_teardown_with_delete_table_backs_it_up_first(torn_down, aws):
    before, result = torn_down
    assert TABLE not in aws("dynamodb").list_tables()["TableNames"]
    (backup,) = aws("dynamodb").list_backups(TableName=TABLE)["BackupSummaries"]
    assert backup["BackupStatus"] == "AVAILABLE"
    arn = backup["BackupArn"]
    assert result.stdout.splitlines() == [
        f"backup of table {TABLE}: {arn}",
        "restore it with: aws dynamodb restore-table-from-backup "
        f"--target-table-name {TABLE} --backup-arn {arn}",
    ]
    assert "lifting the deletion protection" in result.stderr
    assert len(before) > 0


def test_the_printed_restore_command_brings_back_every_item(torn_down, aws, env):
    before, result = torn_down
    command = shlex.split(result.stdout.splitlines()[-1].removeprefix("restore it with: "))
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    aws("dynamodb").get_waiter("table_exists").wait(TableName=TABLE)
    assert items(aws, TABLE) == before


def test_teardown_again_finds_the_table_gone(torn_down, aws, env):
    aws("dynamodb").delete_table(TableName=TABLE)  # the restored copy (unprotected)
    result = run_script("delete_all.sh", "--delete-table", env=env)
    assert f"DynamoDB table {TABLE}: already gone" in result.stderr
    assert result.stdout == ""
