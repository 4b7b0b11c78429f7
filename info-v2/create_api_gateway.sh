#!/usr/bin/env bash
# Usage: info-v2/create_api_gateway.sh [--spec FILE] [--help]
#
# Publishes the service: imports info_openapi_v2.yaml into API Gateway as a REST API whose
# two operations call the Lambda function of create_lambdas.sh through a Lambda proxy
# integration (AWS_PROXY), lets API Gateway invoke that function (from this API only),
# deploys the stage $STAGE and prints the public base URL, the stage URL:
#     https://<api-id>.execute-api.<region>.amazonaws.com/<stage>
# Clients append /watch/{sku} to it: the API's resources are relative to the spec's base path
# /info/v2, which a custom domain puts in front (create_custom_domain.sh:
# https://<domain>/info/v2/watch/{sku}). The URL is also written to build/endpoint-<stage>.txt
# at the top of the repository.
# Before any AWS call it checks that API Gateway will import the rendered spec (see
# gateway_document.py). The API's own errors (unknown route: 404, throttling: 429, Lambda
# failure, timeout...) are application/problem+json gateway responses, and the stage is
# throttled on every method (*/*): THROTTLE_RATE_LIMIT requests per second on average, with
# bursts of up to THROTTLE_BURST_LIMIT; beyond that, clients get 429.
# Run it again after changing the spec: it updates the same API in place (found by its
# name, which is the function's name, e.g. watch-info-dev) and deploys it again.
# The integrations and the permission name the function's alias "live" (made by
# create_lambdas.sh, moved by update_lambdas.sh and rollback.sh), never the function itself,
# with SnapStart on or off. An API of the earlier scripts (invoking the function, or its alias
# "snapstart") moves to it, with a line saying so; the old permission and alias "snapstart"
# are then removed.
#
# Run initialize_dynamodb.sh and create_lambdas.sh first.
# Options: --spec FILE  import FILE instead of info_openapi_v2.yaml (it must define the same
#                       operations as the app).
# Environment: STAGE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (see common.sh),
# THROTTLE_RATE_LIMIT (50) and THROTTLE_BURST_LIMIT (100), CORS_ORIGINS (the same value as for
# create_lambdas.sh: the gateway's own errors then carry CORS headers too).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/release.sh"

THROTTLE_RATE_LIMIT="${THROTTLE_RATE_LIMIT:-50}"
THROTTLE_BURST_LIMIT="${THROTTLE_BURST_LIMIT:-100}"

# gateway_document ARGS...: the Python helper that validates and renders the spec; it prints
# its own one-line error, so a failure only needs to stop the script.
gateway_document() {
    lib_python gateway_document --spec "$SPEC_FILE" "$@" || exit 1
}

# invoked_arn: what API Gateway invokes: the function's alias live.
invoked_arn() {
    aws_lookup "read alias $LIVE_ALIAS of $FUNCTION" lambda get-alias --function-name "$FUNCTION" \
        --name "$LIVE_ALIAS" --query AliasArn --output text && return
    (($? == 1)) || exit 1
    die "Lambda function '$FUNCTION' or its alias '$LIVE_ALIAS' not found in $AWS_REGION. Run create_lambdas.sh first (for a function deployed by earlier scripts: update_lambdas.sh, which moves it to alias $LIVE_ALIAS)."
}

# existing_api_id: the id of the REST API named $FUNCTION, empty when there is none.
existing_api_id() {
    local ids
    ids="$(rest_api_ids)"
    if (($(wc -l <<<"$ids") > 1)); then
        die "several REST APIs are named '$FUNCTION' ($(tr '\n' ' ' <<<"$ids")); delete the extra ones with 'aws apigateway delete-rest-api --rest-api-id ID' and run this again."
    fi
    printf '%s\n' "$ids"
}

import_api() {
    local document="$1" api_id="$2" response
    if [[ -n "$api_id" ]]; then
        say "updating REST API $FUNCTION ($api_id) from $(basename "$SPEC_FILE")"
        response="$(aws_run "update REST API $api_id" apigateway put-rest-api \
            --rest-api-id "$api_id" --mode overwrite --parameters basepath=ignore \
            --body "fileb://$document" --output json)"
    else
        say "importing $(basename "$SPEC_FILE") as REST API $FUNCTION"
        response="$(aws_run "import the REST API" apigateway import-rest-api \
            --parameters basepath=ignore,endpointConfigurationTypes=REGIONAL \
            --body "fileb://$document" --output json)"
    fi
    deploy_helper import-result <<<"$response"
}

# require_throttle_limits: both limits are whole numbers above zero, checked before any AWS call.
require_throttle_limits() {
    [[ "$THROTTLE_RATE_LIMIT" =~ ^[1-9][0-9]*$ ]] ||
        die "THROTTLE_RATE_LIMIT must be a whole number of requests per second above 0, not '$THROTTLE_RATE_LIMIT'"
    [[ "$THROTTLE_BURST_LIMIT" =~ ^[1-9][0-9]*$ ]] ||
        die "THROTTLE_BURST_LIMIT must be a whole number of requests above 0, not '$THROTTLE_BURST_LIMIT'"
}

# put_gateway_responses API_ID: the errors API Gateway answers itself, as problem+json.
put_gateway_responses() {
    local request
    say "setting the gateway's own error responses (problem+json, unknown route 404)"
    while read -r request; do
        aws_run "set a gateway response" apigateway put-gateway-response \
            --rest-api-id "$1" --cli-input-json "$request" >/dev/null
    done < <(lib_python gateway_document --gateway-responses)
}

