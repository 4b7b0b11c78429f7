"""Runs a Lambda function's uploaded code as the Lambda runtime would, without Docker.

The emulator (moto) stores function code but cannot execute it. LambdaRunner takes the very
bytes the emulator holds for a function, checks them against the CodeSha256 that Lambda
reports, unzips them into a fresh folder and serves the configured handler from ONE clean
interpreter (tests/lambda_worker.py under the runtime virtualenv's python with -I): no
project path, no dev virtualenv, only the function's environment plus what Lambda itself
sets. So a test exercises what AWS would run, including anything missing from the package.

    with LambdaRunner(aws("lambda"), "watch-info-dev", emulator_env(url)) as function:
        response = function.invoke(proxy_event("GET", "/info/v2/watch/CAL5185B"))
"""

import base64
import hashlib
import io
import json
import select
import subprocess
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Python 3.11 with only boto3, like the Lambda runtime; conftest's lambda_runtime_python builds it.
RUNTIME_PYTHON = REPO / ".venv-runtime" / "bin" / "python"
WORKER = Path(__file__).resolve().with_name("lambda_worker.py")
# How long to wait for a worker beyond the function's own timeout before giving up on it.
GRACE_SECONDS = 30


class LambdaError(RuntimeError):
    """The handler could not be imported, raised an exception, or its interpreter died."""


def emulator_env(endpoint_url, region="us-east-1"):
    """extra_env for a function whose AWS calls go to the emulator, with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def basic_auth(user, password):
    """The value of an Authorization header for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def proxy_event(
    method,
    path,
    headers=None,
    body=None,
    resource=None,
    path_parameters=None,
    query=None,
    stage="dev",
    api_id="a1b2c3d4e5",
    region="us-east-1",
    account_id="123456789012",
    resource_id="r3s0urc3",
    stage_variables=None,
    source_ip="127.0.0.1",
):
    """An API Gateway REST API (v1) Lambda proxy event, as API Gateway sends it.

    `path` is the client's path after the stage (e.g. /info/v2/watch/CAL5185B); a dict body
    is sent as JSON; `query` is a dict or a list of (name, value) pairs, already decoded.
    Tests without a gateway call it directly; the gateway harness fills it in from the
    deployed REST API.
    """
    host = f"{api_id}.execute-api.{region}.amazonaws.com"
    headers = {
        "Host": host,
        "User-Agent": "lambda-runner",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        **(headers or {}),
    }
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    pairs = list(query.items() if isinstance(query, dict) else query or [])
    multi_query = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    resource = resource or path
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "requestContext": {
            "resourceId": resource_id,
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "domainName": host,
            "apiId": api_id,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def emulator_code(function_name, account, region):
    """The code package the in-process moto backend holds for the function ($LATEST)."""
    from moto.backends import get_backend

    return get_backend("lambda")[account][region].get_function(function_name).code_bytes


def code_sha256(code):
    """Lambda's CodeSha256: base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(code).digest()).decode()


class Worker:
    """One clean interpreter serving HANDLER out of TASK_ROOT, event by event.

    The benchmark uses it directly for packages that were never uploaded; its stderr (the
    function's logs) goes to LOG_PATH and the last lines are quoted when something fails.
    """

    def __init__(self, python, task_root, handler, env, log_path, timeout=30, function_arn=""):
        self.log_path = Path(log_path)
        self.timeout = timeout + GRACE_SECONDS
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                # -B: as in Lambda's read-only /var/task, no bytecode is ever written there
                # (only what the package ships is used).
                [str(python), "-I", "-B", str(WORKER), str(timeout), function_arn],
                cwd=task_root,
                env={**env, "_HANDLER": handler, "LAMBDA_TASK_ROOT": str(task_root)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
            )
        try:
            self._receive()
        except BaseException:
            self.close()
            raise

    def invoke(self, event):
        """The handler's return value for EVENT; LambdaError when it raised."""
        try:
            self.process.stdin.write(json.dumps(event) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self._fail("the function's interpreter has exited")
        return self._receive()["result"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()

    def _receive(self):
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        if not ready:
            self.process.kill()
            self._fail(f"no answer within {self.timeout}s")
        line = self.process.stdout.readline()
        if not line:
            self._fail(f"the function's interpreter exited ({self.process.wait()})")
        message = json.loads(line)
        if "error" in message:
            self._fail(f"{message['type']}: {message['error']}\n{message['trace']}")
        return message

    def _fail(self, reason):
        log = self.log_path.read_text(errors="replace").splitlines()[-20:]
        raise LambdaError(reason + "\n--- last lines of the function's log\n" + "\n".join(log))


class LambdaRunner:
    """The function FUNCTION_NAME as deployed on the emulator, served by one clean interpreter.

    extra_env completes the function's own environment (emulator endpoint, dummy
    credentials: see emulator_env); it wins over everything else.
    """

    def __init__(self, lambda_client, function_name, extra_env, python=RUNTIME_PYTHON):
        if not Path(python).exists():
            raise LambdaError(f"{python} not found: use the lambda_runtime_python fixture")
        self.configuration = lambda_client.get_function(FunctionName=function_name)["Configuration"]
        self.code_sha256 = self.configuration["CodeSha256"]
        arn = self.configuration["FunctionArn"]
        region, account = arn.split(":")[3:5]
        name = self.configuration["FunctionName"]
        code = emulator_code(name, account, region)
        if code_sha256(code) != self.code_sha256:
            raise LambdaError(f"the emulator's code for {name} does not match its CodeSha256")
        self.package_size = len(code)

        self._folder = tempfile.TemporaryDirectory(prefix=f"lambda-{name}-")
        task_root = Path(self._folder.name) / "task"
        with zipfile.ZipFile(io.BytesIO(code)) as package:
            package.extractall(task_root)
        env = {
            **self.configuration.get("Environment", {}).get("Variables", {}),
            **lambda_variables(self.configuration, region, task_root, python),
            **extra_env,
        }
        try:
            self._worker = Worker(
                python,
                task_root,
                self.configuration["Handler"],
                env,
                log_path=Path(self._folder.name) / "function.log",
                timeout=self.configuration.get("Timeout", 3),
                function_arn=arn,
            )
        except BaseException:
            self._folder.cleanup()
            raise

    def invoke(self, event):
        """The handler's return value for EVENT (a dict); LambdaError when it raised."""
        return self._worker.invoke(event)

    def close(self):
        self._worker.close()
        self._folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def lambda_variables(configuration, region, task_root, python):
    """The variables the Lambda runtime itself defines for a function (the ones apps read)."""
    name = configuration["FunctionName"]
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": configuration.get("Version", "$LATEST"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration['Runtime']}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
    }
