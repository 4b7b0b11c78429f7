# shellcheck shell=bash
# Releases of the Lambda function through one alias, "live": API Gateway invokes the alias,
# the alias names a published version (never $LATEST), and a version is checked (the gate:
# smoke_test.py --invoke --read-only) before the alias names it, optionally after a canary.
# rollback.sh moves the alias back; status.sh shows it. Source it after common.sh, once
# deployment_names has set FUNCTION.
#
# The alias's description records the release, "released=<UTC time> previous=<version>":
# the version the alias named before is rollback.sh's default target.
#
# Configuration (environment variables):
#   CANARY_POLL_SECONDS  60   how often a canary reads the new version's errors (AWS publishes
#                             Lambda's metrics once a minute)

LIVE_ALIAS="live"
CANARY_POLL_SECONDS="${CANARY_POLL_SECONDS:-60}"

# live_alias: "VERSION RELEASED PREVIOUS" of alias live ("-" for what its description lacks);
# exit status 1 when the function has no such alias, 2 after an error line.
live_alias() {
    local found version description released=- previous=-
    found="$(aws_lookup "read alias $LIVE_ALIAS of function $FUNCTION" lambda get-alias \
        --function-name "$FUNCTION" --name "$LIVE_ALIAS" \
        --query '[FunctionVersion, Description]' --output text)" || return
    read -r version description <<<"$found"
    [[ "$description" =~ released=([^ ]+) ]] && released="${BASH_REMATCH[1]}"
    [[ "$description" =~ previous=([0-9]+) ]] && previous="${BASH_REMATCH[1]}"
    printf '%s %s %s\n' "$version" "$released" "$previous"
}

# live_version: the version alias live names; "none" when there is no alias yet.
live_version() {
    local live version
    if live="$(live_alias)"; then
        read -r version _ <<<"$live"
        printf '%s\n' "$version"
    else
        (($? == 1)) || exit 1
        echo none
    fi
}

# point_live_alias VERSION PREVIOUS: alias live names VERSION alone (a canary's split ends),
# with the release and PREVIOUS, the version it named before, in its description.
point_live_alias() {
    local version="$1" description
    description="released=$(date -u +%Y-%m-%dT%H:%M:%SZ) previous=$2"
    if aws_lookup "read alias $LIVE_ALIAS of function $FUNCTION" lambda get-alias \
        --function-name "$FUNCTION" --name "$LIVE_ALIAS" >/dev/null; then
        aws_run "point alias $LIVE_ALIAS of $FUNCTION to version $version" lambda update-alias \
            --function-name "$FUNCTION" --name "$LIVE_ALIAS" --function-version "$version" \
            --description "$description" --routing-config '{"AdditionalVersionWeights": {}}' >/dev/null
    else
        (($? == 1)) || exit 1
        aws_run "create alias $LIVE_ALIAS of $FUNCTION" lambda create-alias \
            --function-name "$FUNCTION" --name "$LIVE_ALIAS" --function-version "$version" \
            --description "$description" >/dev/null
    fi
}

# publish_version: publishes $LATEST, code and configuration together, and waits until the
# version can be invoked (with SnapStart, until its snapshot is made); prints its number.
# Lambda publishes nothing new when $LATEST equals the latest version: it returns that one.
publish_version() {
    local version
    version="$(aws_run "publish a version of function $FUNCTION" lambda publish-version \
        --function-name "$FUNCTION" --query Version --output text)" || exit 1
    say "published version $version of $FUNCTION; waiting until it can be invoked"
    aws_run "wait for version $version of function $FUNCTION" lambda wait \
        published-version-active --function-name "$FUNCTION" --qualifier "$version" >/dev/null
    printf '%s\n' "$version"
}

# gate VERSION: smoke_test.py's read-only checks sent to VERSION itself as API Gateway proxy
# events of both shapes, with a watch read from the table; they change no data. The checks'
# lines go to stderr; on failure the first failed check is printed on stdout, exit status 1.
gate() {
    local version="$1" log status=0
    log="$(mktemp)"
    say "checking version $version of $FUNCTION before any client gets it (read-only checks, stage URL and custom domain events)"
    "$TOOLS_VENV/bin/python" "$INFO_DIR/smoke_test.py" --invoke "$FUNCTION" --qualifier "$version" \
        --stage "$STAGE" --read-only --watch-from-table "$DYNAMODB_TABLE" >"$log" 2>&1 || status=$?
    sed 's/^/    /' "$log" >&2
    if ((status != 0)); then
        awk '/^FAIL  / { sub(/^FAIL  /, ""); print; found = 1; exit }
            NF { last = $0 } END { if (!found) print last }' "$log"
    fi
    rm -f "$log"
    return $((status != 0))
}

