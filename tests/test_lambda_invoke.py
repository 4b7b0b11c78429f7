"""Lambda's Invoke on the emulator (tools/lambda_invoke.py), through the AWS CLI and boto3.

A probe function with two published versions, each its own code and environment, $LATEST
changed again after them, and an alias `live` that sends version 2 half of its traffic:
what AWS would run for each kind of qualifier, warm containers, and what Lambda leaves in
CloudWatch Logs and metrics, read back as a canary or logs.sh reads them.
"""

import base64
import io
import json
import os
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

FUNCTION = "invoke-probe"
CODE = """
import json, logging, os

logging.getLogger().setLevel(logging.INFO)
print("cold start of code {code}")

def handler(event, context):
    logging.info("event %s", json.dumps(event))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {{
        "code": "{code}",
        "variable": os.environ.get("VARIABLE"),
        "version": context.function_version,
        "request_id": context.aws_request_id,
        "pid": os.getpid(),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
    }}
"""


def package(code, handler_source=CODE):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", handler_source.format(code=code))
    return buffer.getvalue()


def role_arn(aws):
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
    try:
        return aws("iam").get_role(RoleName="invoke-probe")["Role"]["Arn"]
    except aws("iam").exceptions.NoSuchEntityException:
        role = aws("iam").create_role(
            RoleName="invoke-probe", AssumeRolePolicyDocument=json.dumps(trust)
        )
        return role["Role"]["Arn"]


def create_function(aws, name, code, variables, handler_source=CODE):
    return aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn(aws),
        Handler="probe.handler",
        Code={"ZipFile": package(code, handler_source)},
        Environment={"Variables": variables},
    )


@pytest.fixture(scope="module")
def probe(aws):
    """Version 1: code A with VARIABLE one; version 2: code B with two; $LATEST: code B with
    three; alias live: version 1, and version 2 by half."""
    lambda_client = aws("lambda")
    create_function(aws, FUNCTION, "A", {"VARIABLE": "one"})
    assert lambda_client.publish_version(FunctionName=FUNCTION)["Version"] == "1"
    lambda_client.update_function_code(FunctionName=FUNCTION, ZipFile=package("B"))
    lambda_client.update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"VARIABLE": "two"}}
    )
    assert lambda_client.publish_version(FunctionName=FUNCTION)["Version"] == "2"
    lambda_client.update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"VARIABLE": "three"}}
    )
    lambda_client.create_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    return FUNCTION


def cli_invoke(aws_env, tmp_path, *args, payload='{"from": "cli"}'):
    """`aws lambda invoke --log-type Tail` as a user types it: (CLI output, payload)."""
    outfile = tmp_path / "payload.json"
    result = subprocess.run(
        ["aws", "lambda", "invoke", "--function-name", FUNCTION, *args, "--log-type", "Tail"]
        + ["--payload", payload, str(outfile)],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), json.loads(outfile.read_text())


