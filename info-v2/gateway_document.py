"""Turns info_openapi_v2.yaml into the document that API Gateway imports as the REST API.

    gateway_document.py --lambda-arn ARN [--region REGION] [--api-name NAME] [--spec FILE]
                        [--output FILE]
    gateway_document.py --base-path [--spec FILE]

The contract stays the single source of the routes. The rendered document differs from it in:
- every path carries the base path of `servers[0].url` (`/info/v2/watch/{sku}`), so the
  resources are the same on AWS (imported with basepath=ignore) and on moto (which ignores
  basepath), and the public URL is `<invoke URL>/info/v2/watch/{sku}` like the app's;
- every operation gets a Lambda proxy integration (AWS_PROXY) with the function;
- `security` and `securitySchemes` are dropped: the gateway has no authorizer, the app checks
  basic auth itself, so the Authorization header must pass through untouched;
- `example` keywords are dropped from schemas (API Gateway's models do not accept them);
- `info.title` becomes the API name when --api-name is given (the scripts find the API by it).

An invalid spec ends with one line on stderr and exit status 1; nothing is written then.
"""

import argparse
import copy
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

SPEC = Path(__file__).resolve().parent / "info_openapi_v2.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}


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


def without_examples(node, parent_key=None):
    """A copy of a schema tree without `example` keywords (a property named so is kept)."""
    if isinstance(node, list):
        return [without_examples(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: without_examples(value, key)
        for key, value in node.items()
        if parent_key == "properties" or key not in ("example", "examples")
    }


def gateway_document(spec, lambda_arn, region, api_name=None):
    uri = integration_uri(lambda_arn, region)
    prefix = base_path(spec)
    document = copy.deepcopy(spec)
    document.pop("security", None)
    document["paths"] = {}
    for path, item in spec["paths"].items():
        item = copy.deepcopy(item)
        for operation in operations(item).values():
            operation.pop("security", None)
            operation["x-amazon-apigateway-integration"] = {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": uri,
                "passthroughBehavior": "when_no_match",
            }
        document["paths"][prefix + path] = item
    components = document.get("components", {})
    components.pop("securitySchemes", None)
    if "schemas" in components:
        components["schemas"] = {
            name: without_examples(schema) for name, schema in components["schemas"].items()
        }
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
        "--base-path", action="store_true", help="only print the base path (like /info/v2)"
    )
    args = parser.parse_args(argv)
    if not (args.base_path or args.lambda_arn):
        parser.error("--lambda-arn is required (or --base-path)")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.base_path:
            print(base_path(spec))
            return 0
        text = json.dumps(
            gateway_document(spec, args.lambda_arn, args.region, args.api_name), indent=2
        )
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
