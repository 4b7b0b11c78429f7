"""What a CORS preflight costs the function, against a GET of the same warm function.

create_api_gateway.sh gives every resource an OPTIONS method that calls the function, which
answers preflights as its CORS_ORIGINS says; the alternative is a mock integration, which API
Gateway answers itself with no invocation at all (docs/api.md: why the function). This measures
what the choice costs: one warm process of the package (as bench_lambda.py runs it, with
CORS_ORIGINS set) answers preflights and GETs in alternating batches, so that both see the
same load of the machine, and the benchmark prints the median and p99 round trip of each
(pipe + handler, and the GetItem on the emulator for the GET) and the function's CPU per
request, with the preflight's ratio to the GET.

The package is the copy create_lambdas.sh and update_lambdas.sh leave in the build folder
(on the offline emulator too).

Usage: bench/run.sh bench_preflight [--package build/watch-info-dev.zip] [--requests 1000]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from bench_lambda import (
    PASSWORD,
    USER,
    WATCH,
    Function,
    bench_setting,
    deployed_credentials,
    process_cpu_seconds,
)
from local_gateway import proxy_event
from smoke_test import basic_auth

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(os.environ.get("BUILD_DIR", REPO / "build")) / "watch-info-dev.zip"
ORIGIN = "https://shop.example.test"
BATCH = 50


def events():
    """{kind: proxy event} of the two kinds of request, both answered 200."""
    common = {
        "path": f"/watch/{WATCH['sku']}",
        "resource": "/watch/{sku}",
        "pathParameters": {"sku": WATCH["sku"]},
    }
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    get = {"Origin": ORIGIN, "Authorization": basic_auth(USER, PASSWORD)}
    return {
        "OPTIONS (preflight)": proxy_event(httpMethod="OPTIONS", headers=preflight, **common),
        "GET": proxy_event(httpMethod="GET", headers=get, **common),
    }


def measure(worker, requests):
    """{kind: (round-trip seconds of each request, CPU seconds per request)}."""
    kinds = events()
    latencies = {kind: [] for kind in kinds}
    cpu = dict.fromkeys(kinds, 0.0)
    for _ in range(0, requests, BATCH):
        for kind, event in kinds.items():
            before = process_cpu_seconds(worker.process.pid)
            for _ in range(BATCH):
                start = time.perf_counter()
                response = worker.invoke(event)
                latencies[kind].append(time.perf_counter() - start)
                if response["statusCode"] != 200:
                    sys.exit(f"unexpected answer to {kind}: {response}")
            cpu[kind] += process_cpu_seconds(worker.process.pid) - before
    return {kind: (latencies[kind], cpu[kind] / len(latencies[kind])) for kind in kinds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=PACKAGE, help="default: %(default)s")
    parser.add_argument("--requests", type=int, default=1000, help="of each kind")
    args = parser.parse_args()
    if not args.package.is_file():
        sys.exit(
            f"bench_preflight.py: error: no package at {args.package}; info-v2/create_lambdas.sh "
            "leaves one there (on the offline emulator too), or give --package"
        )
    with bench_setting("bench-preflight-") as (folder, url, _):
        variables = {**deployed_credentials("service"), "CORS_ORIGINS": ORIGIN}
        function = Function("service", args.package, folder, url, variables)
        worker = function.start()
        try:
            measure(worker, BATCH * 2)  # warm-up, not counted
            results = measure(worker, args.requests)
        finally:
            worker.close()
    print(f"{args.requests} requests of each kind, one warm function")
    print(f"{'':22} {'median ms':>10} {'p99 ms':>8} {'CPU ms':>8}")
    for kind, (latencies, cpu) in results.items():
        p99 = statistics.quantiles(latencies, n=100)[98]
        median = statistics.median(latencies)
        print(f"{kind:22} {median * 1000:10.2f} {p99 * 1000:8.2f} {cpu * 1000:8.2f}")
    (preflight, preflight_cpu), (get, get_cpu) = results.values()
    print(
        f"preflight / GET: {statistics.median(preflight) / statistics.median(get):.2f}x median, "
        f"{preflight_cpu / get_cpu:.2f}x CPU (a mock integration: no invocation at all)"
    )


if __name__ == "__main__":
    main()
