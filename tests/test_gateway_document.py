"""The document create_api_gateway.sh imports stays within what API Gateway's REST import takes.

moto imports anything; AWS refuses or mangles what its models do not support. The rendering
drops what only documents (the app validates requests itself), and the import check stops
the deployment, with one line and before any AWS call, on what it cannot drop. The rendering
adds the OPTIONS methods of CORS preflights, and the gateway responses carry the CORS headers
that CORS_ORIGINS (checked by every script that takes it) asks for.
"""

import copy
import json
import subprocess
import sys

import pytest
import yaml
from conftest import LIB_DIR, REPO, free_port, run_script
from gateway_document import import_problems

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:watch-info-dev"
SPEC = yaml.safe_load((REPO / "info_openapi_v2.yaml").read_text(encoding="utf-8"))


def render(*args):
    return subprocess.run(
        [sys.executable, str(LIB_DIR / "gateway_document.py"), *args],
        capture_output=True,
        text=True,
    )


def keys_anywhere(node, found=None):
    """Every mapping key of a document tree with the values it has."""
    found = {} if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            found.setdefault(key, []).append(value)
            keys_anywhere(value, found)
    elif isinstance(node, list):
        for item in node:
            keys_anywhere(item, found)
    return found


@pytest.fixture(scope="module")
def rendered():
    result = render("--lambda-arn", LAMBDA_ARN)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_contract_renders_within_the_supported_subset(rendered):
    assert import_problems(rendered) == []
    keys = keys_anywhere(rendered)
    for keyword in ("additionalProperties", "example", "examples", "security", "readOnly"):
        assert keyword not in keys
    assert not {"int32", "int64", "decimal"} & set(map(str, keys.get("format", [])))
    # What documents the models stays: the enums, bounds and required fields.
    watch = rendered["components"]["schemas"]["Watch"]
    assert watch["properties"]["year"] == {"type": "integer", "minimum": 1800, "maximum": 2100}
    assert watch["required"] == ["sku", "type", "status", "gender", "year"]


def with_change(document, change):
    changed = copy.deepcopy(document)
    change(changed)
    return changed


def schemas(document):
    return document["components"]["schemas"]


# One document edit per rule of the import check, and the words its one line must hold.
RULES = {
    "additionalProperties": (
        lambda d: schemas(d)["Watch"].update(additionalProperties=False),
        "#/components/schemas/Watch: 'additionalProperties'",
    ),
    "anyOf": (
        lambda d: schemas(d)["Text"].update(anyOf=[{"type": "string"}, {"type": "number"}]),
        "'anyOf' is not supported",
    ),
    "oneOf": (
        lambda d: schemas(d)["Text"].update(oneOf=[{"type": "string"}, {"type": "number"}]),
        "'oneOf' is not supported",
    ),
    "discriminator": (
        lambda d: schemas(d)["Watch"].update(discriminator={"propertyName": "type"}),
        "'discriminator' is not supported",
    ),
    "example": (
        lambda d: schemas(d)["Sku"].update(example="CAR2110.BA0724"),
        "#/components/schemas/Sku: 'example'",
    ),
    "response header example": (
        lambda d: d["paths"]["/watch/{sku}"]["get"]["responses"]["200"]["headers"]["Cache-Control"][
            "schema"
        ].update(example="max-age=3600"),
        "#/paths/~1watch~1{sku}/get/responses/200/headers/Cache-Control/schema: 'example'",
    ),
    "exclusiveMinimum": (
        lambda d: schemas(d)["Watch"]["properties"]["year"].update(exclusiveMinimum=True),
        "'exclusiveMinimum' is not supported",
    ),
    "readOnly": (
        lambda d: schemas(d)["Watch"]["properties"]["sku"].update(readOnly=True),
        "'readOnly' is not supported",
    ),
    "format int32": (
        lambda d: schemas(d)["Watch"]["properties"]["year"].update(format="int32"),
        "format 'int32' is not supported",
    ),
    "format int64": (
        lambda d: schemas(d)["Watch"]["properties"]["year"].update(format="int64"),
        "format 'int64' is not supported",
    ),
    "format decimal": (
        lambda d: schemas(d)["Text"].update(format="decimal"),
        "format 'decimal' is not supported",
    ),
    "model name": (
        lambda d: schemas(d).update({"Watch_v2": {"type": "object"}}),
        "model name 'Watch_v2' is not alphanumeric",
    ),
    "path segment": (
        lambda d: d["paths"].update({"/watch/{sku}:history": {}}),
        "segment '{sku}:history' may hold only",
    ),
    "top-level security": (
        lambda d: d.update(security=[{"basicAuth": []}]),
        "top-level 'security'",
    ),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_import_check_finds_each_rule(rendered, rule):
    change, words = RULES[rule]
    problems = import_problems(with_change(rendered, change))
    assert len(problems) == 1, problems
    assert words in problems[0]


def test_names_chosen_by_the_author_are_not_keywords(rendered):
    """A property called `example` or `format` is data, not the keyword; a property called
    `headers` is a schema like any other."""
    document = with_change(
        rendered,
        lambda d: schemas(d)["Watch"]["properties"].update(
            example={"type": "string"}, format={"type": "string"}, headers={"type": "object"}
        ),
    )
    assert import_problems(document) == []
    document["components"]["schemas"]["Watch"]["properties"]["headers"]["oneOf"] = []
    (problem,) = import_problems(document)
    assert problem.startswith("#/components/schemas/Watch/properties/headers: 'oneOf'")


def spec_file(folder, name, change):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(with_change(SPEC, change), sort_keys=False))
    return path


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["components"]["schemas"]["Watch"].update(additionalProperties=True),
        lambda s: s["components"]["schemas"]["Sku"].update(readOnly=True),
        lambda s: s["components"]["schemas"]["Watch"]["properties"]["year"].update(
            exclusiveMinimum=True, format="int32"
        ),
    ],
    ids=["additionalProperties", "readOnly", "exclusiveMinimum and int32"],
)
def test_what_only_documents_is_dropped_from_a_spec_edit(tmp_path, change):
    spec = spec_file(tmp_path, "edited", change)
    result = render("--check", "--spec", str(spec))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def unreachable_aws(aws_env):
    """An environment whose AWS calls can only fail: any call made would end the run with
    another message than the one under test."""
    return {**aws_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}


