"""A local API Gateway for a REST API deployed on the emulator, which has no gateway of its own.

    tools/local_gateway.sh [--port 8080] [--api-name NAME] [--stage STAGE]

It serves the stages of the REST API named NAME (the scripts' `watch-info-<stage>` by
default) on http://127.0.0.1:PORT/<stage>/... and prints the local base URL of STAGE, so the
smoke test and docs/deploying.md's curl examples run against it as written. When a custom domain
maps a base path to a stage of the API (create_custom_domain.sh: info/v2), it serves that
too, as http://127.0.0.1:PORT/info/v2/..., and says so. What `sam local start-api` does,
without Docker. Each request is handled the way the emulator's configuration says at that
moment, so a teardown and a redeploy (a new API id) need no restart:

- the API is looked up by its name; while there is none, the answer is 503 problem+json
  naming the cause (nothing deployed), as is any failure of the gateway itself (500) or of
  the emulator (503): never an HTML page;
- the path must start with a custom domain's mapping key (API Gateway V2's API mappings to
  this API) or else with a deployed stage; the rest must match a resource (a `{name}` part
  takes exactly one segment) that has the request's method; else the gateway answers itself
  (MISSING_AUTHENTICATION_TOKEN: 403 {"message": "Missing Authentication Token"}), and the
  function is never called;
- the method's integration must be AWS_PROXY with a Lambda invocation URI, which may name a
  qualifier (`...:function:NAME:ALIAS/invocations`), and the resource policy of what it names
  (the alias's own when it names one, as on AWS) must let apigateway.amazonaws.com invoke it
  from this API (source ARN arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH); else
  API_CONFIGURATION_ERROR (500 {"message": "Internal server error"});
- the Lambda proxy event is the captured sample event (sample_proxy_event.json) with this
  request's fields: `path` keeps the client's percent-encoding, `pathParameters` and the
  query string parameters are decoded. As on AWS, `path` and `requestContext.path` depend on
  how the request came: through the stage URL `/watch/X` and `/dev/watch/X`, through a
  custom domain `/info/v2/watch/X` for both (with the domain as Host and domainName);
  `resource` is `/watch/{sku}` either way;
- the function runs through the emulator's Lambda Invoke (tools/lambda_invoke.py), which
  runs the version the URI names (an alias's by its routing weights) and writes its logs
  and metrics; its proxy response becomes the HTTP response, with the headers API Gateway
  remaps or drops treated so (WWW-Authenticate arrives as x-amzn-Remapped-WWW-Authenticate);
  a function error or a malformed response is a 502;
- the gateway's own answers follow the API's gateway responses (get-gateway-responses):
  the one of the answer's type, else DEFAULT_4XX/DEFAULT_5XX, else AWS's default.

Known differences: moto keeps no snapshot per deployment, so the API's current resources
are routed once the stage points at an existing deployment; an integration has no 29 s
limit (a cold start on a busy machine may take longer).
"""

