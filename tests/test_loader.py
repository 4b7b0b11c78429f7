"""initialize_dynamodb.sh and its loader, load_watches.py, against the emulator.

The scripts run as a user runs them; the tests read the table back with boto3 and compare
it with what the documented cleaning rules (restated here, not imported) say it must hold.
Each test uses its own table, so the tests do not depend on one another's order.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from conftest import LIB_DIR, WATCHES, emulator_session, run_script

# Two independent DynamoDB implementations catch what one is lenient about.
pytestmark = pytest.mark.both_dynamodbs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SKIP_LINE = re.compile(r"skipped record #(\d+) \(sku .*\): (.*)")


def cleaned(raw):
    """The documented cleaning, restated: no leading BOM, no outer whitespace, no empties."""
    item = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = value.removeprefix("\ufeff").strip()
        if value is not None and value != "":
            item[key] = value
    return item


def expected_from_export(records):
    """{sku: item} the table must hold and {index: reason} for the records to skip.

    Restates the rules for the kinds of defect watches.json holds; a record the loader
    skips for any other reason makes the comparison fail.
    """
    stored, first_index, skipped = {}, {}, {}
    for index, raw in enumerate(records):
        item = cleaned(raw)
        if "sku" not in item:
            skipped[index] = "no sku"
        elif not re.fullmatch("[0-9]+", item["year"]):
            skipped[index] = "year: "
        elif item["status"] not in ("old", "current", "outlet"):
            skipped[index] = "status: "
        elif item["sku"] in stored:
            item["year"] = int(item["year"])
            kind = "identical" if item == stored[item["sku"]] else "conflicting"
            skipped[index] = f"{kind} duplicate of record #{first_index[item['sku']]}"
        else:
            item["year"] = int(item["year"])
            stored[item["sku"]] = item
            first_index[item["sku"]] = index
    return stored, skipped


def scan(aws, table, region=None):
    """Every item of the table, as DynamoDB holds it (attribute values with their types)."""
    client = aws("dynamodb") if region is None else regional_client(aws, region)
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


def regional_client(aws, region, retries=None):
    endpoint = aws("dynamodb").meta.endpoint_url
    return emulator_session(region).client(
        "dynamodb", endpoint_url=endpoint, config=Config(retries=retries)
    )


class RawBody:
    """The raw part of a botocore AWSResponse for a canned body."""

    def __init__(self, body):
        self.body = body

    def stream(self, **_):
        yield self.body


def as_python(items):
    """{sku: item} with Python values; a number comes back as a Decimal, equal to its int."""
    deserializer = TypeDeserializer()
    items = [{key: deserializer.deserialize(value) for key, value in raw.items()} for raw in items]
    return {item["sku"]: item for item in items}


def skip_reasons(stdout):
    return {int(m[1]): m[2] for m in map(SKIP_LINE.fullmatch, stdout.splitlines()) if m}


def table_names(aws):
    return aws("dynamodb").list_tables()["TableNames"]


def assert_one_clean_line(result, *fragments):
    """A failure explained in one readable line on stderr, without a traceback."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --- the real catalogue ---------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue():
    records = json.loads(WATCHES.read_text(encoding="utf-8"))
    return records, *expected_from_export(records)


@pytest.fixture(scope="module")
def full_load(aws_env, aws):
    """The script's output and the table's items; the emulator needs ~10 s per full scan."""
    table = "loader-watches"
    result = run_script("initialize_dynamodb.sh", "--table", table, env=aws_env)
    return table, result, scan(aws, table)


def test_summary_counts_add_up_and_name_each_skipped_record(full_load, catalogue):
    table, result, _ = full_load
    records, stored, skipped = catalogue
    assert len(skipped) == 10  # what tools/generate_watches.py put in to be rejected
    assert len(records) == len(stored) + len(skipped)
    lines = result.stdout.splitlines()
    assert lines[-2] == f"read {len(records)}, written {len(stored)}, skipped {len(skipped)}"
    assert lines[-1] == f"verified: table {table} holds {len(stored)} items, no fewer than written"
    reasons = skip_reasons(result.stdout)
    assert sorted(reasons) == sorted(skipped)
    for index, reason in reasons.items():
        assert reason.startswith(skipped[index]), (index, reason)


