# shellcheck shell=bash
# What create_lambdas.sh and update_lambdas.sh share: the execution role and its policy, the
# Zappa package, and the function's environment. Source it after common.sh, then call
# lambda_setup once: it checks the deployer's environment and sets FUNCTION, ROLE and WORK_DIR.
#
# Extra configuration (environment variables):
#   HTTP_USER, HTTP_PASS   required: the basic-auth credentials the deployed function accepts

# The trust policy of the execution role: only the Lambda service may assume it.
TRUST_POLICY='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
POLICY_NAME="watch-info-least-privilege"
export AWS_PAGER="" # AWS CLI v2 would page some outputs

# lambda_setup: the checks both scripts run before touching anything.
lambda_setup() {
    aws_preflight
    require_table
    [[ -n "${HTTP_USER:-}" && -n "${HTTP_PASS:-}" ]] ||
        die "HTTP_USER and HTTP_PASS must be set: they are the basic-auth credentials the deployed function will accept (no default is ever deployed)."
    require_command "$LAMBDA_PYTHON" "The package must be built with the Lambda runtime's Python: install Python 3.11."
    FUNCTION="$(function_name)"
    ROLE="$(zappa_setting role_name)"
    WORK_DIR="$(mktemp -d)"
    # The work folder holds the request with the credentials: it goes away however we exit.
    trap 'rm -rf "$WORK_DIR"' EXIT
}

# function_exists NAME: 0 when the function exists, 1 when it does not, stops on other errors.
function_exists() {
    local output
    output="$(aws lambda get-function --function-name "$1" 2>&1 >/dev/null)" && return 0
    [[ "$output" == *ResourceNotFoundException* ]] && return 1
    die "could not look up Lambda function '$1': $(last_line "$output")"
}

# execution_policy: the inline policy of the role, rendered once from the configuration.
execution_policy() {
    "$TOOLS_VENV/bin/python" - "$AWS_REGION" "$ACCOUNT_ID" "$DYNAMODB_TABLE" "$FUNCTION" <<'EOF'
import json
import sys

region, account, table, function = sys.argv[1:]
log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"
statements = [
    # GetItem serves GET and the duplicate check of POST; PutItem (conditional) stores a watch.
    {
        "Sid": "ReadWriteWatchItems",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
        "Resource": f"arn:aws:dynamodb:{region}:{account}:table/{table}",
    },
    # The function's own log group only (the group itself for CreateLogGroup, its streams).
    {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [log_group, f"{log_group}:*"],
    },
]
print(json.dumps({"Version": "2012-10-17", "Statement": statements}))
EOF
}

# ensure_execution_role: creates the role if missing, then (re)writes its trust and inline
# policies, so a rerun repairs whatever an interrupted run left. Sets ROLE_ARN.
ensure_execution_role() {
    if ROLE_ARN="$(aws iam get-role --role-name "$ROLE" --query Role.Arn --output text 2>/dev/null)"; then
        aws iam update-assume-role-policy --role-name "$ROLE" --policy-document "$TRUST_POLICY" ||
            die "could not set the trust policy of IAM role '$ROLE'"
    else
        say "creating IAM role $ROLE"
        ROLE_ARN="$(aws iam create-role --role-name "$ROLE" \
            --assume-role-policy-document "$TRUST_POLICY" \
            --description "Execution role of the Lambda function $FUNCTION" \
            --query Role.Arn --output text)" || die "could not create IAM role '$ROLE'"
        aws iam wait role-exists --role-name "$ROLE" || die "IAM role '$ROLE' did not appear"
    fi
    say "granting $ROLE GetItem/PutItem on table $DYNAMODB_TABLE and its own log group"
    aws iam put-role-policy --role-name "$ROLE" --policy-name "$POLICY_NAME" \
        --policy-document "$(execution_policy)" || die "could not put the policy of IAM role '$ROLE'"
}

# run_zappa ARGS...: Zappa from the packaging virtualenv, in info-v2 where its settings are.
# Its noisy output stays visible (on stderr) and is kept for zappa_failure.
run_zappa() {
    (cd "$INFO_DIR" && VIRTUAL_ENV="$LAMBDA_VENV" PATH="$LAMBDA_VENV/bin:$PATH" zappa "$@") 2>&1 |
        tee "$WORK_DIR/zappa.log" >&2
}

