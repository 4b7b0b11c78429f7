# shellcheck shell=bash
# What create_lambdas.sh and update_lambdas.sh share: the execution role and its policy, the
# Zappa package, and the configuration and code of $LATEST, which release.sh then publishes
# as one version. Source it after common.sh and release.sh, then call lambda_setup once: it
# checks the deployer's environment and sets FUNCTION, ROLE and WORK_DIR.
#
# Extra configuration (environment variables):
#   HTTP_USER, HTTP_PASS   required: the basic-auth credentials the deployed function accepts;
#                          the function gets HTTP_USER and a scrypt hash of HTTP_PASS, never
#                          the password itself; HTTP_PASS must be a random one of at least
#                          MIN_PASSWORD_LENGTH characters
#   CORS_ORIGINS           optional: the origins whose web pages may call the API (see
#                          info-v2/cors.py); unset or empty, the function answers no CORS

# The trust policy of the execution role: only the Lambda service may assume it.
TRUST_POLICY='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
POLICY_NAME="watch-info-least-privilege"
# What the function needs of info-v2/: the app's modules and the spec. build_package stages
# exactly these (beside the dependencies of requirements.txt: deploy_helpers.py
# finish-package), so nothing else of the repository can ship.
APP_FILES=(server.py http_guards.py request_log.py cors.py basic_auth.py lambda_adapter.py info_openapi_v2.yaml)
# The function's hash of HTTP_PASS is quick to check (deploy_helpers.py PASSWORD_HASH_METHOD),
# which keeps safe only a password nobody can guess: a long random one.
MIN_PASSWORD_LENGTH=20

