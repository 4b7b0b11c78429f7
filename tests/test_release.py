"""Releases on the emulator: every deploy gated and reversible through the alias live.

One dev deployment (create_lambdas.sh, create_api_gateway.sh) followed through its releases,
with requests sent through the local gateway, which invokes alias live through the
emulator's Lambda Invoke: a broken build refused (the alias unmoved, the old version still
serving), a good build released, rollback as one alias move, canaries that complete and
that roll back by themselves, and prod deployed beside dev from dev's code. Builds other
than the repository's are made in a copy of the checkout (`checkout`), as an operator's
edited working tree. The tests run in file order.
"""

import json
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from conftest import HTTP_PASS, HTTP_USER, INFO_DIR, REPO, TABLE, local_gateway, run_script
from test_lambda import one_line_error

FUNCTION = "watch-info-dev"
PROD_FUNCTION = "watch-info-prod"
PROD_TABLE = "watch-info-prod"
LIVE = "live"
FAULT_SKU = "CANARY-FAULT"
AUTH = (HTTP_USER, HTTP_PASS)


def checkout(folder, server_change=None):
    """A copy of the checkout's info-v2/ and spec in FOLDER, sharing the virtualenvs, with
    server.py changed by SERVER_CHANGE (a function of its text); returns its info-v2/."""
    shutil.copytree(INFO_DIR, folder / "info-v2", symlinks=True)
    shutil.copy(REPO / "info_openapi_v2.yaml", folder)
    for venv in (".venv", ".venv-lambda", ".venv-runtime"):
        (folder / venv).symlink_to(REPO / venv)
    if server_change:
        server = folder / "info-v2" / "server.py"
        server.write_text(server_change(server.read_text()))
    return folder / "info-v2"


def get_raises(text):
    """A build whose GET always fails."""
    return text.replace("def get_watch(sku):\n", "def get_watch(sku):\n    1 / 0\n", 1)


def get_of_fault_sku_raises(text):
    """A build that passes the gate, but fails a GET of FAULT_SKU, which the gate never asks."""
    fault = f"    if sku == {FAULT_SKU!r}:\n        raise RuntimeError('injected fault')\n"
    return text.replace("def get_watch(sku):\n", "def get_watch(sku):\n" + fault, 1)


def with_comment(text):
    """A build that answers as the repository's does, with other bytes."""
    return text + f"\n# build {uuid.uuid4()}\n"


def error_line(result, script):
    """The last stderr line of a run that stopped after its progress lines: its one error."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{script}: error: ")
    assert sum(line.startswith(f"{script}: error: ") for line in lines) == 1
    return lines[-1]


def alias(aws, function=FUNCTION):
    return aws("lambda").get_alias(FunctionName=function, Name=LIVE)


def versions(aws, function=FUNCTION):
    found = aws("lambda").list_versions_by_function(FunctionName=function)["Versions"]
    return [version["Version"] for version in found if version["Version"] != "$LATEST"]


def code_sha(aws, qualifier, function=FUNCTION):
    configuration = aws("lambda").get_function_configuration(
        FunctionName=function, Qualifier=qualifier
    )
    return configuration["CodeSha256"]


def item_count(aws, table=TABLE):
    return aws("dynamodb").scan(TableName=table, Select="COUNT")["Count"]


def executed_version(aws):
    """The version an invocation of alias live runs (X-Amz-Executed-Version)."""
    return aws("lambda").invoke(FunctionName=FUNCTION, Qualifier=LIVE, Payload=b"{}")[
        "ExecutedVersion"
    ]


@pytest.fixture(scope="module")
def dev(aws_env, loaded_table, aws):
    """The first release: create_lambdas.sh (its gate included) and create_api_gateway.sh."""
    count = item_count(aws)
    create = run_script("create_lambdas.sh", env=aws_env)
    run_script("create_api_gateway.sh", env=aws_env)
    return {"create": create, "count before": count}


@pytest.fixture(scope="module")
def gateway(dev, aws):
    """The local gateway; yields the stage's base URL on it."""
    with local_gateway(aws, FUNCTION) as (_, url):
        yield f"{url}/dev"