# throttle_stage API_ID: rate and burst limits on every method of the stage (*/*).
throttle_stage() {
    say "throttling stage $STAGE: $THROTTLE_RATE_LIMIT requests/s, bursts of $THROTTLE_BURST_LIMIT"
    aws_run "set the throttling of stage $STAGE" apigateway update-stage \
        --rest-api-id "$1" --stage-name "$STAGE" --patch-operations \
        "op=replace,path=/*/*/throttling/rateLimit,value=$THROTTLE_RATE_LIMIT" \
        "op=replace,path=/*/*/throttling/burstLimit,value=$THROTTLE_BURST_LIMIT" >/dev/null
}

# current_source_arn TARGET_ARN QUALIFIER...: the SourceArn of our statement for TARGET_ARN in
# the policy of the function, or of its alias with --qualifier ALIAS, if any.
current_source_arn() {
    local policy target="$1"
    shift
    if policy="$(aws_lookup "read the policy of $FUNCTION" lambda get-policy \
        --function-name "$FUNCTION" "$@" --query Policy --output text)"; then
        deploy_helper invoke-source-arn "$INVOKE_STATEMENT_ID" "$target" <<<"$policy"
    else
        (($? == 1)) || exit 1
    fi
}

# grant_invoke SOURCE_ARN TARGET_ARN: API Gateway may invoke TARGET_ARN (alias live) for
# requests to this API only.
grant_invoke() {
    local source_arn="$1" current
    current="$(current_source_arn "$2" --qualifier "$LIVE_ALIAS")"
    if [[ "$current" == "$source_arn" ]]; then
        say "API Gateway may already invoke $FUNCTION:$LIVE_ALIAS from this API"
        return
    fi
    if [[ -n "$current" ]]; then
        say "replacing the invoke permission for $current"
        aws_run "remove the old invoke permission" lambda remove-permission \
            --function-name "$FUNCTION" --qualifier "$LIVE_ALIAS" --statement-id "$INVOKE_STATEMENT_ID" >/dev/null
    fi
    say "allowing API Gateway to invoke $FUNCTION:$LIVE_ALIAS from $source_arn"
    aws_run "grant API Gateway the right to invoke $FUNCTION:$LIVE_ALIAS" lambda add-permission \
        --function-name "$FUNCTION" --qualifier "$LIVE_ALIAS" --statement-id "$INVOKE_STATEMENT_ID" \
        --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
        --source-arn "$source_arn" >/dev/null
}

# remove_earlier_targets FUNCTION_ARN: what the earlier scripts let API Gateway invoke, now
# that the deployed stage invokes alias live: the permission on the function itself, and
# alias snapstart with its permission. Each removal says so.
remove_earlier_targets() {
    if [[ -n "$(current_source_arn "$1")" ]]; then
        say "moved to alias $LIVE_ALIAS: removing API Gateway's permission to invoke $FUNCTION itself (\$LATEST)"
        aws_run "remove the invoke permission of $FUNCTION" lambda remove-permission \
            --function-name "$FUNCTION" --statement-id "$INVOKE_STATEMENT_ID" >/dev/null
    fi
    if aws_lookup "read alias $SNAPSTART_ALIAS of $FUNCTION" lambda get-alias \
        --function-name "$FUNCTION" --name "$SNAPSTART_ALIAS" >/dev/null; then
        say "moved to alias $LIVE_ALIAS: removing alias $SNAPSTART_ALIAS of $FUNCTION, which API Gateway invoked before"
        aws_run "remove alias $SNAPSTART_ALIAS of $FUNCTION" lambda delete-alias \
            --function-name "$FUNCTION" --name "$SNAPSTART_ALIAS" >/dev/null
    else
        (($? == 1)) || exit 1
    fi
}

main() {
    parse_options --spec=SPEC_FILE -- "$@"
    require_throttle_limits
    require_cors_origins
    ensure_tools_venv
    gateway_document --check
    aws_preflight
    deployment_names
    local lambda_arn partition document api_id url
    lambda_arn="$(invoked_arn)"
    partition="$(cut -d: -f2 <<<"$lambda_arn")"

    mkdir -p "$BUILD_DIR"
    document="$BUILD_DIR/api-$STAGE.json"
    gateway_document --lambda-arn "$lambda_arn" --region "$AWS_REGION" \
        --api-name "$FUNCTION" --output "$document"

    api_id="$(existing_api_id)"
    api_id="$(import_api "$document" "$api_id")"
    put_gateway_responses "$api_id"
    grant_invoke "arn:$partition:execute-api:$AWS_REGION:$ACCOUNT_ID:$api_id/*/*/*" "$lambda_arn"

    say "deploying stage $STAGE"
    aws_run "deploy stage $STAGE" apigateway create-deployment \
        --rest-api-id "$api_id" --stage-name "$STAGE" \
        --description "create_api_gateway.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
    throttle_stage "$api_id"
    remove_earlier_targets "${lambda_arn%:"$LIVE_ALIAS"}"

    url="$(stage_url "$api_id")"
    printf '%s\n' "$url" >"$BUILD_DIR/endpoint-$STAGE.txt"
    say "endpoint written to $BUILD_DIR/endpoint-$STAGE.txt"
    printf '%s\n' "$url"
}

main "$@"
