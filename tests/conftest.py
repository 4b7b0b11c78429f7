"""Fixtures that start servers, all in one place.

The emulator is moto's server mode, started in this process on a loopback port (each
pytest-xdist worker has its own, and takes whole modules). The scripts under test are
separate processes that reach it through AWS_ENDPOINT_URL, exactly as they would reach AWS
(their `aws` is the AWS CLI forked from a server per worker: tests/aws_cli_server.py);
tests read back what the scripts created through boto3, and call the deployed API through
the local gateway (tools/local_gateway.py), whose functions run in the emulator's Lambda
Invoke (tools/lambda_invoke.py: the package the emulator holds, in a clean interpreter).
info-v2/ and tools/ are importable (pyproject.toml's pytest pythonpath).
"""

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aws_cli_server
import aws_emulator
import boto3
import pytest
import requests
from aws_emulator import free_port
from lambda_runtime import DUMMY_CREDENTIAL, RUNTIME_PYTHON, emulator_env
from local_gateway import LocalGateway
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parent.parent

INFO_DIR = REPO / "info-v2"
LIB_DIR = INFO_DIR / "lib"
WATCHES = REPO / "watches.json"
REGION = "us-east-1"
TABLE = "project1"  # dev's table in zappa_settings.json
HTTP_USER = "tester"
HTTP_PASS = "s3cret-for-tests-Qm7vX2pL"  # the deploy scripts take 20 characters or more
# Credentials as browsers and curl send them (UTF-8): one pair beyond Latin-1, one within it
# (a legacy client can send that one as Latin-1 bytes).
UTF8_CREDENTIALS = ("jürg", "pässwörd-✓ 秘密")
LATIN1_CREDENTIALS = ("jürg", "pässwörd")
# A listed origin of service_for_page besides the page's own.
OTHER_ORIGIN = "https://admin.example.test"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def wait_for_http(url, timeout=30, process=None):
    """Waits until URL answers; gives up at once when PROCESS, the server, has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TimeoutError(f"the server of {url} ended with status {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout}s")


@pytest.fixture(scope="session")
def aws_cli_folder():
    """The folder of the scripts' `aws`: the client of this worker's AWS CLI server
    (tests/aws_cli_server.py), or None with AWS_CLI_SERVER=off (the virtualenv's own)."""
    if os.environ.get("AWS_CLI_SERVER") == "off":
        yield None
        return
    with aws_cli_server.started() as folder:
        yield folder


@pytest.fixture(scope="session")
def emulator_url():
    server, url = aws_emulator.start()
    wait_for_http(url)
    yield url
    server.stop()


def pytest_sessionstart(session):
    """Makes what the test modules share on disk, once, before any test runs: so that the
    scripts' output in the tests is what a user sees after their first run, and so that the
    pytest-xdist workers (started after this, in pytest-xdist's controller) never make one
    virtualenv or node_modules at the same time."""
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller did it
        return
    result = subprocess.run(
        ["bash", str(REPO / "tests" / "shared_venvs.sh")], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.exit(f"could not make the virtualenvs the tests share:\n{result.stderr}", 1)
    install_dynalite()


def pytest_generate_tests(metafunc):
    """Modules marked both_dynamodbs run against moto and against dynalite."""
    if metafunc.definition.get_closest_marker("both_dynamodbs") and (
        "dynamodb_backend" in metafunc.fixturenames
    ):
        metafunc.parametrize(
            "dynamodb_backend", ["moto", "dynalite"], indirect=True, scope="module"
        )


@pytest.fixture(scope="module")
def dynamodb_backend(request):
    """Which DynamoDB the module's aws_env points at: moto unless the module asks for both."""
    return getattr(request, "param", "moto")


@pytest.fixture(scope="module")
def aws_env(dynamodb_backend, aws_cli_folder, request, tmp_path_factory):
    """The environment of a user whose AWS calls go to a fresh emulator.

    That is moto (every AWS service, reset for each module), or for modules marked
    both_dynamodbs also a fresh dynalite (DynamoDB only, like DynamoDB Local). The scripts'
    build folder is a fresh temporary one, so the suite never touches a developer's build/
    (their endpoint file, their package).
    """
    with ExitStack() as stack:
        if dynamodb_backend == "dynalite":
            endpoint = stack.enter_context(dynalite(request.getfixturevalue("dynalite_command")))
        else:
            endpoint = request.getfixturevalue("emulator_url")
            requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        # The AWS CLI and tools of the test virtualenv come first, as for a user who
        # installed them; the AWS CLI server's `aws` before them.
        path = [str(Path(sys.executable).parent), os.environ["PATH"]]
        if aws_cli_folder is not None:
            path.insert(0, str(aws_cli_folder))
        env = {
            **os.environ,
            "BUILD_DIR": str(tmp_path_factory.mktemp("build")),
            **emulator_env(endpoint, REGION),
            "HTTP_USER": HTTP_USER,
            "HTTP_PASS": HTTP_PASS,
            "PATH": os.pathsep.join(path),
        }
        if dynamodb_backend == "dynalite":  # no point-in-time recovery there, as in DynamoDB Local
            env["TABLE_PROTECTION"] = "off"
        for name in ("AWS_PROFILE", "DYNAMODB_TABLE", "STAGE"):
            env.pop(name, None)
        yield env


def emulator_session(region=REGION):
    """A boto3 session with the emulator's dummy credentials."""
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIAL,
        aws_secret_access_key=DUMMY_CREDENTIAL,
        region_name=region,
    )


@pytest.fixture(scope="module")
def aws(aws_env):
    """boto3 clients on the emulator, for reading back what the scripts created."""
    session = emulator_session()

    def client(service, config=None):
        return session.client(service, endpoint_url=aws_env["AWS_ENDPOINT_URL"], config=config)

    return client


def preflight(url, origin, method="GET", request_headers=None):
    """A browser's CORS preflight: OPTIONS URL from ORIGIN, for METHOD with REQUEST_HEADERS
    (such as "authorization, content-type"); no credentials, as browsers send it."""
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    return requests.options(url, headers=headers, timeout=60)


def run_script(name, *args, env, check=True, timeout=900, info_dir=INFO_DIR):
    """Runs info-v2/NAME (of INFO_DIR, a copy of the checkout's) from an unrelated folder, as
    a user would; returns the CompletedProcess."""
    result = subprocess.run(
        ["bash", str(info_dir / name), *args],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{name} {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="module")
def loaded_table(aws_env):
    """The default table, created and filled from watches.json by initialize_dynamodb.sh."""
    run_script("initialize_dynamodb.sh", env=aws_env)
    return TABLE


@contextmanager
def serve(env, log=subprocess.DEVNULL):
    """server.py under uvicorn on a free loopback port; yields its base URL. Its output (the
    request log lines among it) goes to LOG, an open file."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1"]
    # The HTTP protocol run.sh serves with (http_protocol.py).
    command += ["--port", str(port), "--http", "http_protocol:HttpProtocol", "--ws", "none"]
    process = subprocess.Popen(
        command,
        cwd=INFO_DIR,
        env={"DYNAMODB_TABLE": TABLE, **env},
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/", process=process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def local_service(aws_env, loaded_table):
    """The app against the emulator's table filled from watches.json."""
    with serve(aws_env) as base:
        yield base


@pytest.fixture(scope="module")
def logged_service(aws_env, loaded_table, tmp_path_factory):
    """local_service with its output kept: yields (base URL, path of the log file)."""
    log_path = tmp_path_factory.mktemp("service") / "server.log"
    with open(log_path, "wb") as log, serve(aws_env, log) as base:
        yield base, log_path


class QuietFiles(SimpleHTTPRequestHandler):
    """Serves the files of a folder without a log line per request."""

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def cross_origin_page():
    """A web page on an origin of its own, as a front end on its own domain has: a static
    server on a free loopback port serving tests/fixtures/cross_origin_page.html, whose
    callApi() calls an API at another origin from the browser. Yields (origin, page URL)."""
    handler = functools.partial(QuietFiles, directory=str(REPO / "tests" / "fixtures"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        origin = f"http://127.0.0.1:{server.server_port}"
        yield origin, f"{origin}/cross_origin_page.html"
        server.shutdown()


@pytest.fixture(scope="module")
def service_for_page(aws_env, loaded_table, cross_origin_page):
    """The app with CORS for the page's origin and OTHER_ORIGIN, and UTF8_CREDENTIALS."""
    origin, _ = cross_origin_page
    user, password = UTF8_CREDENTIALS
    env = {**aws_env, "CORS_ORIGINS": f"{origin}, {OTHER_ORIGIN}"}
    with serve({**env, "HTTP_USER": user, "HTTP_PASS": password}) as base:
        yield base


@pytest.fixture(scope="module")
def service_for_any_origin(aws_env, loaded_table):
    """The app with CORS for every origin (`*`), and LATIN1_CREDENTIALS."""
    user, password = LATIN1_CREDENTIALS
    env = {**aws_env, "CORS_ORIGINS": "*", "HTTP_USER": user, "HTTP_PASS": password}
    with serve(env) as base:
        yield base


@pytest.fixture(scope="module")
def service_without_database(aws_env):
    """The app configured with a DynamoDB endpoint where nothing listens."""
    with serve({**aws_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}) as base:
        yield base


@pytest.fixture(scope="module")
def service_with_silent_database(aws_env):
    """The app configured with a DynamoDB that accepts TCP connections and never answers.

    A listening socket that nobody accepts from is enough: the kernel completes each
    connection and takes the request bytes into its buffer, and no reply ever comes.
    """
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        port = silent.getsockname()[1]
        with serve({**aws_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}) as base:
            yield base


@contextmanager
def answering_server(status, content_type, body):
    """An HTTP server on a free loopback port that answers every request with STATUS,
    CONTENT_TYPE and BODY (bytes), whatever it asks: an endpoint that is not what the client
    expects. Yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def html_endpoint():
    """A web server where AWS_ENDPOINT_URL should point at AWS: every answer an HTML 404."""
    page = b"<!doctype html><html><body><h1>404 Not Found</h1></body></html>"
    with answering_server(404, "text/html", page) as url:
        yield url


@pytest.fixture(scope="module")
def service_without_table(aws_env):
    """The app configured with a table that does not exist (e.g. not initialized yet)."""
    with serve({**aws_env, "DYNAMODB_TABLE": "no-such-table"}) as base:
        yield base


@contextmanager
def running_run_sh(env, timeout=300):
    """info-v2/run.sh as a user starts it, serving on env's PORT; yields (base URL, process).

    The process runs in its own process group, so a test can press Ctrl-C the way a
    terminal does, to the whole group. Whatever is left is killed at the end.
    """
    process = subprocess.Popen(
        ["bash", str(INFO_DIR / "run.sh")],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        try:
            wait_for_http(base + "/", timeout, process)
        except TimeoutError as error:
            output = process.communicate(timeout=10)[0] if process.poll() is not None else ""
            raise AssertionError(f"run.sh did not serve {base} ({error}):\n{output}") from None
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def run_sh_env(aws_env, **overrides):
    """A user's environment for run.sh: no AWS settings, free ports, the local credentials."""
    env = {k: v for k, v in aws_env.items() if not k.startswith("AWS_")}
    env.update(PORT=str(free_port()), DB_PORT=str(free_port()), HTTP_USER="watch")
    env.update(HTTP_PASS="watch-local", **overrides)
    return env


@pytest.fixture(scope="module")
def run_sh(aws_env):
    """info-v2/run.sh with no AWS_ENDPOINT_URL, so it starts its own DynamoDB.

    Yields (base URL, DynamoDB port, process).
    """
    env = run_sh_env(aws_env)
    with running_run_sh(env) as (base, process):
        yield base, int(env["DB_PORT"]), process


def install_chromium():
    """Debian's chromium and its driver, from apt (root only: CI runs as root on Debian)."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("install Debian's packages chromium and chromium-driver (apt-get, as root)")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
    ):
        result = subprocess.run(
            command,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stderr}")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, installed with apt-get when missing), one per module."""
    install_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager never downloads a driver or a browser.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def lambda_runtime_python():
    """The Lambda runtime's Python with only boto3, like the runtime (.venv-runtime)."""
    return RUNTIME_PYTHON


@contextmanager
def local_gateway(aws, api_name):
    """The local gateway serving the REST API named API_NAME over HTTP; yields (gateway,
    its URL). The functions run in the emulator's Lambda Invoke."""
    with LocalGateway(aws, api_name) as gateway:
        yield gateway, gateway.serve()


# --- A second DynamoDB implementation (issue 12): dynalite, standing in for DynamoDB Local ---

NODE_TOOLS = REPO / "tests" / "node"
DYNALITE = NODE_TOOLS / "node_modules" / ".bin" / "dynalite"


def install_dynalite():
    """Installs dynalite with npm from tests/node/package-lock.json when it is missing."""
    lock = NODE_TOOLS / "package-lock.json"
    stamp = NODE_TOOLS / "node_modules" / ".installed-package-lock.json"
    if DYNALITE.exists() and stamp.exists() and stamp.read_bytes() == lock.read_bytes():
        return
    if shutil.which("npm") is None:
        pytest.exit("npm was not found on PATH: install Node.js, which brings npm", 1)
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=NODE_TOOLS,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.exit(f"npm could not install dynalite:\n{result.stderr}", 1)
    stamp.write_bytes(lock.read_bytes())


@pytest.fixture(scope="session")
def dynalite_command():
    """dynalite's command (installed at the start of the session)."""
    return DYNALITE


@contextmanager
def dynalite(command):
    """A fresh in-memory dynalite on a free loopback port; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(command), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
