"""The local gateway (tools/local_gateway.py) itself, with a tiny function and REST API.

What our deployment needs from it is covered by test_pipeline.py; here, the API Gateway
behaviours it emulates, each of which would otherwise hide a difference from AWS: the
gateway's own answers and gateway responses, the permission check, remapped headers,
function failures, and new code being served after an update.
"""

import io
import json
import zipfile

import pytest
import requests
from conftest import local_gateway
from gateway_document import gateway_responses

FUNCTION = "gateway-probe"
HANDLER = """
import json, os

def handler(event, context):
    if event["path"] == "/fail":
        raise RuntimeError("the function failed")
    if event["path"] == "/malformed":
        return {"body": "no statusCode"}
    headers = {"WWW-Authenticate": "Basic", "Server": "probe", "X-Kept": "1", "Content-Length": "7"}
    body = {"path": event["path"], "version": os.environ.get("VERSION")}
    return {"statusCode": 401, "headers": headers, "body": json.dumps(body)}
"""
MISSING_ROUTE = {"message": "Missing Authentication Token"}


def package():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", HANDLER)
    return buffer.getvalue()


def document(function_arn):
    integration = {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}"
        "/invocations",
    }
    operation = {"responses": {"200": {"description": "ok"}}}
    operation["x-amazon-apigateway-integration"] = integration
    return {
        "openapi": "3.0.1",
        "info": {"title": "probe", "version": "1", "description": "probe"},
        "paths": {path: {"get": operation} for path in ("/probe/{name}", "/fail", "/malformed")},
    }


@pytest.fixture(scope="module")
def api(aws):
    """A REST API whose three GET routes call the probe function; returns its id."""
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
    api_id = aws("apigateway").import_rest_api(body=json.dumps(document(function_arn)))["id"]
    aws("apigateway").create_deployment(restApiId=api_id, stageName="test")
    aws("lambda").add_permission(
        FunctionName=FUNCTION,
        StatementId="gateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/*",
    )
    return api_id


@pytest.fixture(scope="module")
def gateway(api, aws, aws_env, lambda_runtime_python):
    with local_gateway(aws, aws_env, api, lambda_runtime_python) as (gateway, url):
        yield gateway, url + "/test"


def test_proxy_response_headers_are_remapped_or_kept_as_api_gateway_does(gateway):
    _, url = gateway
    response = requests.get(f"{url}/probe/a%20b", timeout=60)
    assert response.status_code == 401
    assert response.json() == {"path": "/probe/a%20b", "version": "1"}
    assert response.headers["x-amzn-Remapped-WWW-Authenticate"] == "Basic"
    assert response.headers["x-amzn-Remapped-Server"] == "probe"
    assert response.headers["X-Kept"] == "1"
    assert "WWW-Authenticate" not in response.headers
    assert response.headers["x-amzn-Remapped-Content-Length"] == "7"
    assert response.headers["Content-Length"] == str(len(response.content))


@pytest.mark.parametrize("path", ["/probe", "/probe/a/b", "/nothing", "/"])
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
