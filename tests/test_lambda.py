"""create_lambdas.sh and update_lambdas.sh on the emulator, and the package they upload.

From an empty emulator: the scripts' refusals (each one clear line, nothing left behind),
initialize_dynamodb.sh, create_lambdas.sh; then what was deployed is read back (function,
role, least-privilege policy) and the package the emulator holds is run in a clean
interpreter (tools/lambda_runtime.py) with API Gateway proxy events; then update_lambdas.sh,
twice, must upload new code that still answers, and create_lambdas.sh again must not.
"""

import ast
import io
import json
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    HTTP_PASS,
    HTTP_USER,
    LATIN1_CREDENTIALS,
    REGION,
    REPO,
    UTF8_CREDENTIALS,
    WATCHES,
    run_script,
)
from deploy_helpers import PASSWORD_HASH_METHOD
from lambda_runtime import LambdaRunner, emulator_env, function_code
from local_gateway import custom_domain_event, proxy_event
from smoke_test import basic_auth
from soak import health_verdicts, soak
from werkzeug.security import check_password_hash

FUNCTION = "watch-info-dev"
ROLE = "watch-info-dev-lambda"
ACCOUNT = "123456789012"
TABLE = "project1"
BASE = "/info/v2"
DOMAIN = "api-watches.example.test"
# How a request reaches the function (see local_gateway.py): through the stage URL the event's
# path is /watch/X, through the custom domain (base path mapping info/v2) /info/v2/watch/X.
SHAPES = ["stage URL", "custom domain"]
AUTH = {"Authorization": basic_auth(HTTP_USER, HTTP_PASS)}
NEW_WATCH = {
    "sku": "TEST-LAMBDA.01",
    "type": "chrono",
    "status": "current",
    "gender": "woman",
    "year": 2024,
    "dial_color": "Nacré",
    "movement": "Calibre Heuer 02",
}
# The Lambda runtime (zappa_settings.json) and the name of the bytecode its Python makes.
RUNTIME = json.loads((REPO / "info-v2" / "zappa_settings.json").read_text())["dev"]["runtime"]
BYTECODE_TAG = "cpython-" + RUNTIME.removeprefix("python").replace(".", "")
TOOLS = {"moto", "pytest", "_pytest", "awscli", "botocore", "boto3", "s3transfer", "troposphere"}
MIB = 1024 * 1024


def one_line_error(result, script):
    """The single stderr line of a refused run; there is no traceback by construction."""
    assert result.returncode != 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{script}: error: ")
    return lines[0]


def functions(aws):
    return [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]


def roles(aws):
    return [r["RoleName"] for r in aws("iam").list_roles()["Roles"]]


def code_sha(aws):
    return aws("lambda").get_function_configuration(FunctionName=FUNCTION)["CodeSha256"]


def clean_text(value):
    return value.removeprefix("\ufeff").strip() if isinstance(value, str) else value


def cleaned(record):
    """A catalogue record as the API must return it: BOM and outer spaces gone, no nulls or
    empty strings, year an integer (the rules of the loader's docstring, computed here on
    purpose without its code)."""
    watch = {key: clean_text(value) for key, value in record.items()}
    watch = {key: value for key, value in watch.items() if value not in (None, "")}
    return {**watch, "year": int(watch["year"])}


def catalogue_samples():
    """Two stored watches of watches.json as the API returns them: one that was clean
    already, one that needed cleaning (a BOM and a null)."""
    records = json.loads(WATCHES.read_text(encoding="utf-8"))
    sku_counts = Counter(clean_text(record["sku"]) for record in records)

    def plainly_valid(record):
        return (
            record["sku"]
            and record["sku"] == clean_text(record["sku"])
            and sku_counts[record["sku"]] == 1
            and record["year"].isdigit()
            and record["status"] in {"old", "current", "outlet"}
            and record["type"] in {"watch", "chrono"}
            and record["gender"] in {"man", "woman"}
        )

    candidates = [record for record in records if plainly_valid(record)]
    clean = next(r for r in candidates if cleaned(r) == {**r, "year": int(r["year"])})
    messy = next(
        r
        for r in candidates
        if None in r.values() and any(str(v).startswith("\ufeff") for v in r.values())
    )
    return cleaned(clean), cleaned(messy)


