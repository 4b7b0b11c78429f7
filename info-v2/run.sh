#!/usr/bin/env bash
# Usage: info-v2/run.sh [--help]
#
# Runs the Watch Info Service v2 on this machine, from any folder:
#   1. creates .venv with the pinned requirements (first run only);
#   2. starts a local DynamoDB: DynamoDB Local in Docker when `docker info` answers,
#      else moto's server on 127.0.0.1 (skipped when AWS_ENDPOINT_URL is already set);
#   3. creates and fills the table from watches.json (initialize_dynamodb.sh);
#   4. serves the API on http://localhost:$PORT/info/v2 with Swagger UI at /info/v2/ui/.
# Ctrl-C, or SIGINT or SIGTERM to its PID (kill, timeout, a supervisor), stops everything it
# started; the exit status is then 130 or 143 (128 + the signal's number).
#
# Environment: PORT (1080), DB_PORT (8000), DB_START_SECONDS (60, how long to wait for the
# local DynamoDB), HTTP_USER / HTTP_PASS (watch / watch-local, local-only defaults),
# DYNAMODB_TABLE (dev's table in zappa_settings.json: project1), AWS_ENDPOINT_URL (a DynamoDB you already run, e.g. DynamoDB Local),
# CORS_ORIGINS (the origins whose web pages may call the API, e.g. http://localhost:3000, or
# '*'; unset: none).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PORT="${PORT:-1080}"
DB_PORT="${DB_PORT:-8000}"
DB_START_SECONDS="${DB_START_SECONDS:-60}"
DOCKER_IMAGE="amazon/dynamodb-local"
DOCKER_CONTAINER="watch-info-dynamodb-local"
LOCAL_PASS="watch-local"
export HTTP_USER="${HTTP_USER:-watch}"
export HTTP_PASS="${HTTP_PASS:-$LOCAL_PASS}"
unset HTTP_PASS_HASH # locally the app compares the plain HTTP_PASS
db_pid=""
db_container=""
server_pid=""

stop_local_database() {
    if [[ -n "$db_pid" ]]; then
        kill "$db_pid" 2>/dev/null || true
        wait "$db_pid" 2>/dev/null || true
    fi
    if [[ -n "$db_container" ]]; then
        docker stop "$db_container" >/dev/null 2>&1 || true
    fi
}

# stop_on SIGNAL: what Ctrl-C does, for a signal sent to run.sh alone (its children do not get
# it): stop the server, then the database (EXIT trap), and exit with 128 + the signal's number.
stop_on() {
    trap - INT TERM
    say "stopping on SIG$1"
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    exit $((128 + $(kill -l "$1")))
}

port_is_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

docker_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# use_local_credentials: local emulators accept any credentials; never send real ones to them.
use_local_credentials() {
    export AWS_ACCESS_KEY_ID="$DUMMY_CREDENTIAL" AWS_SECRET_ACCESS_KEY="$DUMMY_CREDENTIAL"
    unset AWS_PROFILE AWS_SESSION_TOKEN
}

# has_aws_credentials: whether the AWS CLI would find credentials of the user's own.
has_aws_credentials() {
    [[ -n "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}" ]] ||
        [[ -n "$(aws configure get aws_access_key_id 2>/dev/null)" ]]
}

# wait_for_dynamodb WHAT: an open port proves nothing (Docker publishes it before DynamoDB
# Local's JVM listens); wait until DynamoDB itself answers, for DB_START_SECONDS at most.
wait_for_dynamodb() {
    local what="$1" deadline=$((SECONDS + DB_START_SECONDS))
    say "waiting for $what to answer on port $DB_PORT"
    # A raw call: failures are expected (and not worth a line) until DynamoDB answers.
    until aws dynamodb list-tables --max-items 1 --cli-connect-timeout 2 --cli-read-timeout 2 >/dev/null 2>&1; do
        if [[ -n "$db_pid" ]] && ! kill -0 "$db_pid" 2>/dev/null; then
            die "$what stopped while starting: $(last_line "$(cat "$BUILD_DIR/local-dynamodb.log")")"
        fi
        ((SECONDS < deadline)) ||
            die "$what did not answer on port $DB_PORT within $DB_START_SECONDS s${db_container:+ (see: docker logs $DOCKER_CONTAINER)}; set DB_START_SECONDS to wait longer"
        sleep 0.5
    done
}

