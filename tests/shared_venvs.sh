#!/usr/bin/env bash
# Usage: tests/shared_venvs.sh
#
# Makes (or brings up to date) the three virtualenvs the tests share, side by side: the tools
# with the tests' requirements (.venv), the packaging one (.venv-lambda) and the offline
# Lambda runtime's (.venv-runtime). On a fresh clone that takes about 21 s instead of 27 one
# after the other. tests/run.sh runs it first; pytest's session start runs it again (a no-op then),
# so that pytest run alone finds them too.
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"

runtime="$(runtime_python)"
ensure_packaging_venv "$runtime" &
packaging=$!
ensure_runtime_venv "$runtime" &
lambda_runtime=$!
ensure_venv "$TOOLS_VENV" "$REPO_DIR/tests/requirements.txt" "$PYTHON"
ensure_tools_venv # its own stamp, so that no script under test says "first run only"
wait "$packaging"
wait "$lambda_runtime"