def test_every_stored_item_equals_its_cleaned_record(full_load, catalogue):
    _, _, items = full_load
    _, stored, _ = catalogue
    assert as_python(items) == stored


def test_year_is_a_number_and_every_other_attribute_a_nonempty_string(full_load):
    _, _, items = full_load
    for item in items:
        for name, value in item.items():
            assert list(value) == (["N"] if name == "year" else ["S"]), (name, value)
            assert value[next(iter(value))] != ""


# --- each kind of irregular record ------------------------------------------------------

IRREGULAR_STORED = [
    {"sku": "CAR2110.BA0724", "type": "chrono", "status": "current", "gender": "man",
     "year": 2017, "dial_material": "Opaline", "dial_color": "Black", "case_material": "Steel",
     "case_form": "Round", "bracelet_material": "Steel", "movement": "Calibre 16"},
    {"sku": "WAY111A.BA0928-AM", "type": "watch", "status": "current", "gender": "woman",
     "year": 2019, "dial_color": "Blue", "case_material": "18K Rose Gold"},
    {"sku": "WAZ1110.FT8023", "type": "watch", "status": "old", "gender": "man", "year": 2004,
     "case_material": "18K  Rose Gold", "bracelet_material": "Steel", "movement": "Calibre  5"},
    {"sku": "way2010.ba0000", "type": "watch", "status": "outlet", "gender": "man", "year": 2012,
     "case_form": "ROUND", "dial_color": "black", "movement": "CALIBRE 5"},
    {"sku": "WAY2010.BA0000", "type": "watch", "status": "outlet", "gender": "man", "year": 2012,
     "case_form": "Round"},
    {"sku": "CBN2A1A.BA0643", "type": "chrono", "status": "current", "gender": "woman",
     "year": 2021, "case_material": "ステンレス", "dial_color": "黑色", "bracelet_material": "Кожа",
     "dial_material": "Nacré", "movement": "Automatique"},
    {"sku": "WAR201A.BA0723", "type": "watch", "status": "old", "gender": "man", "year": 1998,
     "dial_color": "Tiger's eye", "bracelet_material": "Men's alligator strap",
     "case_form": "Ladies' Cushion"},
    {"sku": "WBP1310.FT6034", "type": "watch", "status": "current", "gender": "woman",
     "year": 2020, "case_material": "Steel"},
    {"sku": "CAZ1010.BA0842", "type": "chrono", "status": "old", "gender": "man", "year": 2005},
    {"sku": "CAV511A.FC6225", "type": "chrono", "status": "old", "gender": "man", "year": 1999},
    {"sku": "CAL5113..CI6298", "type": "chrono", "status": "current", "gender": "man",
     "year": 2023},
    {"sku": "CBK2112.BA0715-", "type": "chrono", "status": "current", "gender": "woman",
     "year": 2024},
    # Record 18 has this sku too, but a bad year: the first record that can be stored wins.
    {"sku": "CAR1945.FK9897", "type": "chrono", "status": "old", "gender": "man", "year": 1995},
]  # fmt: skip
IRREGULAR_SKIPPED = {
    12: "no sku (null)",
    13: "no sku (the key is missing)",
    14: "no sku (empty)",
    15: "no sku (empty)",
    16: "identical duplicate of record #0",
    17: "conflicting duplicate of record #3",
    18: "year: '19xx' is not an integer",
    20: "year: 1700 must be bigger than or equal to 1800",
    21: "status: 'discontinued' must be one of ['old', 'current', 'outlet']",
    22: "type: 'diver' must be one of ['watch', 'chrono']",
    23: r"dial_color: 'Bl\ud800ue' is not valid UTF-8 (lone surrogate)",
    24: "dial_material: 'Mother-of-pearl with a very long",
    25: "sku: 'WBN2010/BA0628' must match pattern",
    26: "the record must not contain {'colour'} properties",
    27: "the record must contain ['gender'] properties",
    28: "the record is a string, not an object",
}