def event(method, path, headers, body=None, shape="stage URL"):
    """The Lambda proxy event of METHOD PATH (relative to the base path), with BODY as JSON,
    as a request through the stage URL or through the custom domain makes it."""
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
        body = json.dumps(body)
    resource = "/watch/{sku}" if path.count("/") == 2 else path
    stage_event = proxy_event(
        httpMethod=method, path=path, resource=resource, headers=headers, body=body
    )
    return (
        custom_domain_event(stage_event, DOMAIN, BASE) if shape == "custom domain" else stage_event
    )


def watch_body(response):
    return json.loads(response["body"])


def path_without(commands, folder):
    """A PATH with every command of the tests' PATH but COMMANDS (symlinks in FOLDER)."""
    bin_dir = folder / f"without-{'-'.join(commands)}"
    bin_dir.mkdir()
    for directory in [Path(sys.executable).parent, *os.environ["PATH"].split(os.pathsep)]:
        for tool in Path(directory).glob("*") if Path(directory).is_dir() else []:
            link = bin_dir / tool.name
            if tool.name not in commands and not link.exists() and os.access(tool, os.X_OK):
                link.symlink_to(tool)
    return str(bin_dir)


@pytest.fixture(scope="module")
def history(aws_env, aws, tmp_path_factory):
    """One deployment's life from an empty emulator: refusals first, then the table and the
    function. Each refusal must leave no function and no role behind."""
    runs = {}
    leftovers = {}

    def refused(name, script, env):
        runs[name] = run_script(script, env=env, check=False)
        leftovers[name] = functions(aws) + roles(aws)

    refused("missing table", "create_lambdas.sh", aws_env)
    run_script("initialize_dynamodb.sh", env=aws_env)
    refused("update before create", "update_lambdas.sh", aws_env)
    without_pass = {k: v for k, v in aws_env.items() if k != "HTTP_PASS"}
    refused("no HTTP_PASS", "create_lambdas.sh", without_pass)
    refused("short HTTP_PASS", "create_lambdas.sh", {**aws_env, "HTTP_PASS": "19-characters-long."})
    nowhere = {**aws_env, "AWS_REGION": "xx-nowhere-1", "AWS_DEFAULT_REGION": "xx-nowhere-1"}
    refused("unknown region", "create_lambdas.sh", nowhere)
    no_credentials = {
        **{
            k: v
            for k, v in aws_env.items()
            if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        },
        # Nowhere else to find credentials: no files, and no instance metadata service.
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    refused("no credentials", "create_lambdas.sh", no_credentials)
    folder = tmp_path_factory.mktemp("path")
    refused("no aws", "create_lambdas.sh", {**aws_env, "PATH": path_without(["aws"], folder)})
    # common.sh also finds the runtime's Python through pyenv: neither may be there.
    no_python = {**aws_env, "PATH": path_without([RUNTIME, "pyenv"], folder)}
    refused("no runtime python", "create_lambdas.sh", no_python)
    runs["create"] = run_script("create_lambdas.sh", env=aws_env)
    return runs, leftovers


@pytest.fixture(scope="module")
def function(history, aws, aws_env, lambda_runtime_python):
    """The deployed package, running in a clean interpreter against the emulator."""
    with LambdaRunner(
        aws,
        FUNCTION,
        emulator_env(aws_env["AWS_ENDPOINT_URL"]),
        python=lambda_runtime_python,
    ) as runner:
        yield runner


@pytest.mark.parametrize(
    ("case", "script", "words"),
    [
        ("missing table", "create_lambdas.sh", "Run initialize_dynamodb.sh first"),
        ("update before create", "update_lambdas.sh", "Run create_lambdas.sh first"),
        ("no HTTP_PASS", "create_lambdas.sh", "HTTP_USER and HTTP_PASS must be set"),
        ("short HTTP_PASS", "create_lambdas.sh", "HTTP_PASS has 19 characters"),
        ("unknown region", "create_lambdas.sh", "unknown AWS region 'xx-nowhere-1'"),
        ("no credentials", "create_lambdas.sh", "no usable AWS credentials"),
        ("no aws", "create_lambdas.sh", "'aws' was not found on PATH"),
        ("no runtime python", "create_lambdas.sh", f"'{RUNTIME}' was not found on PATH"),
    ],
)
def test_bad_input_gives_one_line_and_leaves_nothing(history, case, script, words):
    runs, leftovers = history
    assert words in one_line_error(runs[case], script)
    assert leftovers[case] == []


def test_create_deploys_after_the_refusals_and_prints_the_size(history):
    create = history[0]["create"]
    assert "package size: " in create.stderr
    assert f"function:   {FUNCTION} ({RUNTIME}, handler.lambda_handler)" in create.stdout
    assert HTTP_PASS not in create.stdout + create.stderr


def test_help(aws_env):
    for script in ("create_lambdas.sh", "update_lambdas.sh"):
        result = run_script(script, "--help", env=aws_env)
        assert result.stdout.startswith(f"Usage: info-v2/{script}")


def test_function_configuration(history, aws):
    config = aws("lambda").get_function_configuration(FunctionName=FUNCTION)
    assert config["Runtime"] == RUNTIME
    assert config["Handler"] == "handler.lambda_handler"
    variables = config["Environment"]["Variables"]
    assert variables == {
        "DYNAMODB_TABLE": TABLE,
        "HTTP_USER": HTTP_USER,
        "HTTP_PASS_HASH": variables["HTTP_PASS_HASH"],
    }
    # The function holds a salted hash that verifies the password, never the password.
    assert variables["HTTP_PASS_HASH"].startswith(PASSWORD_HASH_METHOD + "$")
    assert check_password_hash(variables["HTTP_PASS_HASH"], HTTP_PASS)
    assert HTTP_PASS not in json.dumps(variables)
    assert config["Role"] == aws("iam").get_role(RoleName=ROLE)["Role"]["Arn"]


def as_list(value):
    return [value] if isinstance(value, str) else value


def test_role_has_least_privilege(history, aws):
    iam = aws("iam")
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []

    table_arn = aws("dynamodb").describe_table(TableName=TABLE)["Table"]["TableArn"]
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTION}"
    granted = {}
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in as_list(statement["Action"]):
                granted.setdefault(action, set()).update(as_list(statement["Resource"]))

    assert granted == {
        "dynamodb:GetItem": {table_arn},
        "dynamodb:PutItem": {table_arn},
        "logs:CreateLogGroup": {log_group, f"{log_group}:*"},
        "logs:CreateLogStream": {log_group, f"{log_group}:*"},
        "logs:PutLogEvents": {log_group, f"{log_group}:*"},
    }


