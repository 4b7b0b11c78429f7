"""Load a JSON catalogue export into the DynamoDB table of the Watch Info Service.

Usage: load_watches.py [--table NAME] [--file PATH] [--workers N] [--check]

The file is one JSON array of watch records as exported from the old catalogue.

Cleaning rules. Each record is cleaned, losslessly and no further:
* a leading byte-order mark (U+FEFF) is removed from every string: it is an encoding
  artefact, not data;
* leading and trailing whitespace is removed from every string (as Python's str.strip sees
  it). Interior spaces ("18K  Rose Gold"), case ("ROUND") and non-Latin text are data and
  are kept as they are;
* `year` given as a string of digits becomes an integer (stored as N; every other
  attribute is a string, stored as S);
* null values, and strings that are empty after cleaning, are left out: DynamoDB never
  holds an empty string.
Each cleaned record is then checked against the `Watch` schema of info_openapi_v2.yaml,
read from the spec at every run, so the table only holds watches the API can return. A
record is skipped, with its number (from 0, as in `jq '.[N]'`), its sku and the reason,
when it has no sku, fails the schema (value outside an enum, missing or unknown field, year
out of range, sku the spec's pattern refuses, string too long), holds a string DynamoDB
cannot store (a lone surrogate such as "\\ud800"), repeats the sku of an earlier stored
record (the first wins; the duplicate is called identical when both are equal after
cleaning, conflicting otherwise) or is refused by DynamoDB itself.

The file is read as a stream (ijson), twice, so memory stays bounded whatever its size: a
first pass checks that it is a JSON array nested at most MAX_DEPTH levels deep whose
integers fit in 64 bits, and counts the records; a file that fails is refused whole, in
one line, with exit status 2, before anything is written.

Batches of 25 items are written with BatchWriteItem by --workers threads. Throttling is
retried by botocore's standard retry mode; items left unprocessed, with capped exponential
backoff and full jitter. Items DynamoDB still refuses after the last attempt are reported
as skipped and make the exit status 1. Re-running is safe: each item replaces the one with
its sku, nothing is deleted. The run prints `read N, written W, skipped S`, then counts
the table's items (a parallel scan with Select=COUNT) to check that it holds no fewer than
W. Every ending, an error or Ctrl-C included, prints that summary, then one line saying why.

Region, endpoint and credentials come from the standard AWS environment variables.
Exit status: 0 loaded, 1 AWS error or failed check, 2 unusable input file.
"""

import argparse
import itertools
import os
import random
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import boto3
import fastjsonschema
import ijson
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

PROG = "load_watches.py"
REPO = Path(__file__).resolve().parent.parent.parent
SPEC_FILE = REPO / "info_openapi_v2.yaml"
DEFAULT_FILE = REPO / "watches.json"
BOM = "\ufeff"
YEAR = re.compile(r"[+-]?[0-9]{1,18}")
TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
# yajl, ijson's C parser, reads a lone surrogate escape ("\ud800") as "?": a file holding
# any surrogate escape is read by ijson's pure-Python parser (10x slower), which keeps it.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_DEPTH = 32  # a watch is nested 2 deep; deeper input would cost memory, not add data
BATCH_SIZE = 25  # the most BatchWriteItem takes
ITEMS_PER_SEGMENT = 50_000  # of the scan that checks the table: about 10 MB each
WORKERS = 16
MAX_ATTEMPTS = 10
BACKOFF_BASE = 0.05  # seconds
BACKOFF_CAP = 5.0
OPENING, CLOSING = ("start_map", "start_array"), ("end_map", "end_array")


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
    read: int = 0
    written: int = 0
    skipped: int = 0
    unwritten: int = 0  # of the skipped: DynamoDB did not take them in time

    def summary(self):
        return f"read {self.read}, written {self.written}, skipped {self.skipped}"


