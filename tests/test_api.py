"""The local service over real HTTP: every documented status of both operations."""

import http.client
import json
import time
from urllib.parse import quote, urlsplit

import pytest
import requests
from conftest import HTTP_PASS, HTTP_USER, WATCHES
from smoke_test import basic_auth

# Two independent DynamoDB implementations catch what one is lenient about.
pytestmark = pytest.mark.both_dynamodbs

AUTH = (HTTP_USER, HTTP_PASS)
NEW_WATCH = {
    "sku": "TEST-API.0001",
    "type": "chrono",
    "status": "current",
    "gender": "woman",
    "year": 2024,
    "dial_color": "Mother-of-pearl",
    "case_form": "Tonneau",
}


def plain_record():
    """A catalogue record that needs no cleaning but year, with the API's view of it."""
    for raw in json.loads(WATCHES.read_text(encoding="utf-8")):
        values = [v for v in raw.values() if isinstance(v, str)]
        if raw["sku"] and all(v == v.strip() and "\ufeff" not in v and v for v in values):
            watch = {k: v for k, v in raw.items() if v is not None}
            return {**watch, "year": int(raw["year"])}
    raise AssertionError("watches.json has no plain record")


@pytest.fixture(scope="module")
def api(local_service):
    return local_service + "/info/v2"


