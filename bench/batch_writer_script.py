"""The baseline of bench_loader.py: what a user would write in 20 lines with batch_writer().

Usage: python bench/batch_writer_script.py TABLE FILE
Loads the JSON array with json.load, does the obvious cleaning and writes through boto3's
Table.batch_writer(), which sends BatchWriteItem requests of 25 one after another and
resends unprocessed items. No schema check, no report, no check of the table.
"""

import json
import sys

import boto3

table_name, path = sys.argv[1:]
with open(path, encoding="utf-8-sig") as file:
    records = json.load(file)
table = boto3.resource("dynamodb").Table(table_name)
with table.batch_writer(overwrite_by_pkeys=["sku"]) as batch:
    for record in records:
        item = {k: v.strip("\ufeff ") if isinstance(v, str) else v for k, v in record.items()}
        item = {k: v for k, v in item.items() if v not in (None, "")}
        if "sku" in item and str(item.get("year", "")).isdigit():
            batch.put_item(Item=item | {"year": int(item["year"])})