@pytest.mark.parametrize(
    ("qualifier", "executed", "code", "variable"),
    [
        (None, "$LATEST", "B", "three"),
        ("$LATEST", "$LATEST", "B", "three"),
        ("1", "1", "A", "one"),
        ("2", "2", "B", "two"),
    ],
    ids=["unqualified", "$LATEST", "version 1", "version 2"],
)
def test_cli_invoke_runs_the_code_and_configuration_of_the_version_named(
    probe, aws_env, tmp_path, qualifier, executed, code, variable
):
    args = ["--qualifier", qualifier] if qualifier else []
    output, payload = cli_invoke(aws_env, tmp_path, *args)
    assert output["StatusCode"] == 200
    assert output["ExecutedVersion"] == executed
    assert "FunctionError" not in output
    assert (payload["code"], payload["variable"], payload["version"]) == (code, variable, executed)
    assert payload["endpoint"] == aws_env["AWS_ENDPOINT_URL"]
    tail = base64.b64decode(output["LogResult"]).decode().splitlines()
    request_id = payload["request_id"]
    assert tail[0] == f"START RequestId: {request_id} Version: {executed}"
    assert tail[-2] == f"END RequestId: {request_id}"
    assert tail[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "Memory Size: 128 MB" in tail[-1]
    assert any(line.endswith('event {"from": "cli"}') for line in tail)


def test_cli_invoke_of_the_alias_runs_one_of_its_versions(probe, aws_env, tmp_path):
    output, payload = cli_invoke(aws_env, tmp_path, "--qualifier", "live")
    assert output["ExecutedVersion"] in {"1", "2"}
    assert payload["version"] == output["ExecutedVersion"]
    assert payload["variable"] == {"1": "one", "2": "two"}[payload["version"]]


def test_an_alias_with_weights_sends_traffic_to_both_versions(probe, aws):
    executed = [
        aws("lambda").invoke(FunctionName=probe, Qualifier="live", Payload=b"{}")["ExecutedVersion"]
        for _ in range(40)
    ]
    # Each of the 40 goes to version 2 with probability 0.5: all on one side is 2 in 2**40.
    assert set(executed) == {"1", "2"}


def test_the_environment_of_a_published_version_stays_frozen(probe, aws):
    lambda_client = aws("lambda")
    lambda_client.update_function_configuration(
        FunctionName=probe, Environment={"Variables": {"VARIABLE": "four"}}
    )
    versions = {
        version["Version"]: version.get("Environment", {}).get("Variables")
        for version in lambda_client.list_versions_by_function(FunctionName=probe)["Versions"]
    }
    assert versions == {
        "$LATEST": {"VARIABLE": "four"},
        "1": {"VARIABLE": "one"},
        "2": {"VARIABLE": "two"},
    }
    for qualifier, variable in (("1", "one"), ("2", "two"), ("$LATEST", "four")):
        answer = lambda_client.invoke(FunctionName=probe, Qualifier=qualifier, Payload=b"{}")
        assert json.loads(answer["Payload"].read())["variable"] == variable


def pid_of(aws, qualifier):
    answer = aws("lambda").invoke(FunctionName=FUNCTION, Qualifier=qualifier, Payload=b"{}")
    return json.loads(answer["Payload"].read())["pid"]


def test_containers_stay_warm_and_latest_gets_a_new_one_when_it_changes(probe, aws):
    version_1, latest = pid_of(aws, "1"), pid_of(aws, "$LATEST")
    assert pid_of(aws, "1") == version_1
    assert pid_of(aws, "$LATEST") == latest
    aws("lambda").update_function_configuration(FunctionName=probe, MemorySize=256)
    assert pid_of(aws, "$LATEST") != latest
    assert pid_of(aws, "1") == version_1


def test_a_handler_error_is_an_unhandled_function_error_with_its_log(probe, aws_env, tmp_path):
    output, payload = cli_invoke(aws_env, tmp_path, "--qualifier", "1", payload='{"fail": true}')
    assert output["FunctionError"] == "Unhandled"
    assert payload == {"errorMessage": "asked to fail", "errorType": "ValueError"}
    tail = base64.b64decode(output["LogResult"]).decode()
    assert "[ERROR] ValueError: asked to fail\nTraceback (most recent call last):\n" in tail
    assert 'probe.py", line 10, in handler' in tail


def metric_sum(aws_env, metric, *dimensions):
    """`aws cloudwatch get-metric-statistics` of AWS/Lambda METRIC (Sum, last 10 minutes)."""
    now = datetime.now(UTC)
    result = subprocess.run(
        ["aws", "cloudwatch", "get-metric-statistics", "--namespace", "AWS/Lambda"]
        + ["--metric-name", metric, "--statistics", "Sum", "--period", "60"]
        + ["--start-time", (now - timedelta(minutes=10)).isoformat()]
        + ["--end-time", (now + timedelta(minutes=1)).isoformat()]
        + ["--dimensions", *(f"Name={name},Value={value}" for name, value in dimensions)],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return sum(point["Sum"] for point in json.loads(result.stdout)["Datapoints"])


def test_errors_are_recorded_per_executed_version_of_the_alias(aws, aws_env):
    """A canary's view: version 2 of `canary` fails, version 1 does not."""
    name = "canary-probe"
    lambda_client = aws("lambda")
    create_function(aws, name, "A", {"VARIABLE": "one"})
    lambda_client.publish_version(FunctionName=name)
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("B", "{code}"))
    # Version 2's module is one line, `B`: its import raises NameError.
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    answers = [
        lambda_client.invoke(FunctionName=name, Qualifier="live", Payload=b"{}") for _ in range(20)
    ]
    failed = {"1": 0, "2": 0}
    called = {"1": 0, "2": 0}
    for answer in answers:
        called[answer["ExecutedVersion"]] += 1
        failed[answer["ExecutedVersion"]] += "FunctionError" in answer
    assert failed == {"1": 0, "2": called["2"]} and called["2"] > 0
    lambda_client.invoke(FunctionName=name, Qualifier="2", Payload=b"{}")

    function = ("FunctionName", name)
    alias = ("Resource", f"{name}:live")
    for version in ("1", "2"):
        executed = ("ExecutedVersion", version)
        assert metric_sum(aws_env, "Errors", function, alias, executed) == failed[version]
        assert metric_sum(aws_env, "Invocations", function, alias, executed) == called[version]
    assert metric_sum(aws_env, "Errors", function, alias) == failed["2"]
    assert metric_sum(aws_env, "Errors", function, ("Resource", f"{name}:2")) == 1
    assert metric_sum(aws_env, "Errors", function) == failed["2"] + 1
    assert metric_sum(aws_env, "Invocations", function) == 21


def test_the_logs_have_a_stream_per_container_with_lambdas_lines(probe, aws):
    logs = aws("logs")
    group = f"/aws/lambda/{probe}"
    streams = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    ]
    day = time.strftime("%Y/%m/%d", time.gmtime())
    for version in ("1", "2", "$LATEST"):
        assert any(stream.startswith(f"{day}/[{version}]") for stream in streams), streams
    answer = aws("lambda").invoke(FunctionName=probe, Qualifier="1", Payload=b'{"marker": 1}')
    request_id = json.loads(answer["Payload"].read())["request_id"]
    events = logs.filter_log_events(logGroupName=group)["events"]
    events = [event for event in events if request_id in event["message"]]
    messages = [event["message"] for event in events]
    assert messages[0] == f"START RequestId: {request_id} Version: 1"
    assert messages[1].startswith("[INFO]\t") and messages[1].endswith('event {"marker": 1}')
    assert messages[1].split("\t")[2] == request_id
    assert messages[2:4] == [f"END RequestId: {request_id}", messages[3]]
    assert messages[3].startswith(f"REPORT RequestId: {request_id}\t")
    (stream,) = {event["logStreamName"] for event in events}
    first = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert first["events"][0]["message"] == "cold start of code A"
    reports = [e["message"] for e in first["events"] if e["message"].startswith("REPORT")]
    assert "Init Duration: " in reports[0]
    assert all("Init Duration" not in report for report in reports[1:])