def test_the_first_release_passes_the_gate_and_the_alias_names_version_1(dev, aws):
    create = dev["create"]
    assert "[stage URL] GET / (health check, no credentials): 200" in create.stderr
    assert "[custom domain] POST a copy of the stored watch: 200 (idempotent)" in create.stderr
    assert "23 of 23 checks passed against watch-info-dev:1" in create.stderr
    assert alias(aws)["FunctionVersion"] == "1"
    assert versions(aws) == ["1"]
    assert "live:       alias live, version 1" in create.stdout
    # The gate's checks change no data: the POST stores an exact copy of a stored watch.
    assert item_count(aws) == dev["count before"]


@pytest.fixture(scope="module")
def broken(dev, gateway, aws, aws_env, tmp_path_factory):
    """update_lambdas.sh from a checkout whose GET raises."""
    info_dir = checkout(tmp_path_factory.mktemp("broken"), get_raises)
    count = item_count(aws)
    result = run_script("update_lambdas.sh", info_dir=info_dir, env=aws_env, check=False)
    return result, count


def test_a_broken_build_is_refused_and_no_client_gets_it(broken, gateway, aws):
    result, count = broken
    error = error_line(result, "update_lambdas.sh")
    assert "version 2 refused, the check failed: [stage URL] GET a stored watch" in error
    assert "alias live still names version 1; no client got version 2" in error
    assert alias(aws)["FunctionVersion"] == "1"
    # A request through the gateway is still served by version 1.
    response = requests.get(f"{gateway}/watch/CAL5185B", auth=AUTH, timeout=120)
    assert (response.status_code, response.json()["sku"]) == (200, "CAL5185B")
    assert executed_version(aws) == "1"
    assert item_count(aws) == count


@pytest.fixture(scope="module")
def good(broken, aws, aws_env, tmp_path_factory):
    """update_lambdas.sh from a checkout with other bytes that answer as they should."""
    info_dir = checkout(tmp_path_factory.mktemp("good"), with_comment)
    count = item_count(aws)
    return run_script("update_lambdas.sh", info_dir=info_dir, env=aws_env), count


def test_a_good_build_is_released_as_one_version_holding_code_and_configuration(good, aws):
    result, count = good
    assert versions(aws) == ["1", "2", "3"]
    assert alias(aws)["FunctionVersion"] == "3"
    assert alias(aws)["Description"].endswith(" previous=1")
    assert f"CodeSha256: {code_sha(aws, '3')}" in result.stdout
    assert code_sha(aws, "3") != code_sha(aws, "1")
    variables = aws("lambda").get_function_configuration(FunctionName=FUNCTION, Qualifier="3")
    assert set(variables["Environment"]["Variables"]) == {
        "DYNAMODB_TABLE",
        "HTTP_USER",
        "HTTP_PASS_HASH",
    }
    assert executed_version(aws) == "3"
    assert item_count(aws) == count


def status_rows(aws_env, stage_env=None):
    result = run_script("status.sh", env=stage_env or aws_env)
    assert "None" not in result.stdout
    return {line[:14].strip(): line[15:] for line in result.stdout.splitlines()}


def test_status_shows_the_release_and_what_a_rollback_would_pick(good, aws, aws_env):
    rows = status_rows(aws_env)
    assert rows["live"].startswith(f"alias live: version 3, code {code_sha(aws, '3')}, released ")
    assert rows["rollback"] == "version 1 (rollback.sh)"


def test_rollback_moves_the_alias_back_and_publishes_nothing(good, gateway, aws, aws_env):
    latest = code_sha(aws, "$LATEST")
    result = run_script("rollback.sh", env=aws_env)
    assert f"alias live names version 1 (CodeSha256 {code_sha(aws, '1')}), was version 3" in (
        result.stdout
    )
    assert alias(aws)["FunctionVersion"] == "1"
    assert versions(aws) == ["1", "2", "3"]
    assert code_sha(aws, "$LATEST") == latest  # nothing uploaded
    assert executed_version(aws) == "1"
    assert requests.get(f"{gateway}/watch/CAL5185B", auth=AUTH, timeout=120).status_code == 200
    run_script("rollback.sh", env=aws_env)  # a rollback of the rollback
    assert alias(aws)["FunctionVersion"] == "3"
    run_script("rollback.sh", "--to", "1", env=aws_env)
    assert alias(aws)["FunctionVersion"] == "1"
    run_script("rollback.sh", "--to", "3", env=aws_env)


