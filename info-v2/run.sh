#!/usr/bin/env bash
# Usage: info-v2/run.sh [--help]
#
# Runs the Watch Info Service v2 on this machine, from any folder:
#   1. creates .venv with the pinned requirements (first run only);
#   2. starts a local DynamoDB: DynamoDB Local in Docker when `docker info` answers,
#      else moto's server on 127.0.0.1 (skipped when AWS_ENDPOINT_URL is already set);
#   3. creates and fills the table from watches.json (initialize_dynamodb.sh);
#   4. serves the API on http://localhost:$PORT/info/v2 with Swagger UI at /info/v2/ui/.
# Ctrl-C stops everything it started.
#
# Environment: PORT (1080), DB_PORT (8000), HTTP_USER / HTTP_PASS (watch / watch-local,
# local-only defaults), DYNAMODB_TABLE (project1), AWS_ENDPOINT_URL (a DynamoDB to use).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
handle_help "$@"

PORT="${PORT:-1080}"
DB_PORT="${DB_PORT:-8000}"
DOCKER_CONTAINER="watch-info-dynamodb-local"
LOCAL_PASS="watch-local"
export HTTP_USER="${HTTP_USER:-watch}"
export HTTP_PASS="${HTTP_PASS:-$LOCAL_PASS}"
db_pid=""
db_container=""

stop_local_database() {
    if [[ -n "$db_pid" ]]; then
        kill "$db_pid" 2>/dev/null || true
        wait "$db_pid" 2>/dev/null || true
    fi
    if [[ -n "$db_container" ]]; then
        docker stop "$db_container" >/dev/null 2>&1 || true
    fi
}

port_is_open() {
    "$TOOLS_VENV/bin/python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null
}

wait_for_port() {
    local port="$1" tries=100
    until port_is_open "$port"; do
        ((tries--)) || die "the local DynamoDB did not answer on port $port"
        sleep 0.2
    done
}

start_local_database() {
    port_is_open "$DB_PORT" && die "port $DB_PORT is in use; set DB_PORT to a free port, or AWS_ENDPOINT_URL to the DynamoDB listening there"
    # Local emulators accept any credentials; never send real ones to them.
    export AWS_ACCESS_KEY_ID="local" AWS_SECRET_ACCESS_KEY="local"
    unset AWS_PROFILE AWS_SESSION_TOKEN
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        say "starting DynamoDB Local in Docker on port $DB_PORT"
        db_container="$(docker run --rm --detach --name "$DOCKER_CONTAINER" \
            --publish "127.0.0.1:$DB_PORT:8000" amazon/dynamodb-local -jar DynamoDBLocal.jar -inMemory)"
    else
        say "no Docker engine answers: starting moto's DynamoDB emulator on port $DB_PORT"
        "$TOOLS_VENV/bin/moto_server" -H 127.0.0.1 -p "$DB_PORT" >"$BUILD_DIR/local-dynamodb.log" 2>&1 &
        db_pid=$!
    fi
    export AWS_ENDPOINT_URL="http://127.0.0.1:$DB_PORT"
    wait_for_port "$DB_PORT"
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
    mkdir -p "$BUILD_DIR"
    ensure_venv "$TOOLS_VENV" "$INFO_DIR/requirements-local.txt" "$PYTHON"
    PATH="$TOOLS_VENV/bin:$PATH"
    export AWS_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
    export AWS_DEFAULT_REGION="$AWS_REGION"
    port_is_open "$PORT" && die "port $PORT is in use; stop what runs there or set PORT"

    trap stop_local_database EXIT
    if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
        say "using the DynamoDB at AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
    else
        start_local_database
    fi
    "$INFO_DIR/initialize_dynamodb.sh" --table "$DYNAMODB_TABLE"
    print_instructions
    # Not exec: the EXIT trap must still stop the database after uvicorn ends.
    "$TOOLS_VENV/bin/uvicorn" server:app --app-dir "$INFO_DIR" --host 127.0.0.1 --port "$PORT"
}

main "$@"
