#!/usr/bin/env bash
# Usage: info-v2/logs.sh [--since DURATION] [--follow] [--help]
#
# Prints the logs of the service's Lambda function (log group /aws/lambda/<function>), one
# event per line with its UTC time, oldest first. The app writes one JSON line per request
# (request_id, method, path, operation, status, duration_ms), e.g.
#     2026-11-29 17:20:01.123  {"request_id": "c0ffee…", "method": "GET", ..., "status": 200}
#
# Options: --since DURATION  how far back to start: a number and s, m, h or d (default 10m)
#          --follow          keep printing new events as they arrive, until Ctrl-C
# Environment: STAGE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (see common.sh);
#              LOGS_POLL_SECONDS (2): the pause between two reads with --follow.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SINCE="10m"
FOLLOW=false
POLL_SECONDS="${LOGS_POLL_SECONDS:-2}"

# seconds DURATION: 90s, 10m, 2h or 1d in seconds.
seconds() {
    local number="${1%[smhd]}" unit="${1: -1}"
    [[ "$number" =~ ^[0-9]+$ && "$unit" =~ ^[smhd]$ ]] ||
        die "--since takes a number and s, m, h or d (e.g. 10m, 2h), not '$1'"
    case "$unit" in
    s) echo "$number" ;;
    m) echo $((number * 60)) ;;
    h) echo $((number * 3600)) ;;
    d) echo $((number * 86400)) ;;
    esac
}

# print_events START_MS: the function's events since START_MS that were not printed yet.
print_events() {
    local events
    events="$(aws_lookup "read log group $LOG_GROUP" logs filter-log-events \
        --log-group-name "$LOG_GROUP" --start-time "$1" --output json)" || {
        (($? == 1)) || exit 1
        die "no logs yet: log group $LOG_GROUP does not exist in $AWS_REGION (Lambda creates it on the function's first run; is the function deployed? see status.sh)"
    }
    deploy_helper log-events "$SEEN_FILE" <<<"$events"
}

main() {
    parse_options --since=SINCE --follow=FOLLOW=true -- "$@"
    local since start from
    since="$(seconds "$SINCE")"
    start=$((($(date +%s) - since) * 1000))
    aws_preflight
    deployment_names
    LOG_GROUP="/aws/lambda/$FUNCTION"
    SEEN_FILE="$(mktemp)" # the ids of the events already printed
    trap 'rm -f "$SEEN_FILE"' EXIT
    print_events "$start"
    while "$FOLLOW"; do
        sleep "$POLL_SECONDS"
        # Five minutes back, for events stored late; the ids already printed are skipped.
        from=$((($(date +%s) - 300) * 1000))
        print_events "$((from > start ? from : start))"
    done
}

main "$@"
