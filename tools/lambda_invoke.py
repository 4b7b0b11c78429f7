"""Lambda's Invoke for the emulator (tools/aws_emulator.py): moto stores functions, versions
and aliases, but runs code only in Docker. Here an invocation runs the package and the
configuration of exactly the version it names, and leaves behind what Lambda leaves:

- the answer: the handler's result, or its error ({"errorMessage", "errorType"}) with
  X-Amz-Function-Error: Unhandled; X-Amz-Executed-Version; with --log-type Tail the last
  4 KB of the invocation's log (X-Amz-Log-Result, base64);
- CloudWatch Logs: log group /aws/lambda/NAME, one stream per container
  (YYYY/MM/DD/[VERSION]<hex>): what the function wrote while it started, then for each
  invocation START, every line the function wrote, END and REPORT;
- CloudWatch metrics (namespace AWS/Lambda): Invocations, Errors and Duration, with no
  dimension, by FunctionName, for a qualified call also by FunctionName and Resource
  (NAME:QUALIFIER), and for a call through an alias also by those and ExecutedVersion.

An alias whose RoutingConfig has AdditionalVersionWeights picks its version at random by
weight. A version runs in a container (lambda_runtime.ExecutionEnvironment: its package in a
clean interpreter of .venv-runtime), with its own variables, those Lambda sets, and the
emulator's endpoint with dummy credentials. The container stays warm between invocations; it
is replaced when that version's code or configuration changes (only $LATEST's can), and
closed when the function or the version is deleted and when the emulator is reset or stops.

Where it differs from Lambda: one container per version, so concurrent calls of a version
take turns instead of starting more (a function that invokes its own version waits for
ever); a function that does not answer is stopped after its
timeout plus lambda_runtime.GRACE_SECONDS (the machine may be slow), not at its timeout;
memory is not limited; each line the function writes is an event of its own.
"""

import base64
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lambda_runtime import (
    RUNTIME_PYTHON,
    ExecutionEnvironment,
    HandlerError,
    LambdaError,
    emulator_env,
    log_stream_name,
)
from moto.awslambda.exceptions import LambdaClientError
from moto.cloudwatch.models import cloudwatch_backends

LOG_TAIL_BYTES = 4096
METRICS_NAMESPACE = "AWS/Lambda"


class EmulatorError(LambdaClientError):
    """Invoke cannot run the function here (not a fault of the function)."""

    code = 500

    def __init__(self, message):
        super().__init__("ServiceException", message)


def name_and_qualifier(name_or_arn, qualifier=None):
    """(function name, qualifier or None) of a name, NAME:QUALIFIER or an ARN, and the
    request's Qualifier parameter (the one in the name wins, as in moto)."""
    name = name_or_arn.split(":function:")[-1]
    name, _, in_name = name.partition(":")
    return name, in_name or qualifier or None


def revision(function):
    """What a container was made from: the version's code and configuration."""
    configuration = json.dumps(function.get_configuration(), sort_keys=True, default=str)
    return configuration, function.code.get("S3Key")


def now_ms():
    return int(time.time() * 1000)


@dataclass
class Outcome:
    """What one invocation gave: the payload, the error's type when the function failed (its
    payload is then the error), the lines it added to the log, and how long it took."""

    payload: object
    error_type: str | None
    log_lines: list
    duration_ms: float


def error_outcome(error, request_id, log_lines):
    """The Outcome of a LambdaError: the handler's (or its import's) exception, or the
    interpreter's end."""
    if isinstance(error, HandlerError):
        error_type, message = error.error_type, error.error_message
    else:
        error_type = "Runtime.ExitError"
        message = f"RequestId: {request_id} Error: {str(error).splitlines()[0]}"
    payload = {"errorMessage": message, "errorType": error_type}
    return Outcome(payload, error_type, log_lines, duration_ms=0.0)


