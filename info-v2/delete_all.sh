#!/usr/bin/env bash
# Usage: info-v2/delete_all.sh [--delete-table] [--help]
#
# Removes what the deploy scripts created for the stage $STAGE, in this order:
#   the REST API named like the function (its stage first), API Gateway's permission to
#   invoke the function, the Lambda function, its log group /aws/lambda/<function>, any
#   Zappa keep-warm rule, the execution role with its policies, and the local build files
#   (build/<function>.zip, build/api-<stage>.json, build/endpoint-<stage>.txt).
# The DynamoDB table and its data stay, unless --delete-table is given.
# It asks no confirmation: the name says what it does. It prints each part it removes, and
# "already gone" for parts that do not exist, so it can be run again at any time.
#
# Options: --delete-table  also delete the table $DYNAMODB_TABLE and every watch in it.
# Environment: STAGE, DYNAMODB_TABLE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (common.sh).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
handle_help "$@"

DELETE_TABLE=false
FAILED=0

parse_args() {
    while (($# > 0)); do
        case "$1" in
        --delete-table) DELETE_TABLE=true ;;
        *) die "unknown argument '$1'; see --help" ;;
        esac
        shift
    done
}

# remove WHAT COMMAND...: runs a delete command; a part that does not exist counts as removed,
# any other error is reported and the teardown goes on with the next part.
remove() {
    local what="$1" output
    shift
    if output="$("$@" 2>&1)"; then
        say "removed $what"
    elif is_not_found "$output"; then
        say "$what: already gone"
    else
        warn "cannot remove $what: $(last_line "$output")"
        FAILED=$((FAILED + 1))
    fi
}

remove_rest_apis() {
    local api_id stage found=false
    for api_id in $(rest_api_ids); do
        found=true
        for stage in $(aws_list "list the stages of $api_id" apigateway get-stages \
            --rest-api-id "$api_id" --query 'item[].stageName' --output text); do
            remove "stage $stage of REST API $FUNCTION ($api_id)" \
                aws apigateway delete-stage --rest-api-id "$api_id" --stage-name "$stage"
        done
        remove "REST API $FUNCTION ($api_id)" aws apigateway delete-rest-api --rest-api-id "$api_id"
    done
    "$found" || say "REST API $FUNCTION: already gone"
}

remove_keep_warm_rules() {
    local rule target_ids
    for rule in $(aws_list "list EventBridge rules" events list-rules --name-prefix "$FUNCTION-" \
        --query 'Rules[].Name' --output text); do
        target_ids="$(aws_list "list the targets of $rule" events list-targets-by-rule --rule "$rule" \
            --query 'Targets[].Id' --output text)"
        if [[ -n "$target_ids" ]]; then
            # shellcheck disable=SC2086  # one argument per target id
            remove "targets of rule $rule" aws events remove-targets --rule "$rule" --ids $target_ids
        fi
        remove "rule $rule" aws events delete-rule --name "$rule"
    done
}

remove_role() {
    local policy
    if ! aws_find "read IAM role $ROLE" iam get-role --role-name "$ROLE"; then
        say "IAM role $ROLE: already gone"
        return
    fi
    for policy in $(aws_list "list the policies of $ROLE" iam list-role-policies --role-name "$ROLE" \
        --query 'PolicyNames[]' --output text); do
        remove "inline policy $policy of role $ROLE" \
            aws iam delete-role-policy --role-name "$ROLE" --policy-name "$policy"
    done
    for policy in $(aws_list "list the attached policies of $ROLE" iam list-attached-role-policies \
        --role-name "$ROLE" --query 'AttachedPolicies[].PolicyArn' --output text); do
        remove "policy $policy from role $ROLE" \
            aws iam detach-role-policy --role-name "$ROLE" --policy-arn "$policy"
    done
    remove "IAM role $ROLE" aws iam delete-role --role-name "$ROLE"
}

remove_local_files() {
    local file
    for file in "$BUILD_DIR/$FUNCTION.zip" "$BUILD_DIR/api-$STAGE.json" \
        "$BUILD_DIR/endpoint-$STAGE.txt"; do
        if [[ -e "$file" ]]; then
            rm -f "$file"
            say "removed $file"
        else
            say "$file: already gone"
        fi
    done
}

main() {
    parse_args "$@"
    aws_preflight
    deployment_names
    say "removing stage $STAGE of the service from $AWS_REGION (account $ACCOUNT_ID)"

    remove_rest_apis
    remove "API Gateway's permission to invoke $FUNCTION" \
        aws lambda remove-permission --function-name "$FUNCTION" --statement-id "$INVOKE_STATEMENT_ID"
    remove "Lambda function $FUNCTION" aws lambda delete-function --function-name "$FUNCTION"
    remove "log group /aws/lambda/$FUNCTION" \
        aws logs delete-log-group --log-group-name "/aws/lambda/$FUNCTION"
    remove_keep_warm_rules
    remove_role
    remove_local_files
    if "$DELETE_TABLE"; then
        remove "DynamoDB table $DYNAMODB_TABLE" aws dynamodb delete-table --table-name "$DYNAMODB_TABLE"
    else
        say "kept DynamoDB table $DYNAMODB_TABLE (delete it too with --delete-table)"
    fi
    ((FAILED == 0)) || die "$FAILED part(s) could not be removed (see above); run this again once fixed"
    say "done"
}

main "$@"
