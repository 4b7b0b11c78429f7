"""Baseline of bench_lambda.py: the minimal Connexion app any team would deploy with Zappa.

The service's spec (info_openapi_v2.yaml, whose operationIds name this module `server`) and
its two operations, with handlers in the style of Connexion's basic-auth example: GetItem,
PutItem with the service's condition, and Connexion's basic auth with a plain comparison of
HTTP_USER and HTTP_PASS. Nothing of ours: no guards, no request log, no password hash, no
Lambda adapter; Zappa calls the Connexion app itself. The API is added at the base path ""
so that the stage URL's paths (/watch/X) reach it, as a team deploying it this way would do.
"""

import os

import boto3
import connexion
from botocore.config import Config
from connexion.problem import problem

table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
    ),
).Table(os.environ.get("DYNAMODB_TABLE", "project1"))


def check_credentials(username, password, required_scopes=None):
    if username == os.environ["HTTP_USER"] and password == os.environ["HTTP_PASS"]:
        return {"sub": username}
    return None


# The spec's responses have two media types (the watch, or a problem): Connexion wants the
# handler to name the one it returns.
JSON = {"Content-Type": "application/json"}


def get_watch(sku):
    item = table.get_item(Key={"sku": sku}).get("Item")
    if item is None:
        return problem(404, "Not Found", f"There is no watch with sku {sku!r}.")
    return {**item, "year": int(item["year"])}, 200, {**JSON, "Cache-Control": "max-age=3600"}


def add_watch(body):
    table.put_item(Item=body, ConditionExpression="attribute_not_exists(sku)")
    return body, 200, JSON


app = connexion.FlaskApp(__name__)
app.add_api("info_openapi_v2.yaml", base_path="")
