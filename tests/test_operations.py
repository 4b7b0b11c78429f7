"""Day-two operations on the emulator: status.sh, logs.sh, rollback.sh, and the request log.

The request log is read twice: from the app served locally over HTTP, and from the deployed
function, to which requests go through the local gateway (tools/local_gateway.py) and the
emulator's Lambda Invoke, which writes the function's lines to its log group as Lambda
does; logs.sh reads them back from there.
The tests run in file order: status before and after the deployment, logs, then rollback.
"""

import calendar
import json
import re
import subprocess
import threading
import time
import uuid

import aws_emulator
import pytest
import requests
from conftest import HTTP_PASS, HTTP_USER, INFO_DIR, local_gateway, run_script
from local_gateway import proxy_event
from smoke_test import basic_auth
from test_lambda import one_line_error

FUNCTION = "watch-info-dev"
LOG_GROUP = f"/aws/lambda/{FUNCTION}"
STREAM = "2026/11/29/[$LATEST]0123456789abcdef"
AUTH = {"Authorization": basic_auth(HTTP_USER, HTTP_PASS)}
DOMAIN = "api-watches.example.test"
LINE_KEYS = {"request_id", "method", "path", "operation", "status", "duration_ms"}


def new_watch():
    """A watch nobody stored yet, with a value that must never reach a log."""
    secret_color = f"colour-{uuid.uuid4().hex}"
    sku = f"OPS-{uuid.uuid4().hex[:8]}"
    watch = {"sku": sku, "type": "watch", "status": "current", "gender": "man", "year": 2020}
    return {**watch, "dial_color": secret_color}


def request_lines(text):
    """The request log lines in a process's output, as dicts."""
    lines = []
    for line in text.splitlines():
        start = line.find('{"request_id"')
        if start >= 0:
            lines.append(json.loads(line[start:]))
    return lines


def lambda_event(method, path, body=None, sku=None):
    """API Gateway's proxy event for METHOD PATH, with a request id of its own."""
    headers = {**AUTH, "Content-Type": "application/json"} if body else AUTH
    resource = "/watch/{sku}" if sku else "/watch"
    context = {"requestId": str(uuid.uuid4()), "httpMethod": method, "resourcePath": resource}
    return proxy_event(
        httpMethod=method,
        path=path,
        resource=resource,
        pathParameters={"sku": sku} if sku else None,
        headers=headers,
        body=json.dumps(body) if body else None,
        requestContext=context,
    )


@pytest.mark.parametrize("script", ["status.sh", "logs.sh", "rollback.sh"])
def test_each_script_answers_help_with_its_usage(script, aws_env):
    result = run_script(script, "--help", env=aws_env)
    assert result.stdout.startswith(f"Usage: info-v2/{script}")


def test_request_log_has_one_line_per_request_over_http(logged_service):
    base, log_path = logged_service
    watch = new_watch()
    assert requests.post(f"{base}/info/v2/watch", json=watch, auth=(HTTP_USER, HTTP_PASS)).ok
    got = requests.get(f"{base}/info/v2/watch/{watch['sku']}", auth=(HTTP_USER, HTTP_PASS))
    assert got.json() == watch
    assert requests.get(f"{base}/info/v2/watch/{watch['sku']}").status_code == 401
    time.sleep(0.5)  # the server writes a line once it has answered, in no particular order

    text = log_path.read_text()
    gets = {line["status"]: line for line in request_lines(text) if line["method"] == "GET"}
    (post,) = [line for line in request_lines(text) if line["method"] == "POST"]
    get_ok, get_refused = gets[200], gets[401]
    assert get_ok["path"] == get_refused["path"] == f"/info/v2/watch/{watch['sku']}"
    assert (post["operation"], post["status"], post["path"]) == ("add_watch", 200, "/info/v2/watch")
    assert (get_ok["method"], get_ok["operation"], get_ok["status"]) == ("GET", "get_watch", 200)
    assert get_refused["status"] == 401
    for line in (post, get_ok, get_refused):
        assert set(line) == LINE_KEYS
        assert line["duration_ms"] >= 0
    assert len({post["request_id"], get_ok["request_id"], get_refused["request_id"]}) == 3
    assert watch["dial_color"] not in text and HTTP_PASS not in text
    assert AUTH["Authorization"].split()[1] not in text


