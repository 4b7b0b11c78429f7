#!/usr/bin/env bash
# Usage: tests/run.sh [PYTEST ARGS...]
#
# Runs the whole test suite from any folder: makes the virtualenvs with the pinned
# requirements on first use (tests/shared_venvs.sh), checks style (ruff, shellcheck), then
# runs pytest.
# Needs bash and Python 3.11; the tests start their own AWS emulator on loopback.
# Pytest runs the modules in three worker processes (pyproject.toml); -n 0 runs one.
# Example: tests/run.sh -k loader -x
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"

bash "$REPO_DIR/tests/shared_venvs.sh"
cd "$REPO_DIR"
say "ruff"
# The docker stand-in is Python without a .py name: ruff checks it when named.
"$TOOLS_VENV/bin/ruff" check --quiet . tests/docker_standin/docker
"$TOOLS_VENV/bin/ruff" format --check --quiet . tests/docker_standin/docker
say "shellcheck"
"$TOOLS_VENV/bin/shellcheck" -x info-v2/*.sh info-v2/lib/*.sh tests/*.sh tools/*.sh bench/*.sh .ci/run
say "pytest"
"$TOOLS_VENV/bin/python" -m pytest "$@"
