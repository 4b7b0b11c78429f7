"""Smoke test of a running Watch Info Service: the same checks against any base URL, or
against one version of the Lambda function itself (the deploy scripts' release gate).

    HTTP_USER=... HTTP_PASS=... python3 info-v2/smoke_test.py --url BASE_URL [--read-only]
    HTTP_USER=... HTTP_PASS=... .venv/bin/python info-v2/smoke_test.py \
        --invoke FUNCTION --qualifier VERSION --read-only --watch-from-table TABLE

BASE_URL is the URL the checks append /watch/{sku} to: the stage URL create_api_gateway.sh
printed (also in build/endpoint-<stage>.txt), e.g.
https://abc123.execute-api.us-east-1.amazonaws.com/dev, the custom domain's
https://api-watches.my-domain.ch/info/v2 (create_custom_domain.sh), the local gateway's
http://127.0.0.1:8080/dev, or the local service, http://localhost:1080/info/v2.
The table must hold watches.json (initialize_dynamodb.sh).
One line per check, PASS or FAIL; the exit status is 0 only when every check passed.
Without --read-only it adds two watches whose sku starts with "SMOKE " (the API cannot
delete them). --read-only runs only the checks that change no data: GET of a stored watch,
a 404, 401s, 400s for invalid POSTs, and a POST of an exact copy of the stored watch (200:
the write path and the function's PutItem run, the table stays as it was).

--invoke FUNCTION --qualifier N sends the checks to version (or alias) N of the Lambda
function as API Gateway's proxy events, each check in both shapes API Gateway sends: through
the stage URL (path /watch/X, the stage in requestContext) and through a custom domain
(path /info/v2/watch/X); the health check GET / comes first. update_lambdas.sh runs this on
each version it publishes before any client gets it. --watch-from-table TABLE takes the
stored watch from the table (boto3 and AWS credentials needed, as for --invoke) instead of
watches.json.

Standard library only for --url, so any python3 runs it; --invoke and --watch-from-table
import boto3 (the scripts run it with .venv's Python). The checks only talk through a `send`
function, so the tests run the very same list through their API Gateway harness:
run_checks(send, user, password) with send(method, path, headers, body) returning
(status, headers, body); path is relative to the base URL and already URL-encoded.
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections import Counter
from itertools import chain
from pathlib import Path
from urllib.parse import quote, unquote

WATCHES = Path(__file__).resolve().parent.parent / "watches.json"
BOM = "\ufeff"
ENUMS = {
    "type": {"watch", "chrono"},
    "status": {"old", "current", "outlet"},
    "gender": {"man", "woman"},
}


def http_sender(base_url, timeout=30):
    """A send function over real HTTP (urllib), for the base URL of the service."""

    def send(method, path, headers, body):
        request = urllib.request.Request(
            base_url.rstrip("/") + path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    return send


def lambda_sender(function, qualifier, shape, stage):
    """A send function that invokes version (or alias) QUALIFIER of FUNCTION with the proxy
    event API Gateway makes of the request: SHAPE "stage URL" or "custom domain"."""
    import boto3

    client = boto3.client("lambda")

    def send(method, path, headers, body):
        event = proxy_event(method, path, headers, body, shape, stage)
        answer = client.invoke(
            FunctionName=function, Qualifier=qualifier, Payload=json.dumps(event).encode()
        )
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            error = payload if isinstance(payload, dict) else {}
            raise FunctionError(f"{error.get('errorType')}: {error.get('errorMessage')}")
        if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
            raise FunctionError(f"not a Lambda proxy response: {str(payload)[:200]}")
        text = payload.get("body") or ""
        data = base64.b64decode(text) if payload.get("isBase64Encoded") else text.encode()
        return payload["statusCode"], payload.get("headers") or {}, data

    return send


class FunctionError(Exception):
    """The function failed instead of answering (Lambda's FunctionError), or answered
    something API Gateway could not turn into an HTTP response."""


CUSTOM_DOMAIN_BASE_PATH = "/info/v2"


def proxy_event(method, path, headers, body, shape, stage):
    """The REST API Lambda proxy event of a request for PATH (relative to the base URL,
    URL-encoded) as API Gateway sends it: through the stage URL `path` is /watch/X and the
    stage is in requestContext; through a custom domain whose base path mapping is info/v2,
    `path` is /info/v2/watch/X. `resource` is the API's resource either way."""
    segments = path.split("/")[1:]
    if segments[:1] == ["watch"] and len(segments) == 2:
        resource, parameters = "/watch/{sku}", {"sku": unquote(segments[1])}
    else:
        resource, parameters = path, None
    if shape == "custom domain":
        host, event_path = "gate.invalid", CUSTOM_DOMAIN_BASE_PATH + path
        context_path = event_path
    else:
        host, event_path, context_path = "gate.execute-api.amazonaws.com", path, f"/{stage}{path}"
    headers = {**headers, "Host": host, "User-Agent": "smoke_test.py"}
    return {
        "resource": resource,
        "path": event_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": context_path,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "domainName": host,
            "apiId": "gate",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "smoke_test.py"},
        },
        "body": body.decode() if body else None,
        "isBase64Encoded": False,
    }


