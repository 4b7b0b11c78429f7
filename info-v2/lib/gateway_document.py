"""Turns info_openapi_v2.yaml into the document that API Gateway imports as the REST API.

    gateway_document.py --lambda-arn ARN [--region REGION] [--api-name NAME] [--spec FILE]
                        [--output FILE]
    gateway_document.py --check [--spec FILE]
    gateway_document.py --base-path [--spec FILE]
    gateway_document.py --gateway-responses

The contract stays the single source of the routes. The rendered document differs from it in:
- nothing, in the paths: the resources are relative to the base path of `servers[0].url`
  (`/watch/{sku}`, as AWS's import with basepath=ignore gives them), because a custom
  domain's base path mapping (`info/v2`, create_custom_domain.sh) strips that prefix before
  resources are matched. The public base URL is the stage URL `<invoke URL>/<stage>` or
  `https://<domain>/info/v2`, and clients append `/watch/{sku}` to either, as they do to the
  app's `http://localhost:1080/info/v2`;
- every operation gets a Lambda proxy integration (AWS_PROXY) with the function, and every
  path an OPTIONS method with the same integration: the function answers CORS preflights
  (server.py, cors.py), so that one setting, the function's CORS_ORIGINS, decides them;
- `security` and `securitySchemes` are dropped: the gateway has no authorizer, the app checks
  basic auth itself, so the Authorization header must pass through untouched;
- what API Gateway's models do not support is dropped: `additionalProperties`, `example`,
  `examples`, `exclusiveMinimum`, `readOnly`, `discriminator`, the formats int32, int64 and
  decimal. The app validates every request itself, so the gateway's models only document;
- `info.title` becomes the API name when --api-name is given (the scripts find the API by it).

The rendered document is then checked against the rules of API Gateway's REST import that
moto does not enforce (import_problems): a spec edit that brings back something AWS would
refuse or mangle (anyOf/oneOf, a model name that is not alphanumeric, a path segment outside
letters, digits, `-._,` and `{name}`, a top-level `security`, ...) stops here. --check does
only that (with a placeholder function ARN), so create_api_gateway.sh can run it before any
AWS call.

--gateway-responses prints the gateway responses of the REST API, one put-gateway-response
request (JSON) per line: the errors API Gateway answers itself (unknown route, throttling,
body too large, integration timeout, Lambda failure) become application/problem+json like
the app's, and an unknown route is 404 instead of 403 "Missing Authentication Token". With
CORS_ORIGINS set (in the environment, as for the function), they carry the CORS headers the
app's answers carry, so that a page can read them too. A gateway response can only hold a
fixed value or one of the request's headers, never a choice between them: with `*` or one
origin, Access-Control-Allow-Origin is that; with several, it repeats the request's Origin
(whatever it is: these answers hold nothing but their status and a fixed text).

An invalid spec ends with one line on stderr and exit status 1; nothing is written then.
"""

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

SPEC = Path(__file__).resolve().parent.parent.parent / "info_openapi_v2.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}
PLACEHOLDER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:placeholder"
# Keywords API Gateway's models do not support, and formats it does not know. They only
# document or validate, and the app validates requests itself: the rendering drops them.
DOCUMENTATION_ONLY = {
    "additionalProperties",
    "discriminator",
    "example",
    "examples",
    "exclusiveMinimum",
    "readOnly",
}
UNSUPPORTED_FORMATS = {"int32", "int64", "decimal"}
# The import refuses these, and dropping them would change what a model means: the check
# stops the deployment instead, so that a person decides.
UNSUPPORTED_KEYWORDS = DOCUMENTATION_ONLY | {"anyOf", "oneOf"}
# Mappings whose keys are names chosen by the spec's author, not keywords.
NAME_MAPPINGS = {
    "properties",
    "schemas",
    "paths",
    "responses",
    "headers",
    "content",
    "parameters",
    "requestBodies",
    "securitySchemes",
}
MODEL_NAME = re.compile(r"^[A-Za-z0-9]+$")
PATH_SEGMENT = re.compile(r"^(?:[A-Za-z0-9._,-]+|\{[A-Za-z0-9._-]+\+?\})$")
PROBLEM_JSON = "'application/problem+json'"
# The headers a page may read besides the CORS-safelisted ones (as cors.py says for the app).
CORS_EXPOSED_HEADERS = "ETag, Retry-After"


def problem_template(title, detail, status=None):
    """A problem+json body in API Gateway's template language; a `$...` title is a variable
    that is already a quoted JSON string ($context.error.messageString)."""
    title = title if title.startswith("$") else json.dumps(title)
    status = f'"status": {status}, ' if status else ""
    return f'{{"type": "about:blank", "title": {title}, {status}"detail": {json.dumps(detail)}}}'


