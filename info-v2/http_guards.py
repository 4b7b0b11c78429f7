"""The app's guards against hostile input: ASGI middlewares and a stricter JSON body parser.

Each closes one class of failure where it starts, before a handler runs, the same under
uvicorn and on Lambda; server.py adds them to the Connexion app. Their errors are Connexion
problems, so clients get problem+json like every other error of the API.
"""

import asyncio
import json
import logging
from urllib.parse import urlsplit

from connexion.exceptions import BadRequestProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.validators import JSONRequestBodyValidator
from starlette.datastructures import MutableHeaders

# A watch is well under 1 KiB; anything much larger is refused before it is read or parsed.
MAX_BODY_BYTES = 16 * 1024
# Every request is answered within this time of its body's arrival, far below API Gateway's
# 29 s integration limit.
REQUEST_BUDGET_SECONDS = 4
# A request's body must arrive in full within this time of its headers (WholeBody).
BODY_WAIT_SECONDS = 5
# What a 503 tells the client to wait before trying again.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger("watch-info")


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON body validator, with a parser that takes only what can be stored.

    The body must be UTF-8 JSON text (RFC 8259) whose strings can be written back as UTF-8,
    as DynamoDB stores them. Anything else (invalid UTF-8, NaN, a lone surrogate such as
    "\\ud800", nesting deeper than the parser's recursion limit, an integer longer than Python
    converts) is the client's mistake: 400, before the schema or the handler sees it.
    """

    async def _parse(self, stream, scope):
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError) as error:
            raise BadRequestProblem(f"The body is not UTF-8 JSON text: {error}") from None
        return body


def refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class HttpMiddleware:
    """An ASGI middleware that acts on HTTP requests (handle) and passes anything else on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self.handle(scope, receive, send)


class WholeBody(HttpMiddleware):
    """Reads the request body before the app runs, and hands it over whole, with its length.

    - Connexion sees a body only when the request declares its Content-Length. A chunked
      body (Transfer-Encoding: chunked, what clients that stream a body send) declares none:
      the app gets every body as one piece, with a Content-Length that says how long it is.
    - The body is counted against MAX_BODY_BYTES as it arrives: 413 as soon as it is over,
      and before a byte is read when the declared Content-Length already is.
    - It must arrive in full within BODY_WAIT_SECONDS. A client that sends less than it
      declared, or stalls, gets 408 and the connection is closed: its mistake, not our outage.
    In the app, not in the server, so the limit is the same under uvicorn and on Lambda (where
    API Gateway hands over the body in one piece). (Starlette's RequestBodyLimitMiddleware
    only counts, and answers text/plain; our errors are problem+json.)
    """

    async def handle(self, scope, receive, send):
        headers = MutableHeaders(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise too_large()
        body = await read_body(receive)
        if body is None:
            return  # the client has gone: nobody to answer
        del headers["transfer-encoding"]
        headers["content-length"] = str(len(body))
        replayed = False

        async def receive_whole_body():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, receive_whole_body, send)


async def read_body(receive):
    """The whole body (None when the client disconnects), within the limits of WholeBody."""
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(BODY_WAIT_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise ProblemException(
            status=408,
            title="Request Timeout",
            detail=f"The request body did not arrive in full within {BODY_WAIT_SECONDS} s "
            f"({size} bytes came); send the whole body, as long as its Content-Length says.",
            headers={"Connection": "close"},
        ) from None


def too_large():
    return ProblemException(
        status=413,
        title="Content Too Large",
        detail=f"A request body may hold at most {MAX_BODY_BYTES} bytes.",
    )


class TimeBudget(HttpMiddleware):
    """Answers 503 with Retry-After when a request is not done within REQUEST_BUDGET_SECONDS.

    botocore's timeouts bound each DynamoDB call; this bounds the request, whatever number of
    calls it makes. The abandoned call ends on its own timeout; a write it still makes is
    what a client's retry finds (the same watch: 200, idempotent).
    """

    async def handle(self, scope, receive, send):
        started = False

        async def send_and_note_start(message):
            nonlocal started
            started = True
            await send(message)

        try:
            async with asyncio.timeout(REQUEST_BUDGET_SECONDS):
                await self.app(scope, receive, send_and_note_start)
        except TimeoutError:
            if started:
                raise
            log.warning("no answer within %s s", REQUEST_BUDGET_SECONDS)
            raise ProblemException(
                status=503,
                title="Service Unavailable",
                detail=f"No answer within {REQUEST_BUDGET_SECONDS} s; the database is slow.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None


class MediaTypes(HttpMiddleware):
    """Compares media types case-insensitively and requires one for a body.

    Connexion validates a body only when the Content-Type spells a media type of the spec
    exactly, and assumes application/json when the header is missing while Flask then reads
    no body at all. Lower-casing the media type (RFC 9110: it is case-insensitive) and
    refusing an unlabelled body when it is read make both read the same, validated body.
    """

    async def handle(self, scope, receive, send):
        headers = MutableHeaders(scope=scope)
        content_type = headers.get("content-type")
        if content_type:
            media_type, separator, parameters = content_type.partition(";")
            headers["content-type"] = media_type.strip().lower() + separator + parameters
            return await self.app(scope, receive, send)

        async def receive_labelled():
            message = await receive()
            if message.get("body"):
                raise UnsupportedMediaTypeProblem(
                    "Send the body with Content-Type: application/json."
                )
            return message

        await self.app(scope, receive_labelled, send)


class SpecRoutesOnly(HttpMiddleware):
    """Paths the spec's router did not match are 404, not Flask's to guess.

    Flask has its own copy of the routes and matches more loosely (an encoded newline in the
    sku, a doubled slash): it would run a handler without Connexion's operation context,
    unauthenticated and unvalidated. Only the health check lives outside the spec.
    """

    async def handle(self, scope, receive, send):
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        if not routing.get("operation_id") and scope["path"] != "/":
            raise ProblemException(
                status=404, title="Not Found", detail="No operation of the API has this path."
            )
        await self.app(scope, receive, send)


class RelativeRedirects(HttpMiddleware):
    """Redirect locations as absolute paths, never built from the client's Host header.

    Starlette's routers answer a trailing-slash variant with a redirect to
    http://<Host header>/...; the client's Host is not ours to repeat.
    """

    async def handle(self, scope, receive, send):
        async def send_relative(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "location" in headers:
                    location = urlsplit(headers["location"])
                    headers["location"] = location.path + (
                        f"?{location.query}" if location.query else ""
                    )
            await send(message)

        await self.app(scope, receive, send_relative)