def imported_app_modules(module):
    """MODULE and the modules of info-v2/ it imports, directly or not (read from the source,
    not from lambda_common.sh's list, which this checks)."""
    source = (REPO / "info-v2" / f"{module}.py").read_text(encoding="utf-8")
    found = {module}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if name not in found and (REPO / "info-v2" / f"{name}.py").exists():
                found |= imported_app_modules(name)
    return found


def test_package_holds_the_app_and_runtime_dependencies_only(function, aws):
    location = aws("lambda").get_function(FunctionName=FUNCTION)["Code"]["Location"]
    code = function_code(aws, location)
    assert function.package_size == len(code) < 10 * MIB
    with zipfile.ZipFile(io.BytesIO(code)) as package:
        names = set(package.namelist())
        spec = package.read("info_openapi_v2.yaml")
    assert {"handler.py", "info_openapi_v2.yaml"} <= names
    # Every module of info-v2/ that server.py imports, each with its bytecode, and no other.
    app_modules = {name for name in names if "/" not in name and name.endswith(".py")}
    app_modules &= {path.name for path in (REPO / "info-v2").glob("*.py")}
    assert app_modules == {f"{module}.py" for module in imported_app_modules("server")}
    for module in app_modules:
        assert f"__pycache__/{module.removesuffix('.py')}.{BYTECODE_TAG}.pyc" in names
    assert spec == (REPO / "info_openapi_v2.yaml").read_bytes()
    top_level = {name.split("/")[0].split("-")[0].removesuffix(".py").lower() for name in names}
    assert top_level & TOOLS == set()


def test_the_function_logs_request_lines_and_no_warnings(function):
    function.invoke(event("GET", "/watch/CAL5185B", AUTH, shape=SHAPES[0]))
    log = function.log()
    assert '"operation": "get_watch"' in log
    assert "swagger_ui directory could not be found" not in log
    assert "Warning" not in log


@pytest.mark.parametrize("shape", SHAPES)
def test_get_existing_watches(function, shape):
    for watch in catalogue_samples():
        response = function.invoke(event("GET", f"/watch/{watch['sku']}", AUTH, shape=shape))
        assert response["statusCode"] == 200, response
        assert watch_body(response) == watch
        assert response["headers"]["cache-control"] == "max-age=3600"


