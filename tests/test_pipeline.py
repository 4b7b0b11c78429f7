"""The whole deployment on the emulator, exactly as a user runs it, and the API behind it.

From an empty emulator: initialize_dynamodb.sh, create_lambdas.sh, create_api_gateway.sh;
read back what they created; then the smoke test's checks over HTTP through the local
gateway (tools/local_gateway.py: the deployed REST API routes each request to the function's
uploaded package), as docs/offline-aws.md runs them; update_lambdas.sh and the
checks again; create_api_gateway.sh again (the same API, updated in place); and the
teardown. The tests run in file order: they follow one deployment through its life.
The deployment has CORS for one origin, a page's (CORS_ORIGINS, as a user exports it for
every script): through the local gateway, every class of answer carries the CORS headers,
and the page, in headless Chromium, calls the API.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import pytest
import requests
import smoke_test
from aws_emulator import faults, free_port
from conftest import (
    HTTP_PASS,
    HTTP_USER,
    INFO_DIR,
    REGION,
    REPO,
    local_gateway,
    preflight,
    run_script,
)
from smoke_test import basic_auth

STAGE = "dev"
FUNCTION = "watch-info-dev"
ROLE = "watch-info-dev-lambda"
ACCOUNT = "123456789012"
DOMAIN = "api-watches.my-domain.test"
ZONE = "my-domain.test"
ROUTES = {
    ("/watch", "POST"),
    ("/watch", "OPTIONS"),
    ("/watch/{sku}", "GET"),
    ("/watch/{sku}", "OPTIONS"),
}


@pytest.fixture(scope="module")
def aws_env(aws_env, cross_origin_page):
    """The user's environment, with CORS for the page's origin."""
    return {**aws_env, "CORS_ORIGINS": cross_origin_page[0]}


def rest_apis(aws):
    return aws("apigateway").get_rest_apis()["items"]


def one_line_error(result):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def routes(aws, api_id):
    """{(resource path, METHOD): the method's settings, integration included} of the API."""
    apigateway = aws("apigateway")
    found = {}
    for resource in apigateway.get_resources(restApiId=api_id)["items"]:
        for method in resource.get("resourceMethods") or {}:
            settings = apigateway.get_method(
                restApiId=api_id, resourceId=resource["id"], httpMethod=method
            )
            settings.pop("ResponseMetadata")
            found[resource["path"], method] = settings
    return found


def invoke_statements(aws):
    """Our statements in the policy of alias live, which API Gateway invokes."""
    policy = aws("lambda").get_policy(FunctionName=FUNCTION, Qualifier="live")["Policy"]
    return [s for s in json.loads(policy)["Statement"] if s["Sid"] == "api-gateway-invoke"]


def run_smoke_checks(base_url):
    send = smoke_test.http_sender(base_url)
    results = list(smoke_test.run_checks(send, HTTP_USER, HTTP_PASS))
    failed = [f"{name}: {problem}" for name, passed, problem in results if not passed]
    assert not failed, "\n".join(failed)
    assert len(results) >= 15


@pytest.fixture(scope="module")
def spec_errors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("specs")
    not_yaml = folder / "not-yaml.yaml"
    not_yaml.write_text("openapi: 3.0.3\npaths: [unclosed\n")
    no_paths = folder / "no-paths.yaml"
    no_paths.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1', description: d}\n"
        "servers: [{url: /info/v2}]\npaths: {}\n"
    )
    return {"not YAML": not_yaml, "no paths": no_paths}


