"""A tiny stand-in for the AWS Lambda Python runtime: one handler, JSON events line by line.

Run as `python -s -P lambda_worker.py [TIMEOUT_SECONDS [FUNCTION_ARN]]` with cwd = the
unzipped package and the environment a Lambda function would see (LAMBDA_TASK_ROOT,
_HANDLER, AWS_LAMBDA_FUNCTION_NAME, ..., and PYTHONPATH = the task root, so that imports
come from the package). It imports nothing from the project. It imports the handler; then,
for each line on stdin, {"event": ..., "request_id": ...}, it writes one JSON line to the
protocol stream: {"result": ...}, or {"error": ..., "type": ..., "trace": ...} when the
handler raised. Its first line tells whether the handler imported ({"ready": true}) or not.

Anything the function prints goes to stderr, as Lambda sends it to CloudWatch Logs, so the
protocol stream (the original stdout) only ever carries this program's own lines. As in the
runtime, the root logger writes `[LEVEL]\tTIME\tREQUEST ID\tMESSAGE`, and an error the
handler raised is logged as `[ERROR] Type: message` with its traceback.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback
import uuid


class Context:
    """The attributes and method of the Lambda context object that handlers commonly use."""

    def __init__(self, timeout_seconds, function_arn, request_id=None):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = function_arn
        self.aws_request_id = request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class RequestIdFilter(logging.Filter):
    """Gives every log record the id of the invocation in progress, as the runtime does."""

    request_id = ""

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def runtime_log_handler(request_ids):
    """The root logger's handler the Python runtime installs before it imports the handler."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(request_ids)
    return handler


def protocol_stream():
    """The original stdout for our lines; fd 1 and sys.stdout now lead to stderr."""
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def error(exc):
    """The error's protocol message, logged as the runtime logs it: the traceback starts
    where the function's code does, below this program's frames."""
    frames = exc.__traceback__
    while frames and frames.tb_frame.f_code.co_filename == __file__:
        frames = frames.tb_next
    trace = traceback.format_exception(type(exc), exc, frames)
    lines = [f"[ERROR] {type(exc).__name__}: {exc}", *"".join(trace[:-1]).splitlines()]
    print("\n".join(lines))
    return {"error": str(exc), "type": type(exc).__name__, "trace": "".join(trace)}


def load_handler(spec):
    module_name, _, function_name = spec.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def main():
    out = protocol_stream()

    def send(message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    function_arn = sys.argv[2] if len(sys.argv) > 2 else ""
    request_ids = RequestIdFilter()
    logging.getLogger().addHandler(runtime_log_handler(request_ids))
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        send(error(exc))
        return 1
    send({"ready": True})
    for line in sys.stdin:
        message = json.loads(line)
        request_ids.request_id = message["request_id"]
        context = Context(timeout, function_arn, message["request_id"])
        try:
            send({"result": handler(message["event"], context)})
        except Exception as exc:
            send(error(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
