"""Watch Info Service v2: the Connexion app behind both routes of info_openapi_v2.yaml.

The same module runs on a laptop (`run.sh`, served by uvicorn) and on AWS Lambda
(Zappa calls the WSGI callable `wsgi`). Nothing here knows where it runs: the table
name comes from DYNAMODB_TABLE, region, endpoint and AWS credentials from the
standard AWS variables, and the basic-auth credentials from HTTP_USER and either
HTTP_PASS_HASH (a Werkzeug scrypt hash of the password: what the deploy scripts give the
Lambda function, which never holds the password itself) or HTTP_PASS (the plain password,
for run.sh on a laptop).
"""

import asyncio
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import connexion
import flask
from a2wsgi import ASGIMiddleware
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as DatabaseConnectionError
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.middleware import MiddlewarePosition
from connexion.problem import problem
from connexion.validators import JSONRequestBodyValidator
from request_log import RequestLog
from starlette.datastructures import Headers, MutableHeaders
from werkzeug.security import check_password_hash

SPEC = Path(__file__).resolve().parent / "info_openapi_v2.yaml"
TABLE_NAME = os.environ.get("DYNAMODB_TABLE", "project1")
HTTP_USER = os.environ.get("HTTP_USER", "")
HTTP_PASS = os.environ.get("HTTP_PASS", "")
HTTP_PASS_HASH = os.environ.get("HTTP_PASS_HASH", "")
CACHE_SECONDS = 3600
RETRY_AFTER_SECONDS = 5
# A watch is well under 1 KiB; anything much larger is refused before it is read or parsed.
MAX_BODY_BYTES = 16 * 1024
# Every request is answered within this time, far below API Gateway's 29 s integration limit.
REQUEST_BUDGET_SECONDS = 4
# DynamoDB error codes that mean "try again later", not "your request is wrong".
BUSY_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceNotFoundException",
}

log = logging.getLogger("watch-info")

# DynamoDB answers in milliseconds. Each call may try twice (botocore's standard mode counts
# attempts, retries included) with short timeouts; the client's wait is bounded by
# REQUEST_BUDGET_SECONDS (TimeBudget below), however many calls a request makes.
table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1,
        read_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 2},
    ),
).Table(TABLE_NAME)


# SHA-256 digests of the passwords this process has verified against HTTP_PASS_HASH: the
# scrypt derivation is slow on purpose, so a warm container pays for it once, not per request.
verified_passwords = set()


def password_matches(password):
    if not HTTP_PASS_HASH:
        return secrets.compare_digest(password.encode(), HTTP_PASS.encode())
    digest = hashlib.sha256(password.encode()).digest()
    if digest in verified_passwords:
        return True
    if not check_password_hash(HTTP_PASS_HASH, password):
        return False
    verified_passwords.add(digest)
    return True


def check_credentials(username, password, required_scopes=None):
    """Connexion's basicInfoFunc: the user's info when the credentials match, else None."""
    if not (HTTP_USER and (HTTP_PASS_HASH or HTTP_PASS)):
        log.error("HTTP_USER and HTTP_PASS_HASH or HTTP_PASS are unset: every request is refused")
        return None
    # The password first, whatever the user name: a wrong name must not answer faster.
    pass_ok = password_matches(password)
    user_ok = secrets.compare_digest(username.encode(), HTTP_USER.encode())
    return {"sub": username} if user_ok and pass_ok else None


def as_watch(item):
    """A DynamoDB item as the API's Watch: DynamoDB numbers come back as Decimal."""
    return {**item, "year": int(item["year"])}


def get_watch(sku):
    item = table.get_item(Key={"sku": sku}).get("Item")
    if item is None:
        return problem(404, "Not Found", f"There is no watch with sku {sku!r}.")
    response = flask.jsonify(as_watch(item))
    response.cache_control.max_age = CACHE_SECONDS
    response.add_etag()
    return response.make_conditional(flask.request)


def add_watch(body):
    try:
        table.put_item(Item=body, ConditionExpression="attribute_not_exists(sku)")
        return flask.jsonify(body)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    stored = as_watch(table.get_item(Key={"sku": body["sku"]}, ConsistentRead=True)["Item"])
    if stored == body:
        return flask.jsonify(body)
    return problem(
        409,
        "Conflict",
        f"A different watch is already stored under sku {body['sku']!r}; it was not changed.",
    )


def health():
    return {"status": "ok"}


def unauthorized(request, error):
    """Connexion's 401, plus the challenge that tells clients to send basic-auth credentials."""
    return problem(
        401,
        "Unauthorized",
        "Send HTTP basic-auth credentials.",
        headers={"WWW-Authenticate": 'Basic realm="Watch Info Service"'},
    )


