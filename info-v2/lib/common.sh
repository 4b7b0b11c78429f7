# shellcheck shell=bash
# Shared configuration and checks for the scripts in info-v2/. Source it, do not run it.
#
# Configuration (environment variables, with their defaults):
#   STAGE            dev        Zappa stage in zappa_settings.json; also the API Gateway stage
#   DYNAMODB_TABLE   project1   the DynamoDB table
#   AWS_REGION       from AWS_DEFAULT_REGION, then `aws configure get region`, then us-east-1
#   AWS_ENDPOINT_URL (unset)    send every AWS call to an emulator instead of AWS
#   PYTHON           python3    the interpreter for the tools virtualenv (.venv)
#   BUILD_DIR        build/     packages, rendered documents and the endpoint file
#   SNAP_START       off        on: Lambda SnapStart (Zappa's snap_start, PublishedVersions); API
#                               Gateway then invokes the alias "snapstart" instead of the function

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
DYNAMODB_TABLE="${DYNAMODB_TABLE:-project1}"
PYTHON="${PYTHON:-python3}"
# The Lambda runtime in zappa_settings.json; the package is built with the same Python.
LAMBDA_PYTHON="python3.13"
export STAGE DYNAMODB_TABLE
export AWS_PAGER="" # AWS CLI v2 would page long outputs
# AWS CLI v2's retries (3 attempts, backoff with jitter), also under v1 (the tools virtualenv's):
# v1's legacy mode tries DynamoDB 10 times, so an endpoint that is down took 27 s to report.
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-standard}"
# The id of the statement that lets API Gateway invoke the function (create and teardown).
INVOKE_STATEMENT_ID="api-gateway-invoke"
SNAP_START="${SNAP_START:-off}"
# The alias Zappa moves to each version it publishes when SnapStart is on (zappa.core's
# SNAPSTART_LAMBDA_ALIAS): only invocations of a published version are restored from a snapshot.
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
handle_help() {
    local arg
    for arg in "$@"; do
        if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
            sed -n '2,/^$/{/^#/!q;s/^# \{0,1\}//p}' "$0"
            exit 0
        fi
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
        region="$(aws configure get region 2>/dev/null || true)"
    fi
    AWS_REGION="${region:-us-east-1}"
    AWS_DEFAULT_REGION="$AWS_REGION"
    export AWS_REGION AWS_DEFAULT_REGION
}

# require_known_region: an unknown region fails here, not as a DNS error deep inside a call.
require_known_region() {
    deploy_helper known-region "$AWS_REGION" ||
        die "unknown AWS region '$AWS_REGION'. Set AWS_REGION to a region such as us-east-1 or eu-west-1."
}

# aws_failure_reason SERVICE OUTPUT: why an AWS call failed, in one line: the endpoint cannot
# be reached, no credentials were found, or the service refused them are different fixes.
aws_failure_reason() {
    local service="$1" output="$2" where="${AWS_ENDPOINT_URL:-AWS in $AWS_REGION}"
    case "$output" in
    *"Could not connect to the endpoint URL"* | *"Connect timeout on endpoint"* | *"Read timeout on endpoint"*)
        printf 'cannot reach %s at %s: is it running, and is the address right?\n' "$service" "$where" ;;
    *"Unable to locate credentials"* | *"Partial credentials found"*)
        printf "no usable AWS credentials: none were found. Run 'aws configure', or set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.\n" ;;
    *UnrecognizedClientException* | *InvalidClientTokenId* | *InvalidSignatureException* | \
        *SignatureDoesNotMatch* | *ExpiredToken* | *AuthFailure* | *AccessDenied*)
        printf 'no usable AWS credentials: %s at %s refused them (%s)\n' "$service" "$where" "$(last_line "$output")" ;;
    *)
        printf '%s at %s failed: %s\n' "$service" "$where" "$(last_line "$output")" ;;
    esac
}

# require_aws_credentials: sets ACCOUNT_ID (deploy scripts need it for ARNs), or stops with one line.
require_aws_credentials() {
    local output
    if ! output="$(aws sts get-caller-identity --query Account --output text 2>&1)"; then
        if [[ -n "${AWS_ENDPOINT_URL:-}" && "$output" == *"GetCallerIdentity operation: Unknown"* ]]; then
            die "the endpoint $AWS_ENDPOINT_URL does not answer STS (a DynamoDB-only emulator?): deploying needs one that emulates every AWS service the scripts call."
        fi
        die "$(aws_failure_reason STS "$output")"
    fi
    # shellcheck disable=SC2034
    ACCOUNT_ID="$output"
}

# require_dynamodb_access: one DynamoDB call proves endpoint and credentials, for the scripts
# that need nothing else (DynamoDB Local and other DynamoDB-only endpoints have no STS).
require_dynamodb_access() {
    local output
    output="$(aws dynamodb list-tables --max-items 1 --cli-connect-timeout 5 2>&1 >/dev/null)" ||
        die "$(aws_failure_reason DynamoDB "$output")"
}

