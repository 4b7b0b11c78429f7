"""The local service as many kinds of HTTP client meet it (issue 18), over real HTTP.

Web pages on other origins (CORS: preflights, the headers on every class of answer, a page
in headless Chromium), passwords outside Latin-1 (RFC 7617's UTF-8, Latin-1 for legacy
clients), chunked and short bodies, conditional GETs, and what the server itself answers to
malformed HTTP and to connections that send no request. The servers run with run.sh's HTTP
protocol (conftest's serve).
"""

import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from aws_emulator import faults
from conftest import LATIN1_CREDENTIALS, OTHER_ORIGIN, UTF8_CREDENTIALS, preflight
from smoke_test import basic_auth

SKU = "CAL5185B"
MAX_BODY_BYTES = 16 * 1024  # docs/api.md: bodies over 16 KiB are refused
BODY_WAIT_SECONDS = 5  # docs/api.md: the rest of a body must come within 5 s
IDLE_SECONDS = 5  # docs/api.md: a connection must send a request's head within 5 s
# How long a test waits for the server's side of a timeout, far beyond the timeouts above.
PATIENCE_SECONDS = 30
EXPOSED = {"etag", "retry-after"}


def new_watch():
    sku = f"CLIENT-{uuid.uuid4().hex[:8]}"
    return {"sku": sku, "type": "watch", "status": "current", "gender": "woman", "year": 2024}


