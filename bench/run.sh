#!/usr/bin/env bash
# Usage: bench/run.sh NAME [ARGS...]
#
# Runs the benchmark bench/NAME.py (bench_lambda, bench_soak, bench_loader, bench_password,
# bench_preflight) with the tools virtualenv, which it prepares on first use, and with
# info-v2/, info-v2/lib/ and tools/ importable, as in the tests.
# Example: bench/run.sh bench_lambda --cold-runs 7
set -euo pipefail
# shellcheck source=../info-v2/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../info-v2/lib/common.sh"
(($# >= 1)) || die "name a benchmark: $(cd "$REPO_DIR/bench" && echo bench_*.py). See --help."
benchmark="$REPO_DIR/bench/${1%.py}.py"
[[ -f "$benchmark" ]] || die "no benchmark $benchmark"
shift
ensure_tools_venv
PYTHONPATH="$INFO_DIR:$LIB_DIR:$REPO_DIR/tools" exec "$TOOLS_VENV/bin/python" "$benchmark" "$@"
