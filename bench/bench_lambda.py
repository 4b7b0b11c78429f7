"""Benchmark the service's Lambda package against a minimal Connexion app and a plain Flask app.

What it does, in one run:
1. builds three packages the same way as create_lambdas.sh (package()): `zappa package` of a
   folder holding the app's files, from a packaging virtualenv, with the service's Zappa
   settings (only project_name and app_function change), then deploy_helpers.py
   finish-package (what the function needs, bytecode):
   - service: info-v2's APP_FILES (lambda_common.sh) from .venv-lambda: the package
     create_lambdas.sh uploads;
   - connexion: bench/connexion_baseline (the same spec and operations in a minimal
     Connexion app, as any team would deploy it with Zappa), from .venv-lambda;
   - flask: bench/flask_baseline (the GET route hand-written in plain Flask, no Connexion),
     from .venv-bench-flask;
2. starts moto's server in this process on a free loopback port, with one table holding
   one watch, and unzips each package into its own folder; each function gets the
   credentials as deployed: the service HTTP_PASS_HASH (deploy_helpers.password_hash), the
   baselines the plain HTTP_PASS they compare with;
3. (a) cold start, 11 runs per package, alternating: a fresh interpreter of the runtime
   virtualenv (.venv-runtime: the Lambda runtime's Python, zappa_settings.json's `runtime`,
   with boto3 only; `-s -P -B` like a read-only /var/task) imports the handler and answers one
   GET (tools/lambda_worker.py, the worker of the local gateway); the figures are the
   median time from process start to answer and the median CPU time until then;
   (b) warm: one such process per package, 20 unmeasured GETs each, then 1,000 GETs each,
   alternating request by request so that all see the same load of the machine: median and
   p99 of the round trip (pipe + handler + GetItem on the emulator), and the CPU time of the
   function's process per GET;
   (c) the zipped size of each package; and, for reference, GetItem alone from this process;
   (d) with --instructions, the machine instructions of one more cold start per package and
   of the 50 warm GETs that follow it in the same process, counted by valgrind
   (deterministic: the load of the machine does not change them);
4. prints a table with the service's ratios to both baselines. Targets, against the minimal
   Connexion app: cold start <= 1.1x, warm GET median <= 1.1x; the package < 10 MiB.

With --additions it measures instead what each of the service's additions costs: the
service with one addition left out (bench/leave_one_out.py), against the whole service, in
instructions of a cold start and of a warm GET, one valgrind run each (a few minutes).

All functions read the same item from the same emulator, so the DynamoDB time is the same
on every side; the timings vary with the load of the machine, the instructions do not.

Usage: bench/run.sh bench_lambda [--cold-runs 11] [--warm-requests 1000] [--instructions]
                                 [--additions]
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from deploy_helpers import password_hash
from emulator import start_emulator
from lambda_runtime import RUNTIME_PYTHON, Worker, emulator_env, lambda_variables
from local_gateway import custom_domain_event, proxy_event
from smoke_test import basic_auth

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
INFO_DIR = REPO / "info-v2"
OUT_DIR = Path(os.environ.get("BUILD_DIR", REPO / "build")) / "bench"
LAMBDA_VENV = REPO / ".venv-lambda"
STAGE = "dev"
# The Lambda runtime the function is deployed with (zappa_settings.json).
RUNTIME = json.loads((INFO_DIR / "zappa_settings.json").read_text())[STAGE]["runtime"]
TABLE = "bench-watches"
USER, PASSWORD = "bench", "a-long-random-bench-password-4f9Tq2"
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
COLD_TARGET, WARM_TARGET = 1.1, 1.1  # against the minimal Connexion app
BASE_PATH = "/info/v2"  # of a custom domain's base path mapping
WARM_INSTRUCTION_GETS = 50


@dataclass
class Package:
    """What a package is made of: the files staged for Zappa (app_files), the virtualenv it
    packages from (made from venv_requirements), the distributions the function needs
    (requirements, as finish-package reads them) and the app Zappa calls."""

    name: str
    app_files: list
    venv: Path
    venv_requirements: Path
    requirements: Path
    app_function: str


def service_app_files():
    """The files create_lambdas.sh stages for the package (lambda_common.sh's APP_FILES)."""
    command = (
        "source info-v2/lib/common.sh && source info-v2/lib/lambda_common.sh "
        '&& printf "%s\\n" "${APP_FILES[@]}"'
    )
    listed = subprocess.run(["bash", "-c", command], cwd=REPO, check=True, capture_output=True)
    return [INFO_DIR / name for name in listed.stdout.decode().split()]


ZAPPA_REQUIREMENTS = INFO_DIR / "lib" / "requirements-zappa.txt"
SERVICE = Package(
    "service",
    service_app_files(),
    LAMBDA_VENV,
    ZAPPA_REQUIREMENTS,
    INFO_DIR / "requirements.txt",
    "server.lambda_app",
)
CONNEXION = Package(
    "connexion",
    [BENCH / "connexion_baseline" / name for name in ("server.py", "info_openapi_v2.yaml")],
    LAMBDA_VENV,
    ZAPPA_REQUIREMENTS,
    INFO_DIR / "requirements.txt",
    "server.app",
)
FLASK = Package(
    "flask",
    [BENCH / "flask_baseline" / "app.py"],
    REPO / ".venv-bench-flask",
    BENCH / "flask_baseline" / "requirements.txt",
    BENCH / "flask_baseline" / "requirements.txt",
    "app.app",
)
LEAVE_ONE_OUT = Package(
    "leave-one-out",
    [*SERVICE.app_files, BENCH / "leave_one_out.py"],
    LAMBDA_VENV,
    ZAPPA_REQUIREMENTS,
    INFO_DIR / "requirements.txt",
    "leave_one_out.lambda_app",
)
# What --additions leaves out, one at a time (leave_one_out.py): a module whose middlewares
# the app adds, the UTF-8 basic-auth handler, the password hash (the plain HTTP_PASS instead)
# or lambda_app (Zappa calls the app itself). CORS is off unless CORS_ORIGINS is set, as here.
ADDITIONS = ["http_guards", "request_log", "basic_auth", "password hash", "lambda_app"]


def ensure_venv(venv, requirements):
    """common.sh's ensure_venv with the Lambda runtime's Python: creates/updates the
    virtualenv when its requirements or that Python change."""
    command = (
        'source info-v2/lib/common.sh && python="$(runtime_python)" '
        '&& ensure_venv "$1" "$2" "$python"'
    )
    subprocess.run(["bash", "-c", command, "-", str(venv), str(requirements)], cwd=REPO, check=True)


def package(spec):
    """build/bench/NAME.zip as create_lambdas.sh's build_package makes the function's package:
    `zappa package` of a folder holding the app's files, with the stage's settings as
    deploy_helpers.py gives them to Zappa, then deploy_helpers.py finish-package (what the
    function needs, bytecode)."""
    ensure_venv(spec.venv, spec.venv_requirements)
    staged = OUT_DIR / spec.name
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for file in spec.app_files:
        shutil.copy(file, staged / file.name)
    helpers = [spec.venv / "bin" / "python", INFO_DIR / "lib" / "deploy_helpers.py"]
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(spec.venv),
        "PATH": f"{spec.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DYNAMODB_TABLE": TABLE,
        # The settings carry the function's whole environment, as create_lambdas.sh renders it.
        "HTTP_USER": USER,
        "HTTP_PASS": PASSWORD,
    }
    zappa_settings = subprocess.run(
        [*helpers, "zappa-settings", STAGE, "off", spec.requirements],
        env=env,
        check=True,
        capture_output=True,
    )
    settings = json.loads(zappa_settings.stdout)
    settings[STAGE].update(project_name=f"bench-{spec.name}", app_function=spec.app_function)
    settings_file = OUT_DIR / f"{spec.name}-settings.json"
    settings_file.write_text(json.dumps(settings))
    output = OUT_DIR / f"{spec.name}.zip"
    zappa = [spec.venv / "bin" / "zappa", "package", STAGE, "-s", settings_file, "-o", output]
    subprocess.run(zappa, cwd=staged, env=env, check=True, capture_output=True)
    app_files = [file.name for file in spec.app_files]
    finish = [*helpers, "finish-package", output, spec.requirements, *app_files]
    subprocess.run(finish, check=True)
    return output


