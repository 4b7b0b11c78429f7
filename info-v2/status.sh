#!/usr/bin/env bash
# Usage: info-v2/status.sh [--help]
#
# One screen of what is deployed for the stage $STAGE in $AWS_REGION:
#   function     runtime, memory
#   live         the version alias "live" names (what API Gateway invokes), its code hash
#                (CodeSha256) and release time; a canary's split while one runs
#   rollback     the version rollback.sh would move the alias back to
#   table        status, approximate item count (DynamoDB refreshes it about every 6 hours)
#   REST API     id; stage (deployment, last update); public URL; custom domain, if any
# Exits 1 with one line naming the missing parts (after printing the parts that are there)
# when the function, its alias live, the table, the REST API or its stage does not exist.
#
# Environment: STAGE, DYNAMODB_TABLE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (common.sh).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/release.sh"

MISSING=()

# row LABEL TEXT: one aligned line of the screen.
row() {
    printf '%-14s %s\n' "$1" "$2"
}

# missing LABEL WHAT HINT: a missing part, on the screen and in the final error line.
missing() {
    row "$1" "missing: $2 (run $3)"
    MISSING+=("$2")
}

show_function() {
    local found runtime memory
    if found="$(aws_lookup "read Lambda function $FUNCTION" lambda get-function-configuration \
        --function-name "$FUNCTION" --query '[Runtime, MemorySize]' --output text)"; then
        read -r runtime memory <<<"$found"
        row function "$FUNCTION: $runtime, $memory MB"
        show_release
    else
        (($? == 1)) || exit 1
        missing function "Lambda function $FUNCTION" create_lambdas.sh
    fi
}

# show_release: the version alias live names, what a rollback would pick, a canary's split.
show_release() {
    local live version released previous sha weights
    live="$(live_alias)" || {
        (($? == 1)) || exit 1
        missing live "alias $LIVE_ALIAS of $FUNCTION" create_lambdas.sh
        return
    }
    read -r version released previous <<<"$live"
    sha="$(aws_run "read version $version of $FUNCTION" lambda get-function-configuration \
        --function-name "$FUNCTION" --qualifier "$version" --query CodeSha256 --output text)"
    [[ "$released" != - ]] || released="at an unknown time (the alias was not made by these scripts)"
    row live "alias $LIVE_ALIAS: version $version, code $sha, released $released"
    if [[ "$previous" == - ]]; then
        row rollback "no earlier version recorded (rollback.sh --to VERSION)"
    else
        row rollback "version $previous (rollback.sh)"
    fi
    # Two lines: the versions a canary gives traffic to, then their weights.
    # shellcheck disable=SC2016  # JMESPath, not shell
    weights="$(aws_run "read alias $LIVE_ALIAS of $FUNCTION" lambda get-alias --function-name "$FUNCTION" \
        --name "$LIVE_ALIAS" --output text --query '[keys(RoutingConfig.AdditionalVersionWeights || `{}`),
            values(RoutingConfig.AdditionalVersionWeights || `{}`)]')"
    if [[ -n "${weights//[[:space:]]/}" ]]; then
        row canary "$(awk 'NR == 1 { split($0, v) } NR == 2 { for (i = 1; i <= NF; i++)
            printf "version %s gets %g%% of the traffic ", v[i], $i * 100 }' <<<"$weights")"
    fi
}

show_table() {
    local found status count
    if found="$(aws_lookup "read DynamoDB table $DYNAMODB_TABLE" dynamodb describe-table \
        --table-name "$DYNAMODB_TABLE" --query 'Table.[TableStatus, ItemCount]' --output text)"; then
        read -r status count <<<"$found"
        row table "$DYNAMODB_TABLE: $status, about $count items"
    else
        (($? == 1)) || exit 1
        missing table "DynamoDB table $DYNAMODB_TABLE" initialize_dynamodb.sh
    fi
}

# show_api: the REST API, its stage, the public URL and the custom domains mapped to it.
show_api() {
    local api_id deployment deployed
    api_id="$(rest_api_ids)" || exit 1
    api_id="${api_id%%$'\n'*}" # create_api_gateway.sh names the extra ones, if any
    if [[ -z "$api_id" ]]; then
        missing "REST API" "REST API $FUNCTION" create_api_gateway.sh
        return
    fi
    row "REST API" "$api_id ($FUNCTION)"
    deployment="$(aws_lookup "read stage $STAGE" apigateway get-stage --rest-api-id "$api_id" \
        --stage-name "$STAGE" --query deploymentId --output text)" || {
        (($? == 1)) || exit 1
        missing stage "stage $STAGE of REST API $api_id" create_api_gateway.sh
        return
    }
    # The deployment's creation time: a stage's lastUpdatedDate is not always there.
    deployed="$(aws_run "read deployment $deployment" apigateway get-deployment --rest-api-id "$api_id" \
        --deployment-id "$deployment" --query createdDate --output text)"
    if [[ "$deployed" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then # AWS CLI v1 prints seconds since 1970
        deployed="$(date -u -d "@${deployed%.*}" +%Y-%m-%dT%H:%M:%SZ)"
    fi
    row stage "$STAGE: deployment $deployment, deployed ${deployed:-at an unknown time}"
    row "public URL" "$(stage_url "$api_id")"
    custom_domains "$api_id"
}

# custom_domains API_ID: https://<domain>/<base path> of each API mapping to our stage (API
# Gateway V2's mappings, which include V1's base path mappings), or "none".
custom_domains() {
    local api_id="$1" names name keys key urls=()
    names="$(aws_run "list custom domain names" apigatewayv2 get-domain-names \
        --query 'Items[].DomainName' --output text)"
    for name in $names; do
        keys="$(aws_run "list the API mappings of $name" apigatewayv2 get-api-mappings \
            --domain-name "$name" --query "Items[?ApiId=='$api_id' && Stage=='$STAGE'].ApiMappingKey" \
            --output text)"
        for key in $keys; do
            urls+=("https://$name/$key")
        done
    done
    row "custom domain" "${urls[*]:-none}"
}

main() {
    [[ $# -eq 0 ]] || die "unknown argument '$1'; see --help"
    aws_preflight
    deployment_names
    row deployment "stage $STAGE in $AWS_REGION${AWS_ENDPOINT_URL:+ (endpoint $AWS_ENDPOINT_URL)}"
    show_function
    show_table
    show_api
    if ((${#MISSING[@]} > 0)); then
        die "not deployed: $(printf '%s, ' "${MISSING[@]}" | sed 's/, $//')"
    fi
}

main "$@"