import argparse
import base64
import copy
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SAMPLE_EVENT = json.loads(
    (Path(__file__).resolve().with_name("sample_proxy_event.json")).read_text(encoding="utf-8")
)
INTEGRATION_URI = re.compile(
    r"^arn:[\w-]+:apigateway:[\w-]+:lambda:path/2015-03-31/functions/"
    r"(?P<function>arn:(?P<partition>[\w-]+):lambda:(?P<region>[\w-]+):(?P<account>\d+)"
    r":function:(?P<name>[^/:]+)(?::(?P<qualifier>[^/:]+))?)"
    r"/invocations$"
)
# Response headers of a Lambda proxy integration that API Gateway renames with this prefix,
# and the ones it drops (API Gateway developer guide, "Amazon API Gateway important notes",
# REST APIs: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html).
# The function's Content-Length is remapped too (real answers carry both it and the gateway's
# own, x-amzn-Remapped-Content-Length); the HTTP server here sends the gateway's.
REMAPPED_PREFIX = "x-amzn-Remapped-"
REMAPPED_HEADERS = set(
    "authorization connection content-length content-md5 date max-forwards server user-agent"
    " www-authenticate".split()
)
DROPPED_HEADERS = set(
    "expect host proxy-authenticate te trailer transfer-encoding upgrade via".split()
)
MAX_BODY_BYTES = 10 * 1024 * 1024
# An invocation is never sent twice (it is not idempotent), and may wait for a cold start.
INVOKE_CONFIG = Config(retries={"total_max_attempts": 1}, read_timeout=900)
# The gateway's own answers: response type -> (status, message, x-amzn-ErrorType).
GATEWAY_ANSWERS = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "API_CONFIGURATION_ERROR": (500, "Internal server error", "InternalServerErrorException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}


def proxy_event(**fields):
    """The sample event with FIELDS replacing its top-level fields. A `requestContext` given
    here only replaces the entries it names; `headers` without `multiValueHeaders` replace
    both."""
    event = copy.deepcopy(SAMPLE_EVENT)
    context = fields.pop("requestContext", {})
    if "headers" in fields:
        fields.setdefault("multiValueHeaders", {k: [v] for k, v in fields["headers"].items()})
    event.update(fields)
    event["requestContext"].update(context)
    return event


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
        self.integrations = integrations  # {"GET": integration or None, ...}

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


class NotDeployed(Exception):
    """No REST API of the name the gateway serves, or more than one."""


def rest_api_id(aws, name):
    """The id of the one REST API named NAME; NotDeployed when there is none or several."""
    apis = aws("apigateway").get_rest_apis(limit=500)["items"]
    ids = [api["id"] for api in apis if api["name"] == name]
    if len(ids) != 1:
        found = f"{len(ids)} REST APIs are named {name}" if ids else f"no REST API is named {name}"
        raise NotDeployed(f"{found} on the emulator; create_api_gateway.sh deploys one")
    return ids[0]


class RestApi:
    """What the emulator holds for one REST API, read at once."""

    def __init__(self, aws, api_id):
        self.id = api_id
        apigateway = aws("apigateway")
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
                    integrations[method] = None
            self.routes.append(Route(resource, integrations))
        self.gateway_responses = {
            response["responseType"]: response
            for response in apigateway.get_gateway_responses(restApiId=api_id, limit=500)["items"]
        }
        # Custom domains: [(mapping key segments, stage name, domain name)], longest key first.
        self.mappings = []
        apigatewayv2 = aws("apigatewayv2")
        for domain in apigatewayv2.get_domain_names()["Items"]:
            name = domain["DomainName"]
            for mapping in apigatewayv2.get_api_mappings(DomainName=name)["Items"]:
                if mapping["ApiId"] == api_id:
                    key = [part for part in mapping.get("ApiMappingKey", "").split("/") if part]
                    self.mappings.append((key, mapping["Stage"], name))
        self.mappings.sort(key=lambda mapping: -len(mapping[0]))

    def entry(self, segments):
        """How a request with these raw path segments reaches the API: (stage, domain name or
        None for the stage URL, the segments before the resource path), else None."""
        for key, stage_name, domain in self.mappings:
            if [unquote(segment) for segment in segments[: len(key)]] == key:
                stage = self.stages.get(stage_name)
                return (stage, domain, segments[: len(key)]) if stage else None
        stage = self.stages.get(unquote(segments[0]))
        return (stage, None, segments[:1]) if stage else None

    def route(self, segments):
        """The most specific resource matching the raw path segments, and its parameters."""
        matches = [(route, route.match(segments)) for route in self.routes]
        matches = [(route, parameters) for route, parameters in matches if parameters is not None]
        if not matches:
            return None, None
        return max(matches, key=lambda match: match[0].literal_parts())


class LocalGateway:
    """Serves HTTP requests for the REST API named API_NAME as deployed (on the emulator).

    aws(service, config=None) returns a boto3 client. Close it, or use it as a context
    manager, to stop serving.
    """

    def __init__(self, aws, api_name):
        self.aws = aws
        self.api_name = api_name
        self.region = aws("apigateway").meta.region_name
        self.lambda_client = aws("lambda", INVOKE_CONFIG)
        self.invocations = []  # the events the functions received, in order
        self.server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def serve(self, port=0):
        """Starts serving on 127.0.0.1:PORT in a thread; returns the local base URL. A port
        in use raises OSError (werkzeug alone would print its message and exit)."""
        with socket.create_server(("127.0.0.1", port)) as listening:
            self.server = make_server("127.0.0.1", port, self.wsgi_app, fd=listening.fileno())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.port}"

    @Request.application
    def wsgi_app(self, request):
        raw_path = request.environ.get("REQUEST_URI") or request.full_path
        try:
            status, headers, body = self.request(
                request.method, raw_path, request.headers, request.get_data(), request.remote_addr
            )
        except NotDeployed as error:
            status, headers, body = problem(503, "Service Unavailable", str(error))
        except EndpointConnectionError:
            url = self.aws("apigateway").meta.endpoint_url
            status, headers, body = problem(503, "Service Unavailable", f"no AWS emulator at {url}")
        except Exception as error:  # a fault of the gateway's own: said in one line, not HTML
            detail = f"the local gateway failed: {type(error).__name__}: {error}"
            print(f"local gateway: {detail}", file=sys.stderr)
            status, headers, body = problem(500, "Internal Server Error", detail)
        return Response(body, status=status, headers=list(headers.items()))

    def request(self, method, raw_path, headers, body, source_ip="127.0.0.1"):
        """(status, headers, body bytes) for an HTTP request to https://DOMAIN + RAW_PATH."""
        try:
            api = RestApi(self.aws, rest_api_id(self.aws, self.api_name))
        except ClientError as error:  # deleted while it was read
            if error.response["Error"]["Code"] != "NotFoundException":
                raise
            raise NotDeployed(f"REST API {self.api_name} is being deleted") from None
        url = urlsplit(raw_path)
        segments = url.path.split("/")[1:]
        entry = api.entry(segments)
        if entry is None or len(segments) <= len(entry[2]):
            return self.gateway_answer(api, "MISSING_AUTHENTICATION_TOKEN", headers)
        stage, domain, prefix = entry
        resource_segments = segments[len(prefix) :]
        resource_path = "/" + "/".join(resource_segments)
        route, parameters = api.route(resource_segments)
        if route is None or method not in route.integrations:
            return self.gateway_answer(api, "MISSING_AUTHENTICATION_TOKEN", headers)
        if len(body or b"") > MAX_BODY_BYTES:
            return self.gateway_answer(api, "REQUEST_TOO_LARGE", headers)
        integration = route.integrations[method]
        uri = INTEGRATION_URI.match((integration or {}).get("uri", ""))
        if not uri or integration.get("type", "").upper() != "AWS_PROXY":
            return self.gateway_answer(api, "API_CONFIGURATION_ERROR", headers)
        source_arn = (
            f"arn:{uri['partition']}:execute-api:{self.region}:{uri['account']}:{api.id}/"
            f"{stage['stageName']}/{method}{resource_path}"
        )
        if not self.may_invoke(uri["name"], uri["qualifier"], source_arn):
            return self.gateway_answer(api, "API_CONFIGURATION_ERROR", headers)
        event = self.event(api, method, url, resource_path, route, parameters, stage, headers, body)
        if domain:
            event = custom_domain_event(event, domain, "/" + "/".join(prefix))
        event["requestContext"].update(accountId=uri["account"], requestId=str(uuid.uuid4()))
        event["requestContext"]["identity"].update(
            sourceIp=source_ip, userAgent=event["headers"].get("User-Agent")
        )
        self.invocations.append(event)
        try:
            answer = self.lambda_client.invoke(
                FunctionName=uri["function"], Payload=json.dumps(event).encode()
            )
        except ClientError as error:  # e.g. the function or its alias is gone
            print(f"local gateway: cannot invoke {uri['function']}: {error}", file=sys.stderr)
            return self.gateway_answer(api, "API_CONFIGURATION_ERROR", headers)
        payload = answer["Payload"].read().decode("utf-8", "replace")
        if answer.get("FunctionError"):
            print(f"local gateway: the function failed: {payload}", file=sys.stderr)
            return self.gateway_answer(api, "DEFAULT_5XX", headers)
        return proxy_response(json.loads(payload)) or self.gateway_answer(
            api, "DEFAULT_5XX", headers
        )

    def gateway_answer(self, api, response_type, request_headers):
        """The gateway's own answer: the API's gateway response of this type, else its
        DEFAULT_4XX/DEFAULT_5XX, else AWS's default ({"message": ...} as JSON). Its header
        values are static ('text') or a header of the request (method.request.header.NAME,
        left out when the request has none); other mapped values are not emulated."""
        status, message, error_type = GATEWAY_ANSWERS[response_type]
        default = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        configured = api.gateway_responses.get(response_type) or api.gateway_responses.get(default)
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
        template = '{"message":$context.error.messageString}'
        request_headers = {name.lower(): value for name, value in request_headers.items()}
        if configured:
            status = int(configured.get("statusCode") or status)
            for name, value in (configured.get("responseParameters") or {}).items():
                if not name.startswith("gatewayresponse.header."):
                    continue
                name = name.removeprefix("gatewayresponse.header.")
                if value.startswith("'"):
                    headers[name] = value.strip("'")
                elif value.startswith("method.request.header."):
                    mapped = value.removeprefix("method.request.header.").lower()
                    if mapped in request_headers:
                        headers[name] = request_headers[mapped]
            template = (configured.get("responseTemplates") or {}).get("application/json", template)
        body = (
            template.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message)
            .replace("$context.error.responseType", response_type)
        )
        return status, headers, body.encode("utf-8")

    def may_invoke(self, function_name, qualifier, source_arn):
        """Whether the resource policy of the function, or of the alias or version QUALIFIER
        when there is one, lets API Gateway invoke it for this request."""
        try:
            if qualifier:
                policy = self.lambda_client.get_policy(
                    FunctionName=function_name, Qualifier=qualifier
                )
            else:
                policy = self.lambda_client.get_policy(FunctionName=function_name)
        except self.lambda_client.exceptions.ResourceNotFoundException:
            return False
        for statement in json.loads(policy["Policy"])["Statement"]:
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

    def event(self, api, method, url, resource_path, route, parameters, stage, headers, body):
        """The REST API (v1) Lambda proxy event API Gateway sends for this request."""
        domain = f"{api.id}.execute-api.{self.region}.amazonaws.com"
        headers = {
            **{name: value for name, value in headers.items() if name.lower() != "host"},
            "Host": domain,
            "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
        }
        query = parse_qsl(url.query, keep_blank_values=True)
        multi_query = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        now = time.time()
        return proxy_event(
            resource=route.path,
            path=resource_path,
            httpMethod=method,
            headers=headers,
            queryStringParameters=dict(query) or None,
            multiValueQueryStringParameters=multi_query or None,
            pathParameters=parameters or None,
            stageVariables=stage.get("variables") or None,
            body=body.decode("utf-8", "replace") if body else None,
            isBase64Encoded=False,
            requestContext={
                "resourceId": route.resource_id,
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": uuid.uuid4().hex[:16],
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "path": f"/{stage['stageName']}{resource_path}",
                "stage": stage["stageName"],
                "domainName": domain,
                "domainPrefix": api.id,
                "apiId": api.id,
            },
        )


