"""One structured log line per request, for every answer the app gives (401s and 400s too).

    {"request_id": "…", "method": "GET", "path": "/info/v2/watch/CAL5185B",
     "operation": "get_watch", "status": 200, "duration_ms": 12.3}

`request_id` is API Gateway's on Lambda (requestContext.requestId of the proxy event, which
Zappa hands over in the ASGI scope, or in the WSGI environ under a2wsgi), so a line can be
matched with API Gateway's own logs; locally it is a generated one. `operation` is the
spec's operationId that Connexion routed to, null when none matched. Headers, query strings
and bodies are never logged: they carry credentials and watches.

    app.add_middleware(RequestLog, position=RequestLog.position)

The position is before Connexion's exception middleware, so the line has the status the
client really gets.
"""

import json
import logging
import sys
import time
import uuid

from connexion.middleware import MiddlewarePosition

log = logging.getLogger("watch-info.requests")
log.setLevel(logging.INFO)
# On Lambda the runtime's root handler sends the line to CloudWatch Logs; under uvicorn no
# root handler exists, and Python would drop INFO lines.
if not logging.getLogger().handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(_handler)
    log.propagate = False


def api_gateway_request_id(scope):
    """requestContext.requestId of the Lambda proxy event behind this request, if any."""
    event = scope.get("lambda.event") or scope.get("wsgi_environ", {}).get("lambda.event")
    return ((event or {}).get("requestContext") or {}).get("requestId")


class RequestLog:
    """ASGI middleware: logs one JSON line when a request has been answered."""

    position = MiddlewarePosition.BEFORE_EXCEPTION

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Connexion's routing notes the operation in scope["extensions"] of a copy of the
        # scope: only an extensions dict that exists before the copy is shared with ours.
        extensions = scope.setdefault("extensions", {})
        status = 500  # what the server's last-resort handler answers if nothing was sent

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            routing = extensions.get("connexion_routing", {})
            operation = routing.get("operation_id")
            line = {
                "request_id": api_gateway_request_id(scope) or uuid.uuid4().hex,
                "method": scope["method"],
                "path": scope["path"],
                "operation": operation.rpartition(".")[2] if operation else None,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            log.info(json.dumps(line, ensure_ascii=False))
