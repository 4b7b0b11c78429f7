"""The deployment under the faults AWS has and moto lacks, and what AWS needs that moto ignores.

From an empty emulator, with tools/aws_emulator.py's IAM propagation fault on: the create
scripts run as a user runs them, create_lambdas.sh must get through the new role's refusal;
then what they created is read back: no environment variable of the function holds the
password, the gateway's own errors are problem+json (an unknown route 404), the stage is
throttled on every method. Through the local gateway, the deployed package checks the
password against its hash, and with DynamoDB throttling on a client gets 503 problem+json
with Retry-After, never 500.
"""

import json

import pytest
import requests
from aws_emulator import faults
from conftest import HTTP_PASS, HTTP_USER, local_gateway, run_script
from werkzeug.security import check_password_hash

FUNCTION = "watch-info-dev"
ROLE = "watch-info-dev-lambda"
STAGE = "dev"
AUTH = (HTTP_USER, HTTP_PASS)
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
    endpoint = gateway.stdout.strip()  # https://<api id>.execute-api...
    return lambdas, endpoint.split("//")[1].split(".")[0], endpoint.split("amazonaws.com")[1]


def test_create_lambdas_retries_until_lambda_accepts_the_new_role(deployment, aws):
    lambdas, _, _ = deployment
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
    rotated = "rotated-random-password-8Kd2"
    run_script("create_lambdas.sh", env={**aws_env, "HTTP_PASS": rotated})
    assert check_password_hash(password_hash(), rotated)
    assert not check_password_hash(password_hash(), HTTP_PASS)
    run_script("create_lambdas.sh", env=aws_env)
    assert check_password_hash(password_hash(), HTTP_PASS)


def render_template(template):
    """A gateway response template with its one variable filled as API Gateway fills it."""
    return json.loads(template.replace("$context.error.messageString", '"Sample message"'))


def test_the_gateway_answers_its_own_errors_as_problem_json(deployment, aws):
    _, api_id, _ = deployment
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
    _, api_id, _ = deployment
    settings = method_settings(aws, api_id)["*/*"]
    assert settings["throttlingRateLimit"] == 50
    assert settings["throttlingBurstLimit"] == 100
    env = {**aws_env, "THROTTLE_RATE_LIMIT": "5", "THROTTLE_BURST_LIMIT": "10"}
    run_script("create_api_gateway.sh", env=env)
    settings = method_settings(aws, api_id)["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (5, 10)


@pytest.fixture(scope="module")
def base_url(deployment, aws):
    """The deployment's base URL on the local gateway (tools/local_gateway.py)."""
    _, _, base_path = deployment
    with local_gateway(aws, FUNCTION) as (_, url):
        yield url + base_path


def test_the_deployed_function_checks_the_password_against_its_hash(base_url):
    url = f"{base_url}/watch/NO-SUCH-SKU"
    for _ in range(2):  # the second request is served from the verified-password memory
        assert requests.get(url, auth=AUTH, timeout=60).status_code == 404
    assert requests.get(url, auth=(HTTP_USER, HTTP_PASS + "x"), timeout=60).status_code == 401
    assert requests.get(url, auth=(HTTP_USER + "x", HTTP_PASS), timeout=60).status_code == 401


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/watch/CAL5185B", None),
        ("POST", "/watch", {**NEW_WATCH, "year": 2024}),
    ],
    ids=["GetItem", "PutItem"],
)
def test_dynamodb_throttling_reaches_the_client_as_503_with_retry_after(
    base_url, method, path, body
):
    with faults.injected(throttled_dynamodb_operations={"GetItem", "PutItem"}):
        response = requests.request(method, base_url + path, json=body, auth=AUTH, timeout=60)
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert problem["status"] == 503
    assert "ProvisionedThroughputExceededException" in problem["detail"]
    # Once DynamoDB takes requests again, so does the function.
    response = requests.request(method, base_url + path, json=body, auth=AUTH, timeout=60)
    assert response.status_code == 200