def test_status_names_what_is_missing_in_one_line(aws_env, loaded_table):
    result = run_script("status.sh", env=aws_env, check=False)
    error = one_line_error(result, "status.sh")
    assert error.endswith(f"not deployed: Lambda function {FUNCTION}, REST API {FUNCTION}")
    assert "table          project1: ACTIVE" in result.stdout


def test_status_tells_a_refusal_from_a_missing_table(aws_env, loaded_table):
    # A lookup that fails for another reason than "not found" stops with that reason: a
    # throttled (or forbidden) DescribeTable must not read as "missing: DynamoDB table".
    with aws_emulator.faults.injected(throttled_dynamodb_operations=["DescribeTable"]):
        result = run_script("status.sh", env=aws_env, check=False)
    error = one_line_error(result, "status.sh")
    assert error.startswith("status.sh: error: cannot read DynamoDB table project1: ")
    assert "ProvisionedThroughputExceededException" in error
    assert "missing: DynamoDB table" not in result.stdout


@pytest.fixture(scope="module")
def deployed(aws_env, loaded_table, lambda_runtime_python):
    """create_lambdas.sh and create_api_gateway.sh, as docs/deploying.md says; the printed URL."""
    run_script("create_lambdas.sh", env=aws_env)
    return run_script("create_api_gateway.sh", env=aws_env).stdout.strip()


def test_status_shows_the_deployment_on_one_screen(deployed, aws, aws_env):
    configuration = aws("lambda").get_function_configuration(FunctionName=FUNCTION, Qualifier="1")
    (api,) = aws("apigateway").get_rest_apis()["items"]
    result = run_script("status.sh", env=aws_env)
    rows = {line[:14].strip(): line[15:] for line in result.stdout.splitlines()}
    assert rows["function"] == f"{FUNCTION}: {configuration['Runtime']}, 512 MB"
    released = re.fullmatch(
        rf"alias live: version 1, code {re.escape(configuration['CodeSha256'])}, released (\S+)",
        rows["live"],
    )
    assert released, rows["live"]
    assert (
        abs(calendar.timegm(time.strptime(released[1], "%Y-%m-%dT%H:%M:%SZ")) - time.time()) < 3600
    )
    assert rows["rollback"] == "no earlier version recorded (rollback.sh --to VERSION)"
    assert "None" not in result.stdout
    assert re.fullmatch(r"dev: deployment \w+, deployed \d{4}-\d\d-\d\dT[\d:]{8}Z", rows["stage"])
    assert rows["table"].startswith("project1: ACTIVE, about ")
    assert rows["REST API"] == f"{api['id']} ({FUNCTION})"
    assert rows["stage"].startswith("dev: deployment ")
    assert "None" not in result.stdout
    assert rows["public URL"] == deployed
    assert rows["custom domain"] == "none"
    assert result.stderr == ""

    # What create_custom_domain.sh makes (tests/test_pipeline.py runs it): an API mapping of
    # API Gateway V2, which alone takes a multi-level base path such as info/v2.
    apigatewayv2 = aws("apigatewayv2")
    configuration = {"EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
    apigatewayv2.create_domain_name(
        DomainName=DOMAIN, DomainNameConfigurations=[{**configuration, "CertificateArn": "arn:x"}]
    )
    apigatewayv2.create_api_mapping(
        DomainName=DOMAIN, ApiId=api["id"], Stage="dev", ApiMappingKey="info/v2"
    )
    result = run_script("status.sh", env=aws_env)
    assert f"custom domain  https://{DOMAIN}/info/v2\n" in result.stdout


def test_logs_without_a_log_group_says_so_in_one_line(deployed, aws_env):
    # dev's function ran at its release (the gate invokes it); stage prod never ran.
    result = run_script("logs.sh", env={**aws_env, "STAGE": "prod"}, check=False)
    assert "no logs yet: log group /aws/lambda/watch-info-prod does not exist" in one_line_error(
        result, "logs.sh"
    )


@pytest.fixture(scope="module")
def lambda_log(deployed, aws):
    """A POST through the stage URL and a GET through the custom domain, sent to the local
    gateway; (their events, the watch, the function's log events)."""
    apigatewayv2 = aws("apigatewayv2")
    if not apigatewayv2.get_domain_names()["Items"]:  # made by the status test, else here
        (api,) = aws("apigateway").get_rest_apis()["items"]
        configuration = {"EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
        apigatewayv2.create_domain_name(
            DomainName=DOMAIN,
            DomainNameConfigurations=[{**configuration, "CertificateArn": "arn:x"}],
        )
        apigatewayv2.create_api_mapping(
            DomainName=DOMAIN, ApiId=api["id"], Stage="dev", ApiMappingKey="info/v2"
        )
    watch = new_watch()
    credentials = (HTTP_USER, HTTP_PASS)
    with local_gateway(aws, FUNCTION) as (gateway, url):
        post = requests.post(f"{url}/dev/watch", json=watch, auth=credentials, timeout=60)
        assert post.status_code == 200
        get = requests.get(f"{url}/info/v2/watch/{watch['sku']}", auth=credentials, timeout=60)
        assert get.json() == watch
        post_event, get_event = gateway.invocations
    events = aws("logs").filter_log_events(logGroupName=LOG_GROUP)["events"]
    return post_event, get_event, watch, events


def test_request_log_lines_from_the_lambda_package_carry_api_gateways_request_id(lambda_log):
    post, get, watch, events = lambda_log
    output = "\n".join(event["message"] for event in events)
    by_id = {line["request_id"]: line for line in request_lines(output)}
    post_line = by_id[post["requestContext"]["requestId"]]
    get_line = by_id[get["requestContext"]["requestId"]]
    assert (post_line["method"], post_line["operation"], post_line["status"]) == (
        "POST",
        "add_watch",
        200,
    )
    assert (get_line["method"], get_line["operation"], get_line["status"]) == (
        "GET",
        "get_watch",
        200,
    )
    assert set(get_line) == set(post_line) == LINE_KEYS
    # The POST came through the stage URL, the GET through the custom domain: each line
    # shows the path under the base path, as the local server's lines do.
    assert post_line["path"] == "/info/v2/watch"
    assert get_line["path"] == f"/info/v2/watch/{watch['sku']}"
    assert watch["dial_color"] not in output and HTTP_PASS not in output
    assert AUTH["Authorization"].split()[1] not in output


@pytest.fixture(scope="module")
def older_stream(lambda_log, aws):
    """A second stream in the function's log group, with one line three hours old."""
    logs = aws("logs")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=STREAM)
    three_hours_ago = int(time.time() * 1000) - 3 * 3600 * 1000
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=STREAM,
        logEvents=[{"timestamp": three_hours_ago, "message": "an old line"}],
    )
    return STREAM


