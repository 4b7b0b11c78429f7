"""Cross-origin requests (CORS): web pages of the origins in CORS_ORIGINS may call the API.

    CORS_ORIGINS="https://shop.example.com, https://admin.example.com"   # or "*"

Starlette's CORSMiddleware does the work; server.py adds it outside Connexion's exception
middleware, so that every answer carries the headers, errors included. For an allowed origin:
- a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here,
  without credentials: the API's methods and the request headers a client of this API sends
  (Authorization must be named: `Access-Control-Allow-Headers: *` does not cover it);
- every other answer (2xx, 304, 4xx, 5xx) gets Access-Control-Allow-Origin and
  `Vary: Origin`, and exposes ETag and Retry-After to the page.
Any other origin is served as if it had sent no Origin: no CORS header at all (Starlette would
still expose headers to it and answer its preflight with the allowed methods), so its
preflight meets the API's 405. Unset or empty, CORS is off.
"""

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

# What a browser client of this API sends besides the CORS-safelisted headers.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-None-Match")
EXPOSED_HEADERS = ("ETag", "Retry-After")
# Chromium caps a preflight's cache at 2 hours; each preflight is a request to the function.
PREFLIGHT_MAX_AGE_SECONDS = 7200
OPERATION_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def methods_of(spec):
    """The HTTP methods of an OpenAPI document's operations, such as ["GET", "POST"]."""
    methods = {key for item in spec["paths"].values() for key in item} & OPERATION_METHODS
    return sorted(method.upper() for method in methods)


def origins_from(setting):
    """The origins of a CORS_ORIGINS value: comma-separated, blanks ignored."""
    return [origin.strip() for origin in setting.split(",") if origin.strip()]


class CrossOriginRequests(CORSMiddleware):
    """Starlette's CORSMiddleware with ORIGINS allowed to call METHODS (see the module's
    docstring for what it adds)."""

    def __init__(self, app, origins, methods):
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=methods,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            origin = Headers(scope=scope).get("origin")
            if origin is not None and not self.is_allowed_origin(origin):
                headers = [(name, value) for name, value in scope["headers"] if name != b"origin"]
                scope = {**scope, "headers": headers}
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers):
        """Starlette's answer; a refused method or header as problem+json, not text/plain."""
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        problem = {
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": f"{response.body.decode()}: this API allows the methods "
            f"{', '.join(self.allow_methods)} and the headers {', '.join(ALLOWED_HEADERS)}.",
        }
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        return Response(
            json.dumps(problem), 400, headers=headers, media_type="application/problem+json"
        )