def short(value, limit=60):
    """repr() of a value, cut to a readable length; escapes lone surrogates and BOMs."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value):
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


EXAMPLES = {"start_map": {}, "start_array": [], "string": "", "boolean": True, "null": None}


# --- reading the file ---------------------------------------------------------------------


def open_json(path):
    """The file opened for ijson, past a leading byte-order mark (not JSON, nor data)."""
    file = open(path, "rb")  # noqa: SIM115 (closed by the callers' with)
    if file.read(3) != BOM.encode():
        file.seek(0)
    return file


def parser_for(path):
    with open(path, "rb") as file:
        tail = b""
        for chunk in iter(lambda: file.read(1 << 20), b""):
            if SURROGATE_ESCAPE.search(tail + chunk):
                return ijson.get_backend("python")
            tail = chunk[-5:]
    return ijson.get_backend("yajl2_c")


def json_error(path, error, count):
    """One line for a JSON error: the parser's first line and the text yajl points at."""
    text = error.args[0] if error.args else ""
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    lines = text.strip().splitlines() or [type(error).__name__]
    near = f" near {lines[1].strip()!r}" if len(lines) > 2 else ""
    records = f"{count} complete record{'s' * (count != 1)}"
    return InputError(f"{path} is not valid JSON (after {records}): {lines[0]}{near}")


def check_file(path):
    """(the parser to use, the number of records); InputError when the file is unusable.

    Reads parse events only, so that neither a deep nesting nor a huge integer (beyond
    int64, which use_float=True makes yajl refuse) costs memory or a traceback.
    """
    count = 0
    try:
        parser = parser_for(path)
        with open_json(path) as file:
            events = parser.basic_parse(file, use_float=True)
            kind = json_type(EXAMPLES.get(next(events)[0], 0))
            if kind != "an array":
                raise InputError(f"{path} must hold a JSON array of records, not {kind}")
            depth = 1
            for event, _ in events:
                depth += (event in OPENING) - (event in CLOSING)
                if depth > MAX_DEPTH:
                    raise InputError(f"{path} is nested deeper than {MAX_DEPTH} in record #{count}")
                count += depth == 1
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (ijson.JSONError, UnicodeDecodeError) as error:
        raise json_error(path, error, count) from None
    return parser, count


def read_records(path, parser):
    """The records of a file check_file() accepted, one at a time."""
    try:
        with open_json(path) as file:
            yield from parser.items(file, "item", use_float=True)
    except (OSError, ijson.JSONError, UnicodeDecodeError) as error:
        raise InputError(f"{path} changed while it was read: {error}") from None


# --- cleaning and validation ------------------------------------------------------------


def watch_validator():
    """Checks an item against the contract's Watch schema (OpenAPI 3.0 uses draft 4)."""
    spec = yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    schema = {"$ref": "#/components/schemas/Watch", "components": spec["components"]}
    return fastjsonschema.compile(schema, formats={"int64": ".*"})  # the schema bounds year


IS_WATCH = watch_validator()


def clean_value(value):
    if isinstance(value, str):
        return value.removeprefix(BOM).strip()
    return value


def schema_problem(item):
    try:
        IS_WATCH(item)
    except fastjsonschema.JsonSchemaValueException as error:
        where = error.name.removeprefix("data").removeprefix(".")
        rule = error.message.removeprefix(f"{error.name} ")
        return f"{where}: {short(error.value)} {rule}" if where else f"the record {rule}"
    return None


def unencodable_problem(item):
    """DynamoDB stores UTF-8; a lone surrogate (JSON "\\ud800") has no UTF-8 form."""
    for key, value in item.items():
        if isinstance(value, str):
            try:
                value.encode()
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
        if "sku" not in raw:
            raise RecordError("no sku (the key is missing)")
        raise RecordError(f"no sku ({'null' if raw['sku'] is None else 'empty'})")
    year = item.get("year")
    if isinstance(year, str) and YEAR.fullmatch(year):
        item["year"] = int(year)
    elif year is not None and type(year) is not int:  # fastjsonschema takes 2017.0 for one
        raise RecordError(f"year: {short(year)} is not an integer")
    problem = schema_problem(item) or unencodable_problem(item)
    if problem:
        raise RecordError(problem)
    return item