# lambda_setup: the checks both scripts run before touching anything.
lambda_setup() {
    [[ -n "${HTTP_USER:-}" && -n "${HTTP_PASS:-}" ]] ||
        die "HTTP_USER and HTTP_PASS must be set: they are the basic-auth credentials the deployed function will accept (no default is ever deployed)."
    ((${#HTTP_PASS} >= MIN_PASSWORD_LENGTH)) ||
        die "HTTP_PASS has ${#HTTP_PASS} characters: choose a random password of at least $MIN_PASSWORD_LENGTH (for example: openssl rand -base64 24)."
    require_http_user
    require_cors_origins
    aws_preflight
    require_table
    LAMBDA_PYTHON_PATH="$(runtime_python)" || exit 1
    ensure_packaging_venv "$LAMBDA_PYTHON_PATH"
    deployment_names
    WORK_DIR="$(mktemp -d)"
    APP_DIR="$WORK_DIR/app"
    # The work folder holds the request with the credentials: it goes away however we exit.
    trap 'rm -rf "$WORK_DIR"' EXIT
    write_zappa_settings
}

# packaging_helper COMMAND ARGS...: a subcommand of deploy_helpers.py run by the packaging
# virtualenv's Python (the Lambda runtime's): it reads what that virtualenv holds and compiles
# the package's bytecode for that Python.
packaging_helper() {
    "$LAMBDA_VENV/bin/python" "$LIB_DIR/deploy_helpers.py" "$@"
}

# write_zappa_settings: zappa_settings.json as Zappa gets it, with the function's environment
# and SNAP_START applied (see deploy_helpers.py zappa-settings). Sets ZAPPA_SETTINGS; the file
# holds the password's hash, in the work folder the EXIT trap removes.
write_zappa_settings() {
    ZAPPA_SETTINGS="$WORK_DIR/zappa_settings.json"
    (
        umask 077
        packaging_helper zappa-settings "$STAGE" "$SNAP_START" "$INFO_DIR/requirements.txt" \
            >"$ZAPPA_SETTINGS"
    ) || exit 1
}

# function_exists: 0 when the function exists, 1 when it does not, stops on other errors.
function_exists() {
    aws_lookup "look up Lambda function '$FUNCTION'" lambda get-function \
        --function-name "$FUNCTION" >/dev/null && return
    (($? == 1)) || exit 1
    return 1
}

# ensure_execution_role: creates the role if missing, then (re)writes its trust and inline
# policies, so a rerun repairs whatever an interrupted run left. Sets ROLE_ARN.
ensure_execution_role() {
    if ROLE_ARN="$(aws_lookup "read IAM role '$ROLE'" iam get-role --role-name "$ROLE" \
        --query Role.Arn --output text)"; then
        aws_run "set the trust policy of IAM role '$ROLE'" iam update-assume-role-policy \
            --role-name "$ROLE" --policy-document "$TRUST_POLICY" >/dev/null
    else
        (($? == 1)) || exit 1
        say "creating IAM role $ROLE"
        ROLE_ARN="$(aws_run "create IAM role '$ROLE'" iam create-role --role-name "$ROLE" \
            --assume-role-policy-document "$TRUST_POLICY" \
            --description "Execution role of the Lambda function $FUNCTION" \
            --query Role.Arn --output text)"
        aws_run "see IAM role '$ROLE' appear" iam wait role-exists --role-name "$ROLE" >/dev/null
    fi
    # execution_policy.json: GetItem serves GET and the duplicate check of POST, PutItem
    # (conditional) stores a watch; logs go to the function's own log group only.
    say "granting $ROLE GetItem/PutItem on table $DYNAMODB_TABLE and its own log group"
    local policy
    policy="$(deploy_helper execution-policy "$AWS_REGION" "$ACCOUNT_ID" "$DYNAMODB_TABLE" "$FUNCTION")" ||
        die "could not render execution_policy.json"
    aws_run "put the policy of IAM role '$ROLE'" iam put-role-policy --role-name "$ROLE" \
        --policy-name "$POLICY_NAME" --policy-document "$policy" >/dev/null
}

# Zappa lines that mislead here: its package size is that of a temporary file before
# finish-package (build_package prints the real one), and it calls a deployment live or
# complete before the gate has checked it and before any alias or REST API names it.
ZAPPA_NOISE='^Package created: |^Deployment complete!|deployment is live!'

# run_zappa ARGS...: Zappa from the packaging virtualenv, in the staged app folder (Zappa
# packages the folder it runs in). Its progress shows on stderr (ZAPPA_NOISE left out); all of
# it is kept for zappa_failure.
run_zappa() {
    (cd "$APP_DIR" && VIRTUAL_ENV="$LAMBDA_VENV" PATH="$LAMBDA_VENV/bin:$PATH" zappa "$@" -s "$ZAPPA_SETTINGS") 2>&1 |
        tee "$WORK_DIR/zappa.log" | { grep -Ev "$ZAPPA_NOISE" || true; } >&2
}

# zappa_failure COMMAND: the one line that ends a failed Zappa run: the last error or
# exception line of its output (a traceback ends with Zappa's farewell), else its last line.
zappa_failure() {
    die "zappa $1 failed: $(awk '
        /^([A-Za-z_][A-Za-z0-9_.]*(Error|Exception)[A-Za-z]*|Error): / { error = $0 }
        NF { last = $0 }
        END { print (error != "" ? error : last) }' "$WORK_DIR/zappa.log")"
}

# stage_app: the folder Zappa packages and runs in: APP_FILES, nothing else.
stage_app() {
    local file
    mkdir -p "$APP_DIR"
    for file in "${APP_FILES[@]}"; do
        cp "$INFO_DIR/$file" "$APP_DIR/$file"
    done
}

# build_package: the function's package: the staged app and, from the dedicated packaging
# virtualenv, the distributions of requirements.txt and Zappa's handler (so the developer's
# tools never leak in). It is built in this run's own folder (a concurrent run cannot swap it
# before the upload); a copy is kept as build/<function>.zip. Sets PACKAGE.
build_package() {
    PACKAGE="$WORK_DIR/$FUNCTION.zip"
    stage_app
    say "packaging stage $STAGE"
    run_zappa package "$STAGE" -o "$PACKAGE" || zappa_failure package
    # Only what the function needs, bytecode (Lambda's /var/task is read-only) and the same
    # bytes for the same sources.
    packaging_helper finish-package "$PACKAGE" "$INFO_DIR/requirements.txt" "${APP_FILES[@]}" ||
        die "could not finish the package $PACKAGE (what it holds, bytecode, reproducible order)"
    mkdir -p "$BUILD_DIR"
    cp "$PACKAGE" "$BUILD_DIR/.$FUNCTION.zip.$$" && mv -f "$BUILD_DIR/.$FUNCTION.zip.$$" "$BUILD_DIR/$FUNCTION.zip"
    say "package size: $(mib "$(wc -c <"$PACKAGE")") MiB zipped (a copy: $BUILD_DIR/$FUNCTION.zip)"
}

# mib BYTES
mib() {
    awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1048576 }'
}

# configure_latest: $LATEST gets the configuration of the next version: role, handler, the
# stage's settings, SnapStart and the environment (DYNAMODB_TABLE, HTTP_USER, and
# HTTP_PASS_HASH, a salted hash of HTTP_PASS, on top of the variables it already has: see
# deploy_helpers.py function-configuration). Nothing is published: publish_version freezes
# it with the code. The request goes through a mode-600 file that the EXIT trap removes.
configure_latest() {
    local current="$WORK_DIR/current-environment.json" request="$WORK_DIR/configuration.json"
    wait_function_updated
    (
        umask 077
        aws_run "read the configuration of function '$FUNCTION'" lambda get-function-configuration \
            --function-name "$FUNCTION" --query Environment.Variables --output json >"$current"
        deploy_helper function-configuration "$FUNCTION" "$ROLE_ARN" "$current" "$ZAPPA_SETTINGS" \
            "$STAGE" >"$request"
    ) || exit 1
    say "configuring $FUNCTION (table $DYNAMODB_TABLE, user $HTTP_USER, SnapStart $SNAP_START)"
    aws_run "update the configuration of function '$FUNCTION'" lambda update-function-configuration \
        --cli-input-json "file://$request" >/dev/null
    rm -f "$request" "$current"
    wait_function_updated
}

# update_code: $LATEST gets the code of $PACKAGE; nothing is published (publish_version).
update_code() {
    say "uploading the code of $FUNCTION (stage $STAGE, region $AWS_REGION)"
    aws_run "update the code of function '$FUNCTION'" lambda update-function-code \
        --function-name "$FUNCTION" --zip-file "fileb://$PACKAGE" >/dev/null
    wait_function_updated
}

# stage_code STAGE: the package of the version alias live of STAGE's function names, checked
# against its CodeSha256: the code that stage runs, to release elsewhere unchanged. Sets PACKAGE.
stage_code() {
    local source found location sha
    source="$(zappa_setting project_name)-$1" || exit 1
    found="$(aws_lookup "read alias $LIVE_ALIAS of function $source" lambda get-function \
        --function-name "$source" --qualifier "$LIVE_ALIAS" \
        --query '[Code.Location, Configuration.CodeSha256]' --output text)" || {
        (($? == 1)) || exit 1
        die "stage $1 has no release to copy: function $source or its alias $LIVE_ALIAS does not exist in $AWS_REGION"
    }
    read -r location sha <<<"$found"
    PACKAGE="$WORK_DIR/$source.zip"
    say "downloading the code stage $1 runs (alias $LIVE_ALIAS of $source, CodeSha256 $sha)"
    download_code "$location" "$PACKAGE"
    [[ "$(deploy_helper code-sha256 "$PACKAGE")" == "$sha" ]] ||
        die "the downloaded code of $source does not match its CodeSha256 $sha"
}

# download_code LOCATION FILE: get-function's Code.Location is a presigned S3 URL on AWS; an
# endpoint (AWS_ENDPOINT_URL) serves S3 as well, so there the same bucket and key are read.
download_code() {
    local location="$1" file="$2" bucket key
    if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
        bucket="${location#https://}"
        bucket="${bucket%%.*}"
        key="${location#https://*/}"
        aws_run "download the code from $AWS_ENDPOINT_URL" s3 cp --quiet \
            "s3://$bucket/${key%%\?*}" "$file" >/dev/null
    else
        require_command curl "Install curl: it downloads the code from S3."
        curl --fail --silent --show-error --output "$file" "$location" 2>"$file.err" ||
            die "cannot download the code: $(last_line "$(cat "$file.err")")"
    fi
}

wait_function_updated() {
    aws_run "wait for function '$FUNCTION' to finish its last update" lambda wait function-updated \
        --function-name "$FUNCTION" >/dev/null
}

# print_function_summary: what alias live names now, on stdout.
print_function_summary() {
    local version summary name runtime handler sha size
    version="$(live_version)"
    summary="$(aws_run "read version $version of function '$FUNCTION'" lambda \
        get-function-configuration --function-name "$FUNCTION" --qualifier "$version" \
        --query '[FunctionName, Runtime, Handler, CodeSha256, CodeSize]' --output text)" || exit 1
    read -r name runtime handler sha size <<<"$summary"
    printf 'function:   %s (%s, %s)\n' "$name" "$runtime" "$handler"
    printf 'live:       alias %s, version %s\n' "$LIVE_ALIAS" "$version"
    printf 'CodeSha256: %s\n' "$sha"
    printf 'code size:  %s MiB zipped\n' "$(mib "$size")"
}
