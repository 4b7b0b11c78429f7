"""API Gateway's request path for a REST API deployed on the emulator, which cannot run it.

GatewayHarness reads back what the emulator holds for one REST API (resources, methods,
integrations, stages, deployments) and the function's resource policy, and then handles an
HTTP request the way that configuration says:

- the first path segment must be a deployed stage; the rest must match a resource (a
  `{name}` part takes exactly one segment) that has the request's method, else API Gateway's
  own 403 {"message": "Missing Authentication Token"}: the function is never called;
- the method's integration must be AWS_PROXY (Lambda proxy) with a Lambda invocation URI,
  and the function's policy must let apigateway.amazonaws.com invoke it from this API
  (source ARN arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH), else a 500
  {"message": "Internal server error"} as API Gateway answers a configuration error;
- the REST (v1) Lambda proxy event is built as API Gateway builds it: `path` keeps the
  client's percent-encoding, `pathParameters` and the query string parameters are decoded;
- the function runs out of the package the emulator holds (tests/lambda_runner.py: unzipped,
  in a clean interpreter); its proxy response becomes the HTTP response. A function error
  or a malformed response gives API Gateway's 502.

Known difference: moto keeps no snapshot per deployment, so the harness routes with the
API's current resources once the stage points at an existing deployment.
"""

import base64
import json
import re
import sys
import time
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

from lambda_runner import LambdaError, LambdaRunner, proxy_event

INTEGRATION_URI = re.compile(
    r"^arn:[\w-]+:apigateway:[\w-]+:lambda:path/2015-03-31/functions/"
    r"(?P<function>arn:(?P<partition>[\w-]+):lambda:(?P<region>[\w-]+):(?P<account>\d+)"
    r":function:[^/]+)"
    r"/invocations$"
)
SOURCE_IP = "198.51.100.7"


def gateway_error(status, message, error_type):
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    return status, headers, json.dumps({"message": message}).encode()


def missing_route():
    return gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


def configuration_error():
    return gateway_error(500, "Internal server error", "InternalServerErrorException")


def function_error():
    return gateway_error(502, "Internal server error", "InternalServerErrorException")


def arn_like(pattern, value):
    """IAM's ArnLike: `*` matches any run of characters, `?` any one character."""
    regex = "".join({"*": ".*", "?": "."}.get(char, re.escape(char)) for char in pattern)
    return re.fullmatch(regex, value) is not None


