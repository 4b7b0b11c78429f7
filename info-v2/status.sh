#!/usr/bin/env bash
# Usage: info-v2/status.sh [--help]
#
# One screen of what is deployed for the stage $STAGE in $AWS_REGION:
#   function     runtime, memory, code hash (CodeSha256), last update
#   table        status, approximate item count (DynamoDB refreshes it about every 6 hours)
#   REST API     id; stage (deployment, last update); public URL; custom domain, if any
# Exits 1 with one line naming the missing parts (after printing the parts that are there)
# when the function, the table, the REST API or its stage does not exist.
#
# Environment: STAGE, DYNAMODB_TABLE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (common.sh).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
handle_help "$@"

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
    local found runtime memory sha modified
    if found="$(aws_lookup "read Lambda function $FUNCTION" lambda get-function-configuration \
        --function-name "$FUNCTION" --query '[Runtime, MemorySize, CodeSha256, LastModified]' \
        --output text)"; then
        read -r runtime memory sha modified <<<"$found"
        row function "$FUNCTION: $runtime, $memory MB, code $sha, updated $modified"
    else
        (($? == 1)) || exit 1
        missing function "Lambda function $FUNCTION" create_lambdas.sh
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
    local api_id found deployment updated
    api_id="$(rest_api_ids)" || exit 1
    api_id="${api_id%%$'\n'*}" # create_api_gateway.sh names the extra ones, if any
    if [[ -z "$api_id" ]]; then
        missing "REST API" "REST API $FUNCTION" create_api_gateway.sh
        return
    fi
    row "REST API" "$api_id ($FUNCTION)"
    found="$(aws_lookup "read stage $STAGE" apigateway get-stage --rest-api-id "$api_id" \
        --stage-name "$STAGE" --query '[deploymentId, lastUpdatedDate]' --output text)" || {
        (($? == 1)) || exit 1
        missing stage "stage $STAGE of REST API $api_id" create_api_gateway.sh
        return
    }
    read -r deployment updated <<<"$found"
    row stage "$STAGE: deployment $deployment, updated $updated"
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
