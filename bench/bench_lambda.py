"""Benchmark the Lambda package of the service against a hand-written Flask baseline.

What it does, in one run:
1. builds both packages the same way as create_lambdas.sh: `zappa package` from a packaging
   virtualenv with the service's zappa_settings.json (the baseline's copy only changes
   project_name and app_function), then deploy_helpers.py finish-package (compiled modules);
   so both hold Zappa's handler and runtime dependencies only:
   - the service: info-v2 from .venv-lambda (the package create_lambdas.sh uploads);
   - the baseline: bench/baseline/app.py (plain Flask: the same GetItem, basic auth and
     JSON body, no Connexion, no ASGI bridge) from .venv-bench-baseline;
2. starts moto's server in this process on a free loopback port, with one table holding
   one watch, and unzips each package into its own folder;
3. (a) cold start, 11 runs per package, alternating: a fresh interpreter of the runtime
   virtualenv (.venv-runtime: the Lambda runtime's Python, zappa_settings.json's `runtime`,
   with boto3 only; `-s -P -B` like a read-only /var/task) imports the handler and answers one
   GET (tools/lambda_worker.py, the worker of the local gateway); the figures are the
   median time from process start to answer and the median CPU time until then;
   (b) warm: one such process per package, 20 unmeasured GETs each, then 1,000 GETs each,
   alternating between the two so that both see the same load of the machine: median and
   p99 of the round trip (pipe + handler + GetItem on the emulator);
   (c) the zipped size of each package; and, for reference, GetItem alone from this process;
   (d) with --instructions, the instructions of one more cold start per package, counted
   by valgrind (deterministic: the load of the machine does not change them);
4. prints a table with both, the ratios and the targets: cold start <= 1.25x the baseline,
   warm median <= 1.1x, service package < 10 MiB.

Both functions read the same item from the same emulator, so the DynamoDB time is the same
on both sides; the timings vary with the load of the machine.

Usage: bench/run.sh bench_lambda [--cold-runs 11] [--warm-requests 1000] [--instructions]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from emulator import start_emulator
from lambda_runtime import RUNTIME_PYTHON, WORKER, Worker, emulator_env, lambda_variables
from local_gateway import basic_auth, proxy_event

REPO = Path(__file__).resolve().parent.parent

INFO_DIR = REPO / "info-v2"
BASELINE_DIR = REPO / "bench" / "baseline"
OUT_DIR = REPO / "build" / "bench"
STAGE = "dev"
TABLE = "bench-watches"
USER, PASSWORD = "bench", "bench-password"
WATCH = {
    "sku": "CAR2110.BA0724",
    "type": "chrono",
    "status": "current",
    "gender": "man",
    "year": 2017,
    "dial_color": "Black",
    "case_material": "Steel",
    "movement": "Calibre 16",
}
MIB = 1024 * 1024


def ensure_venv(venv, requirements):
    """common.sh's ensure_venv with the Lambda runtime's Python: creates/updates the
    virtualenv when its requirements or that Python change."""
    command = (
        'source info-v2/lib/common.sh && python="$(runtime_python)" '
        '&& ensure_venv "$1" "$2" "$python"'
    )
    subprocess.run(["bash", "-c", command, "-", str(venv), str(requirements)], cwd=REPO, check=True)


def zappa_package(venv, project_dir, settings, output):
    """`zappa package` of PROJECT_DIR from VENV with SETTINGS (a zappa_settings dict), then
    the bytecode, as create_lambdas.sh builds its package."""
    settings_file = OUT_DIR / f"{output.stem}-settings.json"
    settings_file.write_text(json.dumps(settings))
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    subprocess.run(
        [venv / "bin" / "zappa", "package", STAGE, "-s", settings_file, "-o", output],
        cwd=project_dir,
        env=env,
        check=True,
        capture_output=True,
    )
    helpers = INFO_DIR / "lib" / "deploy_helpers.py"
    finish = [venv / "bin" / "python", helpers, "finish-package", output]
    subprocess.run(finish, check=True)
    return output


def build_packages(stage):
    baseline_stage = {**stage, "project_name": "watch-baseline", "app_function": "app.app"}
    ensure_venv(REPO / ".venv-lambda", INFO_DIR / "lib" / "requirements-zappa.txt")
    ensure_venv(REPO / ".venv-bench-baseline", BASELINE_DIR / "requirements.txt")
    ensure_venv(REPO / ".venv-runtime", REPO / "tools" / "requirements-lambda-runtime.txt")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "service": zappa_package(
            REPO / ".venv-lambda", INFO_DIR, {STAGE: stage}, OUT_DIR / "service.zip"
        ),
        "baseline": zappa_package(
            REPO / ".venv-bench-baseline",
            BASELINE_DIR,
            {STAGE: baseline_stage},
            OUT_DIR / "baseline.zip",
        ),
    }


def start_emulator_with_table():
    server, url = start_emulator()
    table = boto3.resource("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(Item=WATCH)
    return server, url, table


def get_item_latencies(table, requests):
    """GetItem alone on the emulator: both functions' warm figures include it."""
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        table.get_item(Key={"sku": WATCH["sku"]})
        latencies.append(time.perf_counter() - start)
    return latencies