def test_logs_shows_the_request_lines_of_the_function(lambda_log, older_stream, aws_env):
    post, get, _, events = lambda_log
    result = run_script("logs.sh", "--since", "1h", env=aws_env)
    printed = result.stdout.splitlines()
    assert len(printed) == len(events)
    shown = {line["request_id"] for line in request_lines(result.stdout)}
    assert {post["requestContext"]["requestId"], get["requestContext"]["requestId"]} <= shown
    # What Lambda writes around each invocation: ours, and the release gate's before them,
    # each of which logged one request line.
    invocations = len(request_lines(result.stdout))
    assert invocations > 2
    assert sum(" START RequestId: " in line for line in printed) == invocations
    assert sum(" REPORT RequestId: " in line for line in printed) == invocations
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(events[0]["timestamp"] / 1000))
    assert printed[0].startswith(stamp)
    assert "an old line" not in result.stdout
    assert "an old line" in run_script("logs.sh", "--since", "4h", env=aws_env).stdout


def test_rollback_without_an_earlier_release_says_so_in_one_line(deployed, aws, aws_env):
    result = run_script("rollback.sh", env=aws_env, check=False)
    assert "records no earlier version (the first release)" in one_line_error(result, "rollback.sh")
    result = run_script("rollback.sh", "--to", "50", env=aws_env, check=False)
    assert f"{FUNCTION} has no version 50" in one_line_error(result, "rollback.sh")
    alias = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1"


def test_logs_follow_prints_new_events_as_they_arrive(older_stream, aws, aws_env):
    process = subprocess.Popen(
        ["bash", str(INFO_DIR / "logs.sh"), "--follow", "--since", "1m"],
        env={**aws_env, "LOGS_POLL_SECONDS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        marker = f"arrived later {uuid.uuid4()}"
        aws("logs").put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=older_stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": marker}],
        )
        # A thread reads the lines: select() on the pipe misses lines already buffered.
        seen = []

        def read_lines():
            for line in process.stdout:
                seen.append(line)

        threading.Thread(target=read_lines, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(marker in line for line in seen):
            time.sleep(0.5)
        assert [line for line in seen if marker in line], seen
        assert process.poll() is None  # still following
    finally:
        process.terminate()
        process.wait(timeout=10)