@pytest.fixture(scope="module")
def bad_inputs(aws_env, spec_errors):
    """(arguments, environment, expected words of the one error line) per kind of bad input."""
    no_credentials = {
        name: value for name, value in aws_env.items() if not name.startswith("AWS_SECRET")
    }
    no_credentials.pop("AWS_ACCESS_KEY_ID")
    no_credentials["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
    no_credentials["AWS_CONFIG_FILE"] = "/nonexistent/config"
    unknown_region = {**aws_env, "AWS_REGION": "xx-nowhere-1", "AWS_DEFAULT_REGION": "xx-nowhere-1"}
    return {
        "function missing": ([], aws_env, "create_lambdas.sh first"),
        "spec not YAML": (["--spec", str(spec_errors["not YAML"])], aws_env, "not valid YAML"),
        "spec without paths": (["--spec", str(spec_errors["no paths"])], aws_env, "no operations"),
        "no credentials": ([], no_credentials, "no usable AWS credentials"),
        "unknown region": ([], unknown_region, "unknown AWS region"),
    }


@pytest.mark.parametrize(
    "case",
    ["function missing", "spec not YAML", "spec without paths", "no credentials", "unknown region"],
)
def test_create_api_gateway_refuses_bad_input_before_creating_anything(case, bad_inputs, aws):
    args, env, words = bad_inputs[case]
    result = run_script("create_api_gateway.sh", *args, env=env, check=False)
    assert words in one_line_error(result)
    assert rest_apis(aws) == []


@pytest.fixture(scope="module")
def deployed(aws_env, loaded_table, lambda_runtime_python):
    """The three deploy scripts, run in order as docs/deploying.md says; the printed endpoint."""
    run_script("create_lambdas.sh", env=aws_env)
    result = run_script("create_api_gateway.sh", env=aws_env)
    url = result.stdout.strip()  # stdout holds the endpoint only; progress goes to stderr
    api_id = urlsplit(url).hostname.split(".")[0]
    return SimpleNamespace(
        url=url, api_id=api_id, base_path=urlsplit(url).path, stderr=result.stderr
    )


@pytest.fixture(scope="module")
def gateway(deployed, aws):
    """The local gateway in this process: (gateway, the deployment's base URL on it)."""
    with local_gateway(aws, FUNCTION) as (gateway, url):
        yield gateway, url + deployed.base_path


def test_rest_api_is_imported_from_the_spec_with_lambda_proxy_integrations(deployed, aws):
    (api,) = rest_apis(aws)
    assert api["id"] == deployed.api_id
    assert api["name"] == FUNCTION
    function_arn = aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    methods = routes(aws, api["id"])
    assert set(methods) == ROUTES  # OPTIONS: the browsers' CORS preflights
    for method in methods.values():
        integration = method["methodIntegration"]
        assert integration["type"].upper() == "AWS_PROXY"
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == (
            f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"{function_arn}:live/invocations"
        )
        assert method.get("authorizationType") in (None, "NONE")
        assert not method.get("authorizerId")
    assert aws("apigateway").get_authorizers(restApiId=api["id"])["items"] == []


def test_stage_is_deployed_without_cache_and_the_endpoint_is_printed_and_saved(
    deployed, aws, aws_env
):
    apigateway = aws("apigateway")
    (stage,) = apigateway.get_stages(restApiId=deployed.api_id)["item"]
    deployments = apigateway.get_deployments(restApiId=deployed.api_id)["items"]
    assert stage["stageName"] == STAGE
    assert stage["deploymentId"] in {deployment["id"] for deployment in deployments}
    assert not stage.get("cacheClusterEnabled")
    assert deployed.url == f"https://{deployed.api_id}.execute-api.{REGION}.amazonaws.com/{STAGE}"
    endpoint_file = Path(aws_env["BUILD_DIR"]) / f"endpoint-{STAGE}.txt"
    assert endpoint_file.read_text().strip() == deployed.url


def test_api_gateway_may_invoke_the_function_from_this_api_only(deployed, aws):
    (statement,) = invoke_statements(aws)
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{deployed.api_id}/*/*/*"
    )


