"""Soak the service's Lambda package: 50,000 warm requests through one handler process.

Builds the service's package as bench_lambda.py does, starts the emulator in this process
with one table holding one watch, and serves the unzipped package from one interpreter of
the runtime virtualenv (tools/lambda_worker.py, as the local gateway runs it), with the
credentials create_lambdas.sh deploys. It sends soak.py's mix of requests (in every 20: 16
GETs, a POST, a 404 and two 401s) and prints, every --window requests, the process's
resident memory, its open file descriptors and threads (fewest-most over the window's
requests) and the latency percentiles of the window.

Targets, after the first window (the warm-up): resident memory grows by at most 5 MB,
descriptors stay constant, threads stay within the main thread and the WSGI pool (soak.py's
MOST_THREADS), and the p99 latency of the last window is at most
1.1x that of the first window after the warm-up.

Usage: bench/run.sh bench_soak [--requests 50000] [--window 5000]
"""

import argparse
import sys

from bench_lambda import (
    PASSWORD,
    RUNTIME,
    SERVICE,
    USER,
    WATCH,
    Function,
    bench_setting,
    deployed_credentials,
    package,
)
from soak import health_verdicts, soak

MEMORY_GROWTH_TARGET_MB = 5
P99_TARGET = 1.1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=5_000)
    args = parser.parse_args()
    if args.requests < 3 * args.window:
        parser.error("--requests must hold at least three windows")
    return args


def spread(fewest_most):
    fewest, most = fewest_most
    return f"{fewest}" if fewest == most else f"{fewest}-{most}"


def print_windows(windows):
    print(
        f"{'requests':>9}{'RSS':>10}{'descriptors':>13}{'threads':>9}{'p50':>10}{'p99':>10}{'max':>10}"
    )
    for w in windows:
        print(
            f"{w.requests:>9}{w.rss_mb:>7.1f} MB{spread(w.descriptors):>13}{spread(w.threads):>9}"
            f"{w.p50_ms:>7.2f} ms{w.p99_ms:>7.2f} ms{w.max_ms:>7.1f} ms"
        )


def print_verdicts(windows):
    """The targets, measured from the end of the first window (the warm-up)."""
    warm = windows[1:]
    growth = windows[-1].rss_mb - windows[0].rss_mb
    ok = growth <= MEMORY_GROWTH_TARGET_MB
    print(
        f"memory growth after warm-up: {growth:+.1f} MB "
        f"(<= {MEMORY_GROWTH_TARGET_MB} MB: {'ok' if ok else 'MISSED'})"
    )
    for name, counts, target, met in health_verdicts(windows):
        print(f"{name} after warm-up: {counts} ({target}: {'ok' if met else 'MISSED'})")
    ratio = windows[-1].p99_ms / warm[0].p99_ms
    verdict = "ok" if ratio <= P99_TARGET else "MISSED"
    print(
        f"p99 of the last window / of the first after warm-up: {ratio:.2f}x "
        f"(<= {P99_TARGET}x: {verdict})"
    )


def main():
    args = parse_args()
    print(f"building the service's package for {RUNTIME} ...", file=sys.stderr)
    service_package = package(SERVICE)
    print(f"{args.requests} requests, a reading every {args.window}")
    with bench_setting("bench-soak-") as (folder, url, _):
        credentials = deployed_credentials("service")
        function = Function("service", service_package, folder, url, credentials)
        worker = function.start()
        try:
            windows = soak(worker, WATCH, USER, PASSWORD, args.requests, args.window)
        finally:
            worker.close()
    print_windows(windows)
    print_verdicts(windows)


if __name__ == "__main__":
    main()