def clean_records(records, report):
    """Yields an Entry for each record to write; calls report(Skip) for the others.

    Keeps, per stored sku, the record's number and a hash of its item (not the item: the
    memory stays small), enough to name a later duplicate identical or conflicting.
    """
    first = {}
    for index, raw in enumerate(records):
        try:
            item = clean_record(raw)
        except RecordError as error:
            report(Skip(index, raw.get("sku") if isinstance(raw, dict) else None, str(error)))
            continue
        fingerprint = hash(tuple(sorted(item.items())))
        earlier = first.setdefault(item["sku"], (index, fingerprint))
        if earlier[0] == index:
            yield Entry(index, item)
        else:
            kind = "identical" if earlier[1] == fingerprint else "conflicting"
            report(Skip(index, raw["sku"], f"{kind} duplicate of record #{earlier[0]}"))


# --- writing and checking ---------------------------------------------------------------


def make_client(workers=WORKERS):
    """A DynamoDB client for ``workers`` threads.

    Retries: standard mode retries throttling and transient errors with backoff and jitter.
    """
    config = Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=workers,
    )
    return boto3.client("dynamodb", config=config)


def serialize(item):
    """DynamoDB's form of a valid item: the schema allows strings and integers only (this
    takes a fifth of the time of boto3's TypeSerializer)."""
    return {key: {"N": str(v)} if isinstance(v, int) else {"S": v} for key, v in item.items()}


def backoff(attempt, base):
    """Capped exponential backoff with full jitter."""
    time.sleep(random.uniform(0, min(BACKOFF_CAP, base * 2**attempt)))


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


def write_batch(client, table, batch, max_attempts=MAX_ATTEMPTS, backoff_base=BACKOFF_BASE):
    """Writes up to 25 entries; returns a Skip for each entry that was not stored."""
    pending = {entry.item["sku"]: entry for entry in batch}
    for attempt in range(max_attempts):
        if attempt:
            backoff(attempt, backoff_base)
        requests = [{"PutRequest": {"Item": serialize(e.item)}} for e in pending.values()]
        try:
            response = client.batch_write_item(RequestItems={table: requests})
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            return put_one_by_one(client, table, pending.values())
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        pending = {
            sku: pending[sku] for sku in (r["PutRequest"]["Item"]["sku"]["S"] for r in unprocessed)
        }
        if not pending:
            return []
    reason = f"not written: still unprocessed after {max_attempts} attempts (throttled)"
    return [Skip(entry.index, sku, reason) for sku, entry in pending.items()]


def batches(iterable, size):
    iterator = iter(iterable)
    return iter(lambda: list(itertools.islice(iterator, size)), [])


def load(records, table, client, report, *, result=None, workers=WORKERS, total=None, **retry):
    """Cleans the records and writes them to ``table`` with ``workers`` threads.

    Calls report(Skip) for each record not stored and fills ``result`` (returned). At most
    two batches per worker are in flight, so memory does not grow with the file. On an
    error, the batches already sent are finished and counted before it propagates.
    """
    result = Result() if result is None else result
    in_flight = set()

    def skip(entry):
        result.skipped += 1
        report(entry)

    def settle(futures):
        for future in futures:
            in_flight.discard(future)
            batch, unstored = future.result()
            result.written += len(batch) - len(unstored)
            result.unwritten += sum(s.reason.startswith("not written") for s in unstored)
            for s in unstored:
                skip(s)

    def send(batch):
        return batch, write_batch(client, table, batch, **retry)

    def counted(records):
        for record in records:
            result.read += 1
            bar.update()
            yield record

    # disable=None: a progress bar in a terminal, none in logs and pipes.
    with (
        tqdm(total=total, desc=table, unit=" records", file=sys.stderr, disable=None) as bar,
        ThreadPoolExecutor(workers) as pool,
    ):
        try:
            for batch in batches(clean_records(counted(records), skip), BATCH_SIZE):
                if len(in_flight) >= 2 * workers:
                    settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
                in_flight.add(pool.submit(send, batch))
            settle(list(in_flight))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            settle([f for f in list(in_flight) if not f.cancelled() and f.exception() is None])
            raise
    return result