def test_smoke_test_passes_through_the_local_gateway_command(deployed, aws_env):
    """docs/offline-aws.md's walkthrough: the local gateway prints a URL, smoke_test.py uses it."""
    command = [str(REPO / "tools" / "local_gateway.sh"), "--port", str(free_port())]
    with subprocess.Popen(command, env=aws_env, stdout=subprocess.PIPE, text=True) as gateway:
        try:
            url = gateway.stdout.readline().strip()
            assert url.endswith(f"/{STAGE}"), url
            smoke = subprocess.run(
                [sys.executable, str(INFO_DIR / "smoke_test.py"), "--url", url],
                env={**os.environ, "HTTP_USER": HTTP_USER, "HTTP_PASS": HTTP_PASS},
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            gateway.terminate()
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stdout.splitlines()[-1].endswith(f"checks passed against {url}")


def test_the_function_receives_the_client_request_as_api_gateway_sends_it(deployed, gateway):
    gateway, base_url = gateway
    run_smoke_checks(base_url)
    event = gateway.invocations[-1]
    assert event["headers"]["Host"] == f"{deployed.api_id}.execute-api.{REGION}.amazonaws.com"
    assert event["requestContext"]["stage"] == STAGE
    # No authorizer in between: the app receives the client's basic-auth header untouched.
    assert any(
        e["headers"].get("Authorization", "").startswith("Basic ") for e in gateway.invocations
    )


def test_the_401_challenge_arrives_remapped_as_api_gateway_sends_it(gateway):
    _, base_url = gateway
    response = requests.get(f"{base_url}/watch/CAL5185B", timeout=60)
    assert response.status_code == 401
    assert response.headers["x-amzn-Remapped-WWW-Authenticate"].startswith("Basic")
    assert "WWW-Authenticate" not in response.headers


def test_routes_the_api_does_not_define_are_404_problem_json_and_never_reach_the_function(
    gateway,
):
    """create_api_gateway.sh's gateway responses: API Gateway's own answer to an unknown
    route is 404 problem+json instead of 403 "Missing Authentication Token"."""
    gateway, base_url = gateway
    calls = len(gateway.invocations)
    send = smoke_test.http_sender(base_url)
    for method, path in [("GET", "/nothing"), ("DELETE", "/watch/CAL5185B"), ("GET", "/watch")]:
        status, headers, body = send(method, path, {"Authorization": "Basic eDp5"}, None)
        assert (status, headers["Content-Type"]) == (404, "application/problem+json")
        problem = json.loads(body)
        assert (problem["status"], problem["title"]) == (404, "Not Found")
    assert len(gateway.invocations) == calls


def test_sku_that_needs_url_encoding_round_trips(gateway):
    gateway, base_url = gateway
    sku = f"RT {uuid.uuid4().hex[:6]} 100% a+b#c?d=e&f É-時"
    watch = {"sku": sku, "type": "chrono", "status": "old", "gender": "man", "year": 1969}
    send = smoke_test.http_sender(base_url)
    client = smoke_test.Client(send, basic_auth(HTTP_USER, HTTP_PASS))
    assert client.post(watch)[0] == 200
    status, _, body = client.get(sku)
    assert (status, json.loads(body)) == (200, watch)
    event = gateway.invocations[-1]
    assert event["resource"] == "/watch/{sku}"
    assert event["path"] == "/watch/" + quote(sku, safe="")
    assert event["requestContext"]["path"] == f"/{STAGE}/watch/" + quote(sku, safe="")
    assert event["pathParameters"] == {"sku": sku}


def test_the_function_holds_cors_origins_and_answers_preflights(gateway, aws, cross_origin_page):
    gateway, base_url = gateway
    origin, _ = cross_origin_page
    # The version clients get (alias live) holds it.
    configuration = aws("lambda").get_function_configuration(
        FunctionName=FUNCTION, Qualifier="live"
    )
    assert configuration["Environment"]["Variables"]["CORS_ORIGINS"] == origin
    calls = len(gateway.invocations)
    response = preflight(f"{base_url}/watch/CAL5185B", origin, "GET", "authorization")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert len(gateway.invocations) == calls + 1, "the function answered it, not the gateway"


def cors_answers(base_url, origin):
    """{class of answer: response} for requests from ORIGIN through the gateway."""
    auth = {"Authorization": basic_auth(HTTP_USER, HTTP_PASS)}
    watch = {"sku": f"CORS-{uuid.uuid4().hex[:6]}", "type": "watch", "status": "old"}
    watch.update(gender="man", year=1999)

    def send(method, path, headers=(), body=None):
        headers = {"Origin": origin, **dict(headers)}
        return requests.request(method, base_url + path, headers=headers, json=body, timeout=60)

    answers = {
        "200 GET": send("GET", "/watch/CAL5185B", auth),
        "200 POST": send("POST", "/watch", auth, watch),
        "304": send("GET", "/watch/CAL5185B", {**auth, "If-None-Match": "*"}),
        "401": send("GET", "/watch/CAL5185B"),
        "404 of the app": send("GET", "/watch/NO-SUCH-SKU", auth),
        "404 of the gateway": send("GET", "/nothing", auth),
    }
    with faults.injected(throttled_dynamodb_operations={"GetItem"}):
        answers["503"] = send("GET", "/watch/CAL5185B", auth)
    return answers


def test_every_class_of_answer_carries_the_cors_headers_through_the_gateway(
    gateway, cross_origin_page
):
    _, base_url = gateway
    origin, _ = cross_origin_page
    for name, response in cors_answers(base_url, origin).items():
        assert response.status_code == int(name.split()[0]), name
        assert response.headers["Access-Control-Allow-Origin"] == origin, name
        assert "Origin" in response.headers["Vary"], name
        exposed = response.headers["Access-Control-Expose-Headers"].lower()
        assert "etag" in exposed and "retry-after" in exposed, name


def test_another_origin_gets_no_cors_header_through_the_gateway(gateway, cross_origin_page):
    _, base_url = gateway
    origin, _ = cross_origin_page
    for name, response in cors_answers(base_url, "https://elsewhere.example.test").items():
        allowed = response.headers.get("Access-Control-Allow-Origin")
        if name == "404 of the gateway":
            # A gateway response holds fixed values: the one origin, which this is not.
            assert allowed == origin
        else:
            assert allowed is None, name


def test_a_page_on_another_origin_calls_the_api_through_the_gateway_in_chromium(
    browser, cross_origin_page, gateway
):
    _, base_url = gateway
    _, page_url = cross_origin_page
    browser.get(page_url)
    credentials = [HTTP_USER, HTTP_PASS]

    def call(method, path, credentials=None, watch=None):
        script = "return callApi(...arguments)"
        return browser.execute_script(script, method, base_url + path, credentials, watch)

    refused = call("GET", "/watch/CAL5185B")
    assert (refused.get("status"), json.loads(refused["body"])["status"]) == (401, 401)
    found = call("GET", "/watch/CAL5185B", credentials)
    assert (found.get("status"), json.loads(found["body"])["sku"]) == (200, "CAL5185B")
    assert found["etag"]
    missing = call("GET", "/watch/NO-SUCH-SKU", credentials)
    assert (missing.get("status"), json.loads(missing["body"])["status"]) == (404, 404)
    # The gateway's own answer (no credentials: with them, the browser's preflight would meet
    # that 404 first, as the REST API has no OPTIONS for a path it does not have).
    unknown = call("GET", "/nothing")
    assert (unknown.get("status"), json.loads(unknown["body"])["status"]) == (404, 404)
    watch = {"sku": f"PAGE-{uuid.uuid4().hex[:6]}", "type": "chrono", "status": "current"}
    watch.update(gender="woman", year=2020)
    stored = call("POST", "/watch", credentials, watch)
    assert (stored.get("status"), json.loads(stored["body"])) == (200, watch)


def log_streams(aws):
    """The names of the function's log streams: one per container that ran it."""
    found = aws("logs").describe_log_streams(logGroupName=f"/aws/lambda/{FUNCTION}")
    return {stream["logStreamName"] for stream in found["logStreams"]}


def test_update_lambdas_unchanged_releases_nothing_and_the_same_checks_pass(gateway, aws, aws_env):
    gateway, base_url = gateway
    released = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
    result = run_script("update_lambdas.sh", env=aws_env)
    assert f"alias live of {FUNCTION} already names version {released}: nothing to release" in (
        result.stderr
    )
    run_smoke_checks(base_url)
    # The released version's container served the checks through alias live.
    last_request = gateway.invocations[-1]["requestContext"]["requestId"]
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{FUNCTION}")["events"]
    (served_by,) = {e["logStreamName"] for e in events if last_request in e["message"]}
    assert f"/[{released}]" in served_by


def test_create_api_gateway_again_updates_the_same_api_and_repairs_it(
    deployed, gateway, aws, aws_env
):
    deployments = aws("apigateway").get_deployments(restApiId=deployed.api_id)["items"]
    aws("lambda").remove_permission(
        FunctionName=FUNCTION, StatementId="api-gateway-invoke", Qualifier="live"
    )
    result = run_script("create_api_gateway.sh", env=aws_env)
    assert result.stdout.strip() == deployed.url
    (api,) = rest_apis(aws)
    assert api["id"] == deployed.api_id
    assert set(routes(aws, api["id"])) == ROUTES
    again = aws("apigateway").get_deployments(restApiId=deployed.api_id)["items"]
    assert len(again) == len(deployments) + 1
    assert len(invoke_statements(aws)) == 1
    run_smoke_checks(gateway[1])


def test_create_custom_domain_answers_help_with_its_usage(aws_env):
    result = run_script("create_custom_domain.sh", "--help", env=aws_env)
    assert result.stdout.startswith("Usage: info-v2/create_custom_domain.sh --domain NAME")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "--domain NAME is required"),
        (["--domain", "not a domain"], "'not a domain' is not a domain name"),
        (["--domain", DOMAIN, "--zone", "x"], "unknown argument '--zone'"),
    ],
    ids=["no domain", "not a domain name", "unknown argument"],
)
def test_create_custom_domain_refuses_bad_arguments_in_one_line(args, words, aws_env):
    result = run_script("create_custom_domain.sh", *args, env=aws_env, check=False)
    assert words in one_line_error(result)


