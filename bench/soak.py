"""A soak: many warm requests through one Lambda handler process, and that process's health.

    windows = soak(function, watch, user, password, requests=50_000, window=5_000)

`function` is a running handler process: a lambda_runtime.Worker or LambdaRunner (it needs
`invoke(event)` and `pid`). The requests repeat a fixed mix of API Gateway proxy events, in
every 20: 16 GETs of WATCH (200, the watch), one POST of a new watch (200), one GET of a sku
that does not exist (404), one GET without credentials and one with a wrong password (401).
Any other answer stops the soak. After each WINDOW of requests it notes, in a Window, the
process's resident memory and the latency percentiles of those requests; its open file
descriptors and threads are read after every request, so a count that swings between two
readings shows as a range. bench_soak.py runs 50,000; tests/test_lambda.py a short one.
"""

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from local_gateway import proxy_event
from smoke_test import basic_auth

MISSING_SKU = "NO-SUCH-SKU"
# The handler process's threads: its main thread and the pool in which Connexion's FlaskApp
# runs Flask (a2wsgi's ThreadPoolExecutor, 10 workers). The pool starts another worker when a
# request comes before the last one's worker has marked itself idle (more often on a busy
# machine), up to its size; a leak has no such bound.
MOST_THREADS = 1 + 10


@dataclass
class Window:
    requests: int  # sent since the start, this window's included
    rss_mb: float  # resident memory at the window's end
    descriptors: tuple  # (fewest, most) open file descriptors after a request of the window
    threads: tuple  # (fewest, most) threads after a request of the window
    p50_ms: float
    p99_ms: float
    max_ms: float


def process_health(pid):
    """(resident memory in MB, open file descriptors, threads) of process PID (Linux /proc)."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss_mb = int(status["VmRSS"].split()[0]) / 1024
    return rss_mb, len(os.listdir(f"/proc/{pid}/fd")), int(status["Threads"])


def request_mix(watch, user, password):
    """The events of 20 requests, each with the status it must get (a POST's sku is made new
    for each request by soak())."""
    authorized = {"Authorization": basic_auth(user, password)}
    wrong = {"Authorization": basic_auth(user, password + "-wrong")}
    get = get_event(watch["sku"], authorized)
    post = proxy_event(
        httpMethod="POST",
        path="/watch",
        resource="/watch",
        pathParameters=None,
        headers={**authorized, "Content-Type": "application/json"},
    )
    return [(get, 200)] * 16 + [
        (post, 200),
        (get_event(MISSING_SKU, authorized), 404),
        (get_event(watch["sku"], {}), 401),
        (get_event(watch["sku"], wrong), 401),
    ]


def get_event(sku, headers):
    return proxy_event(
        httpMethod="GET",
        path=f"/watch/{sku}",
        resource="/watch/{sku}",
        pathParameters={"sku": sku},
        headers=headers,
    )


def soak(function, watch, user, password, requests, window):
    """Sends REQUESTS requests of the mix to FUNCTION; returns a Window per WINDOW requests."""
    mix = request_mix(watch, user, password)
    windows = []
    latencies = []
    descriptors, threads = [], []
    for number in range(1, requests + 1):
        event, status = mix[number % len(mix)]
        if event["httpMethod"] == "POST":
            event = {**event, "body": json.dumps({**watch, "sku": f"SOAK-{number:06d}"})}
        start = time.perf_counter()
        response = function.invoke(event)
        latencies.append(time.perf_counter() - start)
        if response["statusCode"] != status:
            raise AssertionError(f"request {number}: expected {status}, got {response}")
        if status == 200 and event["httpMethod"] == "GET":
            assert json.loads(response["body"]) == watch, response
        _, open_descriptors, thread_count = process_health(function.pid)
        descriptors.append(open_descriptors)
        threads.append(thread_count)
        if number % window == 0:
            rss_mb = process_health(function.pid)[0]
            percentiles = statistics.quantiles(latencies, n=100)
            windows.append(
                Window(
                    requests=number,
                    rss_mb=rss_mb,
                    descriptors=(min(descriptors), max(descriptors)),
                    threads=(min(threads), max(threads)),
                    p50_ms=percentiles[49] * 1000,
                    p99_ms=percentiles[98] * 1000,
                    max_ms=max(latencies) * 1000,
                )
            )
            latencies, descriptors, threads = [], [], []
    return windows


def health_verdicts(windows):
    """[(reading, its counts after the first window (the warm-up), target, target met)]: open
    file descriptors stay constant, threads stay within MOST_THREADS."""
    descriptors = counts_after_warm_up(windows, "descriptors")
    threads = counts_after_warm_up(windows, "threads")
    return [
        ("descriptors", descriptors, "constant", len(descriptors) == 1),
        ("threads", threads, f"at most {MOST_THREADS}", threads[-1] <= MOST_THREADS),
    ]


def counts_after_warm_up(windows, reading):
    return sorted({count for w in windows[1:] for count in getattr(w, reading)})
