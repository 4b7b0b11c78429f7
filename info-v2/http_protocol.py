"""The local server's HTTP/1.1 (uvicorn's httptools protocol) with two changes, for run.sh:

    uvicorn server:app --http http_protocol:HttpProtocol --ws none

- A request uvicorn cannot parse (two Content-Lengths, a raw 0xFF byte in the path, a header
  line without a colon, TLS or HTTP/2 spoken to the plain HTTP/1.1 port, ...) is refused with
  400 application/problem+json, like every other error of the API, instead of uvicorn's
  text/plain "Invalid HTTP request received."
- A connection must send a complete request head (request line and headers) within uvicorn's
  keep-alive timeout (--timeout-keep-alive, 5 s) of opening, or of its last answer; else it is
  closed. uvicorn on its own waits forever for the first request of a connection, and any byte
  restarts its keep-alive timeout, so silent or slow connections piled up.
- With `--ws none`, a WebSocket upgrade request is served as the plain HTTP request it also
  is (the API has no WebSocket), instead of getting the WebSocket library's empty 403; and
  uvicorn's advice to install a WebSocket library is not logged for it.

On Lambda none of this runs: API Gateway parses HTTP and hands over whole requests.
"""

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MALFORMED = json.dumps(
    {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The request is not valid HTTP/1.1 (RFC 9112); the server could not parse it.",
    }
).encode()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol, with the changes of the module's docstring."""

    head_deadline = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.wait_for_request_head()

    def connection_lost(self, exc):
        self.stop_waiting_for_request_head()
        super().connection_lost(exc)

    def on_headers_complete(self):
        self.stop_waiting_for_request_head()
        super().on_headers_complete()

    def on_response_complete(self):
        super().on_response_complete()
        # uvicorn armed its keep-alive timeout: the connection is idle, no request is queued.
        if self.timeout_keep_alive_task is not None:
            self.wait_for_request_head()

    def wait_for_request_head(self):
        self.stop_waiting_for_request_head()
        self.head_deadline = self.loop.call_later(self.timeout_keep_alive, self.close_idle)

    def stop_waiting_for_request_head(self):
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def close_idle(self):
        if not self.transport.is_closing():
            self.transport.close()

    def _unsupported_upgrade_warning(self):
        self.logger.info("Upgrade request served as plain HTTP: the API has no WebSocket.")

    def send_400_response(self, msg):
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(MALFORMED)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                MALFORMED,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
