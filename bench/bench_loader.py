"""Benchmark the loader against a naive loop of one PutItem call per record.

Starts moto's server on a free loopback port, loads the catalogue into one table with
load_watches.load() (cleaning, then BatchWriteItem 25 items at a time) and, in the same run,
writes the same cleaned records into a second table with one PutItem call each. Prints the
records per second of both and their ratio; the target is at least 5x.

Usage: .venv/bin/python bench/bench_loader.py [--file PATH]
"""

import argparse
import time
from pathlib import Path

import load_watches
from emulator import start_emulator

TARGET_RATIO = 5


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


def bench_loader(client, records):
    table = create_table(client, "bench-loader")
    start = time.perf_counter()
    result = load_watches.load(records, table, client)
    seconds = time.perf_counter() - start
    return table, len(result.written), seconds


def bench_naive(client, records):
    table = create_table(client, "bench-naive")
    entries, _ = load_watches.clean_records(records)  # not timed: the loop gets clean items
    start = time.perf_counter()
    for entry in entries:
        client.put_item(TableName=table, Item=load_watches.serialize(entry.item))
    seconds = time.perf_counter() - start
    return table, len(entries), seconds


def report(name, client, table, count, seconds):
    assert item_count(client, table) == count, f"{table} does not hold {count} items"
    rate = count / seconds
    print(f"{name:<48} {count} records in {seconds:6.2f} s = {rate:7.0f} records/s")
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=load_watches.DEFAULT_FILE)
    args = parser.parse_args()
    records = load_watches.read_records(args.file)
    server, _ = start_emulator()
    try:
        client = load_watches.make_client()
        ours = report(
            "loader (clean + BatchWriteItem, cleaning timed):",
            client,
            *bench_loader(client, records),
        )
        naive = report(
            "naive loop (one PutItem per record):", client, *bench_naive(client, records)
        )
    finally:
        server.stop()
    ratio = ours / naive
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio: {ratio:.1f}x ({verdict} the target of {TARGET_RATIO}x)")


if __name__ == "__main__":
    main()
