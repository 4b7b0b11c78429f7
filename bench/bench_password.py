"""Benchmark the password check of server.py: the hash the function holds against the plain
comparison, and against Werkzeug's default hash, in one run.

Each configuration runs in fresh interpreters, as a new Lambda container would:
- plain:    HTTP_PASS, compared with secrets.compare_digest (what run.sh uses locally);
- deployed: HTTP_PASS_HASH as create_lambdas.sh makes it (deploy_helpers.password_hash); the
  first check derives the key, later ones find the password among those already verified;
- default:  HTTP_PASS_HASH made with Werkzeug's default parameters (scrypt, N = 32768).
Per interpreter: the import of server.py, the first check_credentials (the cold request
pays it) and the median of the next 2,000 (warm requests). The runs alternate between the
configurations; the figures are medians over the runs, and the ratios compare each hash
with the plain comparison. No database call is made: only the check is measured.

Usage: bench/run.sh bench_password [--runs 7]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from deploy_helpers import password_hash
from werkzeug.security import generate_password_hash

INFO_DIR = Path(__file__).resolve().parent.parent / "info-v2"
USER, PASSWORD = "bench", "a long random bench password"
WARM_CHECKS = 2000

# Runs in a fresh interpreter, in info-v2: prints its timings as one JSON line.
MEASURE = f"""
import json, statistics, time
start = time.perf_counter()
import server
imported = time.perf_counter()
assert server.check_credentials({USER!r}, {PASSWORD!r})
first = time.perf_counter()
warm = []
for _ in range({WARM_CHECKS}):
    before = time.perf_counter()
    server.check_credentials({USER!r}, {PASSWORD!r})
    warm.append(time.perf_counter() - before)
print(json.dumps({{"import": imported - start, "first": first - imported,
                  "warm": statistics.median(warm)}}))
"""


def measure(credentials):
    env = {
        **os.environ,
        "HTTP_USER": USER,
        "DYNAMODB_TABLE": "bench-watches",  # server.py refuses to start without one
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        **credentials,
    }
    env.pop("HTTP_PASS" if "HTTP_PASS_HASH" in credentials else "HTTP_PASS_HASH", None)
    result = subprocess.run(
        [sys.executable, "-c", MEASURE], cwd=INFO_DIR, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"the measuring interpreter failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="interpreters per configuration")
    args = parser.parse_args()
    configurations = {
        "plain": {"HTTP_PASS": PASSWORD},
        "deployed": {"HTTP_PASS_HASH": password_hash(PASSWORD)},
        "default": {"HTTP_PASS_HASH": generate_password_hash(PASSWORD)},
    }
    results = {name: [] for name in configurations}
    for _ in range(args.runs):
        for name, credentials in configurations.items():
            results[name].append(measure(credentials))
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    plain = medians["plain"]
    print(f"password check, median of {args.runs} fresh interpreters per configuration")
    print(f"{'':28}" + "".join(f"{name:>12}" for name in medians) + "  ratios to plain")
    rows = [
        ("import server.py", "import", 1e3, "ms"),
        ("first check (cold request)", "first", 1e3, "ms"),
        ("later checks (warm, median)", "warm", 1e6, "us"),
    ]
    for label, key, scale, unit in rows:
        figures = "".join(f"{m[key] * scale:>9.3f} {unit}" for m in medians.values())
        ratios = ", ".join(f"{m[key] / plain[key]:.2f}x" for m in list(medians.values())[1:])
        print(f"{label:28}{figures}  {ratios}")
    cold = {name: (m["import"] + m["first"]) * 1e3 for name, m in medians.items()}
    figures = "".join(f"{value:>9.1f} ms" for value in cold.values())
    ratios = ", ".join(f"{value / cold['plain']:.2f}x" for value in list(cold.values())[1:])
    print(f"{'import + first check':28}{figures}  {ratios}")
    for name in ("deployed", "default"):
        print(f"{name} parameters: {configurations[name]['HTTP_PASS_HASH'].split('$')[0]}")


if __name__ == "__main__":
    main()
