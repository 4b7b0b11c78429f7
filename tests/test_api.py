"""The local service over real HTTP: every documented status of both operations."""

import json
from urllib.parse import quote

import pytest
import requests
from conftest import HTTP_PASS, HTTP_USER, WATCHES

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