def test_rollback_with_snap_start_on_is_the_same_alias_move(good, aws, aws_env):
    on = {**aws_env, "SNAP_START": "on"}
    run_script("create_lambdas.sh", env=on)  # the configuration only: one new version
    assert versions(aws) == ["1", "2", "3", "4"]
    assert alias(aws)["FunctionVersion"] == "4"
    published = aws("lambda").get_function_configuration(FunctionName=FUNCTION, Qualifier="4")
    # (moto 5.2.5 keeps no SnapStart setting; the variable travels with it.)
    assert published["Environment"]["Variables"]["INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"] == "true"
    assert code_sha(aws, "4") == code_sha(aws, "3")
    run_script("rollback.sh", env=on)
    assert alias(aws)["FunctionVersion"] == "3"
    assert versions(aws) == ["1", "2", "3", "4"]
    assert [a["Name"] for a in aws("lambda").list_aliases(FunctionName=FUNCTION)["Aliases"]] == [
        LIVE
    ]
    run_script("rollback.sh", env=on)
    assert alias(aws)["FunctionVersion"] == "4"


def wait_for_canary(aws, process, timeout=600):
    """The weights of alias live once the canary has split the traffic."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        weights = (alias(aws).get("RoutingConfig") or {}).get("AdditionalVersionWeights")
        if weights:
            return weights
        time.sleep(0.5)
    raise AssertionError(f"no canary split (update_lambdas.sh: {process.poll()})")


@pytest.fixture(scope="module")
def canary_rolled_back(good, gateway, aws, aws_env, tmp_path_factory):
    """A canary of a build that fails GETs of FAULT_SKU: requests for it go through the
    gateway while the canary watches (at most 10 minutes; it stops at the first error)."""
    info_dir = checkout(tmp_path_factory.mktemp("faulty"), get_of_fault_sku_raises)
    env = {**aws_env, "CANARY_POLL_SECONDS": "1"}
    command = ["bash", str(info_dir / "update_lambdas.sh"), "--canary", "50"]
    with subprocess.Popen(
        [*command, "--canary-minutes", "10"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            weights = wait_for_canary(aws, process)
            # Half the requests reach the canary: 40 all avoiding it has odds of 2**-40.
            answers = [
                requests.get(f"{gateway}/watch/{FAULT_SKU}", auth=AUTH, timeout=120).status_code
                for _ in range(40)
            ]
            stdout, stderr = process.communicate(timeout=900)
        finally:
            process.kill()
    return weights, answers, process.returncode, stderr


def test_a_canary_with_errors_rolls_back_by_itself(canary_rolled_back, aws):
    weights, answers, returncode, stderr = canary_rolled_back
    assert weights == {"5": 0.5}
    assert 500 in answers and 404 in answers  # the canary's and the released version's
    assert returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("update_lambdas.sh: error: canary: version 5 answered with errors")
    assert "HTTP 5xx answer(s) in its request log" in last
    assert last.endswith("rolled back: alias live serves version 4 only")
    live = alias(aws)
    assert live["FunctionVersion"] == "4"
    assert not (live.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_a_canary_without_errors_completes(canary_rolled_back, aws, aws_env, tmp_path_factory):
    info_dir = checkout(tmp_path_factory.mktemp("canary-good"), with_comment)
    env = {**aws_env, "CANARY_POLL_SECONDS": "1"}
    args = ["--canary", "10", "--canary-minutes", "0.02"]
    result = run_script("update_lambdas.sh", *args, env=env, info_dir=info_dir)
    assert "canary: version 6 gets 10% of alias live's traffic" in result.stderr
    assert "completing the release" in result.stderr
    live = alias(aws)
    assert (live["FunctionVersion"], live["Description"].split()[-1]) == ("6", "previous=4")
    assert not (live.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--canary", "100"], "--canary takes a percentage from 1 to 99, not '100'"),
        (["--canary", "5", "--canary-minutes", "0"], "--canary-minutes takes a number"),
        (["--code-from", "dev"], "--code-from names the stage being deployed"),
        (["--canary"], "--canary needs a value"),
    ],
)
def test_release_options_refuse_bad_values_in_one_line(args, words, aws_env):
    result = run_script("update_lambdas.sh", *args, env=aws_env, check=False)
    assert words in one_line_error(result, "update_lambdas.sh")


@pytest.fixture(scope="module")
def prod(canary_rolled_back, aws, aws_env, tmp_path_factory):
    """STAGE=prod beside dev: its table (a few watches), function and REST API, then dev's
    code released to it with --code-from dev. What dev holds is read before and after."""

    def without_metadata(answer):
        return {key: value for key, value in answer.items() if key != "ResponseMetadata"}

    def dev_state():
        return {
            "alias": without_metadata(alias(aws)),
            "versions": versions(aws),
            "configuration": without_metadata(
                aws("lambda").get_function_configuration(FunctionName=FUNCTION)
            ),
            "apis": [
                api["id"]
                for api in aws("apigateway").get_rest_apis()["items"]
                if api["name"] == FUNCTION
            ],
            "table": item_count(aws),
        }

    watches = json.loads((REPO / "watches.json").read_text(encoding="utf-8-sig"))[:20]
    small = tmp_path_factory.mktemp("prod") / "watches.json"
    small.write_text(json.dumps(watches))
    env = {**aws_env, "STAGE": "prod"}
    before = dev_state()
    run_script("initialize_dynamodb.sh", "--file", str(small), env=env)
    run_script("create_lambdas.sh", env=env)
    url = run_script("create_api_gateway.sh", env=env).stdout.strip()
    promoted = run_script("update_lambdas.sh", "--code-from", "dev", env=env)
    return before, dev_state(), url, promoted, env


def test_prod_is_deployed_beside_dev_with_its_own_parts(prod, aws):
    _, _, url, _, _ = prod
    assert url.endswith("/prod")
    configuration = aws("lambda").get_function_configuration(FunctionName=PROD_FUNCTION)
    assert configuration["Environment"]["Variables"]["DYNAMODB_TABLE"] == PROD_TABLE
    assert configuration["Role"].endswith(":role/watch-info-prod-lambda")
    assert 0 < item_count(aws, PROD_TABLE) <= 20
    names = [api["name"] for api in aws("apigateway").get_rest_apis()["items"]]
    assert sorted(names) == [FUNCTION, PROD_FUNCTION]


def test_prod_gets_exactly_the_code_dev_checked_and_dev_is_untouched(prod, aws):
    before, after, _, promoted, env = prod
    assert before == after
    dev_sha = code_sha(aws, LIVE)
    assert code_sha(aws, LIVE, PROD_FUNCTION) == dev_sha
    assert f"CodeSha256: {dev_sha}" in promoted.stdout
    assert "checks passed against watch-info-prod:" in promoted.stderr
    rows = status_rows(None, env)
    assert rows["table"].startswith(f"{PROD_TABLE}: ACTIVE")
    assert f"code {dev_sha}" in rows["live"]


def test_a_request_to_prod_through_the_gateway_reads_the_prod_table(prod, aws):
    watch = json.loads((REPO / "watches.json").read_text(encoding="utf-8-sig"))[30]
    with local_gateway(aws, PROD_FUNCTION) as (_, url):
        response = requests.get(f"{url}/prod/watch/{watch['sku']}", auth=AUTH, timeout=120)
    assert response.status_code == 404  # only the first 20 watches are in prod's table


def point_api_at(aws, api_id, target_arn, folder, **qualifier):
    """The REST API of prod as the earlier scripts made it: its integrations invoking
    TARGET_ARN (the function, or an alias of it with Qualifier=ALIAS), deployed, and API
    Gateway allowed to invoke it."""
    document = folder / "api.json"
    subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            str(INFO_DIR / "lib/gateway_document.py"),
            "--spec",
            str(REPO / "info_openapi_v2.yaml"),
            "--lambda-arn",
            target_arn,
            "--region",
            "us-east-1",
            "--api-name",
            PROD_FUNCTION,
            "--output",
            str(document),
        ],
        check=True,
    )
    apigateway = aws("apigateway")
    apigateway.put_rest_api(
        restApiId=api_id,
        mode="overwrite",
        parameters={"basepath": "ignore"},
        body=document.read_bytes(),
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    aws("lambda").add_permission(
        FunctionName=PROD_FUNCTION,
        StatementId="api-gateway-invoke",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/*/*",
        **qualifier,
    )


def integration_uris(aws, api_id):
    apigateway = aws("apigateway")
    return {
        method["methodIntegration"]["uri"]
        for resource in apigateway.get_resources(restApiId=api_id, embed=["methods"])["items"]
        for method in (resource.get("resourceMethods") or {}).values()
    }


@pytest.fixture(scope="module")
def earlier_shape(prod, aws, tmp_path_factory):
    """prod as the earlier scripts left it: its REST API invoking the function itself, with
    the permission on the function; then update_lambdas.sh runs once more."""
    _, _, url, _, env = prod
    api_id = url.split("//")[1].split(".")[0]
    function_arn = aws("lambda").get_function(FunctionName=PROD_FUNCTION)["Configuration"][
        "FunctionArn"
    ]
    point_api_at(aws, api_id, function_arn, tmp_path_factory.mktemp("earlier"))
    result = run_script("update_lambdas.sh", "--code-from", "dev", env=env)
    return result, api_id, function_arn


def test_an_earlier_deployment_moves_to_alias_live_and_says_so(earlier_shape, aws):
    result, api_id, function_arn = earlier_shape
    assert (
        f"REST API {PROD_FUNCTION} invoked {PROD_FUNCTION} itself ($LATEST); "
        "from now on it invokes alias live"
    ) in result.stderr
    assert "removing API Gateway's permission to invoke watch-info-prod itself" in result.stderr
    assert integration_uris(aws, api_id) == {
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}:live/invocations"
    }
    try:
        policy = json.loads(aws("lambda").get_policy(FunctionName=PROD_FUNCTION)["Policy"])
    except aws("lambda").exceptions.ResourceNotFoundException:
        policy = {"Statement": []}
    assert policy["Statement"] == []  # API Gateway may no longer invoke $LATEST


@pytest.fixture(scope="module")
def earlier_snapstart_shape(prod, earlier_shape, aws, tmp_path_factory):
    """prod as the earlier scripts left it with SNAP_START=on: no alias live, its REST API
    invoking alias snapstart (on the version clients get), with the permission on that alias;
    then update_lambdas.sh runs once more."""
    _, api_id, function_arn = earlier_shape
    awslambda = aws("lambda")
    version = alias(aws, PROD_FUNCTION)["FunctionVersion"]
    awslambda.delete_alias(FunctionName=PROD_FUNCTION, Name=LIVE)
    awslambda.create_alias(FunctionName=PROD_FUNCTION, Name="snapstart", FunctionVersion=version)
    folder = tmp_path_factory.mktemp("earlier-snapstart")
    point_api_at(aws, api_id, f"{function_arn}:snapstart", folder, Qualifier="snapstart")
    env = {**prod[4], "SNAP_START": "on"}
    result = run_script("update_lambdas.sh", "--code-from", "dev", env=env)
    return result, api_id, function_arn, version


def test_an_earlier_snap_start_deployment_moves_to_alias_live_and_says_so(
    earlier_snapstart_shape, aws
):
    result, api_id, function_arn, version = earlier_snapstart_shape
    assert (
        f"REST API {PROD_FUNCTION} invoked alias snapstart; from now on it invokes alias live "
        f"(version {version}, what clients get now)"
    ) in result.stderr
    assert "removing alias snapstart of watch-info-prod" in result.stderr
    assert integration_uris(aws, api_id) == {
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}:live/invocations"
    }
    awslambda = aws("lambda")
    assert [a["Name"] for a in awslambda.list_aliases(FunctionName=PROD_FUNCTION)["Aliases"]] == [
        LIVE
    ]
    # The configuration changed (SnapStart on): one new version, gated, then released.
    released = alias(aws, PROD_FUNCTION)
    assert int(released["FunctionVersion"]) == int(version) + 1
    assert released["Description"].endswith(f" previous={version}")
    policy = json.loads(awslambda.get_policy(FunctionName=PROD_FUNCTION, Qualifier=LIVE)["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["api-gateway-invoke"]


def test_cors_origins_travels_with_the_version_and_leaves_with_it(
    prod, earlier_snapstart_shape, aws
):
    env = {**prod[4], "SNAP_START": "on"}

    def released_variables():
        configuration = aws("lambda").get_function_configuration(
            FunctionName=PROD_FUNCTION, Qualifier=LIVE
        )
        return configuration["Environment"]["Variables"]

    origin = "https://app.example.test"
    run_script("update_lambdas.sh", "--code-from", "dev", env={**env, "CORS_ORIGINS": origin})
    assert released_variables()["CORS_ORIGINS"] == origin
    run_script("update_lambdas.sh", "--code-from", "dev", env=env)
    assert "CORS_ORIGINS" not in released_variables()