@contextmanager
def bench_setting(prefix):
    """A scratch folder, and the emulator with a table holding WATCH: yields (folder, the
    emulator's URL, the table); the load average printed before and after."""
    print(f"load average at the start: {load_average()}")
    server, url = start_emulator()
    try:
        table = boto3.resource("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        table.put_item(Item=WATCH)
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            yield Path(folder), url, table
    finally:
        server.stop()
    print(f"load average at the end: {load_average()}")


def get_item_latencies(table, requests):
    """GetItem alone on the emulator: every function's warm figures include it."""
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        table.get_item(Key={"sku": WATCH["sku"]})
        latencies.append(time.perf_counter() - start)
    return latencies


def deployed_credentials(name):
    """The service holds the hash create_lambdas.sh deploys; the baselines the password."""
    if name == "service":
        return {"HTTP_PASS_HASH": password_hash(PASSWORD)}
    return {"HTTP_PASS": PASSWORD}


class Function:
    """One unzipped package and the environment Lambda would give it (plus EXTRA_ENV)."""

    def __init__(self, name, package_path, folder, endpoint_url, extra_env):
        self.name = name
        self.size = package_path.stat().st_size
        self.task_root = folder / name
        if not self.task_root.exists():
            with zipfile.ZipFile(package_path) as archive:
                archive.extractall(self.task_root)
        configuration = {"FunctionName": f"bench-{name}", "Runtime": RUNTIME}
        self.env = {
            **lambda_variables(configuration, "us-east-1", self.task_root, RUNTIME_PYTHON),
            **emulator_env(endpoint_url),
            "DYNAMODB_TABLE": TABLE,
            "HTTP_USER": USER,
            **extra_env,
        }
        self.log = folder / f"{name}.log"

    def start(self):
        return Worker(RUNTIME_PYTHON, self.task_root, "handler.lambda_handler", self.env, self.log)


def get_event(base_path=None):
    """A GET of WATCH through the stage URL, or through a custom domain whose base path
    mapping is BASE_PATH (the event's path then starts with it)."""
    event = proxy_event(
        httpMethod="GET",
        path=f"/watch/{WATCH['sku']}",
        pathParameters={"sku": WATCH["sku"]},
        headers={"Authorization": basic_auth(USER, PASSWORD)},
    )
    return custom_domain_event(event, "bench.example.test", base_path) if base_path else event


def get(worker, event):
    response = worker.invoke(event)
    if response["statusCode"] != 200 or json.loads(response["body"]) != WATCH:
        raise SystemExit(f"unexpected answer: {response}")


def process_cpu_seconds(pid):
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_start(function, event):
    """Seconds from a fresh interpreter's start to the answer of its first GET, and the CPU
    seconds that interpreter used until then (which the load of the machine barely changes;
    like the wall-clock figure, it leaves out the interpreter's exit, which Lambda never
    waits for)."""
    start = time.perf_counter()
    worker = function.start()
    try:
        get(worker, event)
        elapsed = time.perf_counter() - start
        cpu = process_cpu_seconds(worker.pid)
    finally:
        worker.close()
    return elapsed, cpu


# What --instructions runs under valgrind, in the unzipped package: the handler's import and
# one GET, as in a cold start, then WARM more GETs, then an immediate exit (the interpreter's
# exit is not part of a request). Each os.sched_yield() makes callgrind write what it counted
# so far (--dump-before=sched_yield): the cold start, then the warm GETs. Zappa's handler only
# hands the context on to the app, which does not read it.
COLD_THEN_WARM = """
import importlib, json, os, sys
event, warm = json.loads(sys.argv[1]), int(sys.argv[2])
handler = importlib.import_module("handler").lambda_handler
statuses = [handler(event, None)["statusCode"]]
os.sched_yield()
statuses += [handler(event, None)["statusCode"] for _ in range(warm)]
os.sched_yield()
os._exit(0 if set(statuses) == {200} else 1)
"""


def instructions(function, event, warm=WARM_INSTRUCTION_GETS):
    """Machine instructions (millions) a fresh interpreter executes from its start to the
    answer of its first GET, and per GET of the WARM GETs that follow, counted by valgrind
    (callgrind): the same counts whatever the load of the machine, so a lever worth 1% shows
    where wall-clock and CPU time cannot."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--dump-before=sched_yield"]
        python = [str(RUNTIME_PYTHON), "-s", "-P", "-B", "-c", COLD_THEN_WARM]
        result = subprocess.run(
            [*valgrind, f"--callgrind-out-file={out}", *python, json.dumps(event), str(warm)],
            cwd=function.task_root,
            env={**function.env, "PYTHONPATH": str(function.task_root), "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
        )
        parts = [Path(f"{out}.{part}") for part in (1, 2)]
        if result.returncode != 0 or not all(part.exists() for part in parts):
            raise SystemExit(f"{function.name} under valgrind failed:\n{result.stderr[-3000:]}")
        cold, warm_total = (
            int(re.search(r"^totals: (\d+)", part.read_text(), re.MULTILINE).group(1))
            for part in parts
        )
    return cold / 1e6, warm_total / warm / 1e6


def warm_latencies(functions, event, requests, warmup=20):
    """Seconds per GET of each function's warm process, and its mean CPU seconds per GET;
    the requests alternate between the processes, so that a busy moment of the machine
    costs all alike."""
    workers = {}
    try:
        for name, function in functions.items():
            workers[name] = function.start()
        latencies = {name: [] for name in workers}
        for _ in range(warmup):
            for worker in workers.values():
                get(worker, event)
        cpu = {name: process_cpu_seconds(worker.pid) for name, worker in workers.items()}
        for _ in range(requests):
            for name, worker in workers.items():
                start = time.perf_counter()
                get(worker, event)
                latencies[name].append(time.perf_counter() - start)
        cpu_per_request = {
            name: (process_cpu_seconds(worker.pid) - cpu[name]) / requests
            for name, worker in workers.items()
        }
        return latencies, cpu_per_request
    finally:
        for worker in workers.values():
            worker.close()


def p99(values):
    return statistics.quantiles(values, n=100)[98]


def ratio_cell(value, baseline, target=None):
    ratio = value / baseline
    verdict = f" <= {target}x {'ok' if ratio <= target else 'MISSED'}" if target else ""
    return f"{ratio:.2f}x{verdict}"


def print_row(label, figures, unit, target=None):
    """A row of the table: the three figures, the ratio to the Connexion app (with its
    target, if any) and the ratio to the Flask app."""
    cells = "".join(
        f"{figures[name]:>10.2f} {unit:<3}" for name in ("service", "connexion", "flask")
    )
    versus_connexion = ratio_cell(figures["service"], figures["connexion"], target)
    versus_flask = ratio_cell(figures["service"], figures["flask"])
    print(f"{label:<22}{cells}  {versus_connexion:<17}  {versus_flask}")


def load_average():
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def compare(functions, args, table):
    """The benchmark itself: the service against both baselines (see the module doc)."""
    event = get_event()
    cold = {name: [] for name in functions}
    print(f"cold starts: {args.cold_runs} per package ...", file=sys.stderr)
    for _ in range(args.cold_runs):
        for name, function in functions.items():
            cold[name].append(cold_start(function, event))
    print(f"warm: {args.warm_requests} GETs per package ...", file=sys.stderr)
    warm, warm_cpu = warm_latencies(functions, event, args.warm_requests)
    get_item = get_item_latencies(table, args.warm_requests)
    counts = {}
    if args.instructions:
        print("instructions of a cold start and warm GETs (valgrind) ...", file=sys.stderr)
        counts = {name: instructions(function, event) for name, function in functions.items()}

    print(f"{'':<22}{'service':>14}{'connexion':>14}{'flask':>14}  {'vs connexion':<17}  vs flask")
    median_ms = {name: statistics.median(t for t, _ in runs) * 1000 for name, runs in cold.items()}
    print_row("cold start, median", median_ms, "ms", COLD_TARGET)
    cpu_ms = {name: statistics.median(c for _, c in runs) * 1000 for name, runs in cold.items()}
    print_row("  its CPU, median", cpu_ms, "ms")
    if counts:
        print_row("  its instructions", {name: c[0] for name, c in counts.items()}, "M")
    print_row(
        "warm GET, median",
        {n: statistics.median(t) * 1000 for n, t in warm.items()},
        "ms",
        WARM_TARGET,
    )
    print_row("  function CPU, mean", {n: s * 1000 for n, s in warm_cpu.items()}, "ms")
    if counts:
        print_row("  its instructions", {name: c[1] for name, c in counts.items()}, "M")
    print_row("warm GET, p99", {n: p99(t) * 1000 for n, t in warm.items()}, "ms")
    print_row("package, zipped", {n: f.size / MIB for n, f in functions.items()}, "MiB")
    print(f"GetItem alone on the emulator, median: {statistics.median(get_item) * 1000:.2f} ms")
    size_ok = "ok" if functions["service"].size < 10 * MIB else "MISSED"
    print(f"service package < 10 MiB: {size_ok}")
    runs = "; ".join(
        f"{name} " + " ".join(f"{t * 1000:.0f}" for t, _ in times) for name, times in cold.items()
    )
    print(f"cold runs (ms): {runs}")


def measure_additions(function_for):
    """What each addition costs: the service with it left out, against the whole service,
    in instructions. The requests come through a custom domain, whose paths the app routes
    without lambda_app."""
    event = get_event(base_path=BASE_PATH)
    whole = instructions(function_for(""), event)
    print(f"{'the service':<36}{whole[0]:>10.1f} M{whole[1]:>12.3f} M")
    print(f"{'without:':<36}{'cold start':>12}{'warm GET':>14}   what the addition costs")
    for addition in ADDITIONS:
        print(f"  {addition} ...", file=sys.stderr)
        without = instructions(function_for(addition), event)
        cost = [w - o for w, o in zip(whole, without, strict=True)]
        print(
            f"  {addition:<34}{without[0]:>10.1f} M{without[1]:>12.3f} M"
            f"   {cost[0]:+.1f} M ({cost[0] / without[0]:+.1%}), "
            f"{cost[1]:+.3f} M per GET ({cost[1] / without[1]:+.1%})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=11)
    parser.add_argument("--warm-requests", type=int, default=1000)
    counting = parser.add_mutually_exclusive_group()
    counting.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of a cold start and of warm GETs (needs valgrind)",
    )
    counting.add_argument(
        "--additions",
        action="store_true",
        help="instead, count what each of the service's additions costs (needs valgrind)",
    )
    args = parser.parse_args()
    if (args.instructions or args.additions) and not shutil.which("valgrind"):
        sys.exit("--instructions and --additions need valgrind (apt-get install valgrind)")

    specs = [LEAVE_ONE_OUT] if args.additions else [SERVICE, CONNEXION, FLASK]
    print(f"building {len(specs)} packages for {RUNTIME} ...", file=sys.stderr)
    packages = {spec.name: package(spec) for spec in specs}
    print(f"runtime {RUNTIME}")
    with bench_setting("bench-lambda-") as (folder, url, table):

        def function(name, extra_env):
            return Function(name, packages[name], folder, url, extra_env)

        if args.additions:

            def function_for(addition):
                credentials = (
                    {"HTTP_PASS": PASSWORD}
                    if addition == "password hash"
                    else deployed_credentials("service")
                )
                return function("leave-one-out", {**credentials, "LEAVE_OUT": addition})

            measure_additions(function_for)
        else:
            functions = {name: function(name, deployed_credentials(name)) for name in packages}
            compare(functions, args, table)


if __name__ == "__main__":
    main()
