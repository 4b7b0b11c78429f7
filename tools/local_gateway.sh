#!/usr/bin/env bash
# Usage: tools/local_gateway.sh [--port 8080] [--endpoint URL | --api-id ID --stage STAGE]
#
# Serves the REST API that create_api_gateway.sh deployed on the AWS emulator on
# 127.0.0.1:PORT, running the function's stored package in a clean Python of the Lambda runtime, and prints
# the local base URL to use instead of the endpoint file's (tools/local_gateway.py says how
# it routes). Prepares .venv and .venv-runtime on first use. Needs AWS_ENDPOINT_URL.
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"
handle_help "$@"
ensure_tools_venv
runtime="$(runtime_python)" || exit 1
ensure_venv "$RUNTIME_VENV" "$REPO_DIR/tools/requirements-lambda-runtime.txt" "$runtime"
exec "$TOOLS_VENV/bin/python" "$REPO_DIR/tools/local_gateway.py" "$@"