def exchange(base, data):
    """Sends DATA on a new connection to BASE's server and reads the first answer; returns
    (status, {lower-case header name: value}, body, seconds until the answer, whether the
    server closed the connection right after it)."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.settimeout(PATIENCE_SECONDS)
        started = time.monotonic()
        connection.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received and (chunk := connection.recv(65536)):
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        while len(body) < int(headers.get("content-length", 0)):
            body += connection.recv(65536)
        seconds = time.monotonic() - started
        closed = headers.get("connection") == "close" and connection.recv(1) == b""
        return int(status_line.split()[1]), headers, body, seconds, closed


def assert_cors_for(origin, headers):
    headers = {name.lower(): value for name, value in headers.items()}
    assert headers["access-control-allow-origin"] in (origin, "*"), headers
    assert "Origin" in [part.strip() for part in headers["vary"].split(",")]
    exposed = {name.strip().lower() for name in headers["access-control-expose-headers"].split(",")}
    assert EXPOSED <= exposed


def assert_no_cors(headers):
    names = {name.lower() for name in headers}
    assert not {name for name in names if name.startswith("access-control-")}, headers
    assert "Origin" in headers.get("Vary", headers.get("vary", ""))


@pytest.fixture(scope="module")
def page_origin(cross_origin_page):
    return cross_origin_page[0]


@pytest.fixture(scope="module")
def api(service_for_page):
    return service_for_page + "/info/v2"


@pytest.fixture(scope="module")
def page_auth():
    return {"Authorization": basic_auth(*UTF8_CREDENTIALS)}


# --- CORS ---


@pytest.mark.parametrize(
    "method, path", [("GET", f"/watch/{SKU}"), ("POST", "/watch")], ids=["GET", "POST"]
)
def test_a_preflight_is_answered_without_credentials(api, page_origin, method, path):
    response = preflight(
        api + path, page_origin, method, "authorization, content-type, if-none-match"
    )
    assert response.status_code == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == page_origin
    assert method in [m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")]
    allowed = {name.strip().lower() for name in headers["Access-Control-Allow-Headers"].split(",")}
    # Named one by one: `Access-Control-Allow-Headers: *` would not cover Authorization.
    assert {"authorization", "content-type", "if-none-match"} <= allowed
    assert "Origin" in headers["Vary"]
    assert int(headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_for_a_header_the_api_does_not_take_is_a_400_problem(api, page_origin):
    response = preflight(f"{api}/watch/{SKU}", page_origin, "GET", "x-unknown")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "headers" in response.json()["detail"]


ANSWERS = {
    # name: (method, path, headers, body or JSON, status)
    "200 GET": ("GET", f"/watch/{SKU}", {}, None, 200),
    "304 GET": ("GET", f"/watch/{SKU}", {"If-None-Match": "*"}, None, 304),
    "200 POST": ("POST", "/watch", {}, "new watch", 200),
    "400 invalid watch": ("POST", "/watch", {}, {"sku": "X"}, 400),
    "401 no credentials": ("GET", f"/watch/{SKU}", {"Authorization": None}, None, 401),
    "404 no such watch": ("GET", "/watch/NO-SUCH-SKU", {}, None, 404),
    "404 no such path": ("GET", "/nothing", {}, None, 404),
    "405 no such method": ("DELETE", f"/watch/{SKU}", {}, None, 405),
    "412 If-Match": ("GET", f"/watch/{SKU}", {"If-Match": '"other"'}, None, 412),
    "413 too large": ("POST", "/watch", {}, b"[" + b" " * MAX_BODY_BYTES + b"]", 413),
    "415 not JSON": ("POST", "/watch", {"Content-Type": "text/plain"}, b"{}", 415),
}


def send(api, origin, auth, method, path, headers, body):
    headers = {"Origin": origin, **auth, **headers}
    if body == "new watch":
        body = new_watch()
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif body is not None:
        headers.setdefault("Content-Type", "application/json")
    headers = {name: value for name, value in headers.items() if value is not None}
    return requests.request(method, api + path, headers=headers, data=body, timeout=30)


@pytest.mark.parametrize("name", ANSWERS)
def test_every_answer_to_an_allowed_origin_carries_the_cors_headers(
    api, page_origin, page_auth, name
):
    method, path, headers, body, status = ANSWERS[name]
    response = send(api, page_origin, page_auth, method, path, headers, body)
    assert response.status_code == status, response.text
    assert_cors_for(page_origin, response.headers)


def test_a_503_carries_the_cors_headers_too(api, page_auth):
    with faults.injected(throttled_dynamodb_operations={"GetItem"}):
        response = send(api, OTHER_ORIGIN, page_auth, "GET", f"/watch/{SKU}", {}, None)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert_cors_for(OTHER_ORIGIN, response.headers)


def test_an_origin_not_in_the_list_gets_no_cors_header(api, page_auth):
    origin = "https://elsewhere.example.test"
    refused = preflight(f"{api}/watch/{SKU}", origin)
    assert refused.status_code == 405
    assert_no_cors(refused.headers)
    for auth in (page_auth, {}):
        response = send(api, origin, auth, "GET", f"/watch/{SKU}", {}, None)
        assert response.status_code in (200, 401)
        assert_no_cors(response.headers)


def test_with_every_origin_allowed_any_origin_reads_every_answer(service_for_any_origin):
    api = service_for_any_origin + "/info/v2"
    origin = "https://anywhere.example.test"
    auth = {"Authorization": basic_auth(*LATIN1_CREDENTIALS)}
    for name in ("200 GET", "401 no credentials", "404 no such watch", "413 too large"):
        method, path, headers, body, status = ANSWERS[name]
        response = send(api, origin, auth, method, path, headers, body)
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert_cors_for(origin, response.headers)


def test_without_cors_origins_a_preflight_is_refused_as_before(local_service):
    response = preflight(f"{local_service}/info/v2/watch/{SKU}", "https://anywhere.example.test")
    assert response.status_code == 405
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def call_from_page(browser, page_url, method, url, credentials=None, watch=None):
    if browser.current_url != page_url:
        browser.get(page_url)
    return browser.execute_script(
        "return callApi(...arguments)", method, url, list(credentials or []) or None, watch
    )


def test_a_page_on_another_origin_reads_200_401_and_404_in_chromium(
    browser, cross_origin_page, api, local_service
):
    _, page_url = cross_origin_page
    # The 401 first: the browser's cache would then answer the same URL with the 200 it holds.
    refused = call_from_page(browser, page_url, "GET", f"{api}/watch/{SKU}")
    assert refused["status"] == 401, refused
    assert json.loads(refused["body"])["title"] == "Unauthorized"
    watch = call_from_page(browser, page_url, "GET", f"{api}/watch/{SKU}", UTF8_CREDENTIALS)
    assert watch["status"] == 200, watch
    assert json.loads(watch["body"])["sku"] == SKU
    assert watch["etag"], "ETag is exposed to the page"
    missing = call_from_page(browser, page_url, "GET", f"{api}/watch/NO-SUCH", UTF8_CREDENTIALS)
    assert missing["status"] == 404
    assert "NO-SUCH" in json.loads(missing["body"])["detail"]
    posted = new_watch()
    stored = call_from_page(browser, page_url, "POST", f"{api}/watch", UTF8_CREDENTIALS, posted)
    assert (stored["status"], json.loads(stored["body"])) == (200, posted)
    # The same call to the service without CORS_ORIGINS: the browser refuses the answer.
    blocked = call_from_page(browser, page_url, "GET", f"{local_service}/info/v2/watch/{SKU}")
    assert "error" in blocked and "status" not in blocked


# --- Basic auth in UTF-8 (RFC 7617) ---


def test_a_password_beyond_latin1_is_accepted_in_utf8(api):
    user, password = UTF8_CREDENTIALS
    response = requests.get(
        f"{api}/watch/{SKU}", headers={"Authorization": basic_auth(user, password)}, timeout=10
    )
    assert response.status_code == 200, response.text
    wrong = requests.get(
        f"{api}/watch/{SKU}", headers={"Authorization": basic_auth(user, "pässwörd")}, timeout=10
    )
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == (
        'Basic realm="Watch Info Service", charset="UTF-8"'
    )


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_password_within_latin1_is_accepted_in_utf8_and_from_legacy_latin1_clients(
    service_for_any_origin, encoding
):
    user, password = LATIN1_CREDENTIALS
    response = requests.get(
        f"{service_for_any_origin}/info/v2/watch/{SKU}",
        headers={"Authorization": basic_auth(user, password, encoding)},
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "token", ["bm8tY29sb24=", "not base64!", "/w=="], ids=["no colon", "not base64", "0xFF"]
)
def test_an_unreadable_credential_token_is_a_401_problem(service_for_any_origin, token):
    response = requests.get(
        f"{service_for_any_origin}/info/v2/watch/{SKU}",
        headers={"Authorization": f"Basic {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


# --- Bodies: chunked, too large as they stream, shorter than declared ---


def chunked(*parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)


def post_head(api, page_auth, framing):
    path = urlsplit(api).path + "/watch"
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {page_auth['Authorization']}\r\n"
        f"Content-Type: application/json\r\nOrigin: {OTHER_ORIGIN}\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_chunked_watch_is_stored(api, page_auth):
    watch = new_watch()
    body = json.dumps(watch).encode()
    request = post_head(api, page_auth, "Transfer-Encoding: chunked\r\nConnection: close")
    ending = b"0\r\n\r\n"
    status, _, content, _, _ = exchange(api, request + chunked(body[:10], body[10:]) + ending)
    assert (status, json.loads(content)) == (200, watch)
    stored = requests.get(f"{api}/watch/{watch['sku']}", headers=page_auth, timeout=10)
    assert stored.json() == watch


def test_a_chunked_body_over_the_limit_is_413_before_it_ends(api, page_auth):
    """The body never ends (no last chunk): the answer comes as soon as it is over the limit."""
    request = post_head(api, page_auth, "Transfer-Encoding: chunked")
    parts = [b" " * 4096] * (MAX_BODY_BYTES // 4096 + 1)
    status, headers, content, _, _ = exchange(api, request + chunked(b"[", *parts))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert str(MAX_BODY_BYTES) in json.loads(content)["detail"]
    assert_cors_for(OTHER_ORIGIN, headers)


def test_a_body_shorter_than_its_content_length_is_a_408_problem_not_503(api, page_auth):
    request = post_head(api, page_auth, "Content-Length: 100")
    status, headers, content, seconds, closed = exchange(api, request + b'{"sku": ')
    assert status == 408
    assert headers["content-type"] == "application/problem+json"
    assert closed
    assert "retry-after" not in headers
    assert json.loads(content)["title"] == "Request Timeout"
    assert_cors_for(OTHER_ORIGIN, headers)
    assert seconds >= BODY_WAIT_SECONDS - 0.5


# --- Conditional GET ---


def test_if_match_on_get_reads_only_the_version_the_client_holds(api, page_auth):
    url = f"{api}/watch/{SKU}"
    current = requests.get(url, headers=page_auth, timeout=10)
    etag = current.headers["ETag"]
    for if_match, status in [(etag, 200), ("*", 200), ('"other"', 412), (f"W/{etag}", 412)]:
        response = requests.get(url, headers={**page_auth, "If-Match": if_match}, timeout=10)
        assert response.status_code == status, if_match
    refused = requests.get(url, headers={**page_auth, "If-Match": '"other"'}, timeout=10)
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 412
    assert refused.headers["ETag"] == etag


# --- What the server itself refuses, and idle connections ---


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /info/v2/watch/X HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nab",
        b"GET /info/v2/watch/\xff HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /info/v2/watch/X HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ],
    ids=["two Content-Lengths", "0xFF in the path", "header without colon", "TLS hello"],
)
def test_malformed_http_is_a_400_problem_and_the_connection_closes(api, request_bytes):
    status, headers, content, _, closed = exchange(api, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert closed
    assert json.loads(content)["status"] == 400


def test_a_websocket_upgrade_is_served_as_the_plain_http_request_it_also_is(api):
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    response = requests.get(f"{api}/watch/{SKU}", headers=upgrade, timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_connections_that_send_no_complete_request_are_closed(api):
    address = urlsplit(api)
    connections = [socket.create_connection((address.hostname, address.port)) for _ in range(20)]
    connections[0].sendall(b"GET /info/v2/watch/X HTTP/1.1\r\nHost: t\r\n")  # never ends
    started = time.monotonic()
    try:
        for connection in connections:
            connection.settimeout(PATIENCE_SECONDS)
            assert connection.recv(1024) == b"", "the server closes it without an answer"
        assert time.monotonic() - started >= IDLE_SECONDS - 0.5
    finally:
        for connection in connections:
            connection.close()
    # The service still answers new connections.
    assert requests.get(api.removesuffix("/info/v2") + "/", timeout=10).status_code == 200
