"""An HTTP proxy that adds a fixed latency to every request, in front of the AWS emulator.

Usage: python bench/latency_proxy.py --target URL --port PORT [--delay-ms 20]

It stands for the round trip from a laptop to an AWS region: each request waits
--delay-ms before it is forwarded (over one kept-alive connection per client connection),
and the answer goes back as it came. bench_loader.py starts it in its own process, so its
work does not slow the emulator down.
"""

import argparse
import http.client
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class DelayingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # TCP_NODELAY, as urllib3 sets on its side: the headers and the body of an answer go out
    # in two writes, and Nagle's algorithm held the body until the client's delayed ACK of
    # the headers came, about 40 ms later: every request waited 60-70 ms instead of 20.
    disable_nagle_algorithm = True

    def do_request(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.delay)
        if not hasattr(self, "upstream"):
            self.upstream = http.client.HTTPConnection(self.server.target, timeout=60)
        self.upstream.request(self.command, self.path, body, dict(self.headers))
        response = self.upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_request

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="base URL of the emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=20)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), DelayingHandler)
    server.daemon_threads = True
    server.target = urlsplit(args.target).netloc
    server.delay = args.delay_ms / 1000
    server.serve_forever()


if __name__ == "__main__":
    main()