def table_watch(table):
    """A watch stored in TABLE, as the API returns it (DynamoDB numbers are Decimal)."""
    import boto3

    items = boto3.client("dynamodb").scan(TableName=table, Limit=1).get("Items", [])
    if not items:
        raise ValueError(f"table {table} holds no watch to check")
    from boto3.dynamodb.types import TypeDeserializer

    watch = {name: TypeDeserializer().deserialize(value) for name, value in items[0].items()}
    return {**watch, "year": int(watch["year"])}


def sample_watch(path=WATCHES):
    """A record of watches.json as the API returns it: the first one the loader stores as
    it is, apart from the two changes it makes to every record (year as a number, no nulls).
    """
    records = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    skus = Counter(record.get("sku") for record in records if isinstance(record, dict))
    for record in records:
        watch = {key: value for key, value in record.items() if value is not None}
        year = watch.get("year")
        strings = [value for key, value in watch.items() if key != "year"]
        if (
            skus[watch.get("sku")] == 1
            and isinstance(year, str)
            and year.isdigit()
            and all(isinstance(value, str) and value == value.strip() for value in strings)
            and not any(value.startswith(BOM) or not value for value in strings)
            and all(watch.get(key) in allowed for key, allowed in ENUMS.items())
        ):
            return {**watch, "year": int(year)}
    raise ValueError(f"{path} holds no record that can serve as a sample")


