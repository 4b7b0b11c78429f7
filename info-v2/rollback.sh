#!/usr/bin/env bash
# Usage: info-v2/rollback.sh [--to VERSION] [--help]
#
# Gives the clients the version of the service's Lambda function they had before the last
# release, in one call: API Gateway invokes the alias "live", and this moves the alias back
# to the version it named before (recorded by the release in the alias's description), or to
# --to VERSION. It publishes nothing and uploads nothing (the version still holds its own
# code and configuration), works the same with SnapStart on or off, and ends a canary in
# progress. A second rollback returns to the version the first one left. The REST API needs
# no change. It prints the version and its CodeSha256, and suggests the smoke test.
#
# Options: --to VERSION  the published version to move the alias to (see status.sh, or
#                        'aws lambda list-versions-by-function')
# Environment: STAGE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (see common.sh).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/release.sh"

TARGET=""

main() {
    parse_options --to=TARGET -- "$@"
    [[ -z "$TARGET" || "$TARGET" =~ ^[1-9][0-9]*$ ]] ||
        die "--to needs a version number (1, 2, ...), not '$TARGET'"
    aws_preflight
    deployment_names
    local live current previous sha
    live="$(live_alias)" || {
        (($? == 1)) || exit 1
        die "$FUNCTION has no alias $LIVE_ALIAS in $AWS_REGION: nothing was released to roll back (run create_lambdas.sh first)"
    }
    read -r current _ previous <<<"$live"
    if [[ -z "$TARGET" ]]; then
        [[ "$previous" != - ]] ||
            die "alias $LIVE_ALIAS of $FUNCTION records no earlier version (the first release); name one with --to VERSION"
        TARGET="$previous"
    fi
    [[ "$TARGET" != "$current" ]] || die "alias $LIVE_ALIAS of $FUNCTION already names version $TARGET"
    sha="$(aws_lookup "read version $TARGET of $FUNCTION" lambda get-function-configuration \
        --function-name "$FUNCTION" --qualifier "$TARGET" --query CodeSha256 --output text)" || {
        (($? == 1)) || exit 1
        die "$FUNCTION has no version $TARGET in $AWS_REGION (see 'aws lambda list-versions-by-function --function-name $FUNCTION')"
    }
    point_live_alias "$TARGET" "$current"
    printf 'rolled back %s: alias %s names version %s (CodeSha256 %s), was version %s\n' \
        "$FUNCTION" "$LIVE_ALIAS" "$TARGET" "$sha" "$current"
    say "check it, with HTTP_USER and HTTP_PASS set: python3 $INFO_DIR/smoke_test.py --read-only --url \"\$(cat $BUILD_DIR/endpoint-$STAGE.txt)\""
}

main "$@"
