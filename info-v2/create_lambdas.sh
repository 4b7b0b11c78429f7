#!/usr/bin/env bash
# Usage: info-v2/create_lambdas.sh [-h|--help]
#
# First deployment of the service's Lambda function (watch-info-<stage>, one function for
# both routes) with Zappa, from any folder. Run initialize_dynamodb.sh first.
# It builds the package (runtime dependencies only; a copy goes to build/<function>.zip),
# creates the execution role (role_name in zappa_settings.json) with the least-privilege
# policy of execution_policy.json and deploys the function only (no API Gateway:
# create_api_gateway.sh) with its environment: DYNAMODB_TABLE, HTTP_USER and HTTP_PASS_HASH,
# a salted scrypt hash of HTTP_PASS: the function never holds the password. The version
# Zappa publishes holds code and environment together; the read-only checks of smoke_test.py
# run on it (both API Gateway event shapes), and only then does the alias "live", which API
# Gateway invokes, name it.
# When the function already exists it only brings role, policy and configuration up to date,
# published as one version and released through the same checks, and points to
# update_lambdas.sh for new code. Safe to run again after any failure.
#
# Needs HTTP_USER and HTTP_PASS (the credentials the API will accept). Configuration:
# STAGE, DYNAMODB_TABLE, AWS_REGION, AWS_ENDPOINT_URL, SNAP_START (see common.sh),
# CORS_ORIGINS (the origins whose web pages may call the API; unset: none), and
# ROLE_WAIT_SECONDS (5): pause between deploy attempts while a new IAM role propagates.

set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/release.sh"
# shellcheck source=lib/lambda_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/lambda_common.sh"

ROLE_WAIT_SECONDS="${ROLE_WAIT_SECONDS:-5}"
ROLE_ATTEMPTS=6

# deploy_function: `zappa deploy`, retried while Lambda does not yet accept a new role.
deploy_function() {
    local attempt
    for ((attempt = 1; attempt <= ROLE_ATTEMPTS; attempt++)); do
        say "deploying $FUNCTION (stage $STAGE, region $AWS_REGION)"
        run_zappa deploy "$STAGE" --zip "$PACKAGE" && return 0
        if ! grep -q "cannot be assumed" "$WORK_DIR/zappa.log" || ((attempt == ROLE_ATTEMPTS)); then
            zappa_failure deploy
        fi
        say "the new role is not usable by Lambda yet; retrying in ${ROLE_WAIT_SECONDS}s"
        sleep "$ROLE_WAIT_SECONDS"
    done
}

# remove_zappa_snapstart_alias: with snap_start, `zappa deploy` makes an alias "snapstart"
# for its version; releases go through alias live only, so it goes (nothing invokes it yet).
remove_zappa_snapstart_alias() {
    [[ "$SNAP_START" == on ]] || return 0
    aws_lookup "remove Zappa's alias $SNAPSTART_ALIAS" lambda delete-alias \
        --function-name "$FUNCTION" --name "$SNAPSTART_ALIAS" >/dev/null || (($? == 1)) || exit 1
}

main() {
    lambda_setup
    local version
    if function_exists "$FUNCTION"; then
        say "function $FUNCTION already exists in $AWS_REGION: updating its role, policy and configuration only"
        move_clients_to_live_alias
        ensure_execution_role
        configure_latest
        version="$(publish_version)"
        release "$version"
        print_function_summary
        say "to deploy new code, run $INFO_DIR/update_lambdas.sh"
        return 0
    fi
    # The package first: most failures happen here, and then nothing exists on AWS yet.
    build_package
    ensure_execution_role
    deploy_function
    remove_zappa_snapstart_alias
    version="$(publish_version)"
    release "$version"
    print_function_summary
    say "done: next, run $INFO_DIR/create_api_gateway.sh"
}

main "$@"
