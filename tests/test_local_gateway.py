"""The local gateway (tools/local_gateway.py) itself, with a tiny function and REST API.

What our deployment needs from it is covered by test_pipeline.py; here, the API Gateway
behaviours it emulates, each of which would otherwise hide a difference from AWS: the
gateway's own answers and gateway responses, the permission check (the alias's own policy
for an integration that names an alias), remapped headers, function failures, new code
being served after an update, traffic split by an alias's weights, and the API deleted and
imported again (a new id) while the gateway runs.
"""

import io
import json
import zipfile

import pytest
import requests
from conftest import emulator_session, free_port, local_gateway
from gateway_document import gateway_responses

FUNCTION = "gateway-probe"
API = "probe"
ROUTES = ("/probe/{name}", "/fail", "/malformed")
HANDLER = """
import json, os

def handler(event, context):
    if event["path"] == "/fail":
        raise RuntimeError("the function failed")
    if event["path"] == "/malformed":
        return {"body": "no statusCode"}
    headers = {"WWW-Authenticate": "Basic", "Server": "probe", "X-Kept": "1", "Content-Length": "7"}
    body = {
        "path": event["path"],
        "version": os.environ.get("VERSION"),
        "function_version": context.function_version,
    }
    return {"statusCode": 401, "headers": headers, "body": json.dumps(body)}
"""
MISSING_ROUTE = {"message": "Missing Authentication Token"}


def package():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", HANDLER)
    return buffer.getvalue()


def get_operation(function_arn):
    integration = {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}"
        "/invocations",
    }
    return {
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": integration,
    }


def document(function_arn):
    """Three routes that call the function, one that calls its alias `live`."""
    paths = {path: {"get": get_operation(function_arn)} for path in ROUTES}
    paths["/live/{name}"] = {"get": get_operation(f"{function_arn}:live")}
    return {
        "openapi": "3.0.1",
        "info": {"title": API, "version": "1", "description": "probe"},
        "paths": paths,
    }


def import_and_deploy(aws, function_arn):
    """The probe API imported and deployed to stage `test`; its id."""
    api_id = aws("apigateway").import_rest_api(body=json.dumps(document(function_arn)))["id"]
    aws("apigateway").create_deployment(restApiId=api_id, stageName="test")
    return api_id


