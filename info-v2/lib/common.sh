# shellcheck shell=bash
# Shared configuration and checks for the scripts in info-v2/. Source it, do not run it.
#
# Configuration (environment variables, with their defaults):
#   STAGE            dev        Zappa stage in zappa_settings.json; also the API Gateway stage
#   DYNAMODB_TABLE   the stage's aws_environment_variables.DYNAMODB_TABLE in zappa_settings.json
#   AWS_REGION       from AWS_DEFAULT_REGION, then `aws configure get region`, then us-east-1
#   AWS_ENDPOINT_URL (unset)    send every AWS call to an emulator instead of AWS
#   PYTHON           python3    the interpreter for the tools virtualenv (.venv)
#   BUILD_DIR        build/     packages, rendered documents and the endpoint file
#   SNAP_START       off        on: Lambda SnapStart (PublishedVersions): each published version
#                               gets a snapshot; API Gateway invokes alias "live" either way

# The names below are used by the scripts that source this file.
# shellcheck disable=SC2034
LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFO_DIR="$(dirname "$LIB_DIR")"
REPO_DIR="$(dirname "$INFO_DIR")"
BUILD_DIR="${BUILD_DIR:-$REPO_DIR/build}"
TOOLS_VENV="$REPO_DIR/.venv"
LAMBDA_VENV="$REPO_DIR/.venv-lambda"
RUNTIME_VENV="$REPO_DIR/.venv-runtime" # the Lambda runtime: $LAMBDA_PYTHON and boto3 only
SPEC_FILE="$REPO_DIR/info_openapi_v2.yaml"

# shellcheck disable=SC2034
STAGE="${STAGE:-dev}"
DYNAMODB_TABLE="${DYNAMODB_TABLE:-}" # resolve_table: the stage's own, from zappa_settings.json
PYTHON="${PYTHON:-python3}"
# The Lambda runtime in zappa_settings.json; the package is built with the same Python.
LAMBDA_PYTHON="python3.13"
export STAGE DYNAMODB_TABLE
export AWS_PAGER="" # AWS CLI v2 would page long outputs
# AWS CLI v2's retries (3 attempts, backoff with jitter), also under v1 (the tools virtualenv's):
# v1's legacy mode tries DynamoDB 10 times, so an endpoint that is down took 27 s to report.
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-standard}"
# What run.sh and the offline AWS send as credentials: local emulators accept any, and this
# one never matches a real account's.
DUMMY_CREDENTIAL="testing"
# The id of the statement that lets API Gateway invoke the function (create and teardown).
INVOKE_STATEMENT_ID="api-gateway-invoke"
SNAP_START="${SNAP_START:-off}"
# The alias Zappa makes for its versions when SnapStart is on (zappa.core's
# SNAPSTART_LAMBDA_ALIAS). Earlier deployments had API Gateway invoke it; releases now go
# through alias "live" (release.sh), and the scripts remove it.
SNAPSTART_ALIAS="snapstart"

# warn MESSAGE: one readable error line on stderr, naming the script.
warn() {
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
}

# die MESSAGE: warn, then exit 1.
die() {
    warn "$@"
    exit 1
}

# last_line TEXT: the last non-blank line, to quote a long tool output in one line.
last_line() {
    printf '%s\n' "$1" | awk 'NF { line = $0 } END { print line }'
}

# say MESSAGE: a progress line on stderr, so stdout stays for results.
say() {
    printf '==> %s\n' "$*" >&2
}

# handle_help "$@": prints the usage comment at the top of the calling script for -h/--help.
# Every script that sources this file does so at its top, with its own arguments: it answers
# -h and --help here, before any check.
handle_help() {
    local arg
    for arg in "$@"; do
        if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
            sed -n '2,/^$/{/^#/!q;s/^# \{0,1\}//p}' "$0"
            exit 0
        fi
    done
}
handle_help "$@"