@pytest.fixture(scope="module")
def irregular_load(aws_env):
    table = "loader-irregular"
    args = ["--table", table, "--file", str(FIXTURES / "irregular_watches.json")]
    return table, args, run_script("initialize_dynamodb.sh", *args, env=aws_env)


def test_irregular_records_are_cleaned_or_skipped_with_the_reason(irregular_load, aws):
    table, _, result = irregular_load
    reasons = skip_reasons(result.stdout)
    assert sorted(reasons) == sorted(IRREGULAR_SKIPPED)
    for index, reason in reasons.items():
        assert reason.startswith(IRREGULAR_SKIPPED[index]), (index, reason)
    assert "read 29, written 13, skipped 16" in result.stdout.splitlines()
    assert as_python(scan(aws, table)) == {item["sku"]: item for item in IRREGULAR_STORED}


def test_rerun_reuses_the_table_and_duplicates_nothing(irregular_load, aws_env, aws):
    table, args, first = irregular_load
    before = scan(aws, table)
    again = run_script("initialize_dynamodb.sh", *args, env=aws_env)
    assert f"reusing table {table}" in again.stderr
    assert again.stdout == first.stdout
    assert sorted(scan(aws, table), key=str) == sorted(before, key=str)


def test_region_option_chooses_where_the_table_is_made(aws_env, aws, tmp_path, dynamodb_backend):
    watch = {"sku": "WAY111A.BA0928", "type": "watch", "status": "old", "gender": "man"}
    source = tmp_path / "one.json"
    source.write_text(json.dumps([watch | {"year": "2001"}]), encoding="utf-8")
    args = ["--table", "loader-region", "--region", "eu-west-1", "--file", str(source)]
    result = run_script("initialize_dynamodb.sh", *args, env=aws_env)
    assert "read 1, written 1, skipped 0" in result.stdout
    if dynamodb_backend != "dynalite":  # dynalite keeps one set of tables for all regions
        assert "loader-region" not in table_names(aws)
    assert as_python(scan(aws, "loader-region", "eu-west-1")) == {
        watch["sku"]: watch | {"year": 2001}
    }


def test_options_take_their_value_after_an_equals_sign_too(aws_env, aws, tmp_path):
    watch = {"sku": "WAY111A.BA0929", "type": "watch", "status": "old", "gender": "man"}
    source = tmp_path / "one.json"
    source.write_text(json.dumps([watch | {"year": "2002"}]), encoding="utf-8")
    args = ["--table=loader-equals", f"--file={source}"]
    result = run_script("initialize_dynamodb.sh", *args, env=aws_env)
    assert "read 1, written 1, skipped 0" in result.stdout
    assert as_python(scan(aws, "loader-equals")) == {watch["sku"]: watch | {"year": 2002}}


# --- failures: one line, non-zero exit, nothing created ----------------------------------


