"""Second baseline of bench_lambda.py: the service's GET route hand-written in plain Flask.

Same table, same boto3 settings, same basic-auth rule and the same JSON body as
info-v2/server.py, without Connexion (no spec loading, no request validation) and without
the ASGI-to-WSGI bridge. Zappa serves it on Lambda exactly as it serves the real app.
"""

import os
import secrets

import boto3
from botocore.config import Config
from flask import Flask, jsonify, request

table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    ),
).Table(os.environ.get("DYNAMODB_TABLE", "project1"))
app = Flask(__name__)


def authorized():
    auth = request.authorization
    user, password = os.environ.get("HTTP_USER", ""), os.environ.get("HTTP_PASS", "")
    return (
        auth is not None
        and bool(user and password)
        and secrets.compare_digest((auth.username or "").encode(), user.encode())
        and secrets.compare_digest((auth.password or "").encode(), password.encode())
    )


# The two paths of API Gateway's proxy events, as the service routes them: `/watch/X`
# through the stage URL, `/info/v2/watch/X` through the custom domain's base path mapping.
@app.get("/watch/<sku>")
@app.get("/info/v2/watch/<sku>")
def get_watch(sku):
    if not authorized():
        return jsonify(title="Unauthorized", status=401), 401, {"WWW-Authenticate": "Basic"}
    item = table.get_item(Key={"sku": sku}).get("Item")
    if item is None:
        return jsonify(title="Not Found", status=404), 404
    response = jsonify({**item, "year": int(item["year"])})
    response.cache_control.max_age = 3600
    response.add_etag()
    return response.make_conditional(request)
