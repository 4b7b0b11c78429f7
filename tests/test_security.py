"""Basic-auth credentials: the app verifies a salted hash, and a user name basic auth cannot
carry is refused by every script that takes one, in one line, before anything is created."""

import pytest
import requests
from conftest import HTTP_PASS, HTTP_USER, run_script, serve
from werkzeug.security import generate_password_hash

WATCH = {"sku": "SEC-001", "type": "watch", "status": "old", "gender": "woman", "year": 1999}


@pytest.fixture(scope="module")
def hashed_service(aws_env, aws):
    """The app as Lambda runs it: HTTP_PASS_HASH only, no plain password; a one-item table."""
    aws("dynamodb").create_table(
        TableName="project1",
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    env = {name: value for name, value in aws_env.items() if name != "HTTP_PASS"}
    env["HTTP_PASS_HASH"] = generate_password_hash(HTTP_PASS)
    with serve(env) as base:
        yield base + "/info/v2"


def test_the_app_accepts_the_password_of_its_hash(hashed_service):
    for _ in range(2):  # the second request is served from the verified-password memory
        response = requests.post(
            f"{hashed_service}/watch", json=WATCH, auth=(HTTP_USER, HTTP_PASS), timeout=30
        )
        assert response.status_code == 200, response.text
    response = requests.get(f"{hashed_service}/watch/SEC-001", auth=(HTTP_USER, HTTP_PASS))
    assert response.json() == WATCH


@pytest.mark.parametrize(
    "auth",
    [(HTTP_USER, HTTP_PASS + "x"), (HTTP_USER + "x", HTTP_PASS), (HTTP_USER, ""), None],
    ids=["wrong password", "wrong user", "empty password", "no credentials"],
)
def test_the_app_refuses_other_credentials(hashed_service, auth):
    response = requests.get(f"{hashed_service}/watch/SEC-001", auth=auth, timeout=30)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("script", ["create_lambdas.sh", "update_lambdas.sh", "run.sh"])
def test_a_user_name_with_a_colon_is_refused_first_in_one_line(aws_env, aws, script):
    result = run_script(script, env={**aws_env, "HTTP_USER": "ali:ce"}, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"{script}: error: HTTP_USER must not contain ':' (basic auth puts a ':' between user "
        "and password); choose another user name.\n"
    )
    assert aws("lambda").list_functions()["Functions"] == []
    assert aws("iam").list_roles()["Roles"] == []
