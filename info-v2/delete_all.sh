#!/usr/bin/env bash
# Usage: info-v2/delete_all.sh [--delete-table] [--delete-certificate] [--help]
#
# Removes what the deploy scripts created for the stage $STAGE, in this order:
#   the custom domain of create_custom_domain.sh (found by its tag deployment=<function>):
#   its API mappings to the REST API, then the domain and its alias record in Route 53, unless
#   other APIs are still mapped to it (then it stays, with a line saying so);
#   the REST API named like the function (its stage first), API Gateway's permission to
#   invoke the function, the Lambda function, its log group /aws/lambda/<function>, any
#   Zappa keep-warm rule, the execution role with its policies, and the local build files
#   (build/<function>.zip, build/api-<stage>.json, build/endpoint-<stage>.txt).
# The DynamoDB table and its data stay, unless --delete-table is given: then the table is
# first backed up on demand (the backup's ARN and the command that restores it are printed on
# stdout; the backup stays until you delete it), its deletion protection lifted, and only then
# is it deleted. So does the domain's
# ACM certificate, which a later create_custom_domain.sh reuses without waiting for
# validation, unless --delete-certificate is given; its DNS validation record stays with it,
# since ACM renews the certificate through that record.
# It asks no confirmation: the name says what it does. It prints each part it removes, and
# "already gone" for parts that do not exist, so it can be run again at any time.
#
# Options: --delete-table        also delete the table $DYNAMODB_TABLE, after an on-demand backup
#                                of every watch in it.
#          --delete-certificate  also delete the ACM certificate of the custom domain (tagged
#                                deployment=<function>) and its validation record.
# Environment: STAGE, DYNAMODB_TABLE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (common.sh),
#              BACKUP_WAIT_SECONDS (600): how long to wait for the backup to become available.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DELETE_TABLE=false
BACKUP_WAIT_SECONDS="${BACKUP_WAIT_SECONDS:-600}"
DELETE_CERTIFICATE=false
FAILED=0

# remove WHAT ARGS...: `aws ARGS`, a delete call; a part that does not exist counts as
# removed, any other error is reported and the teardown goes on with the next part.
remove() {
    local what="$1"
    shift
    if aws_lookup "remove $what" "$@" >/dev/null; then
        say "removed $what"
    elif (($? == 1)); then
        say "$what: already gone"
    else
        FAILED=$((FAILED + 1))
    fi
}

# remove_record NAME TYPE: the record set NAME (of TYPE) from the hosted zone that holds it.
remove_record() {
    local name="${1%.}." zone zone_id zone_name record
    if ! zone="$(hosted_zone_of "$name")"; then
        say "$2 record $name: already gone (no hosted zone holds it)"
        return
    fi
    read -r zone_id zone_name <<<"$zone"
    record="$(aws_run "read the records of zone $zone_name" route53 list-resource-record-sets \
        --hosted-zone-id "$zone_id" --query "ResourceRecordSets[?Name=='$name' && Type=='$2'] | [0]" \
        --output json)" || exit 1
    if [[ "$record" == null ]]; then
        say "$2 record $name: already gone"
        return
    fi
    remove "$2 record $name from zone $zone_name" route53 change-resource-record-sets \
        --hosted-zone-id "$zone_id" --change-batch "$(record_change DELETE "$record")"
}

# remove_custom_domains: each custom domain tagged for this deployment: its mappings to our
# REST API, then the domain and its alias record if no other API is mapped to it.
remove_custom_domains() {
    local api_ids names name mappings mapping_id api_id others
    api_ids=" $(rest_api_ids | tr '\n' ' ') "
    names="$(aws_run "list custom domains" apigatewayv2 get-domain-names \
        --query "Items[?Tags.deployment=='$FUNCTION'].DomainName" --output text)"
    for name in $names; do
        mappings="$(aws_run "list the API mappings of $name" apigatewayv2 get-api-mappings \
            --domain-name "$name" --query 'Items[].[ApiMappingId, ApiId]' --output text)" || exit 1
        others=0
        while read -r mapping_id api_id; do
            [[ -n "$mapping_id" ]] || continue
            if [[ "$api_ids" == *" $api_id "* ]]; then
                remove "API mapping $mapping_id of $name" apigatewayv2 delete-api-mapping \
                    --domain-name "$name" --api-mapping-id "$mapping_id"
            else
                others=$((others + 1))
            fi
        done <<<"$mappings"
        if ((others > 0)); then
            say "kept custom domain $name: $others mapping(s) of other APIs use it"
            continue
        fi
        remove_record "$name" A
        remove "custom domain $name" apigatewayv2 delete-domain-name --domain-name "$name"
    done
}

# remove_certificates: the ACM certificates tagged for this deployment, with their
# validation records.
remove_certificates() {
    local arns arn record_name
    arns="$(aws_run "list ACM certificates" acm list-certificates \
        --query 'CertificateSummaryList[].CertificateArn' --output text)"
    for arn in $arns; do
        [[ "$(aws_run "read the tags of $arn" acm list-tags-for-certificate --certificate-arn "$arn" \
            --query "Tags[?Key=='deployment'].Value | [0]" --output text)" == "$FUNCTION" ]] || continue
        record_name="$(certificate_field "$arn" 'DomainValidationOptions[0].ResourceRecord.Name')"
        [[ -z "$record_name" ]] || remove_record "$record_name" CNAME
        remove "certificate $arn" acm delete-certificate --certificate-arn "$arn"
    done
}