# remove_leftover_container: a container of an earlier run that ended uncleanly holds DB_PORT.
remove_leftover_container() {
    if docker container inspect "$DOCKER_CONTAINER" >/dev/null 2>&1; then
        say "removing container $DOCKER_CONTAINER, left over from an earlier run"
        docker rm --force "$DOCKER_CONTAINER" >/dev/null || die "could not remove the old container $DOCKER_CONTAINER"
    fi
}

start_dynamodb_local() {
    if ! docker image inspect "$DOCKER_IMAGE" >/dev/null 2>&1; then
        say "pulling the $DOCKER_IMAGE image (first run only; this can take a minute)"
        docker pull --quiet "$DOCKER_IMAGE" >/dev/null || die "could not pull $DOCKER_IMAGE; check your network and Docker"
    fi
    say "starting DynamoDB Local in Docker on port $DB_PORT"
    docker run --rm --detach --name "$DOCKER_CONTAINER" --publish "127.0.0.1:$DB_PORT:8000" \
        "$DOCKER_IMAGE" -jar DynamoDBLocal.jar -inMemory >/dev/null ||
        die "could not start the $DOCKER_IMAGE container"
    db_container="$DOCKER_CONTAINER"
    wait_for_dynamodb "DynamoDB Local"
}

start_moto() {
    say "no Docker engine answers: starting moto's DynamoDB emulator on port $DB_PORT"
    "$TOOLS_VENV/bin/moto_server" -H 127.0.0.1 -p "$DB_PORT" >"$BUILD_DIR/local-dynamodb.log" 2>&1 &
    db_pid=$!
    wait_for_dynamodb "moto's emulator"
}

start_local_database() {
    use_local_credentials
    export AWS_ENDPOINT_URL="http://127.0.0.1:$DB_PORT"
    local docker=no
    if docker_answers; then
        docker=yes
        remove_leftover_container
    fi
    port_is_open "$DB_PORT" && die "port $DB_PORT is in use; set DB_PORT to a free port, or AWS_ENDPOINT_URL to the DynamoDB listening there"
    if [[ "$docker" == yes ]]; then
        start_dynamodb_local
    else
        start_moto
    fi
}

print_instructions() {
    local base="http://localhost:$PORT/info/v2" password="\$HTTP_PASS"
    [[ "$HTTP_PASS" == "$LOCAL_PASS" ]] && password="$LOCAL_PASS"
    cat <<EOF

Watch Info Service v2 on $base (DynamoDB at $AWS_ENDPOINT_URL, table $DYNAMODB_TABLE)
  Swagger UI:   $base/ui/
  Health check: curl http://localhost:$PORT/
  Read a watch: curl -u "$HTTP_USER:$password" $base/watch/CAL5185B
  Basic auth:   user $HTTP_USER, password $password (set HTTP_USER / HTTP_PASS to change them)
Press Ctrl-C to stop.

EOF
}

main() {
    require_http_user
    require_cors_origins
    mkdir -p "$BUILD_DIR"
    ensure_tools_venv
    PATH="$TOOLS_VENV/bin:$PATH"
    resolve_region
    resolve_table
    port_is_open "$PORT" && die "port $PORT is in use; stop what runs there or set PORT"

    trap stop_local_database EXIT
    trap 'stop_on INT' INT
    trap 'stop_on TERM' TERM
    if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
        say "using the DynamoDB at AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
        if ! has_aws_credentials; then
            say "no AWS credentials configured: sending dummy ones, which local DynamoDBs accept"
            use_local_credentials
        fi
    else
        start_local_database
    fi
    # A local table is a throwaway one (and local DynamoDBs lack point-in-time recovery).
    TABLE_PROTECTION=off "$INFO_DIR/initialize_dynamodb.sh" --table "$DYNAMODB_TABLE"
    print_instructions
    # In the background, and waited for: bash runs a trap only once its foreground command
    # has ended, and a signal to run.sh alone never reaches uvicorn. http_protocol.py: errors
    # as problem+json, idle connections closed (see docs/api.md).
    "$TOOLS_VENV/bin/uvicorn" server:app --app-dir "$INFO_DIR" --host 127.0.0.1 --port "$PORT" \
        --http http_protocol:HttpProtocol --ws none &
    server_pid=$!
    wait "$server_pid"
}

main "$@"