@pytest.mark.parametrize(
    ("source", "status", "fragments"),
    [
        ("/nonexistent/watches.json", 1, ["does not exist"]),
        (FIXTURES, 1, ["is not a regular file"]),
        (FIXTURES / "malformed.json", 2, ["is not valid JSON", "after 1 complete record"]),
        (FIXTURES / "not_an_array.json", 2, ["must hold a JSON array", "not an object"]),
    ],
    ids=["missing", "directory", "malformed", "not-an-array"],
)
def test_unusable_file_stops_before_creating_the_table(aws_env, aws, source, status, fragments):
    table = "loader-bad-file"
    result = run_script(
        "initialize_dynamodb.sh", "--table", table, "--file", str(source), env=aws_env, check=False
    )
    assert result.returncode == status
    assert_one_clean_line(result, *fragments)
    assert table not in table_names(aws)


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'[{"sku": "WAY111A", "year": 1' + b"0" * 5000 + b"}]"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (DEEP, "is nested deeper than 32 in record #0"),
        (b'[{"sku": "A"}, {"sku": "B", "colour": ' + DEEP + b"}]", "in record #1"),
        (HUGE, "integer overflow"),
        (b'[{"year": 9223372036854775808}]', "integer overflow"),
    ],
    ids=["deep", "deep-in-a-record", "huge-integer", "int64-plus-one"],
)
def test_deep_nesting_and_huge_integers_are_one_line_and_exit_2(
    aws_env, aws, tmp_path, request, content, fragment
):
    source = tmp_path / "hostile.json"
    source.write_bytes(content)
    table = f"loader-{request.node.callspec.id}"
    args = ["--table", table, "--file", str(source)]
    result = run_script("initialize_dynamodb.sh", *args, env=aws_env, check=False)
    assert result.returncode == 2
    assert_one_clean_line(result, str(source), fragment)
    assert table not in table_names(aws)
    # The loader alone, on an existing table: the summary, then the same one line.
    make_table(aws, table)
    alone = run_loader(*args, env=aws_env)
    assert alone.returncode == 2
    assert_one_clean_line(alone, fragment)
    assert alone.stdout == "read 0, written 0, skipped 0\n"
    assert scan(aws, table) == []


def test_a_missing_table_ends_with_the_summary_and_one_line(aws_env, aws):
    result = run_loader("--table", "loader-no-such-table", "--workers", "3", env=aws_env)
    assert result.returncode == 1
    assert_one_clean_line(result, "ResourceNotFoundException", "run again")
    assert re.fullmatch(r"read \d+, written 0, skipped \d+", result.stdout.splitlines()[-1])


