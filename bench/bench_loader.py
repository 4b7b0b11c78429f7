"""Benchmark the loader against a 20-line script around boto3's Table.batch_writer().

Starts the AWS emulator (moto's server) on a free loopback port and, in the same run, loads
the same catalogue with both, each as a whole process (imports and start-up included), one
after the other in fresh tables, --repeat times; prints the median records/s of each and
their ratio, straight against the emulator and through a proxy that adds --latency-ms to
every request (a laptop's round trip to a region). Then it loads a generated catalogue of
--large records with the loader alone and prints its records/s and peak memory.

Targets: >= 1.2x the script with no added latency, >= 2.5x with 20 ms, and the large load
under 250 MB of peak memory. With 20 ms the ceiling is AWS's, not the loader's: a new
on-demand table takes about 4,000 writes per second, so N records need at least N / 4,000
seconds whatever writes them, which caps any writer at the script's time over that (about
2.6x for a script that takes 20 ms per request on AWS); the benchmark prints that cap for
the script's time of the same run, whose start-up and emulator make it slower than on AWS.

Usage: bench/run.sh bench_loader [--file PATH] [--repeat 3] [--latency-ms 20] [--large 200000]
                                [--workers N]
"""

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from aws_emulator import free_port
from emulator import start_emulator

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LOADER = REPO / "info-v2" / "lib" / "load_watches.py"
SCRIPT = BENCH / "batch_writer_script.py"
TABLE_NUMBERS = itertools.count()
MEMORY_TARGET_MB = 250
# What a new on-demand table takes at first, in writes per second (DynamoDB's documentation).
NEW_TABLE_WRITES_PER_SECOND = 4000


def create_table(client, name):
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def item_count(client, table):
    pages = client.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def cpu_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(command, endpoint):
    """Runs a whole process against ``endpoint``.

    Returns its seconds, its peak memory in MB, the seconds until it printed its
    `read N, written W, skipped S` line (the loader then checks the table), if it did, and
    the CPU seconds of the process and of this one (the emulator serves in its threads).
    """
    env = os.environ | {"AWS_ENDPOINT_URL": endpoint}
    own_cpu, emulator_cpu = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak_kb = []
    threading.Thread(target=watch_peak_memory, args=(process, peak_kb), daemon=True).start()
    summary_at = None
    for line in process.stdout:
        if line.startswith("read "):
            summary_at = time.perf_counter() - start
    process.wait()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} exited {process.returncode}")
    cpu = (
        cpu_seconds(resource.RUSAGE_CHILDREN) - own_cpu,
        cpu_seconds(resource.RUSAGE_SELF) - emulator_cpu,
    )
    return seconds, max(peak_kb, default=0) / 1024, summary_at, cpu


def watch_peak_memory(process, peak_kb):
    """Notes the process's own high-water mark of resident memory (VmHWM) until it ends.

    Not wait4's ru_maxrss: Linux counts in it the memory of this process at the fork, and
    this process holds the emulator and its tables.
    """
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb.append(int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.05)


def start_proxy(target, delay_ms):
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, str(BENCH / "latency_proxy.py"), "--target", target]
        + ["--port", str(port), "--delay-ms", str(delay_ms)]
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            boto3.client("dynamodb", endpoint_url=url).list_tables()
            return proxy, url
        except Exception:
            time.sleep(0.2)
    proxy.kill()
    sys.exit("the latency proxy did not start")