class LogStream:
    """A container's log stream in the emulator's CloudWatch Logs."""

    def __init__(self, function, version):
        self.logs = function.logs_backend
        self.group = f"/aws/lambda/{function.function_name}"
        self.name = log_stream_name(version)
        self.logs.ensure_log_group(self.group)
        self.logs.create_log_stream(self.group, self.name)

    def write(self, events):
        """Adds EVENTS, (timestamp in ms, message) in time order."""
        if events:
            messages = [{"timestamp": stamp, "message": message} for stamp, message in events]
            self.logs.put_log_events(self.group, self.name, messages)


class Container:
    """One warm execution environment of one function version (a moto LambdaFunction), with
    its log stream. A function whose import fails raises LambdaError, its log written."""

    def __init__(self, function, endpoint_url, python=RUNTIME_PYTHON):
        configuration = function.get_configuration()
        if not str(configuration.get("Runtime")).startswith("python"):
            raise EmulatorError(f"the emulator runs Python functions only, not {function.run_time}")
        if not Path(python).exists():
            raise EmulatorError(f"{python} is missing: tools/aws_emulator.sh prepares it")
        self.revision = revision(function)
        self.version = configuration["Version"]
        self.memory_size = configuration["MemorySize"]
        self.log = LogStream(function, self.version)
        self.invoked = False
        extra_env = {
            **emulator_env(endpoint_url, function.region),
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log.name,
        }
        started = time.perf_counter()
        try:
            self.environment = ExecutionEnvironment(
                function.code_bytes, configuration, extra_env, python
            )
        except LambdaError as error:
            self.log.write([(now_ms(), line) for line in error.log.splitlines()])
            raise
        self.init_ms = (time.perf_counter() - started) * 1000
        self.log_path = self.environment.worker.log_path
        self.log_offset = 0
        self.log.write([(now_ms(), line) for line in self.new_output()])

    def new_output(self):
        """The lines the function wrote since the last call."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            output = log.read()
        self.log_offset += len(output)
        return output.decode("utf-8", "replace").splitlines()

    def invoke(self, event, request_id):
        """The Outcome of one invocation, its lines written to the log stream."""
        started, start_ms = time.perf_counter(), now_ms()
        try:
            result = self.environment.worker.invoke(event, request_id)
            outcome = Outcome(result, None, [], 0.0)
        except LambdaError as error:  # it raised, its interpreter died or did not answer
            outcome = error_outcome(error, request_id, [])
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        start = f"START RequestId: {request_id} Version: {self.version}"
        ending = [
            *self.new_output(),
            f"END RequestId: {request_id}",
            self.report(request_id, outcome.duration_ms),
        ]
        self.invoked = True
        end_ms = now_ms()
        self.log.write([(start_ms, start)] + [(end_ms, line) for line in ending])
        outcome.log_lines = [start, *ending]
        return outcome

    def report(self, request_id, duration_ms):
        """Lambda's REPORT line; a container's first one also gives its start-up time."""
        fields = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {self.memory_size} MB",
            f"Max Memory Used: {self.max_memory_used_mb()} MB",
        ]
        if not self.invoked:
            fields.append(f"Init Duration: {self.init_ms:.2f} ms")
        return "\t".join(fields)

    def max_memory_used_mb(self):
        """The interpreter's peak resident memory (Linux's VmHWM), in MB; 0 if unknown."""
        status = Path(f"/proc/{self.environment.worker.process.pid}/status")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return 0

    def serves(self, function):
        """Whether it still runs FUNCTION as it is: same code and configuration, and its
        interpreter alive (a crash, or a timeout, ends it)."""
        alive = self.environment.worker.process.poll() is None
        return alive and self.revision == revision(function)

    def close(self):
        self.environment.close()


class Slot:
    """Where one (function, version)'s container lives; its lock lets one call in at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.container = None
        self.closed = False