@pytest.mark.parametrize("shape", SHAPES)
def test_get_missing_watch(function, shape):
    response = function.invoke(event("GET", "/watch/NO-SUCH-SKU", AUTH, shape=shape))
    assert response["statusCode"] == 404


@pytest.mark.parametrize("shape", SHAPES)
def test_post_then_get(function, shape):
    response = function.invoke(event("POST", "/watch", AUTH, NEW_WATCH, shape=shape))
    assert response["statusCode"] == 200, response
    assert watch_body(response) == NEW_WATCH
    response = function.invoke(event("GET", f"/watch/{NEW_WATCH['sku']}", AUTH, shape=shape))
    assert response["statusCode"] == 200
    assert watch_body(response) == NEW_WATCH


@pytest.mark.parametrize("framing", ["no length", "chunked", "stated length"])
def test_a_posted_body_is_read_however_the_event_frames_it(function, framing):
    """The event holds the whole body; its headers may state its length, call it chunked (a
    client that streamed it) or say nothing. The app must see the body in each case
    (http_guards.WholeBody gives it its length; without one Connexion finds no body)."""
    watch = {**NEW_WATCH, "sku": f"TEST-LAMBDA.{framing.replace(' ', '-').upper()}"}
    headers = {
        "no length": {},
        "chunked": {"Transfer-Encoding": "chunked"},
        "stated length": {"Content-Length": str(len(json.dumps(watch).encode()))},
    }[framing]
    response = function.invoke(event("POST", "/watch", {**AUTH, **headers}, watch))
    assert response["statusCode"] == 200, response
    assert watch_body(response) == watch


@pytest.mark.parametrize(
    "body",
    [
        {**NEW_WATCH, "sku": "TEST-LAMBDA.02", "status": "discontinued"},
        {key: value for key, value in NEW_WATCH.items() if key != "year"},
        {**NEW_WATCH, "sku": "TEST-LAMBDA.03", "year": "2024"},
        {**NEW_WATCH, "sku": "TEST-LAMBDA.04", "price": 100},
    ],
    ids=["value outside enum", "missing year", "year as string", "unknown field"],
)
def test_post_invalid(function, body):
    response = function.invoke(event("POST", "/watch", AUTH, body))
    assert response["statusCode"] == 400, response


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": basic_auth(HTTP_USER, "wrong")}],
    ids=["no credentials", "wrong password"],
)
def test_unauthorized(function, headers):
    sku = catalogue_samples()[0]["sku"]
    assert function.invoke(event("GET", f"/watch/{sku}", headers))["statusCode"] == 401
    response = function.invoke(event("POST", "/watch", headers, NEW_WATCH))
    assert response["statusCode"] == 401


