"""Load a JSON catalogue export into the DynamoDB table of the Watch Info Service.

Usage: load_watches.py [--table NAME] [--file PATH] [--check]

The file is one JSON array of watch records as exported from the old catalogue. Each record
is cleaned, then checked against the `Watch` schema of info_openapi_v2.yaml, so the table
only holds watches the API can return. Cleaning is lossless and limited to:

* a leading byte-order mark (U+FEFF) is removed from every string: it is an encoding
  artefact, not data;
* leading and trailing whitespace is removed from every string (as Python's str.strip sees
  it). Interior spaces ("18K  Rose Gold"), case ("ROUND") and non-Latin text are data and
  are kept as they are;
* `year` given as a string of digits becomes an integer (stored as N; every other
  attribute is a string, stored as S);
* null values, and strings that are empty after cleaning, are left out: DynamoDB never
  holds an empty string.

A record is skipped, with its number (counted from 0, as in `jq '.[N]'`), its sku and the
reason, when it has no sku, fails the schema (value outside an enum, missing required field,
unknown field, year out of range, sku with "/", string too long), holds a string DynamoDB
cannot store (a lone surrogate such as "\\ud800" is not valid UTF-8), repeats the sku of
an earlier stored record (the first one wins; the duplicate is called identical when both
are equal after cleaning, conflicting otherwise) or is refused by DynamoDB itself.

Items are written with BatchWriteItem, 25 per request; unprocessed items are retried with
capped exponential backoff and full jitter. Items DynamoDB still has not taken after the
last attempt are reported as skipped and make the exit status 1; re-running is safe (each
record is a PutRequest: an existing item with the same sku is replaced, never duplicated,
and the loader never deletes). The run prints `read N, written W, skipped S`, then scans
the table's keys and checks that it holds every written sku.

Region, endpoint and credentials come from the standard AWS environment variables.
Exit status: 0 loaded, 1 AWS error or failed check, 2 unusable input file.
"""

import argparse
import functools
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import boto3
import yaml
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match
from tqdm import tqdm

PROG = "load_watches.py"
HERE = Path(__file__).resolve().parent
SPEC_FILE = HERE / "info_openapi_v2.yaml"
DEFAULT_FILE = HERE.parent / "watches.json"
BOM = "\ufeff"
YEAR = re.compile(r"[+-]?[0-9]{1,18}")
BATCH_SIZE = 25  # the most BatchWriteItem takes
MAX_ATTEMPTS = 10
BACKOFF_BASE = 0.05  # seconds
BACKOFF_CAP = 5.0
SERIALIZER = TypeSerializer()


class InputError(Exception):
    """The input file cannot be used at all."""


class RecordError(ValueError):
    """One record cannot be stored; the message says why."""


class Entry(NamedTuple):
    index: int
    item: dict


class Skip(NamedTuple):
    index: int
    sku: object
    reason: str


@dataclass
class Result:
    read: int
    written: list[dict] = field(default_factory=list)
    rejected: list[Skip] = field(default_factory=list)  # records that cannot be stored
    unwritten: list[Skip] = field(default_factory=list)  # DynamoDB did not take them in time

    @property
    def skipped(self):
        return sorted(self.rejected + self.unwritten, key=lambda skip: skip.index)

    def summary(self):
        return f"read {self.read}, written {len(self.written)}, skipped {len(self.skipped)}"


def cut(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value, limit=60):
    """repr() of a value, cut to a readable length; escapes lone surrogates and BOMs."""
    return cut(repr(value), limit)


def json_type(value):
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


def read_records(path):
    """The list of records in the file at ``path``; InputError when there is none."""
    try:
        # utf-8-sig: a byte-order mark at the start of the file is not JSON, nor data.
        with open(path, encoding="utf-8-sig") as file:
            records = json.load(file)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path} is not UTF-8 text (invalid byte at offset {error.start})"
        ) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    if not isinstance(records, list):
        raise InputError(f"{path} must hold a JSON array of records, not {json_type(records)}")
    return records


