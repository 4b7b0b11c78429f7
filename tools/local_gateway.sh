#!/usr/bin/env bash
# Usage: tools/local_gateway.sh [--port 8080] [--api-name NAME] [--stage STAGE]
#
# Serves the REST API named NAME (default: the one create_api_gateway.sh deploys for
# $STAGE, watch-info-dev) on 127.0.0.1:PORT as API Gateway would, the function running
# through the AWS emulator's Lambda Invoke, and prints the base URL of STAGE (default
# $STAGE, dev) to use instead of the endpoint file's (tools/local_gateway.py says how it
# routes). It finds the API by name at each request: after a teardown and a redeploy it
# serves the new one, and meanwhile answers 503 problem+json. Prepares .venv on first use.
# Needs AWS_ENDPOINT_URL.
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"
ensure_tools_venv
deployment_names # FUNCTION, which create_api_gateway.sh gives its REST API as name
exec "$TOOLS_VENV/bin/python" "$REPO_DIR/tools/local_gateway.py" \
    --api-name "$FUNCTION" --stage "$STAGE" "$@"
