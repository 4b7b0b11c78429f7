#!/usr/bin/env bash
# Usage: info-v2/update_lambdas.sh [-h|--help]
#
# Deploys new code to the service's Lambda function after a change, from any folder:
# rebuilds the package from .venv-lambda (printing its zipped size), brings the execution
# role's policy up to date, runs `zappa update <stage> --zip`, refreshes the function's
# environment (DYNAMODB_TABLE, HTTP_USER, HTTP_PASS_HASH) and prints the new CodeSha256 and size.
# Run create_lambdas.sh once before. Running it twice in a row is fine.
#
# Needs HTTP_USER and HTTP_PASS, as create_lambdas.sh. Configuration: STAGE,
# DYNAMODB_TABLE, AWS_REGION, AWS_ENDPOINT_URL, SNAP_START (on: SnapStart, see common.sh),
# CORS_ORIGINS (as create_lambdas.sh: unset, the function answers no CORS).

set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/lambda_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/lambda_common.sh"

main() {
    handle_help "$@"
    lambda_setup
    function_exists "$FUNCTION" ||
        die "Lambda function '$FUNCTION' does not exist in $AWS_REGION. Run create_lambdas.sh first."
    build_package
    ensure_execution_role
    say "updating the code of $FUNCTION (stage $STAGE, region $AWS_REGION)"
    run_zappa update "$STAGE" --zip "$PACKAGE" || zappa_failure update
    set_function_configuration
    print_function_summary
}

main "$@"