# aws_tools_and_region: the AWS CLI, the tools virtualenv and a known region.
aws_tools_and_region() {
    require_aws_cli
    ensure_tools_venv
    resolve_region
    require_known_region
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

# require_table: the table must exist before a function is pointed at it.
require_table() {
    aws dynamodb describe-table --table-name "$DYNAMODB_TABLE" >/dev/null 2>&1 ||
        die "DynamoDB table '$DYNAMODB_TABLE' not found in $AWS_REGION. Run initialize_dynamodb.sh first."
}

# deploy_helper COMMAND ARGS...: a subcommand of deploy_helpers.py (the scripts' Python steps).
deploy_helper() {
    "$TOOLS_VENV/bin/python" "$LIB_DIR/deploy_helpers.py" "$@"
}

# zappa_setting KEY: a value of the current stage in zappa_settings.json.
zappa_setting() {
    deploy_helper zappa-setting "$STAGE" "$1"
}

# deployment_names: sets FUNCTION (Zappa names it "<project_name>-<stage>") and ROLE.
deployment_names() {
    local project
    project="$(zappa_setting project_name)" || exit 1
    FUNCTION="$project-$STAGE"
    ROLE="$(zappa_setting role_name)" || exit 1
}

# aws_call WHAT ARGS...: `aws ARGS`, its output on stdout; on failure, stops with one line:
# "cannot WHAT" and the CLI's own last line.
aws_call() {
    local what="$1" output
    shift
    output="$(aws "$@" 2>&1)" || die "cannot $what: $(last_line "$output")"
    printf '%s\n' "$output"
}

# aws_find WHAT ARGS...: like aws_call, but an answer that the thing does not exist is exit
# status 1 instead of a stop. Call it directly (not in $(...)): the output goes to AWS_FOUND.
aws_find() {
    local what="$1"
    shift
    if AWS_FOUND="$(aws "$@" 2>&1)"; then
        return 0
    elif is_not_found "$AWS_FOUND"; then
        return 1
    fi
    die "cannot $what: $(last_line "$AWS_FOUND")"
}

# find_text WHAT ARGS...: aws_find with text output; "None" becomes an empty AWS_FOUND.
find_text() {
    aws_find "$@" --output text || return 1
    [[ "$AWS_FOUND" != "None" ]] || AWS_FOUND=""
}

# certificate_field ARN QUERY: one field of describe-certificate (under Certificate.), as text;
# empty when the certificate has none (create_custom_domain.sh, delete_all.sh).
certificate_field() {
    find_text "describe certificate $1" acm describe-certificate --certificate-arn "$1" \
        --query "Certificate.$2" || die "certificate $1 not found"
    printf '%s\n' "$AWS_FOUND"
}

# is_not_found OUTPUT: whether an AWS CLI error says that the thing does not exist.
is_not_found() {
    grep -qE 'NotFound|NoSuchEntity|does not exist|cannot be found' <<<"$1"
}

# aws_list WHAT ARGS...: the words of a listing's text output, one per line ("None" is none).
aws_list() {
    local output
    output="$(aws_call "$@")" || exit 1
    [[ "$output" == "None" ]] || tr -s '\t' '\n' <<<"$output"
}

# rest_api_ids: the ids of the REST APIs named $FUNCTION (the scripts name it so), one per line.
rest_api_ids() {
    aws_list "list REST APIs" apigateway get-rest-apis \
        --query "items[?name=='$FUNCTION'].id" --output text
}

# stage_url API_ID: the public base URL of the REST API's stage $STAGE; clients append
# /watch/{sku}. (A custom domain's is https://<domain>/info/v2: create_custom_domain.sh.)
stage_url() {
    local domain="amazonaws.com"
    [[ "$AWS_REGION" == cn-* ]] && domain="amazonaws.com.cn"
    printf 'https://%s.execute-api.%s.%s/%s\n' "$1" "$AWS_REGION" "$domain" "$STAGE"
}

# hosted_zone_of NAME: the public Route 53 hosted zone that holds NAME's records (the longest
# zone name that NAME ends with); sets ZONE_ID and ZONE_NAME, or returns 1 when none exists.
hosted_zone_of() {
    local name="${1%.}." zones id zone
    # shellcheck disable=SC2016  # JMESPath's literal `false`, not a command
    zones="$(aws_list "list Route 53 hosted zones" route53 list-hosted-zones \
        --query 'HostedZones[?Config.PrivateZone==`false`].[Id, Name]' --output text)" || exit 1
    ZONE_ID="" ZONE_NAME=""
    while read -r id zone; do
        if [[ "$name" == "$zone" || "$name" == *".$zone" ]] && ((${#zone} > ${#ZONE_NAME})); then
            ZONE_ID="${id##*/}" ZONE_NAME="$zone"
        fi
    done < <(paste - - <<<"$zones")
    [[ -n "$ZONE_ID" ]]
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

# ensure_venv DIR REQUIREMENTS PYTHON: creates the virtualenv and installs the pinned
# requirements; does nothing when that file has not changed since the last install. A
# virtualenv of another Python version (e.g. after a runtime change) is made anew.
ensure_venv() {
    local venv="$1" requirements="$2" python="$3"
    local stamp
    stamp="$venv/.installed-$(basename "$(dirname "$requirements")")-$(basename "$requirements")"
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
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" ||
            die "pip could not install $requirements"
        requirements_text "$requirements" >"$stamp"
    fi
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