class Function:
    """One unzipped package and the environment Lambda would give it."""

    def __init__(self, name, package, folder, endpoint_url, runtime):
        self.name = name
        self.size = package.stat().st_size
        self.task_root = folder / name
        with zipfile.ZipFile(package) as archive:
            archive.extractall(self.task_root)
        configuration = {"FunctionName": f"bench-{name}", "Runtime": runtime}
        self.env = {
            **lambda_variables(configuration, "us-east-1", self.task_root, RUNTIME_PYTHON),
            **emulator_env(endpoint_url),
            "DYNAMODB_TABLE": TABLE,
            "HTTP_USER": USER,
            "HTTP_PASS": PASSWORD,
        }
        self.log = folder / f"{name}.log"

    def start(self):
        return Worker(RUNTIME_PYTHON, self.task_root, "handler.lambda_handler", self.env, self.log)


def get_event():
    return proxy_event(
        httpMethod="GET",
        path=f"/watch/{WATCH['sku']}",
        pathParameters={"sku": WATCH["sku"]},
        headers={"Authorization": basic_auth(USER, PASSWORD)},
    )


def get(worker):
    response = worker.invoke(get_event())
    if response["statusCode"] != 200 or json.loads(response["body"]) != WATCH:
        raise SystemExit(f"unexpected answer: {response}")


def process_cpu_seconds(pid):
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_start(function):
    """Seconds from a fresh interpreter's start to the answer of its first GET, and the CPU
    seconds that interpreter used until then (which the load of the machine barely changes;
    like the wall-clock figure, it leaves out the interpreter's exit, which Lambda never
    waits for)."""
    start = time.perf_counter()
    worker = function.start()
    try:
        get(worker)
        elapsed = time.perf_counter() - start
        cpu = process_cpu_seconds(worker.process.pid)
    finally:
        worker.close()
    return elapsed, cpu


# What --instructions runs under valgrind: the handler's import and one GET, as in a cold
# start, then an immediate exit (the interpreter's exit is not part of a cold start).
FIRST_GET = """
import importlib, json, os, sys
sys.path.append(sys.argv[2])
from lambda_worker import Context
handler = importlib.import_module("handler").lambda_handler
response = handler(json.loads(sys.argv[1]), Context(30, ""))
os._exit(0 if response["statusCode"] == 200 else 1)
"""