@pytest.mark.parametrize(
    "change, words",
    [
        (
            lambda s: s["components"]["schemas"]["Text"].update(
                oneOf=[{"type": "string"}, {"type": "number"}]
            ),
            "'oneOf' is not supported",
        ),
        (
            lambda s: s["components"]["schemas"].update(Problem_Details={"type": "object"}),
            "model name 'Problem_Details' is not alphanumeric",
        ),
        (
            lambda s: s["paths"].update(
                {
                    "/watch/{sku}:history": {
                        "get": {
                            **s["paths"]["/watch/{sku}"]["get"],
                            "operationId": "server.history",
                        }
                    }
                }
            ),
            "may hold only letters, digits",
        ),
    ],
    ids=["oneOf", "model name", "path segment"],
)
def test_create_api_gateway_stops_before_any_aws_call(tmp_path, unreachable_aws, change, words):
    spec = spec_file(tmp_path, "refused", change)
    result = run_script(
        "create_api_gateway.sh", "--spec", str(spec), env=unreachable_aws, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gateway_document.py: error: API Gateway would not import this spec")
    assert words in lines[0]


@pytest.mark.parametrize(
    "variable, value", [("THROTTLE_RATE_LIMIT", "fast"), ("THROTTLE_BURST_LIMIT", "0")]
)
def test_create_api_gateway_refuses_a_bad_throttle_limit_before_any_aws_call(
    unreachable_aws, variable, value
):
    result = run_script(
        "create_api_gateway.sh", env={**unreachable_aws, variable: value}, check=False
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert f"{variable} must be a whole number" in lines[0]


def test_resources_are_relative_to_the_base_path_the_custom_domain_maps(rendered):
    """A base path mapping (info/v2) strips its prefix before resources are matched."""
    assert set(rendered["paths"]) == set(SPEC["paths"]) == {"/watch", "/watch/{sku}"}
    assert render("--base-path").stdout.strip() == "/info/v2"


def test_every_resource_gets_an_options_method_the_function_answers(rendered):
    """CORS preflights go to the function, which knows CORS_ORIGINS (docs/api.md says why)."""
    for path, item in rendered["paths"].items():
        preflight = item["options"]
        assert preflight["x-amazon-apigateway-integration"]["type"] == "aws_proxy", path
        assert (
            preflight["x-amazon-apigateway-integration"]
            == (
                next(op for method, op in item.items() if method != "options")[
                    "x-amazon-apigateway-integration"
                ]
            )
        )
        assert "security" not in preflight
    assert "options" not in SPEC["paths"]["/watch"], "the contract itself stays as it is"


def gateway_responses(cors_origins):
    result = subprocess.run(
        [sys.executable, str(LIB_DIR / "gateway_document.py"), "--gateway-responses"],
        env={"CORS_ORIGINS": cors_origins} if cors_origins is not None else {},
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "cors_origins, allow_origin",
    [
        ("*", "'*'"),
        ("https://shop.example.test", "'https://shop.example.test'"),
        ("https://shop.example.test, https://admin.example.test", "method.request.header.Origin"),
    ],
    ids=["any origin", "one origin", "several origins"],
)
def test_with_cors_origins_every_gateway_response_carries_the_cors_headers(
    cors_origins, allow_origin
):
    responses = gateway_responses(cors_origins)
    assert {r["responseType"] for r in responses} >= {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
    }
    for response in responses:
        parameters = response["responseParameters"]
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == allow_origin
        assert parameters["gatewayresponse.header.Vary"] == "'Origin'"
        exposed = parameters["gatewayresponse.header.Access-Control-Expose-Headers"]
        assert {"etag", "retry-after"} <= {
            name.strip().lower() for name in exposed.strip("'").split(",")
        }
        assert parameters["gatewayresponse.header.Content-Type"] == "'application/problem+json'"


@pytest.mark.parametrize("cors_origins", [None, "", " , "], ids=["unset", "empty", "blank"])
def test_without_cors_origins_gateway_responses_carry_no_cors_header(cors_origins):
    for response in gateway_responses(cors_origins):
        assert not [
            name
            for name in response["responseParameters"]
            if name.startswith("gatewayresponse.header.Access-Control-")
        ]


@pytest.mark.parametrize(
    "script", ["create_api_gateway.sh", "create_lambdas.sh", "update_lambdas.sh", "run.sh"]
)
@pytest.mark.parametrize(
    "cors_origins",
    ["https://shop.example.test/", "shop.example.test", "https://Shop.example.test", "null"],
    ids=["trailing slash", "no scheme", "upper case", "null"],
)
def test_a_cors_origin_browsers_never_send_is_refused_before_any_aws_call(
    unreachable_aws, script, cors_origins
):
    env = {**unreachable_aws, "CORS_ORIGINS": f"https://ok.example.test, {cors_origins}"}
    result = run_script(script, env=env, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0] == (
        f"{script}: error: CORS_ORIGINS: '{cors_origins}' is not an origin as browsers send it, "
        "such as https://app.example.com or http://localhost:3000 (lower case, no path, no "
        "trailing '/'), nor '*'"
    )