# parse_options SPEC... -- "$@": the command line into the calling script's variables, or one
# line naming the argument it cannot take. A SPEC --name=VARIABLE is an option with a value
# (`--name VALUE` or `--name=VALUE`, not empty) that goes into VARIABLE; --name=VARIABLE=true is
# a flag that sets VARIABLE to true. The script checks the values afterwards.
parse_options() {
    local specs=() spec candidate name value
    while [[ "$1" != -- ]]; do
        specs+=("$1")
        shift
    done
    shift
    while (($# > 0)); do
        name="${1%%=*}" spec=""
        for candidate in "${specs[@]}"; do
            [[ "${candidate%%=*}" != "$name" ]] || spec="${candidate#*=}"
        done
        [[ -n "$spec" ]] || die "unknown argument '$1'; see --help"
        if [[ "$spec" == *=* ]]; then
            [[ "$1" == "$name" ]] || die "$name takes no value; see --help"
            printf -v "${spec%%=*}" '%s' "${spec#*=}"
            shift
            continue
        fi
        if [[ "$1" == *=* ]]; then
            value="${1#*=}"
        else
            value="${2:-}"
            (($# < 2)) || shift
        fi
        [[ -n "$value" ]] || die "$name needs a value; see --help"
        printf -v "$spec" '%s' "$value"
        shift
    done
}

# require_command NAME HINT: stop with one line when a tool is missing.
require_command() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' was not found on PATH. $2"
}

require_aws_cli() {
    require_command aws "Install the AWS CLI (https://aws.amazon.com/cli/) or run 'pip install awscli'."
}

# resolve_region: sets and exports AWS_REGION and AWS_DEFAULT_REGION.
resolve_region() {
    local region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
    if [[ -z "$region" ]]; then
        # The AWS CLI's own configuration (a local file, no call to AWS): empty when unset.
        region="$(aws configure get region 2>/dev/null || true)"
    fi
    AWS_REGION="${region:-us-east-1}"
    AWS_DEFAULT_REGION="$AWS_REGION"
    export AWS_REGION AWS_DEFAULT_REGION
}

# require_known_region: an unknown region fails here, not as a DNS error deep inside a call.
# The regions are Lambda's as the tools virtualenv's botocore lists them, written to a file
# once per install of its requirements: every script checks, and a Python start costs 0.1 s.
require_known_region() {
    local regions="$TOOLS_VENV/lambda-regions.txt" listing
    if [[ ! "$regions" -nt "$(venv_stamp "$TOOLS_VENV" "$LIB_DIR/requirements-tools.txt")" ]]; then
        listing="$(mktemp "$regions.XXXXXX")"
        deploy_helper lambda-regions >"$listing" || die "could not list the AWS regions (botocore's endpoint data)"
        mv -f "$listing" "$regions"
    fi
    grep -qxF "$AWS_REGION" "$regions" ||
        die "unknown AWS region '$AWS_REGION'. Set AWS_REGION to a region such as us-east-1 or eu-west-1."
}

# --- Calling AWS ----------------------------------------------------------------------
# Two functions call the AWS CLI; every script uses them, and a raw `aws` call is left only
# where a comment says why. Both print the CLI's output on stdout ("None", the CLI's text for
# nothing, prints nothing), so results are read with $(...), never through globals.
#
#   aws_run WHAT ARGS...     the call must succeed; on failure it stops with one line:
#                            "cannot WHAT: <the cause>" (exit status 1).
#   aws_lookup WHAT ARGS...  for something that may not exist: exit status 1 and nothing
#                            printed when AWS says it does not exist; 2, after the same one
#                            line as aws_run, on any other failure. Use it in a condition:
#       if arn="$(aws_lookup "read IAM role $ROLE" iam get-role ...)"; then
#           ...                           # found
#       else
#           (($? == 1)) || exit 1         # another failure: the line is printed already
#           ...                           # not found
#       fi
#   or `arn="$(aws_lookup ...)" || { (($? == 1)) || exit 1; ...not found...; }`; never with
#   `if !`, which turns the status into 0.
# Inside $(...) a failure ends only that subshell: where errexit does not apply (in a
# condition, or under `local x=...`), add `|| exit 1`. inherit_errexit (bash 4.4 and later)
# makes a failed command inside $(...) end the substitution too, not run on.
shopt -s inherit_errexit 2>/dev/null || true

aws_run() {
    local what="$1" output
    shift
    output="$(aws "$@" 2>&1)" || die "$(aws_failure "$what" "$1" "$output")"
    [[ "$output" == "None" ]] || printf '%s\n' "$output"
}

aws_lookup() {
    local what="$1" output
    shift
    if output="$(aws "$@" 2>&1)"; then
        [[ "$output" == "None" ]] || printf '%s\n' "$output"
        return 0
    fi
    if grep -qE 'NotFound|NoSuchEntity|does not exist|cannot be found' <<<"$output"; then
        return 1
    fi
    warn "$(aws_failure "$what" "$1" "$output")"
    return 2
}

# aws_failure WHAT SERVICE OUTPUT: the one line that says why a call of the AWS CLI failed.
# An endpoint that cannot be reached, missing or refused credentials and a server that is not
# AWS at all each need their own fix, so they are named; any other error is the CLI's last line.
aws_failure() {
    local what="$1" service output="$3" where="${AWS_ENDPOINT_URL:-AWS in $AWS_REGION}"
    service="$(service_name "$2")"
    case "$output" in
    *"Could not connect to the endpoint URL"* | *"Connect timeout on endpoint"* | *"Read timeout on endpoint"*)
        printf 'cannot reach %s at %s: is it running, and is the address right?\n' "$service" "$where" ;;
    *"Unable to locate credentials"* | *"Partial credentials found"*)
        printf "no usable AWS credentials: none were found. Run 'aws configure', or set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.\n" ;;
    *UnrecognizedClientException* | *InvalidClientTokenId* | *InvalidSignatureException* | \
        *SignatureDoesNotMatch* | *ExpiredToken* | *AuthFailure*)
        printf 'no usable AWS credentials: %s at %s refused them (%s)\n' "$service" "$where" "$(last_line "$output")" ;;
    *UnknownOperationException* | *"operation: Unknown"*)
        printf '%s does not answer %s (a DynamoDB-only emulator?): the deploy scripts need an endpoint that serves every AWS service they call.\n' "$where" "$service" ;;
    *"<html"* | *"<HTML"* | *"<!doctype"* | *"<!DOCTYPE"* | *"</html>"*)
        printf '%s answers HTML, not the AWS API: is the URL right?\n' "$where" ;;
    *)
        printf 'cannot %s: %s\n' "$what" "$(last_line "$output")" ;;
    esac
}