def allow_the_api(aws, api_id, statement_id, **qualifier):
    """Lets API Gateway invoke the function (or its alias: Qualifier=NAME) for GETs of API_ID."""
    aws("lambda").add_permission(
        FunctionName=FUNCTION,
        StatementId=statement_id,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/*",
        **qualifier,
    )


@pytest.fixture(scope="module")
def api(aws):
    """A REST API whose GET routes call the probe function; returns its id."""
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = aws("iam").create_role(RoleName="probe", AssumeRolePolicyDocument=json.dumps(trust))
    function_arn = aws("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="probe.handler",
        Code={"ZipFile": package()},
        Environment={"Variables": {"VERSION": "1"}},
    )["FunctionArn"]
    api_id = import_and_deploy(aws, function_arn)
    allow_the_api(aws, api_id, "gateway")
    return api_id


@pytest.fixture(scope="module")
def gateway(api, aws):
    with local_gateway(aws, API) as (gateway, url):
        yield gateway, url + "/test"


def test_proxy_response_headers_are_remapped_or_kept_as_api_gateway_does(gateway):
    _, url = gateway
    response = requests.get(f"{url}/probe/a%20b", timeout=60)
    assert response.status_code == 401
    assert response.json() == {
        "path": "/probe/a%20b",
        "version": "1",
        "function_version": "$LATEST",
    }
    assert response.headers["x-amzn-Remapped-WWW-Authenticate"] == "Basic"
    assert response.headers["x-amzn-Remapped-Server"] == "probe"
    assert response.headers["X-Kept"] == "1"
    assert "WWW-Authenticate" not in response.headers
    assert response.headers["x-amzn-Remapped-Content-Length"] == "7"
    assert response.headers["Content-Length"] == str(len(response.content))


@pytest.mark.parametrize("path", ["/probe", "/probe/a/b", "/nothing", "/", "/live"])
def test_unknown_routes_get_the_gateways_own_403(gateway, path):
    gateway, url = gateway
    calls = len(gateway.invocations)
    response = requests.get(url + path, timeout=60)
    assert (response.status_code, response.json()) == (403, MISSING_ROUTE)
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert len(gateway.invocations) == calls


def test_other_stages_and_methods_are_unknown_routes(gateway):
    _, url = gateway
    assert requests.post(f"{url}/probe/a", timeout=60).status_code == 403
    assert requests.get(url.replace("/test", "/prod") + "/probe/a", timeout=60).status_code == 403


def test_a_function_error_or_malformed_response_is_a_502(gateway):
    _, url = gateway
    for path in ("/fail", "/malformed"):
        response = requests.get(url + path, timeout=60)
        assert (response.status_code, response.json()) == (
            502,
            {"message": "Internal server error"},
        )


def test_new_configuration_is_served_without_a_restart(gateway, aws):
    _, url = gateway
    aws("lambda").update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"VERSION": "2"}}
    )
    assert requests.get(f"{url}/probe/x", timeout=60).json()["version"] == "2"


def test_gateway_responses_of_the_api_shape_its_own_answers(gateway, api, aws):
    _, url = gateway
    aws("apigateway").put_gateway_response(
        restApiId=api,
        responseType="DEFAULT_4XX",
        statusCode="404",
        responseParameters={"gatewayresponse.header.X-Gateway": "'custom'"},
        responseTemplates={"application/json": '{"error":$context.error.messageString}'},
    )
    try:
        response = requests.get(f"{url}/nothing", timeout=60)
        assert response.status_code == 404
        assert response.headers["X-Gateway"] == "custom"
        assert response.json() == {"error": "Missing Authentication Token"}
    finally:
        aws("apigateway").delete_gateway_response(restApiId=api, responseType="DEFAULT_4XX")


def test_a_custom_domains_base_path_reaches_its_stage_with_the_custom_domain_event(
    gateway, api, aws
):
    gateway, url = gateway
    base = url.removesuffix("/test")
    apigatewayv2 = aws("apigatewayv2")
    configuration = {
        "CertificateArn": "arn:x",
        "EndpointType": "REGIONAL",
        "SecurityPolicy": "TLS_1_2",
    }
    apigatewayv2.create_domain_name(
        DomainName="api.probe.test", DomainNameConfigurations=[configuration]
    )
    try:
        apigatewayv2.create_api_mapping(
            DomainName="api.probe.test", ApiId=api, Stage="test", ApiMappingKey="shop/v1"
        )
        response = requests.get(f"{base}/shop/v1/probe/a%20b", timeout=60)
        assert response.json()["path"] == "/shop/v1/probe/a%20b"
        event = gateway.invocations[-1]
        assert event["resource"] == "/probe/{name}"
        assert event["pathParameters"] == {"name": "a b"}
        assert event["requestContext"]["path"] == "/shop/v1/probe/a%20b"
        assert event["requestContext"]["stage"] == "test"
        assert event["headers"]["Host"] == event["requestContext"]["domainName"] == "api.probe.test"
        assert requests.get(f"{url}/probe/x", timeout=60).json()["path"] == "/probe/x"
        assert requests.get(f"{base}/shop/probe/x", timeout=60).status_code == 403
    finally:
        apigatewayv2.delete_domain_name(DomainName="api.probe.test")


@pytest.mark.parametrize(
    "origins", [["https://a.example.test"], ["https://a.example.test", "https://b.example.test"]]
)
def test_cors_headers_of_gateway_responses_reach_the_client(gateway, api, aws, origins):
    """create_api_gateway.sh's gateway responses with CORS_ORIGINS: a fixed origin, or the
    request's own Origin header (method.request.header.Origin) when there are several."""
    _, url = gateway
    for request in gateway_responses(origins):
        aws("apigateway").put_gateway_response(restApiId=api, **request)
    origin = origins[-1]
    try:
        for method, path, status in [("GET", "/nothing", 404), ("GET", "/fail", 502)]:
            response = requests.request(method, url + path, headers={"Origin": origin}, timeout=60)
            assert response.status_code == status
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert response.headers["Vary"] == "Origin"
            assert response.headers["Access-Control-Expose-Headers"] == "ETag, Retry-After"
        without_origin = requests.get(url + "/nothing", timeout=60)
        echoed = "Access-Control-Allow-Origin" in without_origin.headers
        assert echoed == (len(origins) == 1), "a mapped request header is left out when absent"
    finally:
        for request in gateway_responses(origins):
            aws("apigateway").delete_gateway_response(
                restApiId=api, responseType=request["responseType"]
            )


def test_without_the_invoke_permission_the_function_is_not_called(gateway, aws):
    gateway, url = gateway
    aws("lambda").remove_permission(FunctionName=FUNCTION, StatementId="gateway")
    calls = len(gateway.invocations)
    response = requests.get(f"{url}/probe/a", timeout=60)
    assert (response.status_code, response.json()) == (500, {"message": "Internal server error"})
    assert len(gateway.invocations) == calls


@pytest.fixture(scope="module")
def alias_with_weights(api, aws):
    """Versions 1 and 2 of the function (VERSION 1 and 2), alias `live` naming version 1 and
    giving version 2 half of its traffic, and the alias's own permission for the API."""
    lambda_client = aws("lambda")
    for version in ("1", "2"):
        lambda_client.update_function_configuration(
            FunctionName=FUNCTION, Environment={"Variables": {"VERSION": version}}
        )
        assert lambda_client.publish_version(FunctionName=FUNCTION)["Version"] == version
    lambda_client.create_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    allow_the_api(aws, api, "gateway-live", Qualifier="live")
    return "live"


def test_an_integration_on_an_alias_splits_traffic_by_its_weights(gateway, alias_with_weights):
    _, url = gateway
    answers = [requests.get(f"{url}/live/x", timeout=60).json() for _ in range(30)]
    # Each of the 30 goes to version 2 with probability 0.5: all on one side is 2 in 2**30.
    assert {(answer["function_version"], answer["version"]) for answer in answers} == {
        ("1", "1"),
        ("2", "2"),
    }


def test_an_integration_on_an_alias_needs_the_aliass_own_permission(
    gateway, alias_with_weights, api, aws
):
    """The function's own policy allowing the API is not enough for an integration that
    names the alias: AWS reads the alias's policy."""
    gateway, url = gateway
    allow_the_api(aws, api, "gateway-function")
    aws("lambda").remove_permission(
        FunctionName=FUNCTION, Qualifier=alias_with_weights, StatementId="gateway-live"
    )
    assert requests.get(f"{url}/probe/x", timeout=60).status_code == 401  # the function's
    calls = len(gateway.invocations)
    response = requests.get(f"{url}/live/x", timeout=60)
    assert (response.status_code, response.json()) == (500, {"message": "Internal server error"})
    assert len(gateway.invocations) == calls


def test_while_no_api_is_deployed_the_answer_is_problem_json_naming_the_cause(gateway, api, aws):
    """The API deleted, then imported again under a new id: served without a restart."""
    gateway, url = gateway
    aws("apigateway").delete_rest_api(restApiId=api)
    response = requests.get(f"{url}/probe/x", timeout=60)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith(f"no REST API is named {API} on the emulator")

    function_arn = aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    new_api = import_and_deploy(aws, function_arn)
    assert new_api != api
    allow_the_api(aws, new_api, "gateway-again")
    response = requests.get(f"{url}/probe/x", timeout=60)
    assert response.json()["path"] == "/probe/x"
    assert gateway.invocations[-1]["requestContext"]["apiId"] == new_api


def test_without_an_emulator_the_answer_is_problem_json():
    nowhere = f"http://127.0.0.1:{free_port()}"

    def unreachable(service, config=None):
        return emulator_session().client(service, endpoint_url=nowhere, config=config)

    with local_gateway(unreachable, API) as (_, url):
        response = requests.get(f"{url}/test/probe/x", timeout=60)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == f"no AWS emulator at {nowhere}"