def basic_auth(user, password, encoding="utf-8"):
    """The value of an Authorization header for HTTP basic auth (RFC 7617: UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


class Client:
    """The two operations of the API, over a send function."""

    def __init__(self, send, authorization):
        self.send = send
        self.authorization = authorization

    def headers(self, authorization):
        headers = {"Accept": "application/json"}
        authorization = self.authorization if authorization is ... else authorization
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def get(self, sku, authorization=...):
        return self.send("GET", "/watch/" + quote(sku, safe=""), self.headers(authorization), None)

    def post(self, watch, authorization=...):
        headers = {**self.headers(authorization), "Content-Type": "application/json"}
        return self.send("POST", "/watch", headers, json.dumps(watch).encode())

    def health(self):
        """The app's health check, GET / without credentials: only a direct invocation of
        the function reaches it (the REST API routes the spec's operations only)."""
        return self.send("GET", "/", {"Accept": "application/json"}, None)


def without(watch, key):
    return {name: value for name, value in watch.items() if name != key}


def expect(response, status, body=None):
    """None when the response has this status (and JSON body), else what was wrong."""
    got_status, _, got_body = response
    text = got_body.decode("utf-8", "replace") if isinstance(got_body, bytes) else got_body
    if got_status != status:
        return f"expected {status}, got {got_status}: {text[:200]}"
    if body is not None and json.loads(text) != body:
        return f"expected body {json.dumps(body)}, got {text[:300]}"
    return None


def run_checks(send, user, password, watches=WATCHES, read_only=False, known=None, health=False):
    """Yields (name, passed, detail) for each check, in order. READ_ONLY: only the checks
    that change no data. KNOWN: the stored watch to use (default: a sample of WATCHES).
    HEALTH: the health check first (see Client.health)."""
    api = Client(send, basic_auth(user, password))
    known = known or sample_watch(watches)
    token = uuid.uuid4().hex[:8]
    # A sku that only survives the trip when every layer encodes and decodes the path right.
    new = {
        "sku": f"SMOKE {token} a+b#c?d%e É-時",
        "type": "watch",
        "status": "current",
        "gender": "woman",
        "year": 2024,
        "case_form": "Round",
    }
    invalid = {"sku": f"SMOKE {token} invalid", **{k: new[k] for k in ENUMS}, "year": 2024}
    wrong = basic_auth(user, password + "-wrong")
    checks = [("GET / (health check, no credentials): 200", api.health, [], 200, None)] * health
    checks += [
        ("GET a stored watch: 200, the record", api.get, [known["sku"]], 200, known),
        ("GET an unknown sku: 404", api.get, [f"SMOKE {token} missing"], 404, None),
    ]
    if not read_only:
        checks += [
            ("POST a new watch (sku needs URL encoding): 200", api.post, [new], 200, new),
            ("GET that watch back: 200, equal", api.get, [new["sku"]], 200, new),
            ("POST the same watch again: 200 (idempotent)", api.post, [new], 200, new),
            (
                "POST another watch under that sku: 409",
                api.post,
                [{**new, "year": 2000}],
                409,
                None,
            ),
            ("GET it after the refused POST: unchanged", api.get, [new["sku"]], 200, new),
        ]
    checks += [
        ("POST a copy of the stored watch: 200 (idempotent)", api.post, [known], 200, known),
        ("POST year as a string: 400", api.post, [{**invalid, "year": "2024"}], 400, None),
        ("POST status outside the enum: 400", api.post, [{**invalid, "status": "new"}], 400, None),
        ("POST without gender (required): 400", api.post, [without(invalid, "gender")], 400, None),
        ("POST an unknown field: 400", api.post, [{**invalid, "price": 10}], 400, None),
        ("GET without credentials: 401", api.get, [known["sku"], None], 401, None),
        ("GET with a wrong password: 401", api.get, [known["sku"], wrong], 401, None),
        ("POST without credentials: 401", api.post, [invalid, None], 401, None),
        ("POST with a wrong password: 401", api.post, [invalid, wrong], 401, None),
    ]
    for name, operation, args, status, body in checks:
        try:
            problem = expect(operation(*args), status, body)
        except Exception as error:  # a failed check must not hide the others
            problem = f"{type(error).__name__}: {error}"
        yield name, problem is None, problem or ""


SHAPES = ("stage URL", "custom domain")


def invoke_checks(function, qualifier, stage, user, password, read_only, known):
    """run_checks on the function's version QUALIFIER, once per event shape (the health
    check with the first); names carry the shape."""
    senders = [(shape, lambda_sender(function, qualifier, shape, stage)) for shape in SHAPES]
    for index, (shape, send) in enumerate(senders):
        checks = run_checks(send, user, password, None, read_only, known, health=index == 0)
        for name, passed, problem in checks:
            yield f"[{shape}] {name}", passed, problem


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run the checks of the Watch Info Service against a base URL, or against "
        "a version of its Lambda function. Credentials come from HTTP_USER and HTTP_PASS."
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url",
        help="base URL: the stage URL (https://ID.execute-api.REGION.amazonaws.com/STAGE), "
        "https://DOMAIN/info/v2 or http://localhost:1080/info/v2",
    )
    target.add_argument(
        "--invoke", metavar="FUNCTION", help="invoke this Lambda function instead (needs boto3)"
    )
    parser.add_argument(
        "--qualifier", default="$LATEST", help="with --invoke: the version or alias to invoke"
    )
    parser.add_argument(
        "--stage",
        default=os.environ.get("STAGE", "dev"),
        help="with --invoke: the stage named in the events (default: $STAGE, else dev)",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="only the checks that change no data"
    )
    parser.add_argument("--watches", default=str(WATCHES), help="the catalogue the table holds")
    parser.add_argument(
        "--watch-from-table",
        metavar="TABLE",
        help="take the stored watch from this DynamoDB table (needs boto3) instead of --watches",
    )
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request")
    return parser.parse_args(argv)


def checks_of(args, user, password):
    """The checks the arguments ask for: over HTTP, or invoking the function. Reading the
    stored watch and making the Lambda client happen here, before the first check."""
    known = table_watch(args.watch_from_table) if args.watch_from_table else None
    if args.invoke:
        checks = invoke_checks(
            args.invoke, args.qualifier, args.stage, user, password, args.read_only, known
        )
        return chain([next(checks)], checks)
    send = http_sender(args.url, args.timeout)
    return run_checks(send, user, password, args.watches, args.read_only, known)


def main(argv=None):
    args = parse_args(argv)
    user, password = os.environ.get("HTTP_USER"), os.environ.get("HTTP_PASS")
    if not (user and password):
        print("smoke_test.py: error: set HTTP_USER and HTTP_PASS", file=sys.stderr)
        return 2
    target = args.url or f"{args.invoke}:{args.qualifier}"
    try:
        checks = checks_of(args, user, password)
    except ImportError as error:
        print(
            f"smoke_test.py: error: {error.name} is needed for --invoke and "
            "--watch-from-table: run it with .venv/bin/python",
            file=sys.stderr,
        )
        return 2
    except Exception as error:  # the stored watch could not be read: no check can run
        print(f"smoke_test.py: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    failed = total = 0
    for name, passed, problem in checks:
        total += 1
        failed += not passed
        print(f"PASS  {name}" if passed else f"FAIL  {name}: {problem}", flush=True)
    print(f"{total - failed} of {total} checks passed against {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
