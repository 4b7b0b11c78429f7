"""Watch Info Service v2: the Connexion app behind both routes of info_openapi_v2.yaml.

The same module runs on a laptop (`run.sh`, served by uvicorn) and on AWS Lambda
(Zappa calls the ASGI callable `lambda_app`: the app behind lambda_adapter.py). Nothing
here knows where it runs: the table name comes from DYNAMODB_TABLE, region, endpoint and
AWS credentials from the standard AWS variables, and the basic-auth credentials from
HTTP_USER and either HTTP_PASS_HASH (a Werkzeug scrypt hash of the password: what the deploy
scripts give the Lambda function, which never holds the password itself) or HTTP_PASS (the
plain password, for run.sh on a laptop).
"""

import hashlib
import importlib.util
import logging
import os
import secrets
import warnings
from pathlib import Path

# Connexion 3.3 imports Starlette's test client, and Starlette warns at that import that the
# client wants httpx2. Nothing here uses the test client: the warning is not the user's business.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

import boto3
import connexion
import flask
import yaml
from basic_auth import CHALLENGE, UTF8BasicSecurityHandler
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as DatabaseConnectionError
from connexion.datastructures import MediaTypeDict
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.problem import problem
from cors import CrossOriginRequests, methods_of, origins_from
from http_guards import (
    RETRY_AFTER_SECONDS,
    MediaTypes,
    RelativeRedirects,
    SpecRoutesOnly,
    StrictJSONBodyValidator,
    TimeBudget,
    WholeBody,
)
from lambda_adapter import lambda_adapter
from request_log import RequestLog
from werkzeug.security import check_password_hash

SPEC = Path(__file__).resolve().parent / "info_openapi_v2.yaml"
TABLE_NAME = os.environ.get("DYNAMODB_TABLE", "")
if not TABLE_NAME:
    raise RuntimeError(
        "DYNAMODB_TABLE is not set: run.sh and the deploy scripts set it to the stage's table"
    )
HTTP_USER = os.environ.get("HTTP_USER", "")
HTTP_PASS = os.environ.get("HTTP_PASS", "")
HTTP_PASS_HASH = os.environ.get("HTTP_PASS_HASH", "")
# The origins whose web pages may call the API (cors.py); none unless set.
CORS_ORIGINS = origins_from(os.environ.get("CORS_ORIGINS", ""))
CACHE_SECONDS = 3600
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
# REQUEST_BUDGET_SECONDS (http_guards.TimeBudget), however many calls a request makes.
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
    # The preconditions in RFC 9110's order (13.2.2), If-Match first. Werkzeug's
    # make_conditional answers 412 to "If-Match: *", which every current watch matches.
    etag, _ = response.get_etag()
    if flask.request.if_match and not flask.request.if_match.contains(etag):
        return problem(
            412,
            "Precondition Failed",
            "The watch's current ETag is none of those If-Match names; it is in this ETag header.",
            headers={"ETag": response.headers["ETag"]},
        )
    if flask.request.if_none_match.contains_weak(etag):
        response.status_code = 304
    return response


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


# The error handlers are coroutines: Connexion runs a plain function in one of AnyIO's worker
# threads, and AnyIO ends its workers with the task that runs the request, which on Lambda is
# each request's own (Zappa runs each in run_until_complete): a thread per error answered.
async def unauthorized(request, error):
    """Connexion's 401, plus the challenge that tells clients to send basic-auth credentials."""
    sent_credentials = request.headers.get("authorization", "").lower().startswith("basic ")
    return problem(
        401,
        "Unauthorized",
        "These basic-auth credentials are not accepted."
        if sent_credentials
        else "Send HTTP basic-auth credentials.",
        headers={"WWW-Authenticate": CHALLENGE},
    )


async def database_unavailable(request, error):
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


# The spec parsed with libyaml, not by Connexion's own loading (Jinja, then pure-Python YAML),
# which is slower: every cold start parses it.
# The Swagger UI wherever its bundle is installed (run.sh's .venv). The Lambda package leaves
# the bundle out: the REST API routes only the spec's operations, so /ui/ never reaches it.
SWAGGER_UI = SwaggerUIOptions(swagger_ui=importlib.util.find_spec("swagger_ui_bundle") is not None)
app = connexion.FlaskApp(__name__, specification_dir=SPEC.parent, swagger_ui_options=SWAGGER_UI)
spec = yaml.load(SPEC.read_bytes(), Loader=yaml.CSafeLoader)
app.add_api(
    spec,
    validator_map={"body": MediaTypeDict({"*/*json": StrictJSONBodyValidator})},
    security_map={"basic": UTF8BasicSecurityHandler},
)
app.add_middleware(RequestLog, position=RequestLog.position)
if CORS_ORIGINS:
    # Outside Connexion's exception middleware: its error answers get the headers too.
    app.add_middleware(
        CrossOriginRequests,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        origins=CORS_ORIGINS,
        methods=methods_of(spec),
    )
app.add_url_rule("/", "health", health)
app.add_error_handler(401, unauthorized)
app.add_error_handler(DatabaseConnectionError, database_unavailable)
app.add_error_handler(HTTPClientError, database_unavailable)
app.add_error_handler(NoCredentialsError, database_unavailable)
app.add_error_handler(ClientError, database_unavailable)
# Outermost first; each raises problems that Connexion's ExceptionMiddleware answers.
for guard in (RelativeRedirects, WholeBody, TimeBudget, MediaTypes):
    app.add_middleware(guard, position=MiddlewarePosition.BEFORE_SWAGGER)
app.add_middleware(SpecRoutesOnly, position=MiddlewarePosition.BEFORE_SECURITY)


# The spec's base path (/info/v2, from its servers URL): the app serves the API under it.
BASE_PATH = app.middleware.apis[0].specification.base_path
# What Zappa calls on Lambda (zappa_settings.json's app_function).
lambda_app = lambda_adapter(app, BASE_PATH)