def test_an_unchanged_function_publishes_no_new_version(aws):
    """Also when it was changed before its first version (moto published one every time)."""
    name = "publish-probe"
    lambda_client = aws("lambda")
    create_function(aws, name, "A", {"VARIABLE": "one"})
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"VARIABLE": "two"}}
    )
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    lambda_client.update_function_configuration(FunctionName=name, Timeout=10)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"


def test_an_alias_has_a_policy_of_its_own(probe, aws):
    lambda_client = aws("lambda")
    lambda_client.add_permission(
        FunctionName=probe,
        Qualifier="live",
        StatementId="alias-only",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    (statement,) = json.loads(
        lambda_client.get_policy(FunctionName=probe, Qualifier="live")["Policy"]
    )["Statement"]
    assert statement["Resource"].endswith(f":function:{probe}:live")
    for qualifier in ({}, {"Qualifier": "1"}):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_policy(FunctionName=probe, **qualifier)
    lambda_client.remove_permission(FunctionName=probe, Qualifier="live", StatementId="alias-only")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=probe, Qualifier="live")


def test_an_event_invocation_runs_later_and_a_dry_run_not_at_all(probe, aws):
    lambda_client = aws("lambda")
    group = f"/aws/lambda/{probe}"

    def logged(marker):
        events = aws("logs").filter_log_events(logGroupName=group)["events"]
        return any(marker in event["message"] for event in events)

    dry_run = lambda_client.invoke(
        FunctionName=probe, InvocationType="DryRun", Payload=b'{"dry": "run"}'
    )
    answer = lambda_client.invoke(
        FunctionName=probe, InvocationType="Event", Payload=b'{"later": "event"}'
    )
    assert (dry_run["StatusCode"], answer["StatusCode"]) == (204, 202)
    deadline = time.monotonic() + 120
    while not logged('{"later": "event"}') and time.monotonic() < deadline:
        time.sleep(0.2)
    assert logged('{"later": "event"}')
    assert not logged('{"dry": "run"}')


def test_a_payload_that_is_not_json_is_refused_in_one_line(probe, aws_env, tmp_path):
    result = subprocess.run(
        ["aws", "lambda", "invoke", "--function-name", probe, "--payload", "{not json"]
        + [str(tmp_path / "out.json")],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "InvalidRequestContentException" in result.stderr.strip().splitlines()[-1]


def test_deleting_the_function_ends_its_containers(aws):
    name = "short-lived-probe"
    create_function(aws, name, "A", {})
    answer = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    pid = json.loads(answer["Payload"].read())["pid"]
    os.kill(pid, 0)  # running
    aws("lambda").delete_function(FunctionName=name)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