def test_health_check_needs_no_credentials(local_service):
    response = requests.get(local_service + "/", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_swagger_ui_is_served(api):
    response = requests.get(api + "/ui/", timeout=10)
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_get_returns_the_catalogue_record_with_caching_headers(api):
    expected = plain_record()
    response = requests.get(f"{api}/watch/{expected['sku']}", auth=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.json() == expected
    assert isinstance(response.json()["year"], int)
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert len(response.raw.headers.getlist("Date")) == 1, "one Date header, the server's"
    etag = response.headers["ETag"]
    again = requests.get(
        f"{api}/watch/{expected['sku']}", auth=AUTH, headers={"If-None-Match": etag}, timeout=10
    )
    assert again.status_code == 304


def test_get_unknown_sku_is_404_problem(api):
    response = requests.get(f"{api}/watch/NO-SUCH-SKU", auth=AUTH, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "NO-SUCH-SKU" in response.json()["detail"]


@pytest.mark.parametrize(
    "auth", [None, (HTTP_USER, "wrong"), ("someone", HTTP_PASS), ("", "")], ids=str
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_both_operations_need_the_right_credentials(api, auth, method):
    if method == "GET":
        response = requests.get(f"{api}/watch/{plain_record()['sku']}", auth=auth, timeout=10)
    else:
        response = requests.post(f"{api}/watch", json=NEW_WATCH, auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    expected = "Send HTTP basic-auth credentials." if auth is None else "are not accepted"
    assert expected in response.json()["detail"]


def test_post_then_get_round_trip_and_idempotent_repeat(api):
    first = requests.post(f"{api}/watch", json=NEW_WATCH, auth=AUTH, timeout=10)
    assert first.status_code == 200, first.text
    assert first.json() == NEW_WATCH
    read = requests.get(f"{api}/watch/{NEW_WATCH['sku']}", auth=AUTH, timeout=10)
    assert read.json() == NEW_WATCH
    repeat = requests.post(f"{api}/watch", json=NEW_WATCH, auth=AUTH, timeout=10)
    assert repeat.status_code == 200


def test_post_of_a_different_watch_under_a_stored_sku_is_409_and_changes_nothing(api):
    stored = plain_record()
    changed = {**stored, "year": stored["year"] - 1}
    response = requests.post(f"{api}/watch", json=changed, auth=AUTH, timeout=10)
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    read = requests.get(f"{api}/watch/{stored['sku']}", auth=AUTH, timeout=10)
    assert read.json() == stored


def test_sku_needing_url_encoding_round_trips(api):
    watch = {**NEW_WATCH, "sku": "TEST #1+ß Ü?&=%"}
    assert requests.post(f"{api}/watch", json=watch, auth=AUTH, timeout=10).status_code == 200
    response = requests.get(f"{api}/watch/{quote(watch['sku'], safe='')}", auth=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.json() == watch


INVALID_BODIES = {
    "year as string": {**NEW_WATCH, "year": "2024"},
    "type outside enum": {**NEW_WATCH, "type": "clock"},
    "status outside enum": {**NEW_WATCH, "status": "discontinued"},
    "gender outside enum": {**NEW_WATCH, "gender": "unisex"},
    "missing sku": {k: v for k, v in NEW_WATCH.items() if k != "sku"},
    "missing year": {k: v for k, v in NEW_WATCH.items() if k != "year"},
    "unknown field": {**NEW_WATCH, "price": 1200},
    "empty optional string": {**NEW_WATCH, "movement": ""},
    "null optional field": {**NEW_WATCH, "movement": None},
    "sku with a slash": {**NEW_WATCH, "sku": "A/B"},
    "year out of range": {**NEW_WATCH, "year": 20240},
    "array instead of object": [NEW_WATCH],
}


@pytest.mark.parametrize("body", INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_invalid_body_is_400_problem(api, body):
    response = requests.post(f"{api}/watch", json=body, auth=AUTH, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("", "application/json", 400),
        ("sku=A", "text/plain", 415),
    ],
    ids=["malformed JSON", "empty body", "not JSON"],
)
def test_unreadable_body_is_a_problem_without_traceback(api, data, content_type, status):
    response = requests.post(
        f"{api}/watch", data=data, headers={"Content-Type": content_type}, auth=AUTH, timeout=10
    )
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("service", ["service_without_database", "service_without_table"])
def test_database_trouble_gives_503_with_retry_after(request, service):
    base = request.getfixturevalue(service)
    response = requests.get(f"{base}/info/v2/watch/CAL5185B", auth=AUTH, timeout=60)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.text


# --- issue 7: no 5xx for any client input, no slow answer for any database fault ---
# One test per class of failure a hostile client found; each goes through HTTP.

BUDGET_SECONDS = 4  # docs/api.md: every request is answered within 4 s
MAX_BODY_BYTES = 16 * 1024  # docs/api.md: bodies over 16 KiB are refused


def post_raw(api, data, content_type="application/json", **kwargs):
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(
        f"{api}/watch", data=data, headers=headers, auth=AUTH, timeout=30, **kwargs
    )


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status


@pytest.mark.parametrize("auth", [AUTH, None], ids=["with credentials", "without"])
@pytest.mark.parametrize("path", ["/info/v2/watch/A%0AB", "//info/v2/watch/CAL5185B"])
def test_paths_only_flask_would_match_are_404_not_500(local_service, path, auth):
    """Class 1: Connexion's router decides; Flask's looser one never runs a handler alone."""
    response = requests.get(local_service + path, auth=auth, timeout=10)
    assert_problem(response, 404)


SKUS_ALLOWED = ["A", "...", "A B", "A\u00a0B", "Ü-ß 😀", "A\\B", "50%", "CAL5113..CI6298"]
SKUS_REFUSED = ["A\tB", " A", "A ", "A\u00a0", "\ufeffA", "A\u2028B", "A\x85B"]
# Skus no URL path can carry: a newline does not route (404, tested above), and clients
# resolve the dot segments "." and ".." away before they send the path.
SKUS_NOT_IN_A_URL = ["A\nB", "A\n", ".", ".."]


@pytest.mark.parametrize("sku", SKUS_ALLOWED, ids=ascii)
def test_every_sku_post_accepts_get_returns(api, sku):
    """Class 2: what POST stores, GET can return."""
    watch = {**NEW_WATCH, "sku": sku}
    assert requests.post(f"{api}/watch", json=watch, auth=AUTH, timeout=10).status_code == 200
    response = requests.get(f"{api}/watch/{quote(sku, safe='')}", auth=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == watch


@pytest.mark.parametrize("sku", SKUS_REFUSED + SKUS_NOT_IN_A_URL, ids=ascii)
def test_a_sku_outside_the_rule_is_400_on_post_and_get(api, sku):
    """Class 2: control characters, whitespace at either end, dot segments: POST and GET agree."""
    assert_problem(
        requests.post(f"{api}/watch", json={**NEW_WATCH, "sku": sku}, auth=AUTH, timeout=10), 400
    )
    if sku not in SKUS_NOT_IN_A_URL:
        response = requests.get(f"{api}/watch/{quote(sku, safe='')}", auth=AUTH, timeout=10)
        assert_problem(response, 400)


def body_with(fragment):
    return (
        '{"sku": "BODY-1", "type": "watch", "status": "current", "gender": "man", '
        f'"year": 2020, {fragment}}}'
    )


UNREADABLE_BODIES = {
    "invalid UTF-8": body_with('"movement": "\xff"').encode("latin-1"),
    "lone surrogate": body_with('"movement": "\\ud800"').encode(),
    "nested arrays": ("[" * 5000 + "]" * 5000).encode(),
    "nested objects": ('{"a":' * 2000 + "1" + "}" * 2000).encode(),
    "integer of 5000 digits": body_with('"x": ' + "9" * 5000).encode(),
    "NaN": body_with('"x": NaN').encode(),
}


@pytest.mark.parametrize("data", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES.keys())
def test_bodies_the_json_layer_cannot_take_are_400(api, data):
    """Class 3: the parser refuses what is not UTF-8 JSON or cannot be stored."""
    response = post_raw(api, data)
    assert_problem(response, 400)
    assert "Traceback" not in response.text


def test_media_types_compare_case_insensitively_and_the_body_is_always_validated(api):
    """Class 4: a client's mistake is 4xx, never an outage (503)."""
    valid = json.dumps({**NEW_WATCH, "sku": "TEST-MEDIA-TYPE"})
    assert_problem(post_raw(api, valid, content_type=None), 415)
    assert_problem(post_raw(api, '{"sku": "X"}', content_type="Application/JSON"), 400)
    response = post_raw(api, valid, content_type="Application/JSON; charset=UTF-8")
    assert response.status_code == 200, response.text


def test_redirects_do_not_reflect_the_host_header(api):
    """Class 5: the trailing-slash redirect is relative, whatever Host says."""
    response = requests.get(
        f"{api}/watch/",
        auth=AUTH,
        headers={"Host": "evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 307
    assert response.headers["Location"] == urlsplit(api).path + "/watch"


def test_a_body_over_the_limit_is_413_problem(api):
    """Class 6: the limit holds to the byte."""
    padded = json.dumps({**NEW_WATCH, "sku": "TEST-SIZE"}).encode()
    within = padded + b" " * (MAX_BODY_BYTES - len(padded))
    assert post_raw(api, within).status_code == 200
    assert_problem(post_raw(api, within + b" "), 413)


def test_a_huge_declared_body_is_refused_before_it_is_sent(api):
    """Class 6: 100 MB announced, 1 KB sent: the answer comes without reading the rest."""
    url = urlsplit(api)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("POST", f"{url.path}/watch")
    connection.putheader("Authorization", basic_auth(*AUTH))
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(100 * 1024 * 1024))
    connection.endheaders(b"[" * 1024)
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    connection.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_silent_database_costs_at_most_the_budget(service_with_silent_database, method):
    """Class 7: a database that takes the connection and never answers: 503 within budget."""
    url = f"{service_with_silent_database}/info/v2/watch"
    started = time.monotonic()
    if method == "GET":
        response = requests.get(f"{url}/CAL5185B", auth=AUTH, timeout=30)
    else:
        response = requests.post(url, json=NEW_WATCH, auth=AUTH, timeout=30)
    elapsed = time.monotonic() - started
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < BUDGET_SECONDS + 1.5, f"answered after {elapsed:.1f} s"