@pytest.mark.parametrize("table", ["", "ab", "a b", "t" * 256])
def test_a_table_name_dynamodb_refuses_stops_before_any_request(aws_env, table):
    result = run_loader("--table", table, env=aws_env | {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert "is not a DynamoDB table name" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_no_credentials(aws_env, aws, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {
        key: value
        for key, value in aws_env.items()
        if key not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")
    }
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = run_script("initialize_dynamodb.sh", "--table", "loader-nocreds", env=env, check=False)
    assert_one_clean_line(result, "credentials")
    assert "loader-nocreds" not in table_names(aws)


def test_missing_aws_cli(aws_env):
    path = [d for d in aws_env["PATH"].split(os.pathsep) if not (Path(d) / "aws").exists()]
    env = aws_env | {"PATH": os.pathsep.join(path)}
    result = run_script("initialize_dynamodb.sh", env=env, check=False)
    assert_one_clean_line(result, "'aws' was not found")


def test_existing_table_with_another_key_is_left_alone(aws_env, aws):
    table = "loader-other-key"
    aws("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    result = run_script("initialize_dynamodb.sh", "--table", table, env=aws_env, check=False)
    assert_one_clean_line(result, table, "id:HASH", "partition key sku")
    # dynalite, like DynamoDB, answers Scan on a table it is still creating as not found.
    aws("dynamodb").get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    assert scan(aws, table) == []


@pytest.mark.parametrize("args", [["--bogus"], ["--table"], ["--file", ""]])
def test_bad_options(aws_env, args):
    result = run_script("initialize_dynamodb.sh", *args, env=aws_env, check=False)
    assert result.returncode == 1
    assert_one_clean_line(result, "see --help")


def test_help(aws_env):
    result = run_script("initialize_dynamodb.sh", "--help", env=aws_env)
    assert result.stdout.startswith("Usage: info-v2/initialize_dynamodb.sh")
    for option in ("--table NAME", "--region REGION", "--file PATH"):
        assert option in result.stdout


def run_loader(*args, env):
    """info-v2/load_watches.py run on its own, as initialize_dynamodb.sh runs it."""
    command = [sys.executable, str(LIB_DIR / "load_watches.py"), *args]
    return subprocess.run(command, env=env, cwd="/", capture_output=True, text=True, timeout=300)


# --- the loader's public functions, in process ---------------------------------------------


@pytest.fixture(scope="module")
def loader():
    return importlib.import_module("load_watches")


def make_table(aws, name):
    aws("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # A new table is CREATING for a moment (on AWS and dynalite; moto makes it ACTIVE at once).
    aws("dynamodb").get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return name


def watches(count):
    return [
        {"sku": f"WAY{n:04d}", "type": "watch", "status": "old", "gender": "man", "year": "2001"}
        for n in range(count)
    ]


def skus(start, stop):
    return [f"WAY{n:04d}" for n in range(start, stop)]


def inject(client, before, after):
    """Fault injection through botocore's events around each BatchWriteItem request.

    ``before(requests, context, first)`` may change the request before it is sent (``first``
    tells the first request); ``after(parsed, context)`` may change the parsed response; both
    get the same request context. Returns the skus of each request as sent.
    """
    sent = []

    def before_call(params, context, **_):
        (requests,) = params["RequestItems"].values()
        before(requests, context, first=not sent)
        sent.append([request["PutRequest"]["Item"]["sku"]["S"] for request in requests])

    def after_call(parsed, context, **_):
        after(parsed, context)

    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", before_call)
    client.meta.events.register("after-call.dynamodb.BatchWriteItem", after_call)
    return sent


def test_unprocessed_items_are_retried(loader, aws):
    table = make_table(aws, "loader-retry")
    client = aws("dynamodb")

    def send_only_22_of_the_first_request(requests, context, first):
        if first:
            context["held"] = requests[22:]
            del requests[22:]

    def report_them_unprocessed(parsed, context):
        if "held" in context:
            parsed["UnprocessedItems"] = {table: context["held"]}

    sent = inject(client, send_only_22_of_the_first_request, report_them_unprocessed)

    result = loader.load(watches(60), table, client, print, workers=1, backoff_base=0.001)

    assert result.summary() == "read 60, written 60, skipped 0"
    assert sent == [skus(0, 22), skus(22, 25), skus(25, 50), skus(50, 60)]
    assert sorted(as_python(scan(aws, table))) == skus(0, 60)
    assert loader.count_items(client, table, segments=3) == 60


def test_items_never_taken_are_reported_not_lost(loader, aws):
    table = make_table(aws, "loader-throttled")
    client = aws("dynamodb")

    def remember(requests, context, first):
        context["requests"] = list(requests)

    def always_leave_out_way0024(parsed, context):
        held = [r for r in context["requests"] if r["PutRequest"]["Item"]["sku"]["S"] == "WAY0024"]
        if held:
            parsed["UnprocessedItems"] = {table: held}

    sent = inject(client, remember, always_leave_out_way0024)

    skipped = []
    result = loader.load(
        watches(30), table, client, skipped.append, workers=1, max_attempts=3, backoff_base=0.001
    )

    assert sent == [skus(0, 25), ["WAY0024"], ["WAY0024"], skus(25, 30)]
    assert result.summary() == "read 30, written 29, skipped 1"
    reason = "not written: still unprocessed after 3 attempts (throttled)"
    assert skipped == [(24, "WAY0024", reason)]


def test_item_dynamodb_refuses_is_skipped_and_the_rest_of_its_batch_stored(loader, aws):
    table = make_table(aws, "loader-refused")
    records = watches(3)
    entries = [loader.Entry(index, loader.clean_record(raw)) for index, raw in enumerate(records)]
    entries[1].item["movement"] = "x" * 410_000  # over the 400 KB item limit

    skipped = loader.write_batch(aws("dynamodb"), table, entries)

    assert [(skip.index, skip.sku) for skip in skipped] == [(1, "WAY0001")]
    assert skipped[0].reason.startswith("rejected by DynamoDB: ")
    assert sorted(as_python(scan(aws, table))) == ["WAY0000", "WAY0002"]


def test_clean_record_is_usable_on_its_own(loader):
    raw = {"sku": "\ufeffCAR2110 ", "type": "chrono", "status": "old", "gender": "man"}
    assert loader.clean_record(raw | {"year": " 2017", "movement": None}) == {
        "sku": "CAR2110",
        "type": "chrono",
        "status": "old",
        "gender": "man",
        "year": 2017,
    }
    with pytest.raises(ValueError, match="year: 'n/a' is not an integer"):
        loader.clean_record(raw | {"year": "n/a"})
    with pytest.raises(ValueError, match="year: 2017.0 is not an integer"):
        loader.clean_record(raw | {"year": 2017.0})  # a JSON number with a fraction part


def test_concurrent_batches_store_every_item_once_and_retry_the_unprocessed(loader, aws):
    table = make_table(aws, "loader-concurrent")
    client = aws("dynamodb")
    active, most = [0], [0]
    lock = threading.Lock()

    def hold_the_last_two_of_each_first_attempt(requests, context, first):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        if len(requests) == 25:  # a first attempt; its retry has 2 items
            context["held"] = requests[23:]
            del requests[23:]

    def report_them_unprocessed(parsed, context):
        with lock:
            active[0] -= 1
        if "held" in context:
            parsed["UnprocessedItems"] = {table: context["held"]}

    sent = inject(client, hold_the_last_two_of_each_first_attempt, report_them_unprocessed)

    result = loader.load(watches(1000), table, client, print, workers=8, backoff_base=0.001)

    assert result.summary() == "read 1000, written 1000, skipped 0"
    assert most[0] > 1, "the batches were written one at a time"
    sends = Counter(sku for request in sent for sku in request)
    assert sorted(sends) == skus(0, 1000)
    assert set(sends.values()) == {1}  # each sku went out once: a held one in its retry only
    assert len(sent) == 40 + 40  # 40 first attempts of 23 items, 40 retries of 2
    assert sorted(as_python(scan(aws, table))) == skus(0, 1000)
    assert loader.count_items(client, table, segments=4) == 1000


def test_the_check_counts_a_table_of_several_pages_in_segments(loader, aws):
    """A scan reads 1 MB a page: 1,200 items of 1 KB are two pages, and their count the same
    whichever way the table is cut (moto answers a count in one page: tools/aws_emulator.py)."""
    table = make_table(aws, "loader-count")
    client = aws("dynamodb")
    padding = {"padding": {"S": "x" * 1000}}
    for start in range(0, 1200, 25):
        requests = [
            {"PutRequest": {"Item": {"sku": {"S": sku}, **padding}}}
            for sku in skus(start, start + 25)
        ]
        assert not client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems")
    assert len(scan(aws, table)) == 1200
    for segments in (1, 3):
        assert loader.count_items(client, table, segments) == 1200


def test_dynamodb_refusing_every_write_still_ends_with_the_summary(
    loader, aws, aws_env, monkeypatch, capsys, tmp_path
):
    table = make_table(aws, "loader-refusing")
    client = regional_client(aws, "us-east-1", retries={"mode": "standard", "max_attempts": 2})

    def throttle(request, **_):
        body = b'{"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded"}'
        return AWSResponse(request.url, 400, {}, RawBody(body))

    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle)
    monkeypatch.setattr(loader, "make_client", lambda workers: client)
    source = tmp_path / "sixty.json"
    source.write_text(json.dumps(watches(60)), encoding="utf-8")

    status = loader.main(["--table", table, "--file", str(source), "--workers", "2"])

    out, err = capsys.readouterr()
    assert status == 1
    assert out.splitlines()[-1] == "read 60, written 0, skipped 0"
    assert err.count("\n") == 1
    assert "ProvisionedThroughputExceededException" in err
    assert "run again" in err