@pytest.mark.parametrize(
    ("script", "args", "words"),
    [
        ("delete_all.sh", ["--delete-table=yes"], "--delete-table takes no value"),
        ("logs.sh", ["--since="], "--since needs a value"),
        ("logs.sh", ["--follow", "--since"], "--since needs a value"),
        ("rollback.sh", ["--to=latest"], "--to needs a version number (1, 2, ...), not 'latest'"),
        ("update_lambdas.sh", ["--canary=5", "--canary"], "--canary needs a value"),
    ],
    ids=["flag with a value", "empty value", "value missing", "bad version", "repeated"],
)
def test_the_scripts_refuse_options_they_cannot_take_in_one_line(script, args, words, aws_env):
    result = run_script(script, *args, env=aws_env, check=False)
    assert words in one_line_error(result)


def test_create_custom_domain_without_a_hosted_zone_says_so_in_one_line(deployed, aws, aws_env):
    result = run_script("create_custom_domain.sh", "--domain", DOMAIN, env=aws_env, check=False)
    assert f"no Route 53 hosted zone holds {DOMAIN}" in one_line_error(result)
    assert aws("acm").list_certificates()["CertificateSummaryList"] == []
    assert aws("apigatewayv2").get_domain_names()["Items"] == []


@pytest.fixture(scope="module")
def custom_domain(deployed, aws, aws_env):
    """create_custom_domain.sh, twice, with the parent's zone in Route 53 (and a zone of a
    shorter name, which must not be chosen); the zone's id and the two runs."""
    route53 = aws("route53")
    zone = route53.create_hosted_zone(Name=ZONE, CallerReference=str(uuid.uuid4()))
    route53.create_hosted_zone(Name="test", CallerReference=str(uuid.uuid4()))
    runs = [run_script("create_custom_domain.sh", "--domain", DOMAIN, env=aws_env) for _ in "12"]
    return SimpleNamespace(zone_id=zone["HostedZone"]["Id"], runs=runs)


