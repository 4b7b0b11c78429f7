"""The small Python steps of the deploy scripts, one subcommand each.

    deploy_helpers.py lambda-regions
    deploy_helpers.py zappa-setting STAGE KEY
    deploy_helpers.py zappa-settings STAGE SNAP_START REQUIREMENTS
    deploy_helpers.py execution-policy REGION ACCOUNT TABLE FUNCTION
    deploy_helpers.py finish-package PACKAGE REQUIREMENTS APP_FILE...
    deploy_helpers.py function-configuration FUNCTION ROLE_ARN CURRENT_VARIABLES_FILE SETTINGS STAGE
    deploy_helpers.py import-result < RESPONSE
    deploy_helpers.py invoke-source-arn STATEMENT_ID RESOURCE < POLICY
    deploy_helpers.py log-events SEEN_FILE < FILTER_LOG_EVENTS_RESPONSE
    deploy_helpers.py server-errors < FILTER_LOG_EVENTS_RESPONSE
    deploy_helpers.py code-sha256 PACKAGE

A failure ends with one line on stderr and a non-zero status. Only the standard library is
imported at the top: finish-package runs under the packaging virtualenv's Python.
"""

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import py_compile
import re
import shutil
import string
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent
ZAPPA_SETTINGS = LIB_DIR.parent / "zappa_settings.json"
EXECUTION_POLICY = LIB_DIR / "execution_policy.json"
# The function's environment variables that the scripts set from their own environment.
FUNCTION_VARIABLES = ("DYNAMODB_TABLE", "HTTP_USER")
# Werkzeug's scrypt at a thirty-second of its default work (N = 1024, 1 MiB): the deploy
# scripts take only long random passwords (lambda_common.sh), which no one guesses however
# quickly each guess is checked, and the first request of every new container pays one check
# (see bench/bench_password.py).
PASSWORD_HASH_METHOD = "scrypt:1024:8:1"


