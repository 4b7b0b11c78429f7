"""The deployment under the faults AWS has and moto lacks, and what AWS needs that moto ignores.

From an empty emulator, with tools/aws_emulator.py's IAM propagation fault on: the create
scripts run as a user runs them, create_lambdas.sh must get through the new role's refusal;
then what they created is read back: no environment variable of the function holds the
password, the gateway's own errors are problem+json (an unknown route 404), the stage is
throttled on every method. With DynamoDB throttling on, the deployed package answers 503
problem+json with Retry-After, never 500.
"""

import json

import pytest
from aws_emulator import faults
from conftest import HTTP_PASS, HTTP_USER, run_script
from lambda_runner import LambdaRunner, basic_auth, emulator_env, proxy_event
from werkzeug.security import check_password_hash

FUNCTION = "watch-info-dev"
ROLE = "watch-info-dev-lambda"
STAGE = "dev"
AUTH = {"Authorization": basic_auth(HTTP_USER, HTTP_PASS)}
# Lambda refuses the new role this long; create_lambdas.sh waits ROLE_WAIT_SECONDS between
# its (up to six) attempts, each of which takes Zappa a few seconds more.
ROLE_PROPAGATION_SECONDS = 20
NEW_WATCH = {"sku": "FIDELITY-01", "type": "watch", "status": "current", "gender": "man"}


@pytest.fixture(scope="module")
def deployment(aws_env, loaded_table, lambda_runtime_python):
    """create_lambdas.sh while Lambda refuses the new role, then create_api_gateway.sh."""
    with faults.injected(role_propagation_seconds=ROLE_PROPAGATION_SECONDS):
        lambdas = run_script("create_lambdas.sh", env={**aws_env, "ROLE_WAIT_SECONDS": "4"})
    gateway = run_script("create_api_gateway.sh", env=aws_env)
    api_id = gateway.stdout.strip().split("//")[1].split(".")[0]
    return lambdas, api_id


def test_create_lambdas_retries_until_lambda_accepts_the_new_role(deployment, aws):
    lambdas, _ = deployment
    assert "the new role is not usable by Lambda yet; retrying in 4s" in lambdas.stderr
    configuration = aws("lambda").get_function_configuration(FunctionName=FUNCTION)
    assert configuration["Role"] == aws("iam").get_role(RoleName=ROLE)["Role"]["Arn"]


def test_no_environment_variable_of_the_function_holds_the_password(deployment, aws):
    configuration = aws("lambda").get_function_configuration(FunctionName=FUNCTION)
    variables = configuration["Environment"]["Variables"]
    assert "HTTP_PASS" not in variables
    assert all(HTTP_PASS not in value for value in variables.values())
    assert variables["HTTP_PASS_HASH"].startswith("scrypt:")
    assert check_password_hash(variables["HTTP_PASS_HASH"], HTTP_PASS)
    assert not check_password_hash(variables["HTTP_PASS_HASH"], HTTP_PASS + "x")


def test_rerun_keeps_the_hash_and_a_new_password_replaces_it(deployment, aws, aws_env):
    def password_hash():
        configuration = aws("lambda").get_function_configuration(FunctionName=FUNCTION)
        return configuration["Environment"]["Variables"]["HTTP_PASS_HASH"]

    before = password_hash()
    run_script("create_lambdas.sh", env=aws_env)
    assert password_hash() == before
    run_script("create_lambdas.sh", env={**aws_env, "HTTP_PASS": "rotated-password"})
    assert check_password_hash(password_hash(), "rotated-password")
    assert not check_password_hash(password_hash(), HTTP_PASS)
    run_script("create_lambdas.sh", env=aws_env)
    assert check_password_hash(password_hash(), HTTP_PASS)


def render_template(template):
    """A gateway response template with its one variable filled as API Gateway fills it."""
    return json.loads(template.replace("$context.error.messageString", '"Sample message"'))


def test_the_gateway_answers_its_own_errors_as_problem_json(deployment, aws):
    _, api_id = deployment
    items = aws("apigateway").get_gateway_responses(restApiId=api_id)["items"]
    responses = {item["responseType"]: item for item in items}
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN"} <= set(responses)
    for response in responses.values():
        content_type = response["responseParameters"]["gatewayresponse.header.Content-Type"]
        assert content_type == "'application/problem+json'"
        (template,) = response["responseTemplates"].values()
        body = render_template(template)
        assert body["type"] == "about:blank" and body["title"] and body["detail"]
    assert responses["DEFAULT_4XX"]["responseTemplates"]["application/json"].count(
        "$context.error.messageString"
    )
    unknown_route = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown_route["statusCode"] == "404"
    assert render_template(unknown_route["responseTemplates"]["application/json"])["status"] == 404
    throttled = responses["THROTTLED"]
    assert throttled["statusCode"] == "429"
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def method_settings(aws, api_id):
    return aws("apigateway").get_stage(restApiId=api_id, stageName=STAGE)["methodSettings"]


def test_the_stage_is_throttled_on_every_method(deployment, aws, aws_env):
    _, api_id = deployment
    settings = method_settings(aws, api_id)["*/*"]
    assert settings["throttlingRateLimit"] == 50
    assert settings["throttlingBurstLimit"] == 100
    env = {**aws_env, "THROTTLE_RATE_LIMIT": "5", "THROTTLE_BURST_LIMIT": "10"}
    run_script("create_api_gateway.sh", env=env)
    settings = method_settings(aws, api_id)["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (5, 10)


@pytest.fixture(scope="module")
def function(deployment, aws, aws_env, lambda_runtime_python):
    env = emulator_env(aws_env["AWS_ENDPOINT_URL"])
    with LambdaRunner(aws("lambda"), FUNCTION, env, python=lambda_runtime_python) as runner:
        yield runner


def test_the_deployed_function_checks_the_password_against_its_hash(function):
    path = "/info/v2/watch/NO-SUCH-SKU"
    for _ in range(2):  # the second request is served from the verified-password memory
        assert function.invoke(proxy_event("GET", path, AUTH))["statusCode"] == 404
    wrong = {"Authorization": basic_auth(HTTP_USER, HTTP_PASS + "x")}
    assert function.invoke(proxy_event("GET", path, wrong))["statusCode"] == 401
    other_user = {"Authorization": basic_auth(HTTP_USER + "x", HTTP_PASS)}
    assert function.invoke(proxy_event("GET", path, other_user))["statusCode"] == 401


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/info/v2/watch/CAL5185B", None),
        ("POST", "/info/v2/watch", {**NEW_WATCH, "year": 2024}),
    ],
    ids=["GetItem", "PutItem"],
)
def test_dynamodb_throttling_reaches_the_client_as_503_with_retry_after(
    function, method, path, body
):
    with faults.injected(throttled_dynamodb_operations={"GetItem", "PutItem"}):
        response = function.invoke(proxy_event(method, path, AUTH, body))
    headers = {name.lower(): value for name, value in response["headers"].items()}
    assert response["statusCode"] == 503, response
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) > 0
    problem = json.loads(response["body"])
    assert problem["status"] == 503
    assert "ProvisionedThroughputExceededException" in problem["detail"]
    # Once DynamoDB takes requests again, so does the function.
    assert function.invoke(proxy_event(method, path, AUTH, body))["statusCode"] == 200