def records(aws, zone_id):
    """{(name without the final dot, type): record set} of a hosted zone."""
    found = aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(record["Name"].rstrip("."), record["Type"]): record for record in found}


def test_create_custom_domain_twice_leaves_one_certificate_domain_mapping_and_alias(
    custom_domain, deployed, aws
):
    assert [run.stdout for run in custom_domain.runs] == [f"https://{DOMAIN}/info/v2\n"] * 2
    assert "reusing the certificate" in custom_domain.runs[1].stderr
    (summary,) = aws("acm").list_certificates()["CertificateSummaryList"]
    certificate = aws("acm").describe_certificate(CertificateArn=summary["CertificateArn"])
    certificate = certificate["Certificate"]
    assert (certificate["DomainName"], certificate["Status"]) == (DOMAIN, "ISSUED")
    (domain,) = aws("apigatewayv2").get_domain_names()["Items"]
    (configuration,) = domain["DomainNameConfigurations"]
    assert domain["DomainName"] == DOMAIN
    assert configuration["EndpointType"] == "REGIONAL"
    assert configuration["SecurityPolicy"] == "TLS_1_2"
    assert configuration["CertificateArn"] == certificate["CertificateArn"]
    (mapping,) = aws("apigatewayv2").get_api_mappings(DomainName=DOMAIN)["Items"]
    assert (mapping["ApiId"], mapping["Stage"], mapping["ApiMappingKey"]) == (
        deployed.api_id,
        STAGE,
        "info/v2",
    )
    zone = records(aws, custom_domain.zone_id)
    alias = zone[DOMAIN, "A"]["AliasTarget"]
    assert alias["DNSName"].rstrip(".") == configuration["ApiGatewayDomainName"]
    assert alias["HostedZoneId"] == configuration["HostedZoneId"]
    validation = certificate["DomainValidationOptions"][0]["ResourceRecord"]
    cname = zone[validation["Name"].rstrip("."), "CNAME"]
    assert cname["ResourceRecords"] == [{"Value": validation["Value"]}]