# put-gateway-response requests (without restApiId). DEFAULT_4XX and DEFAULT_5XX cover every
# error API Gateway answers itself (413 body too large, 502 Lambda failure, 504 timeout, ...).
GATEWAY_RESPONSES = [
    {
        "responseType": "DEFAULT_4XX",
        "responseParameters": {"gatewayresponse.header.Content-Type": PROBLEM_JSON},
        "responseTemplates": {
            "application/json": problem_template(
                "$context.error.messageString", "API Gateway refused the request."
            )
        },
    },
    {
        "responseType": "DEFAULT_5XX",
        "responseParameters": {"gatewayresponse.header.Content-Type": PROBLEM_JSON},
        "responseTemplates": {
            "application/json": problem_template(
                "$context.error.messageString", "The service failed to answer; try again later."
            )
        },
    },
    # An unknown route: without this, API Gateway answers 403 "Missing Authentication Token".
    {
        "responseType": "MISSING_AUTHENTICATION_TOKEN",
        "statusCode": "404",
        "responseParameters": {"gatewayresponse.header.Content-Type": PROBLEM_JSON},
        "responseTemplates": {
            "application/json": problem_template(
                "Not Found", "This API has no operation for this method and path.", 404
            )
        },
    },
    # The stage's rate or burst limit: the client learns when to come back.
    {
        "responseType": "THROTTLED",
        "statusCode": "429",
        "responseParameters": {
            "gatewayresponse.header.Content-Type": PROBLEM_JSON,
            "gatewayresponse.header.Retry-After": "'1'",
        },
        "responseTemplates": {
            "application/json": problem_template(
                "Too Many Requests", "The request rate is over the API's limit.", 429
            )
        },
    },
]


def cors_origins(setting):
    """The origins of a CORS_ORIGINS value (checked by common.sh's require_cors_origins)."""
    return [origin.strip() for origin in setting.split(",") if origin.strip()]


def gateway_responses(origins):
    """GATEWAY_RESPONSES, with the CORS headers for ORIGINS (none when it is empty)."""
    if not origins:
        return GATEWAY_RESPONSES
    if "*" in origins or len(origins) == 1:
        allow_origin = f"'{'*' if '*' in origins else origins[0]}'"
    else:
        allow_origin = "method.request.header.Origin"
    cors = {
        "gatewayresponse.header.Access-Control-Allow-Origin": allow_origin,
        "gatewayresponse.header.Access-Control-Expose-Headers": f"'{CORS_EXPOSED_HEADERS}'",
        "gatewayresponse.header.Vary": "'Origin'",
    }
    return [
        {**request, "responseParameters": {**request["responseParameters"], **cors}}
        for request in GATEWAY_RESPONSES
    ]


# The OPTIONS method of every resource: browsers' CORS preflights, answered by the function.
PREFLIGHT = {
    "summary": "CORS preflight",
    "description": "Answered by the function, as its CORS_ORIGINS setting says.",
    "responses": {"200": {"description": "The methods and headers the origin may use."}},
}


class SpecError(Exception):
    """The spec cannot become a gateway document; the message says why."""


def load_spec(path):
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise SpecError(f"{path} is not valid YAML ({reason})") from None
    check_structure(spec, path)
    validate_openapi(spec, path)
    return spec


def check_structure(spec, path):
    """The parts this script relies on, with a message a user can act on."""
    if not isinstance(spec, dict):
        raise SpecError(f"{path} is not an OpenAPI document (no mapping at the top level)")
    version = str(spec.get("openapi", ""))
    if not version.startswith("3.0."):
        found = f"openapi: {version}" if version else "no 'openapi' field"
        raise SpecError(f"{path} is not an OpenAPI 3.0 document ({found})")
    info = spec.get("info")
    if not (isinstance(info, dict) and info.get("title") and info.get("description")):
        raise SpecError(f"{path} needs info.title and info.description")
    paths = spec.get("paths")
    if not (isinstance(paths, dict) and any(operations(item) for item in paths.values())):
        raise SpecError(f"{path} defines no operations under 'paths'")
    servers = spec.get("servers")
    if not (isinstance(servers, list) and servers and isinstance(servers[0], dict)):
        raise SpecError(f"{path} has no servers entry; servers[0].url gives the base path")
    if not urlsplit(str(servers[0].get("url", ""))).path.strip("/"):
        raise SpecError(f"{path}: servers[0].url has no base path (such as /info/v2)")


def validate_openapi(spec, path):
    """Full validation when openapi-spec-validator is installed (it comes with moto[server])."""
    try:
        from openapi_spec_validator import validate
        from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
    except ImportError:
        return
    try:
        validate(spec)
    except OpenAPIValidationError as error:
        # The deepest of the alternatives names the actual mistake ('objekt' is not one of ...).
        cause = max([error, *error.context], key=lambda each: len(each.absolute_path))
        where = "/".join(str(part) for part in cause.absolute_path) or "top level"
        message = cause.message if len(cause.message) <= 160 else cause.message[:157] + "..."
        raise SpecError(f"{path} is not valid OpenAPI at {where}: {message}") from None


def operations(path_item):
    if not isinstance(path_item, dict):
        return {}
    return {method: op for method, op in path_item.items() if method in HTTP_METHODS}