# service_name CLI_SERVICE: how AWS names the service of an AWS CLI command, for messages.
service_name() {
    case "$1" in
    dynamodb) echo DynamoDB ;;
    sts) echo STS ;;
    lambda) echo Lambda ;;
    iam) echo IAM ;;
    apigateway | apigatewayv2) echo "API Gateway" ;;
    logs) echo "CloudWatch Logs" ;;
    cloudwatch) echo CloudWatch ;;
    acm) echo ACM ;;
    route53) echo "Route 53" ;;
    events) echo EventBridge ;;
    s3) echo S3 ;;
    *) echo "$1" ;;
    esac
}

# require_aws_credentials: sets ACCOUNT_ID (deploy scripts need it for ARNs), or stops with one line.
require_aws_credentials() {
    # shellcheck disable=SC2034
    ACCOUNT_ID="$(aws_run "ask STS who the credentials belong to" sts get-caller-identity \
        --query Account --output text)"
}

# require_dynamodb_access: one DynamoDB call proves endpoint and credentials, for the scripts
# that need nothing else (DynamoDB Local and other DynamoDB-only endpoints have no STS).
require_dynamodb_access() {
    aws_run "list DynamoDB tables" dynamodb list-tables --max-items 1 --cli-connect-timeout 5 >/dev/null
}