def compare(client, endpoint, name, source, records, repeat, workers):
    """The script's median time over the loader's on ``endpoint``; prints both."""
    commands = {
        "batch_writer script": [sys.executable, SCRIPT, "{table}", source],
        "our loader": [sys.executable, LOADER, "--table", "{table}", "--file", source]
        + ["--workers", str(workers)],
    }
    times = {contender: [] for contender in commands}
    cpus = {contender: [] for contender in commands}
    for round_number in range(repeat):
        # Alternating which goes first, so that neither always inherits the other's
        # leftovers (the emulator's garbage, a warmer page cache).
        order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
        for contender in order:
            table = create_table(client, f"bench-{next(TABLE_NUMBERS)}")
            command = [str(part).format(table=table) for part in commands[contender]]
            seconds, _, _, cpu = run(command, endpoint)
            # The loader checks its table itself; the script stores bad records the loader
            # refuses (a status outside the enum), so it holds a few more.
            assert item_count(client, table) >= records - 10, f"{table} is incomplete"
            client.delete_table(TableName=table)
            times[contender].append(seconds)
            cpus[contender].append(cpu)
    medians = {contender: statistics.median(values) for contender, values in times.items()}
    for contender, seconds in medians.items():
        own, emulator = (statistics.median(part) for part in zip(*cpus[contender], strict=True))
        print(
            f"  {name:<22} {contender:<20} {seconds:6.2f} s = {records / seconds:6.0f} records/s"
            f"  (runs: {', '.join(f'{s:.2f}' for s in times[contender])};"
            f" CPU s: {own:.2f} own + {emulator:.2f} emulator)"
        )
    return medians["batch_writer script"] / medians["our loader"], medians["batch_writer script"]


def load_average():
    """The 1, 5 and 15-minute load averages: other jobs on the machine shift every figure."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def verdict(value, target, unit="x", higher_is_better=True):
    met = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"{value:.2f}{unit} ({'meets' if met else 'MISSES'} the target {sign} {target}{unit})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=REPO / "watches.json")
    parser.add_argument("--repeat", type=int, default=3, help="0 skips the comparison")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--large", type=int, default=200_000, help="0 skips the large load")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    server, url = start_emulator()
    proxy, proxy_url = start_proxy(url, args.latency_ms)
    try:
        client = boto3.client("dynamodb")
        records = len(json.loads(args.file.read_text(encoding="utf-8-sig")))
        print(f"{args.file.name}, {records} records: median of {args.repeat} runs each")
        print(f"  load average of the machine at the start: {load_average()}")
        scenarios = [
            ("no added latency", url, 1.2),
            (f"{args.latency_ms:g} ms per request", proxy_url, 2.5),
        ]
        for name, endpoint, target in scenarios if args.repeat else []:
            ratio, script_seconds = compare(
                client, endpoint, name, args.file, records, args.repeat, args.workers
            )
            print(f"  ratio, {name}: {verdict(ratio, target)}")
            if endpoint == proxy_url:
                ceiling = script_seconds / (records / NEW_TABLE_WRITES_PER_SECOND)
                print(
                    f"  on AWS a new on-demand table takes about {NEW_TABLE_WRITES_PER_SECOND}"
                    f" writes/s: {records} records need {records / NEW_TABLE_WRITES_PER_SECOND:.1f}"
                    f" s at least, at most {ceiling:.2f}x this run's script"
                )
        if args.large:
            bench_large(client, url, args.large, args.workers)
        print(f"load average of the machine at the end: {load_average()}")
    finally:
        proxy.kill()
        server.stop()


def bench_large(client, url, count, workers):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "large.json"
        subprocess.run(
            [sys.executable, REPO / "tools" / "generate_watches.py", "--count", str(count)]
            + ["--output", str(source)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        size_mb = source.stat().st_size / 1e6
        table = create_table(client, "bench-large")
        command = [sys.executable, LOADER, "--table", table, "--file", source]
        seconds, peak_mb, loaded, _ = run(command + ["--workers", str(workers)], url)
    print(
        f"large catalogue: {count} records ({size_mb:.0f} MB) loaded in {loaded:.1f} s "
        f"= {count / loaded:.0f} records/s, then the table checked in {seconds - loaded:.1f} s"
    )
    print(f"  peak memory of the loader: {verdict(peak_mb, MEMORY_TARGET_MB, ' MB', False)}")


if __name__ == "__main__":
    main()