remove_rest_apis() {
    local api_ids api_id stages stage found=false
    api_ids="$(rest_api_ids)"
    for api_id in $api_ids; do
        found=true
        stages="$(aws_run "list the stages of $api_id" apigateway get-stages \
            --rest-api-id "$api_id" --query 'item[].stageName' --output text)"
        for stage in $stages; do
            remove "stage $stage of REST API $FUNCTION ($api_id)" \
                apigateway delete-stage --rest-api-id "$api_id" --stage-name "$stage"
        done
        remove "REST API $FUNCTION ($api_id)" apigateway delete-rest-api --rest-api-id "$api_id"
    done
    "$found" || say "REST API $FUNCTION: already gone"
}

remove_keep_warm_rules() {
    local rules rule target_ids
    rules="$(aws_run "list EventBridge rules" events list-rules --name-prefix "$FUNCTION-" \
        --query 'Rules[].Name' --output text)"
    for rule in $rules; do
        target_ids="$(aws_run "list the targets of $rule" events list-targets-by-rule --rule "$rule" \
            --query 'Targets[].Id' --output text)"
        if [[ -n "$target_ids" ]]; then
            # shellcheck disable=SC2086  # one argument per target id
            remove "targets of rule $rule" events remove-targets --rule "$rule" --ids $target_ids
        fi
        remove "rule $rule" events delete-rule --name "$rule"
    done
}

remove_role() {
    local policies policy
    aws_lookup "read IAM role $ROLE" iam get-role --role-name "$ROLE" >/dev/null || {
        (($? == 1)) || exit 1
        say "IAM role $ROLE: already gone"
        return
    }
    policies="$(aws_run "list the policies of $ROLE" iam list-role-policies --role-name "$ROLE" \
        --query 'PolicyNames[]' --output text)"
    for policy in $policies; do
        remove "inline policy $policy of role $ROLE" \
            iam delete-role-policy --role-name "$ROLE" --policy-name "$policy"
    done
    policies="$(aws_run "list the attached policies of $ROLE" iam list-attached-role-policies \
        --role-name "$ROLE" --query 'AttachedPolicies[].PolicyArn' --output text)"
    for policy in $policies; do
        remove "policy $policy from role $ROLE" \
            iam detach-role-policy --role-name "$ROLE" --policy-arn "$policy"
    done
    remove "IAM role $ROLE" iam delete-role --role-name "$ROLE"
}

# remove_table: an on-demand backup of the table (its ARN and the restore command on
# stdout), then its deletion protection lifted, then the table deleted.
remove_table() {
    local arn status waited=0
    aws_lookup "read DynamoDB table $DYNAMODB_TABLE" dynamodb describe-table \
        --table-name "$DYNAMODB_TABLE" >/dev/null || {
        (($? == 1)) || exit 1
        say "DynamoDB table $DYNAMODB_TABLE: already gone"
        return
    }
    say "backing up DynamoDB table $DYNAMODB_TABLE before deleting it"
    arn="$(aws_run "back up table $DYNAMODB_TABLE" dynamodb create-backup --table-name "$DYNAMODB_TABLE" \
        --backup-name "$DYNAMODB_TABLE-$(date -u +%Y%m%dT%H%M%SZ)" \
        --query BackupDetails.BackupArn --output text)" || exit 1
    while status="$(aws_run "read backup $arn" dynamodb describe-backup --backup-arn "$arn" \
        --query BackupDescription.BackupDetails.BackupStatus --output text)" && [[ "$status" != AVAILABLE ]]; do
        ((waited < BACKUP_WAIT_SECONDS)) ||
            die "backup $arn is still $status after ${waited}s: table $DYNAMODB_TABLE was not deleted"
        sleep 5
        waited=$((waited + 5))
    done
    printf 'backup of table %s: %s\n' "$DYNAMODB_TABLE" "$arn"
    printf 'restore it with: aws dynamodb restore-table-from-backup --target-table-name %s --backup-arn %s\n' \
        "$DYNAMODB_TABLE" "$arn"
    if [[ "$(aws_run "read DynamoDB table $DYNAMODB_TABLE" dynamodb describe-table --table-name "$DYNAMODB_TABLE" \
        --query Table.DeletionProtectionEnabled --output text)" == True ]]; then
        say "lifting the deletion protection of table $DYNAMODB_TABLE"
        aws_run "lift the deletion protection of table $DYNAMODB_TABLE" dynamodb update-table \
            --table-name "$DYNAMODB_TABLE" --no-deletion-protection-enabled >/dev/null
        wait_for_table "$DYNAMODB_TABLE"
    fi
    remove "DynamoDB table $DYNAMODB_TABLE" dynamodb delete-table --table-name "$DYNAMODB_TABLE"
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
    parse_options --delete-table=DELETE_TABLE=true --delete-certificate=DELETE_CERTIFICATE=true -- "$@"
    aws_preflight
    deployment_names
    say "removing stage $STAGE of the service from $AWS_REGION (account $ACCOUNT_ID)"

    remove_custom_domains
    if "$DELETE_CERTIFICATE"; then
        remove_certificates
    else
        say "kept the custom domain's certificate, if any (delete it too with --delete-certificate)"
    fi
    remove_rest_apis
    remove "API Gateway's permission to invoke $FUNCTION:live" lambda remove-permission \
        --function-name "$FUNCTION" --qualifier live --statement-id "$INVOKE_STATEMENT_ID"
    remove "Lambda function $FUNCTION" lambda delete-function --function-name "$FUNCTION"
    remove "log group /aws/lambda/$FUNCTION" \
        logs delete-log-group --log-group-name "/aws/lambda/$FUNCTION"
    remove_keep_warm_rules
    remove_role
    remove_local_files
    if "$DELETE_TABLE"; then
        remove_table
    else
        say "kept DynamoDB table $DYNAMODB_TABLE (delete it too with --delete-table)"
    fi
    ((FAILED == 0)) || die "$FAILED part(s) could not be removed (see above); run this again once fixed"
    say "done"
}

main "$@"