@pytest.fixture(scope="module", params=["beyond Latin-1", "within Latin-1"])
def function_with_unicode_credentials(
    request, history, aws, aws_env, lambda_runtime_python, tmp_path_factory
):
    """The package with the environment the deploy scripts give it for credentials outside
    ASCII (deploy_helpers.py zappa-settings, then function-configuration: HTTP_USER and the
    hash of HTTP_PASS); yields (runner, (user, password))."""
    user, password = UTF8_CREDENTIALS if request.param == "beyond Latin-1" else LATIN1_CREDENTIALS
    folder = tmp_path_factory.mktemp("environment")
    current, settings = folder / "variables.json", folder / "zappa_settings.json"
    current.write_text("null")  # what the AWS CLI prints for a function without variables
    env = {**aws_env, "DYNAMODB_TABLE": TABLE, "HTTP_USER": user, "HTTP_PASS": password}

    def deploy_helper(*args, python=sys.executable):
        command = [str(python), str(REPO / "info-v2" / "lib" / "deploy_helpers.py"), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout

    # zappa-settings reads the packaging virtualenv, as lambda_common.sh runs it.
    requirements = str(REPO / "info-v2" / "requirements.txt")
    packaging_python = REPO / ".venv-lambda" / "bin" / "python"
    settings.write_text(
        deploy_helper("zappa-settings", "dev", "off", requirements, python=packaging_python)
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    configuration = deploy_helper(
        "function-configuration", FUNCTION, role, str(current), str(settings), "dev"
    )
    variables = json.loads(configuration)["Environment"]["Variables"]
    assert password not in json.dumps(variables, ensure_ascii=False)
    env = {**emulator_env(aws_env["AWS_ENDPOINT_URL"]), **variables}
    with LambdaRunner(aws, FUNCTION, env, python=lambda_runtime_python) as runner:
        yield runner, (user, password)


def test_the_package_takes_unicode_credentials_in_each_encoding_that_holds_them(
    function_with_unicode_credentials,
):
    """UTF-8, as browsers and curl send them; Latin-1 too, from a legacy client, when the
    credentials fit in it."""
    function, (user, password) = function_with_unicode_credentials
    sku = catalogue_samples()[0]["sku"]
    checked = []
    for encoding in ("utf-8", "latin-1"):
        try:
            authorization = basic_auth(user, password, encoding)
        except UnicodeEncodeError:
            continue  # a Latin-1 client cannot send these credentials at all
        response = function.invoke(event("GET", f"/watch/{sku}", {"Authorization": authorization}))
        assert response["statusCode"] == 200, (encoding, response)
        checked.append(encoding)
    assert "utf-8" in checked
    response = function.invoke(
        event("GET", f"/watch/{sku}", {"Authorization": basic_auth(user, "x")})
    )
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"].endswith('charset="UTF-8"')


def test_soak_keeps_descriptors_constant_and_threads_within_the_pool(function):
    """A short soak of the deployed package (bench/bench_soak.py runs 50,000 requests): after
    a first window of warm-up, every request leaves as many open file descriptors as the first
    one after it, and no more threads than the WSGI pool holds. Zappa 0.63 makes an event loop
    per request and never closes it; without lambda_adapter's one loop, the descriptors swing
    with the garbage collector."""
    windows = soak(function, catalogue_samples()[0], HTTP_USER, HTTP_PASS, 2000, window=500)
    for name, _, target, met in health_verdicts(windows):
        assert met, f"{name} not {target}: {[getattr(w, name) for w in windows]}"


@pytest.fixture(scope="module")
def updates(history, aws, aws_env):
    """update_lambdas.sh twice in a row: the CodeSha256 before and after each run."""
    shas = [code_sha(aws)]
    results = []
    for _ in range(2):
        results.append(run_script("update_lambdas.sh", env=aws_env))
        shas.append(code_sha(aws))
    return shas, results


def test_update_without_a_code_change_uploads_the_same_bytes(updates):
    shas, results = updates
    # The package is reproducible: the same sources give the same CodeSha256.
    assert len(set(shas)) == 1
    for sha, result in zip(shas[1:], results, strict=True):
        assert f"CodeSha256: {sha}" in result.stdout
        assert "package size: " in result.stderr
        assert HTTP_PASS not in result.stdout + result.stderr


def test_zappa_progress_shows_without_its_misleading_lines(history, updates):
    _, results = updates
    for result in (history[0]["create"], *results):
        assert "Calling " in result.stderr  # Zappa's own progress stays
        assert "Package created:" not in result.stderr  # a temporary file's size
        assert "deployment is live" not in result.stderr  # said before the environment is set
        assert "Deployment complete!" not in result.stderr


def test_updated_code_still_answers(updates, aws, aws_env, lambda_runtime_python):
    shas, _ = updates
    env = emulator_env(aws_env["AWS_ENDPOINT_URL"])
    with LambdaRunner(aws, FUNCTION, env, python=lambda_runtime_python) as runner:
        assert runner.code_sha256 == shas[-1]
        watch = catalogue_samples()[0]
        response = runner.invoke(event("GET", f"/watch/{watch['sku']}", AUTH))
        assert response["statusCode"] == 200
        assert watch_body(response) == watch
        missing = runner.invoke(event("GET", "/watch/NO-SUCH-SKU", AUTH))
        assert missing["statusCode"] == 404
    variables = aws("lambda").get_function_configuration(FunctionName=FUNCTION)["Environment"]
    assert "HTTP_PASS" not in variables["Variables"]
    assert check_password_hash(variables["Variables"]["HTTP_PASS_HASH"], HTTP_PASS)


def test_create_again_points_to_update(updates, aws, aws_env):
    before = code_sha(aws)
    result = run_script("create_lambdas.sh", env=aws_env)
    assert "already exists" in result.stderr
    assert "update_lambdas.sh" in result.stderr
    assert code_sha(aws) == before
    assert functions(aws) == [FUNCTION]


# --- SnapStart (SNAP_START=on/off): one release path, read back from the emulator ---

LIVE_ALIAS = "live"


def rest_api_targets(aws):
    """The function (or alias) ARNs the REST API's integrations invoke, and the API's id."""
    apigateway = aws("apigateway")
    (api,) = [api for api in apigateway.get_rest_apis()["items"] if api["name"] == FUNCTION]
    targets = set()
    for resource in apigateway.get_resources(restApiId=api["id"], embed=["methods"])["items"]:
        for method in resource.get("resourceMethods", {}).values():
            uri = method["methodIntegration"]["uri"]
            targets.add(uri.split("/functions/")[1].removesuffix("/invocations"))
    return targets, api["id"]


def invoke_statements(aws, **qualifier):
    """Our statements in the policy of the function, or of its alias with Qualifier=ALIAS."""
    try:
        policy = aws("lambda").get_policy(FunctionName=FUNCTION, **qualifier)["Policy"]
    except aws("lambda").exceptions.ResourceNotFoundException:
        return []
    return [s for s in json.loads(policy)["Statement"] if s["Sid"] == "api-gateway-invoke"]


def versions(aws):
    found = aws("lambda").list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    return [version["Version"] for version in found if version["Version"] != "$LATEST"]


def aliases(aws):
    return [alias["Name"] for alias in aws("lambda").list_aliases(FunctionName=FUNCTION)["Aliases"]]


@pytest.fixture(scope="module")
def snap_start(updates, aws, aws_env):
    """create_api_gateway.sh with SnapStart off; then update_lambdas.sh with SNAP_START=on,
    create_api_gateway.sh with it, and update_lambdas.sh with it off again."""
    on = {**aws_env, "SNAP_START": "on"}
    readings = {}
    run_script("create_api_gateway.sh", env=aws_env)
    readings["off"] = rest_api_targets(aws), invoke_statements(aws, Qualifier=LIVE_ALIAS)
    readings["versions before"] = versions(aws)
    readings["update on"] = run_script("update_lambdas.sh", env=on)
    readings["versions on"] = versions(aws)
    run_script("create_api_gateway.sh", env=on)
    readings["on"] = rest_api_targets(aws), invoke_statements(aws, Qualifier=LIVE_ALIAS)
    readings["aliases on"] = aliases(aws)
    readings["update off"] = run_script("update_lambdas.sh", env=aws_env)
    readings["versions off"] = versions(aws)
    return readings


def function_arn(aws):
    return aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]


def test_the_gateway_invokes_alias_live_with_snap_start_on_or_off(snap_start, aws):
    alias_arn = f"{function_arn(aws)}:{LIVE_ALIAS}"
    for reading in ("off", "on"):
        (targets, api_id), (statement,) = snap_start[reading]
        assert targets == {alias_arn}
        assert statement["Resource"] == alias_arn
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/*/*"
        )
    # API Gateway may invoke the alias only: never the function itself ($LATEST).
    assert invoke_statements(aws) == []
    # SNAP_START adds no alias of its own.
    assert snap_start["aliases on"] == [LIVE_ALIAS]


def test_each_snap_start_switch_publishes_one_version_holding_code_and_environment(snap_start, aws):
    """SnapStart only decides whether published versions get a snapshot: turning it on or off
    changes the configuration, so each update publishes exactly one version, which the gate
    checks and alias live then names; the version holds its own configuration."""
    before, on, off = (snap_start[f"versions {when}"] for when in ("before", "on", "off"))
    assert len(on) == len(before) + 1 and len(off) == len(on) + 1
    awslambda = aws("lambda")
    for version, instantiate in ((on[-1], "true"), (off[-1], None)):
        published = awslambda.get_function_configuration(FunctionName=FUNCTION, Qualifier=version)
        # (moto 5.2.5 keeps no SnapStart setting: the variable that travels with it is read.)
        variables = published["Environment"]["Variables"]
        # The app is imported during init, so that the snapshot holds it.
        assert variables.get("INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT") == instantiate
        assert variables["DYNAMODB_TABLE"] == TABLE
        assert check_password_hash(variables["HTTP_PASS_HASH"], HTTP_PASS)
    assert f"alias live of {FUNCTION} names version {on[-1]}" in snap_start["update on"].stderr
    live = awslambda.get_alias(FunctionName=FUNCTION, Name=LIVE_ALIAS)["FunctionVersion"]
    assert live == off[-1]


def test_snap_start_takes_on_or_off_only(aws_env):
    result = run_script("create_api_gateway.sh", env={**aws_env, "SNAP_START": "yes"}, check=False)
    assert "SNAP_START must be 'on' or 'off', not 'yes'" in one_line_error(
        result, "create_api_gateway.sh"
    )