# zappa_failure COMMAND: the one line that ends a failed Zappa run: the last error or
# exception line of its output (a traceback ends with Zappa's farewell), else its last line.
zappa_failure() {
    die "zappa $1 failed: $(awk '
        /^([A-Za-z_][A-Za-z0-9_.]*(Error|Exception)[A-Za-z]*|Error): / { error = $0 }
        NF { last = $0 }
        END { print (error != "" ? error : last) }' "$WORK_DIR/zappa.log")"
}

# build_package: the function's package from the dedicated packaging virtualenv, so the
# developer's tools never leak in. It is built in this run's own folder (a concurrent run
# cannot swap it before the upload); a copy is kept as build/<function>.zip. Sets PACKAGE.
build_package() {
    ensure_venv "$LAMBDA_VENV" "$INFO_DIR/requirements-zappa.txt" "$LAMBDA_PYTHON"
    PACKAGE="$WORK_DIR/$FUNCTION.zip"
    say "packaging stage $STAGE"
    run_zappa package "$STAGE" -o "$PACKAGE" || zappa_failure package
    add_bytecode "$PACKAGE"
    mkdir -p "$BUILD_DIR"
    cp "$PACKAGE" "$BUILD_DIR/.$FUNCTION.zip.$$" && mv -f "$BUILD_DIR/.$FUNCTION.zip.$$" "$BUILD_DIR/$FUNCTION.zip"
    say "package size: $(mib "$(wc -c <"$PACKAGE")") MiB zipped (a copy: $BUILD_DIR/$FUNCTION.zip)"
}

# add_bytecode ZIP: adds the compiled bytecode of every module to the package. Lambda's
# /var/task is read-only, so without it each cold start compiles every imported module
# again (about half of the cold start). Zappa leaves __pycache__ out; the bytecode is made by
# the runtime's Python 3.11, hash-based and unchecked: zip timestamps cannot invalidate it.
add_bytecode() {
    "$LAMBDA_VENV/bin/python" - "$1" <<'EOF' || die "could not add bytecode to $1"
import compileall
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

package_path = sys.argv[1]
with tempfile.TemporaryDirectory() as tree:
    with zipfile.ZipFile(package_path) as package:
        package.extractall(tree)
    compileall.compile_dir(
        tree, quiet=2, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    with zipfile.ZipFile(package_path, "a", zipfile.ZIP_DEFLATED) as package:
        for bytecode in sorted(Path(tree).rglob("*.pyc")):
            package.write(bytecode, bytecode.relative_to(tree).as_posix())
EOF
}

# mib BYTES
mib() {
    awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1048576 }'
}

# set_function_configuration: the function's role and environment (DYNAMODB_TABLE, HTTP_USER,
# HTTP_PASS on top of the variables it already has). The credentials go through a mode-600
# file that the EXIT trap removes: never on a command line, never in the repository.
set_function_configuration() {
    local current="$WORK_DIR/current-environment.json" request="$WORK_DIR/configuration.json"
    wait_function_updated
    (
        umask 077
        aws lambda get-function-configuration --function-name "$FUNCTION" \
            --query Environment.Variables --output json >"$current" ||
            die "could not read the configuration of function '$FUNCTION'"
        "$TOOLS_VENV/bin/python" - "$FUNCTION" "$ROLE_ARN" "$current" >"$request" <<'EOF'
import json
import os
import sys

function, role_arn, current_file = sys.argv[1:]
with open(current_file) as current:
    variables = json.load(current) or {}
for name in ("DYNAMODB_TABLE", "HTTP_USER", "HTTP_PASS"):
    variables[name] = os.environ[name]
request = {"FunctionName": function, "Role": role_arn, "Environment": {"Variables": variables}}
print(json.dumps(request))
EOF
    )
    say "setting the environment of $FUNCTION (table $DYNAMODB_TABLE, user $HTTP_USER)"
    aws lambda update-function-configuration --cli-input-json "file://$request" >/dev/null ||
        die "could not update the configuration of function '$FUNCTION'"
    rm -f "$request" "$current"
    wait_function_updated
}

wait_function_updated() {
    aws lambda wait function-updated --function-name "$FUNCTION" ||
        die "function '$FUNCTION' did not finish its last update"
}

# print_function_summary: what was deployed, on stdout.
print_function_summary() {
    aws lambda get-function-configuration --function-name "$FUNCTION" \
        --query '[FunctionName, Runtime, Handler, CodeSha256, CodeSize]' --output text |
        while read -r name runtime handler sha size; do
            printf 'function:   %s (%s, %s)\n' "$name" "$runtime" "$handler"
            printf 'CodeSha256: %s\n' "$sha"
            printf 'code size:  %s MiB zipped\n' "$(mib "$size")"
        done
}
