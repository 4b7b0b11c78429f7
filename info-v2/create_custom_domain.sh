#!/usr/bin/env bash
# Usage: info-v2/create_custom_domain.sh --domain NAME [--help]
#
# Serves the REST API of create_api_gateway.sh on a domain of yours, under the base path of
# the spec (info/v2): https://NAME/info/v2/watch/{sku}. The rest of NAME stays free for other
# APIs under their own base paths (/image/v1, ...). NAME's records must live in a public
# Route 53 hosted zone: NAME's parent (my-domain.ch for api-watches.my-domain.ch) or NAME
# itself. In this order, each step reusing what an earlier run made:
#   1. an ACM certificate for NAME in $AWS_REGION (one for NAME that is issued or pending
#      validation is reused), validated through DNS: its validation CNAME record goes into
#      the zone, then the script waits until ACM has issued it (usually minutes; it says how
#      long it has waited, and gives up after CERT_WAIT_SECONDS);
#   2. the API Gateway custom domain NAME: regional endpoint, TLS 1.2;
#   3. the API mapping of info/v2 to the stage $STAGE of the REST API (API Gateway V2's API
#      mappings: V1's base path mappings take a single path segment only);
#   4. an alias A record NAME -> the domain's regional endpoint, in the zone.
# Then it prints https://NAME/info/v2. DNS resolvers may need some minutes to see NAME.
# The certificate and the domain are tagged deployment=<function>, so that delete_all.sh
# finds them: it removes the mapping, the domain and the alias record, and the certificate
# with its validation record only with --delete-certificate.
#
# Run create_api_gateway.sh first.
# Options: --domain NAME  the domain name, e.g. api-watches.my-domain.ch
# Environment: STAGE, AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL (see common.sh),
# CERT_WAIT_SECONDS (1800) and CERT_POLL_SECONDS (15): how long and how often to ask ACM.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CERT_WAIT_SECONDS="${CERT_WAIT_SECONDS:-1800}"
CERT_POLL_SECONDS="${CERT_POLL_SECONDS:-15}"
DOMAIN=""

# check_domain: DOMAIN (from --domain) in lower case without a final dot, and the settings.
check_domain() {
    DOMAIN="$(tr '[:upper:]' '[:lower:]' <<<"${DOMAIN%.}")"
    [[ -n "$DOMAIN" ]] || die "--domain NAME is required, e.g. --domain api-watches.my-domain.ch"
    [[ "$DOMAIN" =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$ ]] ||
        die "'$DOMAIN' is not a domain name such as api-watches.my-domain.ch"
    [[ "$CERT_WAIT_SECONDS" =~ ^[0-9]+$ && "$CERT_POLL_SECONDS" =~ ^[1-9][0-9]*$ ]] ||
        die "CERT_WAIT_SECONDS and CERT_POLL_SECONDS must be whole numbers of seconds"
}

# certificate_arn: the ARN of NAME's certificate, requested unless one exists already.
certificate_arn() {
    local arns
    arns="$(aws_run "list ACM certificates" acm list-certificates \
        --certificate-statuses ISSUED PENDING_VALIDATION \
        --query "CertificateSummaryList[?DomainName=='$DOMAIN'].CertificateArn" --output text)" || exit 1
    if [[ -n "$arns" ]]; then
        say "reusing the certificate for $DOMAIN: ${arns%%$'\t'*}"
        printf '%s\n' "${arns%%$'\t'*}"
        return
    fi
    say "requesting a certificate for $DOMAIN from ACM (validated through DNS)"
    aws_run "request a certificate for $DOMAIN" acm request-certificate --domain-name "$DOMAIN" \
        --validation-method DNS --tags "Key=deployment,Value=$FUNCTION" \
        --query CertificateArn --output text
}

# validation_record ARN: "NAME VALUE" of the certificate's validation CNAME. ACM needs a few
# seconds after the request to name it.
validation_record() {
    local record waited=0
    while true; do
        record="$(certificate_field "$1" 'DomainValidationOptions[0].ResourceRecord.[Name, Value]')"
        [[ -z "$record" ]] || break
        ((waited < 60)) || die "ACM has not named the validation record of $1 after 60s; run this again"
        sleep 2
        waited=$((waited + 2))
    done
    printf '%s\n' "$record"
}

# upsert_validation_record ARN: the validation CNAME, in the zone.
upsert_validation_record() {
    local record name value
    record="$(validation_record "$1")" || exit 1
    read -r name value <<<"$record"
    say "validation record $name -> $value in zone $ZONE_NAME"
    upsert_record "the validation record" \
        "{\"Name\": \"$name\", \"Type\": \"CNAME\", \"TTL\": 300, \"ResourceRecords\": [{\"Value\": \"$value\"}]}"
}

# upsert_record WHAT RECORD_SET_JSON: creates or replaces a record in the zone.
upsert_record() {
    aws_run "write $1 into zone $ZONE_NAME" route53 change-resource-record-sets \
        --hosted-zone-id "$ZONE_ID" --change-batch "$(record_change UPSERT "$2")" >/dev/null
}

