"""Smoke test of a running Watch Info Service: the same HTTP checks against any base URL.

    HTTP_USER=... HTTP_PASS=... python3 info-v2/smoke_test.py --url BASE_URL

BASE_URL is the URL the checks append /watch/{sku} to: the stage URL create_api_gateway.sh
printed (also in build/endpoint-<stage>.txt), e.g.
https://abc123.execute-api.us-east-1.amazonaws.com/dev, the custom domain's
https://api-watches.my-domain.ch/info/v2 (create_custom_domain.sh), the local gateway's
http://127.0.0.1:8080/dev, or the local service, http://localhost:1080/info/v2.
The table must hold watches.json (initialize_dynamodb.sh).
One line per check, PASS or FAIL; the exit status is 0 only when every check passed.
It adds two watches whose sku starts with "SMOKE " (the API cannot delete them).

Standard library only, so any python3 runs it. The checks only talk through a `send`
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
from pathlib import Path
from urllib.parse import quote

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


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


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


def run_checks(send, user, password, watches=WATCHES):
    """Yields (name, passed, detail) for each check, in order."""
    api = Client(send, basic_auth(user, password))
    known = sample_watch(watches)
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
    checks = [
        ("GET a watch of watches.json: 200, the record", api.get, [known["sku"]], 200, known),
        ("GET an unknown sku: 404", api.get, [f"SMOKE {token} missing"], 404, None),
        ("POST a new watch (sku needs URL encoding): 200", api.post, [new], 200, new),
        ("GET that watch back: 200, equal", api.get, [new["sku"]], 200, new),
        ("POST the same watch again: 200 (idempotent)", api.post, [new], 200, new),
        ("POST another watch under that sku: 409", api.post, [{**new, "year": 2000}], 409, None),
        ("GET it after the refused POST: unchanged", api.get, [new["sku"]], 200, new),
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


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run the HTTP checks of the Watch Info Service against a base URL. "
        "Credentials come from HTTP_USER and HTTP_PASS."
    )
    parser.add_argument(
        "--url",
        required=True,
        help="base URL: the stage URL (https://ID.execute-api.REGION.amazonaws.com/STAGE), "
        "https://DOMAIN/info/v2 or http://localhost:1080/info/v2",
    )
    parser.add_argument("--watches", default=str(WATCHES), help="the catalogue the table holds")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    user, password = os.environ.get("HTTP_USER"), os.environ.get("HTTP_PASS")
    if not (user and password):
        print("smoke_test.py: error: set HTTP_USER and HTTP_PASS", file=sys.stderr)
        return 2
    failed = 0
    total = 0
    for name, passed, problem in run_checks(
        http_sender(args.url, args.timeout), user, password, args.watches
    ):
        total += 1
        failed += not passed
        print(f"PASS  {name}" if passed else f"FAIL  {name}: {problem}", flush=True)
    print(f"{total - failed} of {total} checks passed against {args.url}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