def cold_start_instructions(function):
    """Machine instructions a fresh interpreter executes from its start to the answer of its
    first GET, counted by valgrind (callgrind): the same count whatever the load of the
    machine, so a lever worth 1% shows where wall-clock and CPU time cannot."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    python = [str(RUNTIME_PYTHON), "-s", "-P", "-B", "-c", FIRST_GET]
    result = subprocess.run(
        [*valgrind, *python, json.dumps(get_event()), str(WORKER.parent)],
        cwd=function.task_root,
        env={**function.env, "PYTHONPATH": str(function.task_root), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
    )
    counted = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not counted:
        raise SystemExit(f"the {function.name} cold start under valgrind failed:\n{result.stderr}")
    return int(counted.group(1))


def warm_latencies(functions, requests, warmup=20):
    """Seconds per GET of each function's warm process, and its mean CPU seconds per GET;
    the requests alternate between the processes, so that a busy moment of the machine
    costs both sides alike."""
    workers = {}
    try:
        for name, function in functions.items():
            workers[name] = function.start()
        latencies = {name: [] for name in workers}
        for _ in range(warmup):
            for worker in workers.values():
                get(worker)
        cpu = {name: process_cpu_seconds(w.process.pid) for name, w in workers.items()}
        for _ in range(requests):
            for name, worker in workers.items():
                start = time.perf_counter()
                get(worker)
                latencies[name].append(time.perf_counter() - start)
        cpu_per_request = {
            name: (process_cpu_seconds(worker.process.pid) - cpu[name]) / requests
            for name, worker in workers.items()
        }
        return latencies, cpu_per_request
    finally:
        for worker in workers.values():
            worker.close()


def p99(values):
    return statistics.quantiles(values, n=100)[98]


def row(label, service, baseline, unit, target=None):
    ratio = service / baseline
    verdict = ""
    if target is not None:
        verdict = f"<= {target}x  {'ok' if ratio <= target else 'MISSED'}"
    return (
        f"{label:<24}{service:>10.2f} {unit:<4}{baseline:>10.2f} {unit:<4}{ratio:>7.2f}x  {verdict}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=11)
    parser.add_argument("--warm-requests", type=int, default=1000)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of one cold start of each package (needs valgrind)",
    )
    args = parser.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")

    stage = json.loads((INFO_DIR / "zappa_settings.json").read_text())[STAGE]
    print(f"building both packages for {stage['runtime']} with zappa package ...", file=sys.stderr)
    packages = build_packages(stage)
    server, url, table = start_emulator_with_table()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-lambda-") as folder:
            functions = {
                name: Function(name, package, Path(folder), url, stage["runtime"])
                for name, package in packages.items()
            }
            cold = {name: [] for name in functions}
            print(f"cold starts: {args.cold_runs} per package ...", file=sys.stderr)
            for _ in range(args.cold_runs):
                for name, function in functions.items():
                    cold[name].append(cold_start(function))
            print(f"warm: {args.warm_requests} GETs per package ...", file=sys.stderr)
            warm, warm_cpu = warm_latencies(functions, args.warm_requests)
            get_item = get_item_latencies(table, args.warm_requests)
            if args.instructions:
                print("instructions of one cold start per package (valgrind) ...", file=sys.stderr)
                instructions = {
                    name: cold_start_instructions(function) for name, function in functions.items()
                }
    finally:
        server.stop()

    service, baseline = functions["service"], functions["baseline"]
    print(f"runtime {stage['runtime']}, app_function {stage['app_function']}")
    print(f"{'':<24}{'service':>15}{'baseline':>15}{'ratio':>9}  target")
    cold_ms = {name: statistics.median(t for t, _ in runs) * 1000 for name, runs in cold.items()}
    print(row("cold start, median", cold_ms["service"], cold_ms["baseline"], "ms", 1.25))
    cold_cpu = {name: statistics.median(c for _, c in runs) * 1000 for name, runs in cold.items()}
    print(row("  its CPU time, median", cold_cpu["service"], cold_cpu["baseline"], "ms"))
    if args.instructions:
        millions = {name: count / 1e6 for name, count in instructions.items()}
        print(row("  its instructions", millions["service"], millions["baseline"], "M"))
    warm_ms = {name: statistics.median(times) * 1000 for name, times in warm.items()}
    print(row("warm GET, median", warm_ms["service"], warm_ms["baseline"], "ms", 1.1))
    cpu_ms = {name: seconds * 1000 for name, seconds in warm_cpu.items()}
    print(row("  function CPU, mean", cpu_ms["service"], cpu_ms["baseline"], "ms"))
    warm_p99 = {name: p99(times) * 1000 for name, times in warm.items()}
    print(row("warm GET, p99", warm_p99["service"], warm_p99["baseline"], "ms"))
    print(row("package, zipped", service.size / MIB, baseline.size / MIB, "MiB"))
    print(f"GetItem alone on the emulator, median: {statistics.median(get_item) * 1000:.2f} ms")
    size_ok = "ok" if service.size < 10 * MIB else "MISSED"
    print(f"service package < 10 MiB: {size_ok}")
    print(
        "cold runs (ms): "
        + "; ".join(
            f"{name} " + " ".join(f"{t * 1000:.0f}" for t, _ in runs) for name, runs in cold.items()
        )
    )


if __name__ == "__main__":
    main()