# aws_tools_and_region: the AWS CLI, the tools virtualenv, a known region and the table name.
aws_tools_and_region() {
    require_aws_cli
    ensure_tools_venv
    resolve_region
    require_known_region
    resolve_table
}

# aws_preflight: the checks every deploy script starts with; sets ACCOUNT_ID.
aws_preflight() {
    aws_tools_and_region
    require_aws_credentials
    [[ "$SNAP_START" == on || "$SNAP_START" == off ]] ||
        die "SNAP_START must be 'on' or 'off', not '$SNAP_START'"
}

# dynamodb_preflight: the checks of the scripts that only need DynamoDB.
dynamodb_preflight() {
    aws_tools_and_region
    require_dynamodb_access
}

# require_http_user: basic auth sends "user:password", so a user name cannot hold a colon.
require_http_user() {
    [[ "$HTTP_USER" != *:* ]] ||
        die "HTTP_USER must not contain ':' (basic auth puts a ':' between user and password); choose another user name."
}

# require_cors_origins: CORS_ORIGINS is empty (CORS off), or a comma-separated list of origins
# as browsers send them in the Origin header (lower case, no path, no trailing slash), or '*'.
require_cors_origins() {
    local origins origin
    IFS=, read -ra origins <<<"${CORS_ORIGINS:-}"
    for origin in "${origins[@]}"; do
        read -r origin <<<"$origin" # without the spaces around it
        [[ -z "$origin" || "$origin" == "*" || "$origin" =~ ^[a-z][a-z0-9+.-]*://[^/[:space:][:upper:]]+$ ]] ||
            die "CORS_ORIGINS: '$origin' is not an origin as browsers send it, such as https://app.example.com or http://localhost:3000 (lower case, no path, no trailing '/'), nor '*'"
    done
}

# wait_for_table TABLE: until DynamoDB says TABLE is ACTIVE, asking every second, for 500 s at
# most. The AWS CLI's waiter (dynamodb wait table-exists) asks every 20 s, so a table that
# DynamoDB makes or updates in 3 s cost 20.
wait_for_table() {
    local status deadline=$((SECONDS + 500))
    while true; do
        status="$(aws_run "read table '$1'" dynamodb describe-table --table-name "$1" \
            --query Table.TableStatus --output text)"
        [[ "$status" != ACTIVE ]] || return 0
        ((SECONDS < deadline)) || die "table '$1' is still $status after 500 s"
        sleep 1
    done
}

# require_table: the table must exist before a function is pointed at it.
require_table() {
    aws_lookup "read DynamoDB table '$DYNAMODB_TABLE'" dynamodb describe-table \
        --table-name "$DYNAMODB_TABLE" >/dev/null && return
    (($? == 1)) || exit 1
    die "DynamoDB table '$DYNAMODB_TABLE' not found in $AWS_REGION. Run initialize_dynamodb.sh first."
}

# lib_python SCRIPT ARGS...: one of the Python helpers in lib/ (SCRIPT without .py), run by
# the tools virtualenv. Each prints its own one-line error and exits non-zero on failure.
lib_python() {
    "$TOOLS_VENV/bin/python" "$LIB_DIR/$1.py" "${@:2}"
}

# deploy_helper COMMAND ARGS...: a subcommand of deploy_helpers.py (the scripts' Python steps).
deploy_helper() {
    lib_python deploy_helpers "$@"
}

# zappa_setting KEY: a value of the current stage in zappa_settings.json (a stage's "extends"
# applies; KEY may name a nested value, e.g. aws_environment_variables.DYNAMODB_TABLE).
zappa_setting() {
    deploy_helper zappa-setting "$STAGE" "$1"
}

# resolve_table: DYNAMODB_TABLE, unless set, is the stage's own in zappa_settings.json: the
# one place that names each stage's table.
resolve_table() {
    if [[ -z "$DYNAMODB_TABLE" ]]; then
        DYNAMODB_TABLE="$(zappa_setting aws_environment_variables.DYNAMODB_TABLE)" || exit 1
    fi
    export DYNAMODB_TABLE
}

# deployment_names: sets FUNCTION (Zappa names it "<project_name>-<stage>") and ROLE.
deployment_names() {
    local project
    project="$(zappa_setting project_name)" || exit 1
    FUNCTION="$project-$STAGE"
    ROLE="$(zappa_setting role_name)" || exit 1
}

# certificate_field ARN QUERY: one field of describe-certificate (under Certificate.), as text;
# empty when the certificate has none (create_custom_domain.sh, delete_all.sh).
certificate_field() {
    aws_run "describe certificate $1" acm describe-certificate --certificate-arn "$1" \
        --query "Certificate.$2" --output text
}

# rest_api_ids: the ids of the REST APIs named $FUNCTION (the scripts name it so), one per line.
rest_api_ids() {
    local ids
    ids="$(aws_run "list REST APIs" apigateway get-rest-apis \
        --query "items[?name=='$FUNCTION'].id" --output text)" || exit 1
    [[ -z "$ids" ]] || tr '\t' '\n' <<<"$ids"
}

# stage_url API_ID: the public base URL of the REST API's stage $STAGE; clients append
# /watch/{sku}. (A custom domain's is https://<domain>/info/v2: create_custom_domain.sh.)
stage_url() {
    local domain="amazonaws.com"
    [[ "$AWS_REGION" == cn-* ]] && domain="amazonaws.com.cn"
    printf 'https://%s.execute-api.%s.%s/%s\n' "$1" "$AWS_REGION" "$domain" "$STAGE"
}

# hosted_zone_of NAME: "ZONE_ID ZONE_NAME" of the public Route 53 hosted zone that holds NAME's
# records (the longest zone name that NAME ends with); exit status 1 when none does.
hosted_zone_of() {
    local name="${1%.}." zones id zone best_id="" best_zone=""
    # shellcheck disable=SC2016  # JMESPath's literal `false`, not a command
    zones="$(aws_run "list Route 53 hosted zones" route53 list-hosted-zones \
        --query 'HostedZones[?Config.PrivateZone==`false`].[Id, Name]' --output text)" || exit 1
    while read -r id zone; do
        if [[ -n "$zone" ]] && [[ "$name" == "$zone" || "$name" == *".$zone" ]] &&
            ((${#zone} > ${#best_zone})); then
            best_id="${id##*/}" best_zone="$zone"
        fi
    done <<<"$zones"
    [[ -n "$best_id" ]] && printf '%s %s\n' "$best_id" "$best_zone"
}

# record_change ACTION RECORD_SET_JSON: the change batch of one UPSERT or DELETE, for
# `aws route53 change-resource-record-sets --change-batch`.
record_change() {
    printf '{"Changes": [{"Action": "%s", "ResourceRecordSet": %s}]}\n' "$1" "$2"
}

# ensure_tools_venv: .venv, with what run.sh, the deploy scripts and tools/ need.
ensure_tools_venv() {
    ensure_venv "$TOOLS_VENV" "$LIB_DIR/requirements-tools.txt" "$PYTHON"
}

# ensure_packaging_venv PYTHON: .venv-lambda, Zappa under the Lambda runtime's PYTHON.
ensure_packaging_venv() {
    ensure_venv "$LAMBDA_VENV" "$LIB_DIR/requirements-zappa.txt" "$1"
}

# ensure_runtime_venv PYTHON: .venv-runtime, the offline Lambda runtime (PYTHON and boto3).
ensure_runtime_venv() {
    ensure_venv "$RUNTIME_VENV" "$REPO_DIR/tools/requirements-lambda-runtime.txt" "$1"
}

# runtime_python: the path of the Lambda runtime's Python ($LAMBDA_PYTHON): the one on PATH,
# else one that pyenv has installed without activating it.
runtime_python() {
    local version
    if "$LAMBDA_PYTHON" -c '' >/dev/null 2>&1; then
        command -v "$LAMBDA_PYTHON"
    elif version="$(pyenv whence "$LAMBDA_PYTHON" 2>/dev/null | tail -n 1)" && [[ -n "$version" ]]; then
        printf '%s/versions/%s/bin/%s\n' "$(pyenv root)" "$version" "$LAMBDA_PYTHON"
    else
        die "'$LAMBDA_PYTHON' was not found on PATH. The package is built with the Lambda runtime's Python: install it (python.org, pyenv or your package manager)."
    fi
}

# venv_stamp VENV REQUIREMENTS: the file in which ensure_venv notes what it installed.
venv_stamp() {
    printf '%s/.installed-%s-%s\n' "$1" "$(basename "$(dirname "$2")")" "$(basename "$2")"
}

# ensure_venv DIR REQUIREMENTS PYTHON: creates the virtualenv and installs the pinned
# requirements; does nothing when that file has not changed since the last install. A
# virtualenv of another Python version (e.g. after a runtime change) is made anew.
ensure_venv() {
    local venv="$1" requirements="$2" python="$3"
    local stamp
    stamp="$(venv_stamp "$venv" "$requirements")"
    require_command "$python" "Install Python 3.11 (python.org, pyenv or your package manager)."
    "$python" -c '' >/dev/null 2>&1 || die "'$python' does not run; install it (python.org, pyenv or your package manager)."
    if [[ -x "$venv/bin/python" && "$("$venv/bin/python" -V 2>&1)" != "$("$python" -V 2>&1)" ]]; then
        say "making $venv anew for $("$python" -V 2>&1)"
        rm -rf "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating virtualenv $venv"
        "$python" -m venv "$venv" || die "could not create a virtualenv with $python"
    fi
    if ! requirements_text "$requirements" | cmp -s - "$stamp"; then
        say "installing $(basename "$requirements") into $venv (first run only)"
        install_requirements "$venv" "$requirements" || die "could not install $requirements"
        requirements_text "$requirements" >"$stamp"
    fi
}

# install_requirements VENV REQUIREMENTS: uv installs them (about six times faster than pip
# here: 8 s against 49 s for the tests' requirements), from the index pip is configured with;
# pip installs uv itself (requirements-installer.txt) unless that version is there already.
# It compiles their bytecode, as pip does: the offline Lambda runtime runs python -B (Lambda's
# /var/task is read-only), which would otherwise compile botocore anew at every cold start.
install_requirements() {
    local venv="$1" requirements="$2" index uv_version
    uv_version="$(sed -n 's/^uv==//p' "$LIB_DIR/requirements-installer.txt")"
    if [[ "$("$venv/bin/uv" --version 2>/dev/null)" != "uv $uv_version "* ]]; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$LIB_DIR/requirements-installer.txt" || return 1
    fi
    index="$("$venv/bin/python" -m pip config get global.index-url 2>/dev/null || true)"
    UV_DEFAULT_INDEX="${UV_DEFAULT_INDEX:-${index:-https://pypi.org/simple}}" \
        "$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" -r "$requirements"
}

# requirements_text FILE: the file and every file it includes with "-r", to notice any change.
# shellcheck disable=SC2094
requirements_text() {
    local file="$1" line
    cat "$file"
    while read -r line; do
        if [[ "$line" == "-r "* ]]; then
            requirements_text "$(dirname "$file")/${line#-r }"
        fi
    done <"$file"
}