def test_the_custom_domain_and_the_stage_url_answer_with_the_same_watch(
    custom_domain, deployed, gateway
):
    """Both URLs through the local gateway, each with the proxy event AWS sends for it."""
    gateway, stage_url = gateway
    domain_url = stage_url.removesuffix(deployed.base_path) + "/info/v2"
    for base_url in (domain_url, stage_url):
        response = requests.get(
            f"{base_url}/watch/CAL5185B", auth=(HTTP_USER, HTTP_PASS), timeout=60
        )
        assert response.status_code == 200
        assert response.json()["sku"] == "CAL5185B"
    via_domain, via_stage = gateway.invocations[-2:]
    assert via_domain["resource"] == via_stage["resource"] == "/watch/{sku}"
    assert via_domain["path"] == via_domain["requestContext"]["path"] == "/info/v2/watch/CAL5185B"
    assert via_domain["headers"]["Host"] == via_domain["requestContext"]["domainName"] == DOMAIN
    assert via_stage["path"] == "/watch/CAL5185B"
    assert via_stage["requestContext"]["path"] == f"/{STAGE}/watch/CAL5185B"
    run_smoke_checks(domain_url)


def test_a_certificate_acm_does_not_validate_ends_the_wait_with_one_line(
    custom_domain, aws, aws_env
):
    env = {**aws_env, "CERT_WAIT_SECONDS": "2", "CERT_POLL_SECONDS": "1"}
    try:
        with faults.injected(acm_blind_to_dns=True):
            result = run_script(
                "create_custom_domain.sh", "--domain", f"slow.{ZONE}", env=env, check=False
            )
    finally:  # the next tests count the certificates
        for summary in aws("acm").list_certificates()["CertificateSummaryList"]:
            if summary["DomainName"] == f"slow.{ZONE}":
                aws("acm").delete_certificate(CertificateArn=summary["CertificateArn"])
    assert result.returncode == 1
    assert "waiting for ACM to validate" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"create_custom_domain.sh: error: the certificate for slow.{ZONE} is ")
    assert "still PENDING_VALIDATION after" in last
    assert [domain["DomainName"] for domain in aws("apigatewayv2").get_domain_names()["Items"]] == [
        DOMAIN
    ]


def test_status_shows_the_custom_domain(custom_domain, aws_env):
    result = run_script("status.sh", env=aws_env)
    assert f"custom domain  https://{DOMAIN}/info/v2\n" in result.stdout


