"""Runs a Lambda function's uploaded code as the Lambda runtime would, without Docker.

An ExecutionEnvironment unzips a package into a fresh folder and serves the configured
handler from ONE clean interpreter (a Worker: lambda_worker.py under the runtime
virtualenv's Python: no project path, no dev virtualenv), with only the function's
environment plus what Lambda itself sets. So what runs is what AWS would run, including
anything missing from the package. The emulator's Lambda Invoke (lambda_invoke.py) keeps
one per function version; LambdaRunner serves a deployed function to a test directly: it
downloads the package from where get-function says it is and checks it against the
CodeSha256 that Lambda reports.

    with LambdaRunner(aws, "watch-info-dev", emulator_env(url)) as function:
        response = function.invoke(event)

`aws(service)` returns a boto3 client (on the emulator, or on AWS).
"""

import io
import json
import select
import subprocess
import tempfile
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
# Python 3.11 with only boto3, like the Lambda runtime (requirements-lambda-runtime.txt).
RUNTIME_PYTHON = REPO / ".venv-runtime" / "bin" / "python"
WORKER = Path(__file__).resolve().with_name("lambda_worker.py")
# How long to wait for a worker beyond the function's own timeout before giving up on it.
GRACE_SECONDS = 30


class LambdaError(RuntimeError):
    """The handler could not be imported, raised an exception, or its interpreter died.

    `log` is what the function had written to its log by then.
    """

    def __init__(self, reason, log=""):
        super().__init__(reason)
        self.log = log


class HandlerError(LambdaError):
    """The handler, or the import of its module, raised: the exception's type and message."""

    def __init__(self, reason, log, error_type, error_message):
        super().__init__(reason, log)
        self.error_type = error_type
        self.error_message = error_message


# Any value works with the emulator, and this one never matches a real account.
DUMMY_CREDENTIAL = "testing"


def emulator_env(endpoint_url, region="us-east-1"):
    """The variables that point AWS calls at the emulator, with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_SESSION_TOKEN": DUMMY_CREDENTIAL,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def function_code(aws, code_location):
    """The package at get-function's Code.Location: a presigned URL on AWS; on the emulator,
    an object of its S3 (tools/aws_emulator.py stores each package there)."""
    endpoint = aws("s3").meta.endpoint_url
    if urlsplit(endpoint).hostname.endswith("amazonaws.com"):
        with urllib.request.urlopen(code_location, timeout=60) as response:
            return response.read()
    location = urlsplit(code_location)
    bucket = location.hostname.split(".")[0]
    return aws("s3").get_object(Bucket=bucket, Key=location.path[1:])["Body"].read()


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
                # -s -P: no user site, no script folder on the path: imports come from the
                # package (PYTHONPATH) and the runtime. -B: as in Lambda's read-only
                # /var/task, no bytecode is ever written there.
                [str(python), "-s", "-P", "-B", str(WORKER), str(timeout), function_arn],
                cwd=task_root,
                env={
                    **env,
                    "_HANDLER": handler,
                    "LAMBDA_TASK_ROOT": str(task_root),
                    "PYTHONPATH": str(task_root),
                },
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

    @property
    def pid(self):
        """The process id of the function's interpreter."""
        return self.process.pid

    def invoke(self, event, request_id=None):
        """The handler's return value for EVENT; HandlerError when it raised. REQUEST_ID is
        the invocation's id (context.aws_request_id), a new one by default."""
        message = {"event": event, "request_id": request_id or str(uuid.uuid4())}
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
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
            reason = f"{message['type']}: {message['error']}\n{message['trace']}"
            log = self.log_path.read_text(errors="replace")
            raise HandlerError(quoting(reason, log), log, message["type"], message["error"])
        return message

    def _fail(self, reason):
        log = self.log_path.read_text(errors="replace")
        raise LambdaError(quoting(reason, log), log)


def quoting(reason, log):
    """REASON followed by the last lines of the function's LOG."""
    last_lines = "\n".join(log.splitlines()[-20:])
    return f"{reason}\n--- last lines of the function's log\n{last_lines}"


class ExecutionEnvironment:
    """A function's package CODE unzipped into a folder of its own and served by one Worker,
    with the function's variables (from CONFIGURATION, as get-function-configuration gives
    it), those Lambda itself sets (`variables`) and EXTRA_ENV, which wins over both."""

    def __init__(self, code, configuration, extra_env, python=RUNTIME_PYTHON):
        name = configuration["FunctionName"]
        region = configuration["FunctionArn"].split(":")[3]
        self._folder = tempfile.TemporaryDirectory(prefix=f"lambda-{name}-")
        task_root = Path(self._folder.name) / "task"
        try:
            with zipfile.ZipFile(io.BytesIO(code)) as package:
                package.extractall(task_root)
            self.variables = lambda_variables(configuration, region, task_root, python)
            env = {
                **configuration.get("Environment", {}).get("Variables", {}),
                **self.variables,
                **extra_env,
            }
            self.worker = Worker(
                python,
                task_root,
                configuration["Handler"],
                env,
                log_path=Path(self._folder.name) / "function.log",
                timeout=configuration.get("Timeout", 3),
                function_arn=configuration["FunctionArn"],
            )
        except BaseException:
            self._folder.cleanup()
            raise

    def close(self):
        self.worker.close()
        self._folder.cleanup()


class LambdaRunner:
    """The function FUNCTION_NAME as deployed, served by one clean interpreter.

    extra_env completes the function's own environment (emulator endpoint, dummy
    credentials: see emulator_env); it wins over everything else.
    """

    def __init__(self, aws, function_name, extra_env, python=RUNTIME_PYTHON):
        if not Path(python).exists():
            raise LambdaError(f"{python} not found: tools/aws_emulator.sh or conftest builds it")
        function = aws("lambda").get_function(FunctionName=function_name)
        self.configuration = function["Configuration"]
        self.code_sha256 = self.configuration["CodeSha256"]
        # (Whether that package matches CodeSha256 is the deploy scripts' check, stage_code.)
        code = function_code(aws, function["Code"]["Location"])
        self.package_size = len(code)
        self._environment = ExecutionEnvironment(code, self.configuration, extra_env, python)
        self._worker = self._environment.worker

    def invoke(self, event):
        """The handler's return value for EVENT (a dict); LambdaError when it raised."""
        return self._worker.invoke(event)

    @property
    def pid(self):
        """The process id of the function's interpreter."""
        return self._worker.pid

    def log(self):
        """What the function has written to its log (stdout and stderr) so far."""
        return self._worker.log_path.read_text(errors="replace")

    def close(self):
        self._environment.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def lambda_variables(configuration, region, task_root, python):
    """The variables the Lambda runtime itself defines for a function (the ones apps read)."""
    name = configuration["FunctionName"]
    version = configuration.get("Version", "$LATEST")
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(version),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration['Runtime']}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def log_stream_name(version):
    """A new execution environment's log stream, named as Lambda names it."""
    return time.strftime("%Y/%m/%d/[", time.gmtime()) + f"{version}]{uuid.uuid4().hex}"