class Route:
    """One resource of the REST API with its methods' integrations."""

    def __init__(self, resource, integrations):
        self.resource_id = resource["id"]
        self.path = resource["path"]
        self.parts = [part for part in self.path.split("/") if part]
        self.integrations = integrations  # {"GET": integration, ...}

    def match(self, segments):
        """The path parameters (decoded) when the raw segments fit this resource, else None."""
        if len(segments) != len(self.parts):
            return None
        parameters = {}
        for part, segment in zip(self.parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    return None
                parameters[part[1:-1]] = unquote(segment)
            elif part != unquote(segment):
                return None
        return parameters

    def literal_parts(self):
        return sum(not part.startswith("{") for part in self.parts)


class GatewayHarness:
    """Serves HTTP requests for the REST API API_ID as deployed on the emulator.

    aws: the `aws` fixture (boto3 clients on the emulator); extra_env: what the function
    needs to reach the emulator (lambda_runner.emulator_env). Close it, or use it as a
    context manager: it owns one worker interpreter per function it invoked.
    """

    def __init__(self, aws, api_id, extra_env):
        self.aws = aws
        self.extra_env = extra_env
        apigateway = aws("apigateway")
        self.api = apigateway.get_rest_api(restApiId=api_id)
        self.api_id = api_id
        deployments = {item["id"] for item in apigateway.get_deployments(restApiId=api_id)["items"]}
        self.stages = {
            stage["stageName"]: stage
            for stage in apigateway.get_stages(restApiId=api_id)["item"]
            if stage.get("deploymentId") in deployments
        }
        self.routes = []
        for resource in apigateway.get_resources(restApiId=api_id, limit=500)["items"]:
            integrations = {}
            for method in resource.get("resourceMethods") or {}:
                try:
                    integrations[method] = apigateway.get_integration(
                        restApiId=api_id, resourceId=resource["id"], httpMethod=method
                    )
                except apigateway.exceptions.NotFoundException:
                    integrations[method] = None  # a method without integration
            self.routes.append(Route(resource, integrations))
        self.region = apigateway.meta.region_name
        self.runners = {}
        self.invocations = []  # the events the functions received, in order

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        for runner in self.runners.values():
            runner.close()
        self.runners.clear()

    def sender(self, base_path):
        """A smoke_test send function for requests under BASE_PATH (e.g. /dev/info/v2)."""

        def send(method, path, headers, body):
            return self.request(method, base_path.rstrip("/") + path, headers, body)

        return send

    def request(self, method, raw_path, headers=None, body=None):
        """(status, headers, body bytes) for an HTTP request to https://HOST + RAW_PATH."""
        url = urlsplit(raw_path)
        segments = url.path.split("/")[1:]
        stage = self.stages.get(unquote(segments[0]))
        if stage is None or len(segments) < 2:
            return missing_route()
        resource_path = "/" + "/".join(segments[1:])
        route, parameters = self.route(segments[1:])
        if route is None or method not in route.integrations:
            return missing_route()
        integration = route.integrations[method]
        uri = INTEGRATION_URI.match((integration or {}).get("uri", ""))
        if not uri or integration.get("type", "").upper() != "AWS_PROXY":
            return configuration_error()
        source_arn = (
            f"arn:{uri['partition']}:execute-api:{self.region}:{uri['account']}:{self.api_id}/"
            f"{stage['stageName']}/{method}{resource_path}"
        )
        if not self.may_invoke(uri["function"], source_arn):
            return configuration_error()
        event = self.event(
            method, url, resource_path, route, parameters, stage, headers, body, uri["account"]
        )
        try:
            response = self.runner(uri["function"]).invoke(event)
        except LambdaError as error:
            print(f"gateway harness: the function failed: {error}", file=sys.stderr)
            return function_error()
        return proxy_response(response)

    def route(self, segments):
        """The most specific resource matching the raw path segments, and its parameters."""
        matches = [(route, route.match(segments)) for route in self.routes]
        matches = [(route, parameters) for route, parameters in matches if parameters is not None]
        if not matches:
            return None, None
        return max(matches, key=lambda match: match[0].literal_parts())

    def may_invoke(self, function_arn, source_arn):
        """Whether the function's resource policy lets API Gateway invoke it for this request."""
        try:
            policy = self.aws("lambda").get_policy(FunctionName=function_arn)["Policy"]
        except self.aws("lambda").exceptions.ResourceNotFoundException:
            return False
        for statement in json.loads(policy)["Statement"]:
            principal = statement.get("Principal", {})
            service = principal.get("Service") if isinstance(principal, dict) else principal
            allowed = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            if (
                statement.get("Effect") == "Allow"
                and service == "apigateway.amazonaws.com"
                and {"lambda:InvokeFunction", "lambda:*"} & set(actions)
                and allowed is not None
                and arn_like(allowed, source_arn)
            ):
                return True
        return False

    def runner(self, function_arn):
        if function_arn not in self.runners:
            self.runners[function_arn] = LambdaRunner(
                self.aws("lambda"), function_arn, self.extra_env
            )
        return self.runners[function_arn]

    def event(self, method, url, resource_path, route, parameters, stage, headers, body, account):
        """The REST API (v1) Lambda proxy event API Gateway sends for this request."""
        headers = {
            "X-Forwarded-For": SOURCE_IP,
            "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
            **(headers or {}),
        }
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        if body is not None:
            headers.setdefault("Content-Length", str(len(body.encode("utf-8"))))
        event = proxy_event(
            method,
            resource_path,
            headers,
            body,
            resource=route.path,
            path_parameters=parameters,
            query=parse_qsl(url.query, keep_blank_values=True),
            stage=stage["stageName"],
            api_id=self.api_id,
            region=self.region,
            account_id=account,
            resource_id=route.resource_id,
            stage_variables=stage.get("variables"),
            source_ip=SOURCE_IP,
        )
        self.invocations.append(event)
        return event


def proxy_response(response):
    """The HTTP response API Gateway makes of a Lambda proxy integration's return value."""
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        print(f"gateway harness: malformed Lambda proxy response {response!r}", file=sys.stderr)
        return function_error()
    headers = {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(value) for value in values)
    for name, value in (response.get("headers") or {}).items():
        headers.setdefault(name, str(value))
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return response["statusCode"], headers, base64.b64decode(body)
    return response["statusCode"], headers, body.encode("utf-8")