def test_an_invalid_spec_leaves_the_deployed_api_untouched(deployed, aws, aws_env, spec_errors):
    before = routes(aws, deployed.api_id)
    deployments = aws("apigateway").get_deployments(restApiId=deployed.api_id)["items"]
    result = run_script(
        "create_api_gateway.sh", "--spec", str(spec_errors["no paths"]), env=aws_env, check=False
    )
    assert "no operations" in one_line_error(result)
    assert [api["id"] for api in rest_apis(aws)] == [deployed.api_id]
    assert routes(aws, deployed.api_id) == before
    assert aws("apigateway").get_deployments(restApiId=deployed.api_id)["items"] == deployments


def test_teardown_removes_everything_but_the_table_and_the_certificate(
    deployed, custom_domain, aws, aws_env
):
    assert log_streams(aws)  # Lambda made the log group when the function first ran
    result = run_script("delete_all.sh", env=aws_env)
    assert f"removed log group /aws/lambda/{FUNCTION}" in result.stderr
    assert rest_apis(aws) == []
    assert aws("lambda").list_functions()["Functions"] == []
    assert ROLE not in [role["RoleName"] for role in aws("iam").list_roles()["Roles"]]
    log_groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")
    assert log_groups["logGroups"] == []
    build = Path(aws_env["BUILD_DIR"])
    assert not (build / f"endpoint-{STAGE}.txt").exists()
    assert not (build / f"{FUNCTION}.zip").exists()
    assert aws("dynamodb").list_tables()["TableNames"] == ["project1"]
    item = aws("dynamodb").get_item(TableName="project1", Key={"sku": {"S": "CAL5185B"}})
    assert "Item" in item
    assert "kept DynamoDB table project1" in result.stderr
    assert aws("apigatewayv2").get_domain_names()["Items"] == []
    zone = records(aws, custom_domain.zone_id)
    assert (DOMAIN, "A") not in zone
    (summary,) = aws("acm").list_certificates()["CertificateSummaryList"]
    assert summary["DomainName"] == DOMAIN
    # ACM renews the kept certificate through its validation record: that stays too.
    assert [kind for name, kind in zone if name.endswith(DOMAIN)] == ["CNAME"]


def test_the_local_gateway_serves_a_redeployment_without_a_restart(deployed, gateway, aws_env):
    """The gateway started for the first deployment: after the teardown above it names the
    cause as problem+json, and after the scripts deploy again (a new REST API) it serves."""
    gateway, base_url = gateway
    response = requests.get(f"{base_url}/watch/CAL5185B", auth=(HTTP_USER, HTTP_PASS), timeout=60)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith(f"no REST API is named {FUNCTION}")

    run_script("create_lambdas.sh", env=aws_env)
    url = run_script("create_api_gateway.sh", env=aws_env).stdout.strip()
    assert urlsplit(url).hostname.split(".")[0] != deployed.api_id
    run_smoke_checks(base_url)


def test_teardown_with_delete_certificate_removes_it_and_its_validation_record(
    custom_domain, aws, aws_env
):
    run_script("delete_all.sh", "--delete-certificate", env=aws_env)
    assert aws("acm").list_certificates()["CertificateSummaryList"] == []
    assert [name for name, _ in records(aws, custom_domain.zone_id) if DOMAIN in name] == []


def test_teardown_with_delete_table_removes_the_table_too(aws, aws_env):
    run_script("delete_all.sh", "--delete-table", env=aws_env)
    assert aws("dynamodb").list_tables()["TableNames"] == []
    assert rest_apis(aws) == []
    assert aws("lambda").list_functions()["Functions"] == []
    assert aws("iam").list_roles()["Roles"] == []


def test_teardown_again_finds_every_part_already_gone(aws_env):
    result = run_script("delete_all.sh", "--delete-table", env=aws_env)
    for part in (f"REST API {FUNCTION}", f"Lambda function {FUNCTION}", f"IAM role {ROLE}"):
        assert f"{part}: already gone" in result.stderr
    assert "DynamoDB table project1: already gone" in result.stderr