def inline_refs(node, schemas):
    """``node`` with each {"$ref": "#/components/schemas/X"} replaced by schema X.

    Validating against the inlined schema is four times faster than resolving the $refs
    for every record. (The contract has no recursive schema, which this could not inline.)
    """
    if isinstance(node, dict):
        if "$ref" in node:
            return inline_refs(schemas[node["$ref"].removeprefix("#/components/schemas/")], schemas)
        return {key: inline_refs(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(value, schemas) for value in node]
    return node


@functools.cache
def watch_validator():
    """A validator for the Watch schema of the contract (OpenAPI 3.0 schemas are draft 4)."""
    schemas = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))["components"]["schemas"]
    return Draft4Validator(inline_refs(schemas["Watch"], schemas))


def clean_value(value):
    if isinstance(value, str):
        return value.removeprefix(BOM).strip()
    return value


def to_year(value):
    if isinstance(value, str) and YEAR.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RecordError(f"year: {short(value)} is not an integer")


def schema_problem(item):
    error = best_match(watch_validator().iter_errors(item))
    if error is None:
        return None
    if error.validator == "maxLength":
        message = f"{len(error.instance)} characters, more than the {error.validator_value} allowed"
    else:
        message = error.message
    where = "/".join(str(part) for part in error.absolute_path)
    return cut(f"{where}: {message}" if where else message, 200)


def missing_sku_reason(raw):
    if "sku" not in raw:
        return "no sku (the key is missing)"
    return "no sku (null)" if raw["sku"] is None else "no sku (empty)"


def unencodable_problem(item):
    """DynamoDB stores UTF-8; a lone surrogate (JSON "\\ud800") has no UTF-8 form."""
    for key, value in item.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{key}: {short(value)} is not valid UTF-8 (lone surrogate)"
    return None


def clean_record(raw):
    """The item to store for one exported record (cleaned as the module doc says).

    Raises RecordError with a readable reason when the record cannot be stored.
    """
    if not isinstance(raw, dict):
        raise RecordError(f"the record is {json_type(raw)}, not an object")
    item = {key: clean_value(value) for key, value in raw.items()}
    item = {key: value for key, value in item.items() if value is not None and value != ""}
    if "sku" not in item:
        raise RecordError(missing_sku_reason(raw))
    if "year" in item:
        item["year"] = to_year(item["year"])
    problem = schema_problem(item) or unencodable_problem(item)
    if problem:
        raise RecordError(problem)
    return item


def clean_records(records):
    """Entries to write and the records skipped, duplicates included (first sku wins)."""
    entries, skipped, first = [], [], {}
    for index, raw in enumerate(records):
        sku = raw.get("sku") if isinstance(raw, dict) else None
        try:
            item = clean_record(raw)
        except RecordError as error:
            skipped.append(Skip(index, sku, str(error)))
            continue
        earlier = first.get(item["sku"])
        if earlier is None:
            first[item["sku"]] = Entry(index, item)
            entries.append(first[item["sku"]])
        else:
            kind = "identical" if earlier.item == item else "conflicting"
            skipped.append(Skip(index, sku, f"{kind} duplicate of record #{earlier.index}"))
    return entries, skipped


def make_client():
    config = Config(retries={"mode": "standard", "max_attempts": 10})
    return boto3.client("dynamodb", config=config)


def serialize(item):
    return {key: SERIALIZER.serialize(value) for key, value in item.items()}


def put_one_by_one(client, table, entries):
    """After DynamoDB refused a whole batch: store what it takes, skip what it refuses."""
    skipped = []
    for entry in entries:
        try:
            client.put_item(TableName=table, Item=serialize(entry.item))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            message = error.response["Error"].get("Message", "")
            skipped.append(Skip(entry.index, entry.item["sku"], f"rejected by DynamoDB: {message}"))
    return skipped