def lambda_regions():
    """The regions where Lambda exists, one per line, as botocore's endpoint data lists them."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    print("\n".join(sorted(resolver.get_available_endpoints("lambda"))))


def stage_settings(stage):
    """The settings of STAGE in zappa_settings.json, over those of the stage it extends."""
    settings = json.loads(ZAPPA_SETTINGS.read_text(encoding="utf-8"))
    if stage not in settings:
        sys.exit(
            f"stage '{stage}' is not in {ZAPPA_SETTINGS}; add it there "
            f"or set STAGE to one of {sorted(settings)}"
        )
    own = settings[stage]
    base = settings.get(own.get("extends"), {})
    return {**base, **own}


def zappa_setting(stage, key):
    """A value of STAGE in zappa_settings.json; KEY may name a nested one (a.b)."""
    value = stage_settings(stage)
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            sys.exit(f"'{key}' is not set for stage '{stage}' in {ZAPPA_SETTINGS}")
        value = value[part]
    print(value)


def zappa_settings(stage, snap_start, requirements):
    """zappa_settings.json as Zappa gets it: the function's whole environment, so that the
    version `zappa deploy` publishes holds it (the stage's table as the scripts resolved it,
    DYNAMODB_TABLE; HTTP_USER and HTTP_PASS_HASH, see password_hash; CORS_ORIGINS unless it is
    unset or empty: CORS off); SNAP_START (on/off)
    applied (Zappa's snap_start, and with it the app imported during init, Zappa's
    INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT, so that the snapshot holds it), and, for speed only,
    Zappa told not to copy what finish-package would drop: the virtualenv's other
    distributions (Zappa's own command-line dependencies, boto3 ...)."""
    settings = json.loads(ZAPPA_SETTINGS.read_text(encoding="utf-8"))
    own = settings[stage]
    variables = {**stage_settings(stage).get("aws_environment_variables", {})}
    variables.update({name: os.environ[name] for name in FUNCTION_VARIABLES})
    if os.environ.get("CORS_ORIGINS", "").strip():
        variables["CORS_ORIGINS"] = os.environ["CORS_ORIGINS"]
    variables["HTTP_PASS_HASH"] = password_hash(os.environ["HTTP_PASS"])
    if snap_start == "on":
        own["snap_start"] = "PublishedVersions"
        variables["INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"] = "true"
    else:
        own["snap_start"] = "None"
    own["aws_environment_variables"] = variables
    site_packages = Path(sysconfig.get_paths()["purelib"])
    wanted = distribution_entries(requirements)
    own["exclude"] = sorted(
        {"__pycache__"} | {path.name for path in site_packages.iterdir() if path.name not in wanted}
    )
    print(json.dumps(settings))


def password_hash(password, current=""):
    """HTTP_PASS_HASH: a salted scrypt hash of PASSWORD (Werkzeug's generate_password_hash,
    PASSWORD_HASH_METHOD), so that reading the function's configuration does not reveal the
    password. CURRENT, the function's hash, is kept when it has today's parameters and verifies
    PASSWORD: a rerun without a new password changes nothing, and Lambda publishes no new
    version."""
    from werkzeug.security import check_password_hash, generate_password_hash

    if current.startswith(PASSWORD_HASH_METHOD + "$") and check_password_hash(current, password):
        return current
    return generate_password_hash(password, PASSWORD_HASH_METHOD)


def execution_policy(region, account, table, function):
    """execution_policy.json with its ${...} placeholders filled in, as one line of JSON."""
    template = string.Template(EXECUTION_POLICY.read_text(encoding="utf-8"))
    text = template.substitute(region=region, account=account, table=table, function=function)
    print(json.dumps(json.loads(text)))


# The Lambda runtime provides boto3 and what it depends on: the package leaves them out.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
# Zappa's handler, which Lambda calls: the files Zappa writes at the package's top, and the
# distributions it imports at run time.
ZAPPA_FILES = {"__init__.py", "handler.py", "zappa_settings.py"}
ZAPPA_DISTRIBUTIONS = {"zappa", "durationpy"}
# Compiled modules of earlier builds, in the virtualenv of the Python that compiled them.
BYTECODE_CACHE = Path(sys.prefix) / "bytecode-cache"


def finish_package(package_path, requirements, app_files):
    """Keeps what the function needs, adds the compiled bytecode of every module, and makes
    the package reproducible.

    What the function needs is a list, not what is left after exclusions: APP_FILES (the
    staged app), Zappa's handler, and the distributions named in REQUIREMENTS except those
    the Lambda runtime provides (without their test suites). Zappa zips its whole
    virtualenv, its own command-line dependencies too: everything else is dropped.

    Lambda's /var/task is read-only, so without bytecode each cold start compiles every
    imported module again (about half of the cold start). Zappa leaves __pycache__ out; the
    bytecode is made by the runtime's Python, hash-based and unchecked (zip timestamps cannot
    invalidate it), with the paths the code has on Lambda. The same sources then give the
    same bytes: entries in name order with one fixed timestamp, and without Zappa's
    package_info.json (a random id, the build time and user; nothing reads it at run time),
    so update_lambdas.sh reports the same CodeSha256 when no code changed.
    """
    wanted = set(app_files) | ZAPPA_FILES | distribution_entries(requirements)
    with tempfile.TemporaryDirectory() as tree:
        with zipfile.ZipFile(package_path) as package:
            entries = [info for info in package.infolist() if needed(info.filename, wanted)]
            package.extractall(tree, members=entries)
            modes = {info.filename: info.external_attr for info in entries}
        missing = (set(app_files) | distribution_files(requirements)) - set(modes)
        if missing:
            sys.exit(f"the package lacks {len(missing)} needed file(s): {sorted(missing)[:5]}")
        compile_bytecode(Path(tree))
        files = sorted(path for path in Path(tree).rglob("*") if path.is_file())
        with zipfile.ZipFile(package_path, "w", zipfile.ZIP_DEFLATED) as package:
            for path in files:
                name = path.relative_to(tree).as_posix()
                entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = modes.get(name, 0o644 << 16)
                entry.compress_type = zipfile.ZIP_DEFLATED
                package.writestr(entry, path.read_bytes())


def compile_bytecode(tree):
    """Each module's bytecode beside it, as Lambda would import it from /var/task: made by
    this Python, hash-based and unchecked. The same module always compiles to the same bytes,
    so they are kept in BYTECODE_CACHE (of the packaging virtualenv) by path and source: a
    rebuild compiles only what changed. A file that is not valid Python is left without."""
    for source in tree.rglob("*.py"):
        relative = source.relative_to(tree).as_posix()
        code = source.read_bytes()
        key = hashlib.sha256(relative.encode() + b"\0" + code).hexdigest()
        cached = BYTECODE_CACHE / key[:2] / key
        target = Path(importlib.util.cache_from_source(source))
        if not cached.exists():
            try:
                py_compile.compile(
                    source,
                    cfile=target,
                    dfile=f"/var/task/{relative}",
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(f".{os.getpid()}")
            shutil.copyfile(target, temporary)
            temporary.replace(cached)  # whole or absent, whatever runs beside it
        else:
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(cached, target)


def needed(name, wanted):
    """Whether the package entry NAME is one the function needs: under a wanted top-level
    name, and neither bytecode (made anew below) nor a distribution's own test suite."""
    parts = name.split("/")
    return parts[0] in wanted and "__pycache__" not in parts and parts[1:2] != ["tests"]


def distribution_files(requirements):
    """The files of the distributions the function needs, as installed for the Python running
    this (relative to site-packages; their bytecode and test suites left out)."""
    from importlib.metadata import distribution

    names = requirement_names(requirements) - RUNTIME_PROVIDED | ZAPPA_DISTRIBUTIONS
    files = set()
    for name in names:
        for file in distribution(name).files or []:
            if file.parts[0] != ".." and needed(file.as_posix(), {file.parts[0]}):
                files.add(file.as_posix())
    return files


def distribution_entries(requirements):
    """The top-level names (packages, modules, .dist-info folders) of those files."""
    return {file.split("/")[0] for file in distribution_files(requirements)}


def requirement_names(requirements):
    """The normalised distribution names of a pinned requirements file (name[extras]==x)."""
    names = set()
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]
            names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


# What the scripts set on Lambda besides the environment: the stage's settings (zappa_settings
# key -> update-function-configuration field), as `zappa update` set them.
CONFIGURATION_SETTINGS = {
    "runtime": "Runtime",
    "memory_size": "MemorySize",
    "timeout_seconds": "Timeout",
    "lambda_description": "Description",
}


def function_configuration(function, role_arn, current_file, settings_file, stage):
    """The update-function-configuration request that gives $LATEST the configuration of the
    next version: the role, Zappa's handler, the stage's settings and SnapStart from the
    rendered zappa settings SETTINGS_FILE (zappa-settings), and the environment: the
    function's current variables (one set by hand stays), those of the settings, HTTP_USER,
    and the current HTTP_PASS_HASH when it still verifies HTTP_PASS (see password_hash). An
    HTTP_PASS left by an older deployment is removed, and so are
    INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT when SnapStart is off and CORS_ORIGINS when CORS is."""
    own = json.loads(Path(settings_file).read_text(encoding="utf-8"))[stage]
    current = json.loads(Path(current_file).read_text(encoding="utf-8")) or {}
    variables = {
        name: value
        for name, value in current.items()
        if name not in ("HTTP_PASS", "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT", "CORS_ORIGINS")
    }
    variables.update(own["aws_environment_variables"])
    variables["HTTP_PASS_HASH"] = password_hash(
        os.environ["HTTP_PASS"], current.get("HTTP_PASS_HASH", "")
    )
    settings = {**stage_settings(stage), **own}
    request = {
        "FunctionName": function,
        "Role": role_arn,
        "Handler": "handler.lambda_handler",
        **{
            field: settings[key] for key, field in CONFIGURATION_SETTINGS.items() if key in settings
        },
        "SnapStart": {"ApplyOn": own["snap_start"]},
        "Environment": {"Variables": variables},
    }
    print(json.dumps(request))


def import_result():
    """The REST API id of an import-rest-api/put-rest-api response; its warnings on stderr."""
    response = json.load(sys.stdin)
    for warning in response.get("warnings") or []:
        print(f"==> API Gateway warning: {warning}", file=sys.stderr)
    print(response["id"])


def invoke_source_arn(statement_id, resource):
    """The SourceArn of the statement STATEMENT_ID for RESOURCE (the function or its alias)
    in a function policy ("-" without one). The emulator copies the function's policy into
    each published version; AWS does not."""
    for statement in json.load(sys.stdin).get("Statement", []):
        if statement.get("Sid") == statement_id and statement.get("Resource") == resource:
            print(statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "-"))