def database_unavailable(request, error):
    """Turns DynamoDB outages and throttling into a 503 the client can act on."""
    if isinstance(error, ClientError):
        code = error.response["Error"]["Code"]
        if code not in BUSY_CODES:
            log.exception("DynamoDB refused a request")
            return problem(
                500, "Internal Server Error", f"The database refused the request ({code})."
            )
        detail = f"The database is busy or unavailable ({code})."
    else:
        detail = f"The database cannot be reached ({type(error).__name__})."
    log.warning("%s", detail)
    return problem(
        503, "Service Unavailable", detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON body validator, with a parser that takes only what can be stored.

    The body must be UTF-8 JSON text (RFC 8259) whose strings can be written back as UTF-8,
    as DynamoDB stores them. Anything else (invalid UTF-8, NaN, a lone surrogate such as
    "\\ud800", nesting deeper than the parser's recursion limit, an integer longer than Python
    converts) is the client's mistake: 400, before the schema or the handler sees it.
    """

    async def _parse(self, stream, scope):
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError) as error:
            raise BadRequestProblem(f"The body is not UTF-8 JSON text: {error}") from None
        return body


def refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class BodySizeLimit:
    """Refuses a request body over MAX_BODY_BYTES with 413 as soon as the app starts reading it.

    In the app, not in the server, so the limit is the same under uvicorn and on Lambda.
    A declared Content-Length over the limit is refused before a byte is read; a body that is
    never read (a GET's) is ignored, not refused. (Starlette's RequestBodyLimitMiddleware does
    the same but answers text/plain; our errors are problem+json.)
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def receive_within_limit():
            nonlocal received
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise too_large()
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise too_large()
            return message

        await self.app(scope, receive_within_limit, send)


def too_large():
    return ProblemException(
        status=413,
        title="Content Too Large",
        detail=f"A request body may hold at most {MAX_BODY_BYTES} bytes.",
    )


class TimeBudget:
    """Answers 503 with Retry-After when a request is not done within REQUEST_BUDGET_SECONDS.

    botocore's timeouts bound each DynamoDB call; this bounds the request, whatever number of
    calls it makes. The abandoned call ends on its own timeout; a write it still makes is
    what a client's retry finds (the same watch: 200, idempotent).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_and_note_start(message):
            nonlocal started
            started = True
            await send(message)

        try:
            async with asyncio.timeout(REQUEST_BUDGET_SECONDS):
                await self.app(scope, receive, send_and_note_start)
        except TimeoutError:
            if started:
                raise
            log.warning("no answer within %s s", REQUEST_BUDGET_SECONDS)
            raise ProblemException(
                status=503,
                title="Service Unavailable",
                detail=f"No answer within {REQUEST_BUDGET_SECONDS} s; the database is slow.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None


class MediaTypes:
    """Compares media types case-insensitively and requires one for a body.

    Connexion validates a body only when the Content-Type spells a media type of the spec
    exactly, and assumes application/json when the header is missing while Flask then reads
    no body at all. Lower-casing the media type (RFC 9110: it is case-insensitive) and
    refusing an unlabelled body when it is read make both read the same, validated body.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = MutableHeaders(scope=scope)
        content_type = headers.get("content-type")
        if content_type:
            media_type, separator, parameters = content_type.partition(";")
            headers["content-type"] = media_type.strip().lower() + separator + parameters
            return await self.app(scope, receive, send)

        async def receive_labelled():
            message = await receive()
            if message.get("body"):
                raise UnsupportedMediaTypeProblem(
                    "Send the body with Content-Type: application/json."
                )
            return message

        await self.app(scope, receive_labelled, send)


class SpecRoutesOnly:
    """Paths the spec's router did not match are 404, not Flask's to guess.

    Flask has its own copy of the routes and matches more loosely (an encoded newline in the
    sku, a doubled slash): it would run a handler without Connexion's operation context,
    unauthenticated and unvalidated. Only the health check lives outside the spec.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        if scope["type"] == "http" and not routing.get("operation_id") and scope["path"] != "/":
            raise ProblemException(
                status=404, title="Not Found", detail="No operation of the API has this path."
            )
        await self.app(scope, receive, send)


class RelativeRedirects:
    """Redirect locations as absolute paths, never built from the client's Host header.

    Starlette's routers answer a trailing-slash variant with a redirect to
    http://<Host header>/...; the client's Host is not ours to repeat.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_relative(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "location" in headers:
                    location = urlsplit(headers["location"])
                    headers["location"] = location.path + (
                        f"?{location.query}" if location.query else ""
                    )
            await send(message)

        await self.app(scope, receive, send_relative)


app = connexion.FlaskApp(__name__, specification_dir=SPEC.parent)
app.add_api(SPEC.name, validator_map={"body": MediaTypeDict({"*/*json": StrictJSONBodyValidator})})
app.add_middleware(RequestLog, position=RequestLog.position)
app.add_url_rule("/", "health", health)
app.add_error_handler(401, unauthorized)
app.add_error_handler(DatabaseConnectionError, database_unavailable)
app.add_error_handler(HTTPClientError, database_unavailable)
app.add_error_handler(NoCredentialsError, database_unavailable)
app.add_error_handler(ClientError, database_unavailable)
# Outermost first; each raises problems that Connexion's ExceptionMiddleware answers.
for guard in (RelativeRedirects, BodySizeLimit, TimeBudget, MediaTypes):
    app.add_middleware(guard, position=MiddlewarePosition.BEFORE_SWAGGER)
app.add_middleware(SpecRoutesOnly, position=MiddlewarePosition.BEFORE_SECURITY)

# Lambda (through Zappa) speaks WSGI; Connexion 3 apps are ASGI.
wsgi = ASGIMiddleware(app)