# wait_until_issued ARN: polls ACM every CERT_POLL_SECONDS, at most CERT_WAIT_SECONDS, and at
# least twice (a certificate is pending when its record was just written).
wait_until_issued() {
    local status started=$SECONDS waited polls=0
    while true; do
        status="$(certificate_field "$1" Status)"
        waited=$((SECONDS - started))
        polls=$((polls + 1))
        case "$status" in
        ISSUED) break ;;
        PENDING_VALIDATION) ;;
        *) die "ACM will not issue the certificate for $DOMAIN: it is $status. Delete it with 'aws acm delete-certificate --certificate-arn $1' and run this again." ;;
        esac
        ((polls == 1 || waited < CERT_WAIT_SECONDS)) ||
            die "the certificate for $DOMAIN is still PENDING_VALIDATION after ${waited}s: check that zone $ZONE_NAME is the one its domain is delegated to (its NS records at the registrar), then run this again."
        say "waiting for ACM to validate $DOMAIN through DNS: ${waited}s of at most ${CERT_WAIT_SECONDS}s"
        sleep "$CERT_POLL_SECONDS"
    done
    say "certificate for $DOMAIN issued"
}

# ensure_domain CERTIFICATE_ARN: the custom domain; prints its "regional name, hosted zone id".
ensure_domain() {
    local query='DomainNameConfigurations[0].[ApiGatewayDomainName, HostedZoneId, EndpointType, SecurityPolicy]'
    local target zone endpoint policy
    local domain
    if domain="$(aws_lookup "read custom domain $DOMAIN" apigatewayv2 get-domain-name \
        --domain-name "$DOMAIN" --query "$query" --output text)"; then
        read -r target zone endpoint policy <<<"$domain"
        [[ "$endpoint" == REGIONAL && "$policy" == TLS_1_2 ]] ||
            die "custom domain $DOMAIN exists with a $endpoint endpoint and $policy; a multi-level base path needs REGIONAL and TLS_1_2: delete it or choose another name"
        say "custom domain $DOMAIN exists"
    else
        (($? == 1)) || exit 1
        say "creating custom domain $DOMAIN (regional, TLS 1.2)"
        read -r target zone endpoint policy <<<"$(aws_run "create custom domain $DOMAIN" \
            apigatewayv2 create-domain-name --domain-name "$DOMAIN" \
            --domain-name-configurations "CertificateArn=$1,EndpointType=REGIONAL,SecurityPolicy=TLS_1_2" \
            --tags "deployment=$FUNCTION" --query "$query" --output text)"
    fi
    printf '%s %s\n' "$target" "$zone"
}

# ensure_mapping API_ID KEY: KEY on the domain maps to the stage of the REST API.
ensure_mapping() {
    local api_id="$1" key="$2" mapping mapping_id mapped_api mapped_stage
    mapping="$(aws_run "read the API mappings of $DOMAIN" apigatewayv2 get-api-mappings \
        --domain-name "$DOMAIN" --query "Items[?ApiMappingKey=='$key'].[ApiMappingId, ApiId, Stage]" \
        --output text)"
    read -r mapping_id mapped_api mapped_stage <<<"$mapping"
    if [[ "$mapped_api $mapped_stage" == "$api_id $STAGE" ]]; then
        say "base path $key already maps to stage $STAGE of REST API $api_id"
        return
    fi
    if [[ -n "$mapping_id" ]]; then
        say "base path $key maps to stage $mapped_stage of $mapped_api: replacing it"
        aws_run "remove the old mapping of $key" apigatewayv2 delete-api-mapping \
            --domain-name "$DOMAIN" --api-mapping-id "$mapping_id" >/dev/null
    fi
    say "mapping base path $key to stage $STAGE of REST API $api_id"
    aws_run "map $key to the REST API" apigatewayv2 create-api-mapping --domain-name "$DOMAIN" \
        --api-id "$api_id" --stage "$STAGE" --api-mapping-key "$key" >/dev/null
}

# rest_api_stage: the id of the REST API, whose stage $STAGE must exist.
rest_api_stage() {
    local api_id
    api_id="$(rest_api_ids)" || exit 1
    api_id="${api_id%%$'\n'*}"
    [[ -n "$api_id" ]] || die "REST API '$FUNCTION' not found in $AWS_REGION. Run create_api_gateway.sh first."
    aws_lookup "read stage $STAGE" apigateway get-stage --rest-api-id "$api_id" \
        --stage-name "$STAGE" >/dev/null || {
        (($? == 1)) || exit 1
        die "REST API '$FUNCTION' has no stage $STAGE. Run create_api_gateway.sh first."
    }
    printf '%s\n' "$api_id"
}

main() {
    parse_options --domain=DOMAIN -- "$@"
    check_domain
    aws_preflight
    deployment_names
    local api_id key arn domain_target target zone
    key="$(lib_python gateway_document --spec "$SPEC_FILE" --base-path)" || exit 1
    key="${key#/}"
    api_id="$(rest_api_stage)"
    zone="$(hosted_zone_of "$DOMAIN")" ||
        die "no Route 53 hosted zone holds $DOMAIN: create one for its parent domain (or for $DOMAIN) and delegate the domain to it, then run this again"
    read -r ZONE_ID ZONE_NAME <<<"$zone"
    say "hosted zone $ZONE_NAME ($ZONE_ID) holds $DOMAIN"

    arn="$(certificate_arn)"
    upsert_validation_record "$arn"
    wait_until_issued "$arn"
    domain_target="$(ensure_domain "$arn")" || exit 1
    read -r target zone <<<"$domain_target"
    ensure_mapping "$api_id" "$key"
    say "alias record $DOMAIN -> $target"
    upsert_record "the alias record of $DOMAIN" \
        "{\"Name\": \"$DOMAIN.\", \"Type\": \"A\", \"AliasTarget\": {\"HostedZoneId\": \"$zone\", \"DNSName\": \"$target\", \"EvaluateTargetHealth\": false}}"
    printf 'https://%s/%s\n' "$DOMAIN" "$key"
}

main "$@"