def log_events(seen_file):
    """The events of a filter-log-events answer not listed in SEEN_FILE, one line each with
    its UTC time, oldest first; their ids are added to SEEN_FILE. An event that CloudWatch
    Logs stored late is printed when it arrives, and no event twice."""
    seen = set(Path(seen_file).read_text(encoding="utf-8").split())
    events = sorted(json.load(sys.stdin).get("events", []), key=lambda event: event["timestamp"])
    with open(seen_file, "a", encoding="utf-8") as seen_ids:
        for event in events:
            if event["eventId"] in seen:
                continue
            seen_ids.write(event["eventId"] + "\n")
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event["timestamp"] / 1000))
            message = event["message"].rstrip()
            print(f"{stamp}.{event['timestamp'] % 1000:03d}  {message}", flush=True)


def server_errors():
    """How many request-log lines (request_log.py) of a filter-log-events answer record an
    answer with an HTTP 5xx status."""
    count = 0
    for event in json.load(sys.stdin).get("events", []):
        start = event["message"].find('{"request_id"')
        if start < 0:
            continue
        try:
            status = json.loads(event["message"][start:]).get("status")
        except ValueError:
            continue
        count += isinstance(status, int) and status >= 500
    print(count)


def code_sha256(package_path):
    """Lambda's CodeSha256 of a package: base64 of the SHA-256 digest of the zip."""
    digest = hashlib.sha256(Path(package_path).read_bytes()).digest()
    print(base64.b64encode(digest).decode())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, function, arguments in COMMANDS:
        subparser = commands.add_parser(command, help=function.__doc__.splitlines()[0])
        for argument in arguments:
            subparser.add_argument(argument, nargs="+" if argument == "app_files" else None)
        subparser.set_defaults(run=function, arguments=arguments)
    return parser.parse_args(argv)


COMMANDS = [
    ("lambda-regions", lambda_regions, []),
    ("zappa-setting", zappa_setting, ["stage", "key"]),
    ("zappa-settings", zappa_settings, ["stage", "snap_start", "requirements"]),
    ("execution-policy", execution_policy, ["region", "account", "table", "function"]),
    ("finish-package", finish_package, ["package", "requirements", "app_files"]),
    (
        "function-configuration",
        function_configuration,
        ["function", "role_arn", "current_file", "settings_file", "stage"],
    ),
    ("import-result", import_result, []),
    ("invoke-source-arn", invoke_source_arn, ["statement_id", "resource"]),
    ("log-events", log_events, ["seen_file"]),
    ("server-errors", server_errors, []),
    ("code-sha256", code_sha256, ["package_path"]),
]


def main(argv=None):
    args = parse_args(argv)
    return args.run(*(getattr(args, name) for name in args.arguments))


if __name__ == "__main__":
    sys.exit(main())