class Containers:
    """The warm containers of every function version the emulator has run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._slots = {}  # (account, region, function name, version) -> Slot

    def run(self, function, endpoint_url, event, request_id):
        """Container.invoke on FUNCTION's container (a moto LambdaFunction of one version),
        which is started, or replaced when its code or configuration changed."""
        key = (function.account_id, function.region, function.function_name, function.version)
        while True:
            with self._lock:
                slot = self._slots.setdefault(key, Slot())
            with slot.lock:
                if slot.closed:  # deleted meanwhile: look again
                    continue
                container = slot.container
                if container and not container.serves(function):
                    container.close()
                    slot.container = container = None
                if container is None:
                    try:
                        slot.container = container = Container(function, endpoint_url)
                    except LambdaError as error:  # its import failed
                        return error_outcome(error, request_id, error.log.splitlines())
                return container.invoke(event, request_id)

    def close(self, account_id=None, region=None, function_name=None, version=None):
        """Closes the containers that match every argument given."""
        wanted = (account_id, region, function_name, None if version is None else str(version))
        with self._lock:
            keys = [
                key
                for key in self._slots
                if all(w is None or w == str(k) for w, k in zip(wanted, key, strict=True))
            ]
            slots = [self._slots.pop(key) for key in keys]
        for slot in slots:
            with slot.lock:
                slot.closed = True
                if slot.container:
                    slot.container.close()


containers = Containers()


def chosen_version(alias):
    """The version an invocation of ALIAS runs: one of its additional versions by weight,
    else its own."""
    draw = random.random()
    weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
    for version, weight in weights.items():
        draw -= float(weight)
        if draw < 0:
            return str(version)
    return alias.function_version


def invoke(backend, name_or_arn, qualifier, body, headers, response_headers, endpoint_url):
    """moto's LambdaBackend.invoke, done as Lambda does it (see the module docstring)."""
    name, qualifier = name_and_qualifier(name_or_arn, qualifier)
    function = backend.get_function(name, qualifier)  # ResourceNotFound when missing
    alias = None
    if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
        alias = backend.get_alias(qualifier, name)
        function = backend.get_function(name, chosen_version(alias))
    try:
        event = json.loads(body or "{}")
    except ValueError as error:
        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {error}"
        ) from None
    invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""
    request_id = str(uuid.uuid4())
    run = (function, endpoint_url, event, request_id)

    def run_and_record():
        outcome = containers.run(*run)
        resource = f"{name}:{qualifier}" if qualifier else None
        executed = str(function.version) if alias else None
        record_metrics(function, resource, executed, outcome)
        return outcome

    if invocation_type == "Event":
        threading.Thread(target=run_and_record, daemon=True).start()
        return b""
    outcome = run_and_record()
    answer = json.dumps(outcome.payload).encode()
    tail = ("\n".join(outcome.log_lines) + "\n").encode()[-LOG_TAIL_BYTES:]
    response_headers["x-amz-executed-version"] = str(function.version)
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    if outcome.error_type:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["Content-Length"] = str(len(answer))
    return answer


def record_metrics(function, resource, executed_version, outcome):
    """One invocation in AWS/Lambda's Invocations, Errors and Duration, under each set of
    dimensions Lambda uses for it."""
    name = [{"Name": "FunctionName", "Value": function.function_name}]
    dimension_sets = [[], name]
    if resource:
        dimension_sets.append(name + [{"Name": "Resource", "Value": resource}])
    if executed_version:
        version = {"Name": "ExecutedVersion", "Value": executed_version}
        dimension_sets.append(dimension_sets[-1] + [version])
    values = [
        ("Invocations", 1.0, "Count"),
        ("Errors", 0.0 if outcome.error_type is None else 1.0, "Count"),
        ("Duration", outcome.duration_ms, "Milliseconds"),
    ]
    cloudwatch = cloudwatch_backends[function.account_id][function.region]
    cloudwatch.put_metric_data(
        METRICS_NAMESPACE,
        [
            {"MetricName": metric, "Value": value, "Unit": unit, "Dimensions": dimensions}
            for dimensions in dimension_sets
            for metric, value, unit in values
        ],
    )
