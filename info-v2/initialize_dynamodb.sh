#!/usr/bin/env bash
# Usage: info-v2/initialize_dynamodb.sh [--table NAME] [--region REGION] [--file PATH]
#
# Creates the DynamoDB table of the Watch Info Service (partition key sku, type S, on-demand
# billing) unless it exists, waits until it is active, then loads the catalogue into it with
# load_watches.py: records that cannot be stored are listed with the reason, and the run ends
# with "read N, written W, skipped S" and a check that the table holds every written item.
# Safe to re-run: an existing table is reused and items are overwritten, never duplicated.
# The table gets point-in-time recovery (35 days of restorable history) and deletion
# protection (DeleteTable is refused until it is lifted: delete_all.sh --delete-table backs
# the table up first); on an existing table they are turned on, with a line saying so.
# TABLE_PROTECTION=off leaves both off, for a throwaway table (run.sh's local ones, or a
# local DynamoDB without them: DynamoDB Local, dynalite).
#
#   --table NAME      table name (default: $DYNAMODB_TABLE, else the stage's table in
#                     zappa_settings.json: project1 for dev)
#   --region REGION   AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the AWS CLI's
#                     configured region, else us-east-1)
#   --file PATH       JSON array of watch records (default: watches.json of this repository)
#   -h, --help        show this help
#
# Needs the AWS CLI and credentials; set AWS_ENDPOINT_URL to use a local DynamoDB instead.
# Environment: TABLE_PROTECTION (on): off for a throwaway table, see above.
# Example: info-v2/initialize_dynamodb.sh --table project1 --region eu-west-1
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

WATCHES_FILE="$REPO_DIR/watches.json"
TABLE_PROTECTION="${TABLE_PROTECTION:-on}"
# describe-table --query printing the key schema and the type of sku, "sku:HASH<TAB>S" for ours.
KEY_QUERY="[join(' ', Table.KeySchema[].join(':', [AttributeName, KeyType])),
    Table.AttributeDefinitions[?AttributeName=='sku'].AttributeType | [0]]"

# check_input_file: a file we cannot load stops the run before anything is created.
check_input_file() {
    [[ -e "$WATCHES_FILE" ]] || die "input file '$WATCHES_FILE' does not exist."
    [[ -f "$WATCHES_FILE" ]] || die "input file '$WATCHES_FILE' is not a regular file."
    [[ -r "$WATCHES_FILE" ]] || die "input file '$WATCHES_FILE' is not readable."
}

# check_input_json: one line on stderr and exit 2 when the file is not a JSON array.
check_input_json() {
    lib_python load_watches --check --file "$WATCHES_FILE"
}

# ensure_table: creates the table, or reuses it when its key is sku (S).
ensure_table() {
    local key
    if key="$(aws_lookup "read table '$DYNAMODB_TABLE'" dynamodb describe-table \
        --table-name "$DYNAMODB_TABLE" --query "$KEY_QUERY" --output text)"; then
        [[ "$key" == $'sku:HASH\tS' ]] ||
            die "table '$DYNAMODB_TABLE' already exists in $AWS_REGION with another key (key ${key%%$'\t'*}, type of sku ${key#*$'\t'}); this service needs partition key sku of type S. Choose another --table."
        say "reusing table $DYNAMODB_TABLE in $AWS_REGION"
    else
        (($? == 1)) || exit 1
        say "creating table $DYNAMODB_TABLE in $AWS_REGION"
        local protection=()
        [[ "$TABLE_PROTECTION" == off ]] || protection=(--deletion-protection-enabled)
        aws_run "create table '$DYNAMODB_TABLE'" dynamodb create-table --table-name "$DYNAMODB_TABLE" \
            --attribute-definitions AttributeName=sku,AttributeType=S \
            --key-schema AttributeName=sku,KeyType=HASH \
            --billing-mode PAY_PER_REQUEST "${protection[@]}" >/dev/null
    fi
    say "waiting until table $DYNAMODB_TABLE is active"
    wait_for_table "$DYNAMODB_TABLE"
}

# protect_table: point-in-time recovery and deletion protection on (TABLE_PROTECTION=on).
protect_table() {
    local deletion recovery
    if [[ "$TABLE_PROTECTION" == off ]]; then
        say "TABLE_PROTECTION=off: table $DYNAMODB_TABLE keeps its point-in-time recovery and deletion protection as they are (a throwaway table)"
        return
    fi
    deletion="$(aws_run "read table '$DYNAMODB_TABLE'" dynamodb describe-table \
        --table-name "$DYNAMODB_TABLE" --query Table.DeletionProtectionEnabled --output text)"
    # DynamoDB always says True or False; a local one without the feature says nothing.
    [[ "$deletion" == True || "$deletion" == False ]] || no_protection "deletion protection"
    if [[ "$deletion" != True ]]; then
        say "turning on deletion protection of table $DYNAMODB_TABLE"
        aws_run "turn on deletion protection of table '$DYNAMODB_TABLE'" dynamodb update-table \
            --table-name "$DYNAMODB_TABLE" --deletion-protection-enabled >/dev/null
        wait_for_table "$DYNAMODB_TABLE"
        [[ "$(aws_run "read table '$DYNAMODB_TABLE'" dynamodb describe-table --table-name "$DYNAMODB_TABLE" \
            --query Table.DeletionProtectionEnabled --output text)" == True ]] || no_protection "deletion protection"
    fi
    # A raw call: a local DynamoDB answers UnknownOperationException, which needs its own advice.
    if ! recovery="$(aws dynamodb describe-continuous-backups --table-name "$DYNAMODB_TABLE" \
        --output text --query ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus 2>&1)"; then
        [[ "$recovery" != *UnknownOperation* ]] || no_protection "point-in-time recovery"
        die "$(aws_failure "read the backups of table '$DYNAMODB_TABLE'" dynamodb "$recovery")"
    fi
    if [[ "$recovery" != ENABLED ]]; then
        say "turning on point-in-time recovery of table $DYNAMODB_TABLE"
        aws_run "turn on point-in-time recovery of table '$DYNAMODB_TABLE'" dynamodb update-continuous-backups \
            --table-name "$DYNAMODB_TABLE" \
            --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null
    fi
    say "table $DYNAMODB_TABLE: point-in-time recovery and deletion protection on"
}

# no_protection WHAT: the DynamoDB at hand lacks WHAT (a local one): say how to go on.
no_protection() {
    die "the DynamoDB at ${AWS_ENDPOINT_URL:-AWS} has no $1 for table '$DYNAMODB_TABLE' (a local DynamoDB?); for a throwaway table, set TABLE_PROTECTION=off"
}

main() {
    [[ "$TABLE_PROTECTION" == on || "$TABLE_PROTECTION" == off ]] ||
        die "TABLE_PROTECTION must be 'on' or 'off', not '$TABLE_PROTECTION'"
    # --region goes into AWS_REGION, which resolve_region (dynamodb_preflight) then exports.
    parse_options --table=DYNAMODB_TABLE --region=AWS_REGION --file=WATCHES_FILE -- "$@"
    check_input_file
    dynamodb_preflight
    check_input_json
    ensure_table
    protect_table
    say "loading $WATCHES_FILE into table $DYNAMODB_TABLE"
    lib_python load_watches --table "$DYNAMODB_TABLE" --file "$WATCHES_FILE"
}

main "$@"
