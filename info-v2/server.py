"""Watch Info Service v2: the Connexion app behind both routes of info_openapi_v2.yaml.

The same module runs on a laptop (`run.sh`, served by uvicorn) and on AWS Lambda
(Zappa calls the WSGI callable `wsgi`). Nothing here knows where it runs: the table
name comes from DYNAMODB_TABLE, region, endpoint and AWS credentials from the
standard AWS variables, and the basic-auth credentials from HTTP_USER and either
HTTP_PASS_HASH (a Werkzeug scrypt hash of the password: what the deploy scripts give the
Lambda function, which never holds the password itself) or HTTP_PASS (the plain password,
for run.sh on a laptop).
"""

import hashlib
import logging
import os
import secrets
from pathlib import Path

import boto3
import connexion
import flask
from a2wsgi import ASGIMiddleware
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from connexion.problem import problem
from request_log import RequestLog
from werkzeug.security import check_password_hash

SPEC = Path(__file__).resolve().parent / "info_openapi_v2.yaml"
TABLE_NAME = os.environ.get("DYNAMODB_TABLE", "project1")
HTTP_USER = os.environ.get("HTTP_USER", "")
HTTP_PASS = os.environ.get("HTTP_PASS", "")
HTTP_PASS_HASH = os.environ.get("HTTP_PASS_HASH", "")
CACHE_SECONDS = 3600
RETRY_AFTER_SECONDS = 5
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

# Short timeouts and botocore's standard retry mode: a client waits seconds, not minutes,
# before it learns that the database is unavailable.
table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
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


app = connexion.FlaskApp(__name__, specification_dir=SPEC.parent)
app.add_api(SPEC.name)
app.add_middleware(RequestLog, position=RequestLog.position)
app.add_url_rule("/", "health", health)
app.add_error_handler(401, unauthorized)
app.add_error_handler(BotoCoreError, database_unavailable)
app.add_error_handler(ClientError, database_unavailable)

# Lambda (through Zappa) speaks WSGI; Connexion 3 apps are ASGI.
wsgi = ASGIMiddleware(app)