# release VERSION [CANARY_PERCENT CANARY_MINUTES]: VERSION through the gate, then (after a
# canary, when asked) to the clients: alias live names it. A refused version never reaches
# a client: the script stops with one line naming the failed check.
release() {
    local version="$1" previous failure
    previous="$(live_version)"
    if [[ "$previous" == "$version" ]]; then
        say "alias $LIVE_ALIAS of $FUNCTION already names version $version: nothing to release"
        return
    fi
    failure="$(gate "$version")" ||
        die "version $version refused, the check failed: $failure (alias $LIVE_ALIAS still names version $previous; no client got version $version)"
    if (($# == 3)) && [[ "$previous" == none ]]; then
        say "canary: no version serves clients yet, so there is no traffic to split: releasing at once"
    elif (($# == 3)); then
        canary "$version" "$previous" "$2" "$3"
    fi
    point_live_alias "$version" "$previous"
    say "released: alias $LIVE_ALIAS of $FUNCTION names version $version (before: $previous; rollback.sh goes back)"
    prune_versions
}

# canary VERSION PREVIOUS PERCENT MINUTES: VERSION gets PERCENT of alias live's traffic for
# MINUTES while its errors are watched; then the gate runs on it again. Any error, or a
# failed gate, ends the split (PREVIOUS serves everything again) and stops the script.
canary() {
    local version="$1" previous="$2" percent="$3" minutes="$4" weight start_ms deadline errors failure
    weight="$(awk -v p="$percent" 'BEGIN { printf "%.4f", p / 100 }')"
    say "canary: version $version gets $percent% of alias $LIVE_ALIAS's traffic for $minutes minute(s), version $previous the rest"
    aws_run "give version $version $percent% of alias $LIVE_ALIAS" lambda update-alias \
        --function-name "$FUNCTION" --name "$LIVE_ALIAS" \
        --routing-config "{\"AdditionalVersionWeights\": {\"$version\": $weight}}" >/dev/null
    start_ms="$(($(date +%s) * 1000))"
    deadline="$(awk -v now="$(date +%s)" -v m="$minutes" 'BEGIN { printf "%d", now + m * 60 }')"
    while true; do
        errors="$(canary_errors "$version" "$start_ms")"
        if [[ "$errors" != "0 0" ]]; then
            end_canary "$version" "$previous"
            die "canary: version $version answered with errors ($(canary_error_words "$errors")); rolled back: alias $LIVE_ALIAS serves version $previous only"
        fi
        (($(date +%s) < deadline)) || break
        sleep "$CANARY_POLL_SECONDS"
    done
    if ! failure="$(gate "$version")"; then
        end_canary "$version" "$previous"
        die "canary: version $version failed the check again: $failure; rolled back: alias $LIVE_ALIAS serves version $previous only"
    fi
    say "canary: no errors from version $version in $minutes minute(s), and the checks pass: completing the release"
}

# end_canary VERSION PREVIOUS: the alias sends nothing to VERSION any more.
end_canary() {
    say "canary: ending the split, version $2 serves everything again"
    aws_run "take version $1 out of alias $LIVE_ALIAS" lambda update-alias \
        --function-name "$FUNCTION" --name "$LIVE_ALIAS" --function-version "$2" \
        --routing-config '{"AdditionalVersionWeights": {}}' >/dev/null
}

# canary_errors VERSION START_MS: "LAMBDA_ERRORS SERVER_ERRORS" of VERSION behind alias live
# since START_MS. Lambda's Errors metric (dimensions FunctionName, Resource NAME:live,
# ExecutedVersion) counts failed invocations only: the app answers its own failures with an
# HTTP 500, so the 5xx answers are counted from the request-log lines in VERSION's log
# streams (YYYY/MM/DD/[VERSION]...) too.
canary_errors() {
    local version="$1" start_ms="$2" lambda_errors streams events server_errors=0
    # shellcheck disable=SC2016  # JMESPath, not shell
    lambda_errors="$(aws_run "read the Errors metric of version $version" cloudwatch \
        get-metric-statistics --namespace AWS/Lambda --metric-name Errors \
        --dimensions "Name=FunctionName,Value=$FUNCTION" "Name=Resource,Value=$FUNCTION:$LIVE_ALIAS" \
        "Name=ExecutedVersion,Value=$version" --start-time "$((start_ms / 1000 - 60))" \
        --end-time "$(($(date +%s) + 60))" --period 60 --statistics Sum \
        --query 'sum(Datapoints[].Sum)' --output text)" || exit 1
    streams="$(version_log_streams "$version" "$start_ms")"
    if [[ -n "$streams" ]]; then
        # A stream is named once its container starts; 100 is the most one call reads.
        # shellcheck disable=SC2046  # one argument per stream name
        events="$(aws_run "read the logs of version $version" logs filter-log-events \
            --log-group-name "/aws/lambda/$FUNCTION" --start-time "$start_ms" \
            --log-stream-names $(head -n 100 <<<"$streams") --output json)" || exit 1
        server_errors="$(deploy_helper server-errors <<<"$events")" || exit 1
    fi
    printf '%s %s\n' "$(awk -v n="${lambda_errors:-0}" 'BEGIN { printf "%d", n }')" "$server_errors"
}

# version_log_streams VERSION START_MS: the log streams of VERSION's containers (Lambda names
# them YYYY/MM/DD/[VERSION]<id>) of the days since START_MS, one per line.
version_log_streams() {
    local day found
    for day in $(canary_days "$2"); do
        if found="$(aws_lookup "list the log streams of version $1" logs describe-log-streams \
            --log-group-name "/aws/lambda/$FUNCTION" --log-stream-name-prefix "$day/[$1]" \
            --query 'logStreams[].logStreamName' --output text)"; then
            [[ -z "$found" ]] || tr '\t' '\n' <<<"$found"
        else
            (($? == 1)) || exit 1 # no log group yet: nothing was logged
        fi
    done
}

# canary_days START_MS: the UTC dates (YYYY/MM/DD, Lambda's log stream prefix) from START_MS
# to now.
canary_days() {
    local day="$(($1 / 1000))" now
    now="$(date +%s)"
    while ((day <= now + 86399)); do
        date -u -d "@$day" +%Y/%m/%d
        day=$((day + 86400))
    done | sort -u
}

# canary_error_words "LAMBDA_ERRORS SERVER_ERRORS": what they mean, in words.
canary_error_words() {
    local lambda_errors server_errors
    read -r lambda_errors server_errors <<<"$1"
    printf '%s failed invocation(s) in its Errors metric, %s HTTP 5xx answer(s) in its request log' \
        "$lambda_errors" "$server_errors"
}

# prune_versions: deletes the published versions beyond num_retained_versions of
# zappa_settings.json (newest kept), never one an alias names or a rollback would pick.
prune_versions() {
    local keep kept=0 versions version protected live
    keep="$(zappa_setting num_retained_versions)" || exit 1
    [[ "$keep" =~ ^[0-9]+$ ]] || return 0 # null: keep every version
    # shellcheck disable=SC2016  # JMESPath, not shell
    versions="$(aws_run "list the versions of $FUNCTION" lambda list-versions-by-function \
        --function-name "$FUNCTION" --query 'Versions[?Version!=`$LATEST`].Version' --output text)" ||
        exit 1
    # shellcheck disable=SC2016  # JMESPath, not shell
    protected=" $(aws_run "list the aliases of $FUNCTION" lambda list-aliases --function-name "$FUNCTION" \
        --query 'Aliases[].[FunctionVersion, keys(RoutingConfig.AdditionalVersionWeights || `{}`)]' \
        --output text | tr '\t\n' '  ') "
    live="$(live_alias)" || exit 1
    protected+="$(cut -d' ' -f3 <<<"$live") "
    for version in $(tr '\t' '\n' <<<"$versions" | sort -rn); do
        kept=$((kept + 1))
        if ((kept > keep)) && [[ "$protected" != *" $version "* ]]; then
            say "deleting version $version of $FUNCTION (num_retained_versions: $keep)"
            aws_run "delete version $version of $FUNCTION" lambda delete-function \
                --function-name "$FUNCTION" --qualifier "$version" >/dev/null
        fi
    done
}

# rest_api_targets: what the REST API's integrations invoke ("function", "alias NAME"), one
# per line; nothing when there is no REST API yet.
rest_api_targets() {
    local api_id uris uri
    api_id="$(rest_api_ids)" || exit 1
    api_id="${api_id%%$'\n'*}"
    [[ -n "$api_id" ]] || return 0
    uris="$(aws_run "read the integrations of REST API $api_id" apigateway get-resources \
        --rest-api-id "$api_id" --embed methods \
        --query 'items[?resourceMethods].resourceMethods.values(@)[].methodIntegration.uri' \
        --output text)" || exit 1
    for uri in $uris; do
        uri="${uri%/invocations}"
        uri="${uri##*:function:}"
        if [[ "$uri" == *:* ]]; then echo "alias ${uri#*:}"; else echo function; fi
    done | sort -u
}

# move_clients_to_live_alias: a deployment of the earlier scripts has API Gateway invoke the
# function itself ($LATEST) or its alias "snapstart": before anything of the function changes,
# alias live gets the version clients run now and create_api_gateway.sh points the REST API at
# it, so that no later change reaches a client without the gate.
move_clients_to_live_alias() {
    local targets version
    targets="$(rest_api_targets)"
    [[ -n "$targets" && "$targets" != "alias $LIVE_ALIAS" ]] || return 0
    if [[ "$targets" == "alias snapstart" ]]; then
        version="$(aws_run "read alias snapstart of $FUNCTION" lambda get-alias \
            --function-name "$FUNCTION" --name snapstart --query FunctionVersion --output text)" || exit 1
    else
        version="$(publish_version)"
    fi
    say "moving to the release alias: REST API $FUNCTION invoked $(target_words "$targets"); from now on it invokes alias $LIVE_ALIAS (version $version, what clients get now)"
    point_live_alias "$version" none
    "$INFO_DIR/create_api_gateway.sh" >/dev/null
}

# target_words TARGETS: rest_api_targets' lines in words, on one line.
target_words() {
    local target words=()
    while read -r target; do
        [[ "$target" != function ]] || target="$FUNCTION itself (\$LATEST)"
        words+=("$target")
    done <<<"$1"
    printf '%s' "${words[0]}"
    (("${#words[@]}" == 1)) || printf ' and %s' "${words[@]:1}"
}
