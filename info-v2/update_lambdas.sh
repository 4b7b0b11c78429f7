#!/usr/bin/env bash
# Usage: info-v2/update_lambdas.sh [--canary PERCENT --canary-minutes M] [--code-from STAGE] [-h|--help]
#
# Releases new code of the service's Lambda function after a change, from any folder:
# rebuilds the package from .venv-lambda (printing its zipped size), brings the execution
# role's policy up to date, gives $LATEST the code and configuration (DYNAMODB_TABLE,
# HTTP_USER, HTTP_PASS_HASH, the stage's settings, SnapStart) and publishes them as ONE
# version N. Then the gate: smoke_test.py's read-only checks run on version N itself (a
# qualified Lambda Invoke with API Gateway proxy events, through the stage URL and through a
# custom domain: health, GET of a watch of the table, 404, 401, 400, and a POST of an exact
# copy of a stored watch; nothing changes in the table). Only when all pass does the alias
# "live", which API Gateway invokes, name version N; otherwise it exits 1 with one line naming
# the failed check, and no client ever got version N. It prints what is live, with the
# CodeSha256. Run create_lambdas.sh once before. Running it twice in a row is fine (an
# unchanged package publishes no new version). A deployment made by earlier scripts (API
# Gateway invoking the function itself or its alias "snapstart") is first moved to alias live,
# with a line saying so.
#
# Options: --canary PERCENT      give version N PERCENT (1 to 99) of the traffic first, while
#                                its errors are watched (Lambda's Errors metric for version N
#                                behind alias live, and HTTP 5xx answers in its request log)
#          --canary-minutes M    ... for M minutes (default 10; fractions such as 0.5 too),
#                                then the checks run again; any error or failed check rolls
#                                back by itself (the alias serves the previous version only)
#                                and exits 1, saying which and why
#          --code-from STAGE     release the code stage STAGE runs (its alias live's package,
#                                same CodeSha256) instead of building: e.g. what dev checked,
#                                to prod
#
# Needs HTTP_USER and HTTP_PASS, as create_lambdas.sh. Configuration: STAGE,
# DYNAMODB_TABLE, AWS_REGION, AWS_ENDPOINT_URL, SNAP_START (on: SnapStart, see common.sh),
# CORS_ORIGINS (as create_lambdas.sh: unset, the function answers no CORS),
# CANARY_POLL_SECONDS (60): how often the canary reads the errors.

set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/release.sh"
# shellcheck source=lib/lambda_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/lambda_common.sh"

CANARY=()
CANARY_PERCENT=""
CANARY_MINUTES=10
CODE_FROM=""

# check_options: the values of --canary, --canary-minutes and --code-from, and the settings.
check_options() {
    if [[ -n "$CANARY_PERCENT" ]]; then
        [[ "$CANARY_PERCENT" =~ ^[1-9][0-9]?$ ]] ||
            die "--canary takes a percentage from 1 to 99, not '$CANARY_PERCENT'"
        CANARY=("$CANARY_PERCENT" "$CANARY_MINUTES")
    fi
    if ! [[ "$CANARY_MINUTES" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
        ! awk -v m="$CANARY_MINUTES" 'BEGIN { exit !(m > 0) }'; then
        die "--canary-minutes takes a number of minutes above 0 (e.g. 10 or 0.5), not '$CANARY_MINUTES'"
    fi
    [[ "$CODE_FROM" != "$STAGE" ]] || die "--code-from names the stage being deployed ($STAGE); name another stage"
    [[ "$CANARY_POLL_SECONDS" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
        die "CANARY_POLL_SECONDS must be a number of seconds, not '$CANARY_POLL_SECONDS'"
}

main() {
    parse_options --canary=CANARY_PERCENT --canary-minutes=CANARY_MINUTES --code-from=CODE_FROM -- "$@"
    check_options
    lambda_setup
    function_exists "$FUNCTION" ||
        die "Lambda function '$FUNCTION' does not exist in $AWS_REGION. Run create_lambdas.sh first."
    move_clients_to_live_alias
    if [[ -n "$CODE_FROM" ]]; then
        stage_code "$CODE_FROM"
    else
        build_package
    fi
    ensure_execution_role
    configure_latest
    update_code
    local version
    version="$(publish_version)"
    release "$version" "${CANARY[@]}"
    print_function_summary
}

main "$@"
