#!/usr/bin/env bash
# Usage: info-v2/rollback.sh [--steps N] [--help]
#
# Puts the previous code of the service's Lambda function back, then suggests the smoke test.
# Every deployment publishes a numbered version of the function (Zappa keeps the last
# num_retained_versions of zappa_settings.json); this script walks them from the newest,
# takes the N-th code that differs from the running one (default: the one before it),
# downloads it, checks its hash and uploads it as the function's code (a new version, so a
# second rollback goes back to the code this one replaced). The environment and the rest of
# the configuration are left as they are; the REST API needs no change.
#
# Options: --steps N  go back N different codes (default 1)
# Environment: STAGE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (see common.sh).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
handle_help "$@"

STEPS=1

parse_args() {
    while (($# > 0)); do
        case "$1" in
        --steps)
            [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--steps needs a whole number of at least 1"
            STEPS="$2"
            shift
            ;;
        *) die "unknown argument '$1'; see --help" ;;
        esac
        shift
    done
}

# target_version CURRENT_SHA: "<version> <sha>" of the STEPS-th distinct earlier code.
target_version() {
    local versions
    # shellcheck disable=SC2016  # `$LATEST` is a JMESPath literal, not a shell variable
    versions="$(aws_run "list the versions of $FUNCTION" lambda list-versions-by-function \
        --function-name "$FUNCTION" --query 'Versions[?Version!=`$LATEST`].[Version, CodeSha256]' --output text)" ||
        exit 1
    sort -k1,1nr <<<"$versions" | awk -v current="$1" -v steps="$STEPS" '
        NF == 2 && $2 != current && !($2 in seen) { seen[$2]; if (++found == steps) { print; exit } }'
}

# download_code LOCATION FILE: get-function's Code.Location is a presigned S3 URL on AWS; an
# endpoint (AWS_ENDPOINT_URL) serves S3 as well, so there the same bucket and key are read.
download_code() {
    local location="$1" file="$2" bucket key
    if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
        bucket="${location#https://}"
        bucket="${bucket%%.*}"
        key="${location#https://*/}"
        aws_run "download the code from $AWS_ENDPOINT_URL" s3 cp --quiet \
            "s3://$bucket/${key%%\?*}" "$file" >/dev/null
    else
        require_command curl "Install curl: it downloads the earlier code from S3."
        curl --fail --silent --show-error --output "$file" "$location" 2>"$file.err" ||
            die "cannot download the earlier code: $(last_line "$(cat "$file.err")")"
    fi
}

main() {
    parse_args "$@"
    aws_preflight
    deployment_names
    local current target version sha location new_version
    current="$(aws_run "read Lambda function $FUNCTION (run create_lambdas.sh first?)" \
        lambda get-function-configuration --function-name "$FUNCTION" --query CodeSha256 --output text)"
    target="$(target_version "$current")"
    [[ -n "$target" ]] ||
        die "$FUNCTION has no earlier code $STEPS step(s) back among its published versions (see 'aws lambda list-versions-by-function --function-name $FUNCTION')"
    read -r version sha <<<"$target"

    WORK_DIR="$(mktemp -d)"
    trap 'rm -rf "$WORK_DIR"' EXIT
    say "downloading the code of version $version ($sha)"
    location="$(aws_run "read version $version of $FUNCTION" lambda get-function \
        --function-name "$FUNCTION" --qualifier "$version" --query Code.Location --output text)"
    download_code "$location" "$WORK_DIR/code.zip"
    [[ "$(deploy_helper code-sha256 "$WORK_DIR/code.zip")" == "$sha" ]] ||
        die "the downloaded code of version $version does not match its CodeSha256 $sha"

    say "uploading it as the code of $FUNCTION (was $current)"
    new_version="$(aws_run "update the code of $FUNCTION" lambda update-function-code \
        --function-name "$FUNCTION" --zip-file "fileb://$WORK_DIR/code.zip" --publish --query Version --output text)"
    aws_run "wait for function '$FUNCTION' to finish its update" lambda wait function-updated \
        --function-name "$FUNCTION" >/dev/null
    printf 'rolled back %s to the code of version %s: CodeSha256 %s (now version %s)\n' \
        "$FUNCTION" "$version" "$sha" "$new_version"
    say "check it, with HTTP_USER and HTTP_PASS set: python3 $INFO_DIR/smoke_test.py --url \"\$(cat $BUILD_DIR/endpoint-$STAGE.txt)\""
}

main "$@"
