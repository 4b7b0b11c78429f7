#!/usr/bin/env bash
# Usage: tools/aws_emulator.sh [--port 5000] [--role-propagation-seconds N]
#                              [--throttle-dynamodb OPERATION...] [--acm-blind-to-dns] [--help]
#
# Starts the offline AWS (moto's server mode, tools/aws_emulator.py) on 127.0.0.1, after
# preparing .venv and .venv-runtime (the Python that runs Lambda functions) on first use,
# and prints the export line that points the deploy scripts at it. A port in use ends it
# with one line. Ctrl-C stops it; everything it holds is lost then.
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"

# port_argument ARGS...: the value of --port (default 5000).
port_argument() {
    local port=5000
    while (($# > 0)); do
        [[ "$1" == "--port" && $# -ge 2 ]] && port="$2"
        shift
    done
    printf '%s\n' "$port"
}

# refuse_port_in_use PORT: stops with one line when something listens on 127.0.0.1:PORT.
# A quick check, before the virtualenvs' checks and moto's import (seconds on a busy
# machine); aws_emulator.py still reports a port it cannot bind.
refuse_port_in_use() {
    if (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        die "port $1: Address already in use; see --port"
    fi
}

refuse_port_in_use "$(port_argument "$@")"
ensure_tools_venv
runtime="$(runtime_python)" || exit 1
ensure_runtime_venv "$runtime"
exec "$TOOLS_VENV/bin/python" "$REPO_DIR/tools/aws_emulator.py" "$@"