def write_batch(client, table, batch, max_attempts, backoff_base):
    """Writes up to 25 entries; returns a Skip for each entry that was not stored."""
    pending = {
        entry.item["sku"]: (entry, {"PutRequest": {"Item": serialize(entry.item)}})
        for entry in batch
    }
    for attempt in range(max_attempts):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP, backoff_base * 2**attempt)))
        requests = [request for _, request in pending.values()]
        try:
            response = client.batch_write_item(RequestItems={table: requests})
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            return put_one_by_one(client, table, [entry for entry, _ in pending.values()])
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        pending = {
            sku: pending[sku] for sku in (r["PutRequest"]["Item"]["sku"]["S"] for r in unprocessed)
        }
        if not pending:
            return []
    reason = f"not written: still unprocessed after {max_attempts} attempts (throttled)"
    return [Skip(entry.index, sku, reason) for sku, (entry, _) in pending.items()]


def write_items(client, table, entries, *, max_attempts=MAX_ATTEMPTS, backoff_base=BACKOFF_BASE):
    """Writes the entries with BatchWriteItem; returns a Skip for each one not stored."""
    skipped = []
    # disable=None: a progress bar in a terminal, none in logs and pipes.
    with tqdm(total=len(entries), desc=table, unit=" items", file=sys.stderr, disable=None) as bar:
        for start in range(0, len(entries), BATCH_SIZE):
            batch = entries[start : start + BATCH_SIZE]
            skipped += write_batch(client, table, batch, max_attempts, backoff_base)
            bar.update(len(batch))
    return skipped


def load(records, table, client=None, *, max_attempts=MAX_ATTEMPTS, backoff_base=BACKOFF_BASE):
    """Cleans the records and writes them to ``table``; returns what happened to each."""
    client = client or make_client()
    entries, rejected = clean_records(records)
    unwritten = write_items(
        client, table, entries, max_attempts=max_attempts, backoff_base=backoff_base
    )
    lost = {skip.index for skip in unwritten}
    written = [entry.item for entry in entries if entry.index not in lost]
    return Result(len(records), written, rejected, unwritten)


def verify(client, table, items):
    """None when ``table`` holds the sku of every written item, else what is missing."""
    stored = set()
    # Only the keys: reading whole items back took the emulator five times longer.
    # A consistent read, so that a fresh write is seen.
    pages = client.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="sku", ConsistentRead=True
    )
    for page in pages:
        stored.update(item["sku"]["S"] for item in page["Items"])
    missing = [item["sku"] for item in items if item["sku"] not in stored]
    if missing:
        return f"{len(missing)} written items are missing from table {table}, e.g. {missing[0]!r}"
    return None


def fail(message, status):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Load a JSON array of watch records into a DynamoDB table "
        "(cleaning rules: see the module docstring).",
    )
    parser.add_argument(
        "--table",
        default=os.environ.get("DYNAMODB_TABLE", "project1"),
        help="DynamoDB table, partition key sku (default: $DYNAMODB_TABLE or project1)",
    )
    parser.add_argument(
        "--file", type=Path, default=DEFAULT_FILE, help="JSON file (default: %(default)s)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the file is a readable JSON array, then exit; no AWS calls",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sys.stdout.reconfigure(errors="backslashreplace")
    try:
        records = read_records(args.file)
    except InputError as error:
        return fail(error, 2)
    if args.check:
        return 0
    try:
        client = make_client()
        result = load(records, args.table, client)
        for skip in result.skipped:
            print(f"skipped record #{skip.index} (sku {short(skip.sku)}): {skip.reason}")
        print(result.summary(), flush=True)
        problem = verify(client, args.table, result.written)
    except (BotoCoreError, ClientError) as error:
        return fail(f"table {args.table}: {error}", 1)
    if problem:
        return fail(f"check failed: {problem}", 1)
    print(f"verified: all {len(result.written)} written items are in table {args.table}")
    if result.unwritten:
        return fail(
            f"{len(result.unwritten)} items were not written because DynamoDB kept refusing "
            "them for now; run again to load them",
            1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