def base_path(spec):
    return "/" + urlsplit(spec["servers"][0]["url"]).path.strip("/")


def integration_uri(lambda_arn, region):
    """The invocation URI API Gateway calls; the partition follows the function's ARN."""
    parts = lambda_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda":
        raise SpecError(f"not a Lambda function ARN: {lambda_arn!r}")
    partition = parts[1]
    return (
        f"arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
        f"{lambda_arn}/invocations"
    )


def supported_subset(node, parent_key=None):
    """A copy of a document tree without what API Gateway's models do not support."""
    if isinstance(node, list):
        return [supported_subset(item) for item in node]
    if not isinstance(node, dict):
        return node
    if parent_key in NAME_MAPPINGS:
        return {key: supported_subset(value) for key, value in node.items()}
    return {
        key: supported_subset(value, key)
        for key, value in node.items()
        if key not in DOCUMENTATION_ONLY and not (key == "format" and value in UNSUPPORTED_FORMATS)
    }


def keyword_problems(node, where, parent_key=None):
    """Unsupported keywords and formats anywhere in the tree, as 'where: what' lines."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from keyword_problems(item, f"{where}/{index}")
        return
    if not isinstance(node, dict):
        return
    names = parent_key in NAME_MAPPINGS
    for key, value in node.items():
        if not names and key in UNSUPPORTED_KEYWORDS:
            yield f"{where}: '{key}' is not supported by API Gateway models"
        if not names and key == "format" and value in UNSUPPORTED_FORMATS:
            yield f"{where}: format '{value}' is not supported by API Gateway models"
        pointer = str(key).replace("~", "~0").replace("/", "~1")
        yield from keyword_problems(value, f"{where}/{pointer}", None if names else key)


def import_problems(document):
    """What API Gateway's REST import would refuse or mangle in DOCUMENT, one line each."""
    problems = []
    if "security" in document:
        problems.append("top-level 'security': API Gateway takes security per operation only")
    for name in document.get("components", {}).get("schemas", {}):
        if not MODEL_NAME.match(name):
            problems.append(f"model name '{name}' is not alphanumeric")
    for path in document.get("paths", {}):
        for segment in path.strip("/").split("/"):
            if not PATH_SEGMENT.match(segment):
                problems.append(
                    f"path '{path}': segment '{segment}' may hold only letters, digits, "
                    "'-._,' or be one {parameter}"
                )
    problems.extend(keyword_problems(document, "#"))
    return problems


def check_importable(document):
    problems = import_problems(document)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SpecError(f"API Gateway would not import this spec: {problems[0]}{more}")


def gateway_document(spec, lambda_arn, region, api_name=None):
    uri = integration_uri(lambda_arn, region)
    document = copy.deepcopy(spec)
    document.pop("security", None)
    document["paths"] = {}
    for path, item in spec["paths"].items():
        item = copy.deepcopy(item)
        item.setdefault("options", copy.deepcopy(PREFLIGHT))
        for operation in operations(item).values():
            operation.pop("security", None)
            operation["x-amazon-apigateway-integration"] = {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": uri,
                "passthroughBehavior": "when_no_match",
            }
        document["paths"][path] = item
    document.get("components", {}).pop("securitySchemes", None)
    document = supported_subset(document)
    if api_name:
        document["info"]["title"] = api_name
    return document


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Render the OpenAPI contract as the REST API document API Gateway imports."
    )
    parser.add_argument("--spec", default=str(SPEC), help="the contract (default: %(default)s)")
    parser.add_argument("--lambda-arn", help="ARN of the function behind every operation")
    parser.add_argument("--region", default="us-east-1", help="region of the REST API")
    parser.add_argument("--api-name", help="name of the REST API (replaces info.title)")
    parser.add_argument("--output", help="write the JSON document here instead of stdout")
    parser.add_argument(
        "--check", action="store_true", help="only check that API Gateway would import it"
    )
    parser.add_argument(
        "--base-path",
        action="store_true",
        help="only print the base path (like /info/v2), the custom domain's mapping key",
    )
    parser.add_argument(
        "--gateway-responses",
        action="store_true",
        help="only print the gateway responses, one put-gateway-response request per line",
    )
    args = parser.parse_args(argv)
    if not (args.base_path or args.check or args.gateway_responses or args.lambda_arn):
        parser.error("--lambda-arn is required (or --check, --base-path, --gateway-responses)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.gateway_responses:
        for request in gateway_responses(cors_origins(os.environ.get("CORS_ORIGINS", ""))):
            print(json.dumps(request))
        return 0
    try:
        spec = load_spec(args.spec)
        if args.base_path:
            print(base_path(spec))
            return 0
        document = gateway_document(
            spec, args.lambda_arn or PLACEHOLDER_ARN, args.region, args.api_name
        )
        check_importable(document)
        if args.check:
            return 0
        text = json.dumps(document, indent=2)
    except SpecError as error:
        print(f"gateway_document.py: error: {error}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