def count_items(client, table, segments):
    """The items in ``table``, counted by a parallel scan (Select=COUNT, consistent reads).

    A scan reads the table in 1 MB pages: a 4,000-item table is one request, and one read
    unit per 4 KB costs a small part of the write units of a load. Reading each written key
    back would cost a read unit per item (over ten times the scan's for these 300-byte items);
    a count cannot tell our items from earlier ones, but an item the load lost would show as
    a count below what it wrote.
    """

    def count(segment):
        pages = client.get_paginator("scan").paginate(
            TableName=table, Select="COUNT", ConsistentRead=True,
            Segment=segment, TotalSegments=segments,
        )  # fmt: skip
        return sum(page["Count"] for page in pages)

    with ThreadPoolExecutor(segments) as pool:
        return sum(pool.map(count, range(segments)))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--table",
        default=os.environ.get("DYNAMODB_TABLE"),
        help="DynamoDB table, key sku (default: $DYNAMODB_TABLE)",
    )
    add("--file", type=Path, default=DEFAULT_FILE, help="JSON file (default: %(default)s)")
    add(
        "--workers",
        type=int,
        default=WORKERS,
        help="batches written at once (default: %(default)s)",
    )
    add("--check", action="store_true", help="only check the file, then exit; no AWS calls")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.check:
        return args
    if args.table is None:
        parser.error("name the table with --table NAME or DYNAMODB_TABLE")
    if not TABLE_NAME.fullmatch(args.table):
        rule = "3 to 255 letters, digits, '_', '-' or '.'"
        parser.error(f"--table {args.table!r} is not a DynamoDB table name ({rule})")
    return args


def fail(message, status, result=None):
    """Ends the run: the summary (when the load began), then one line saying why."""
    if result is not None:
        print(result.summary(), flush=True)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def report(skip):
    tqdm.write(f"skipped record #{skip.index} (sku {short(skip.sku)}): {skip.reason}", sys.stdout)


def main(argv=None):
    args = parse_args(argv)
    sys.stdout.reconfigure(errors="backslashreplace")
    result = None if args.check else Result()  # a load prints its summary at every ending
    try:
        parser, count = check_file(args.file)
    except InputError as error:
        return fail(error, 2, result)
    if args.check:
        return 0
    try:
        client = make_client(args.workers)
        records = read_records(args.file, parser)
        load(records, args.table, client, report, result=result, workers=args.workers, total=count)
    except InputError as error:
        return fail(error, 2, result)
    except (BotoCoreError, ClientError) as error:
        return fail(f"table {args.table}: {error}; run again to finish the load", 1, result)
    except KeyboardInterrupt:
        return fail("interrupted; run again to finish the load", 130, result)
    print(result.summary(), flush=True)
    try:
        segments = min(args.workers, 1 + result.written // ITEMS_PER_SEGMENT)
        count = count_items(client, args.table, segments)
    except (BotoCoreError, ClientError) as error:
        return fail(f"could not check table {args.table}: {error}", 1)
    if count < result.written:
        return fail(f"check failed: table {args.table} holds {count} items, fewer than written", 1)
    print(f"verified: table {args.table} holds {count} items, no fewer than written")
    if result.unwritten:
        return fail(
            f"{result.unwritten} items were not written because DynamoDB kept refusing "
            "them for now; run again to load them",
            1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