def custom_domain_event(event, domain, base_path):
    """EVENT (as it arrives through the stage URL) as it arrives through the custom domain
    DOMAIN whose base path mapping BASE_PATH (/info/v2) leads to the same stage: `path` and
    `requestContext.path` both hold the base path and no stage, and DOMAIN is the Host."""
    path = base_path + event["path"]
    context = {"path": path, "domainName": domain, "domainPrefix": domain.split(".")[0]}
    changed = {
        "path": path,
        "headers": {**event["headers"], "Host": domain},
        "requestContext": {**event["requestContext"], **context},
    }
    unchanged = {
        name: value
        for name, value in event.items()
        if name not in changed and name != "multiValueHeaders"
    }
    return proxy_event(**unchanged, **changed)


def problem(status, title, detail):
    """The gateway's answer of its own (not one of the API's), as problem+json."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def proxy_response(response):
    """The HTTP response API Gateway makes of a Lambda proxy response, None when malformed."""
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        print(f"local gateway: malformed Lambda proxy response {response!r}", file=sys.stderr)
        return None
    headers = {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(value) for value in values)
    for name, value in (response.get("headers") or {}).items():
        headers.setdefault(name, str(value))
    headers = {
        REMAPPED_PREFIX + name if name.lower() in REMAPPED_HEADERS else name: value
        for name, value in headers.items()
        if name.lower() not in DROPPED_HEADERS
    }
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return response["statusCode"], headers, base64.b64decode(body)
    return response["statusCode"], headers, body.encode("utf-8")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Serve a REST API deployed on the AWS emulator on a loopback port."
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    parser.add_argument("--api-name", required=True, help="the REST API's name")
    parser.add_argument("--stage", default="dev", help="the stage whose URL to print")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("local_gateway.py: error: set AWS_ENDPOINT_URL to the emulator holding the API")
    session = boto3.session.Session()

    def aws(service, config=None):
        return session.client(service, config=config)

    try:
        api = RestApi(aws, rest_api_id(aws, args.api_name))
        serving = f"REST API {args.api_name} ({api.id})"
    except NotDeployed as error:
        api, serving = None, f"503 problem+json for now: {error}"
    except EndpointConnectionError:
        sys.exit(f"local_gateway.py: error: nothing answers at {os.environ['AWS_ENDPOINT_URL']}")
    with LocalGateway(aws, args.api_name) as gateway:
        try:
            local = gateway.serve(args.port)
        except OSError as error:
            reason = os.strerror(error.errno)
            sys.exit(f"local_gateway.py: error: port {args.port}: {reason}; see --port")
        print(f"==> {local}: {serving}. Ctrl-C stops it", file=sys.stderr)
        for key, _, domain in api.mappings if api else []:
            print(f"==> custom domain {domain}: {local}/{'/'.join(key)}", file=sys.stderr)
        print(f"{local}/{args.stage}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
