"""An offline AWS for the whole pipeline: moto's server mode on a loopback port.

The tests and the benchmarks start it in their own process; you can start it in a terminal
to try the deploy scripts without an AWS account:

    tools/aws_emulator.sh --port 5000
    # in another terminal, paste the lines it prints, then run the scripts as on AWS:
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing ...
    info-v2/initialize_dynamodb.sh && info-v2/create_lambdas.sh && ...

It fills gaps of moto 5.2.5: ListFunctionUrlConfigs, which `zappa update` calls, the
download of a function's package from get-function's Code.Location (rollback.sh reads
old versions there too), and custom domains as create_custom_domain.sh uses them (an API
mapping to a REST API, ACM's DNS validation; see custom_domains_as_on_aws and
acm_validates_through_route53). moto cannot run Lambda code (that needs Docker);
tools/local_gateway.py runs the stored package instead.

moto is more lenient than AWS. `faults` (off by default) adds, on request, faults AWS has:
- role propagation: for some seconds after CreateRole, Lambda's CreateFunction refuses the
  new role ("The role defined for the function cannot be assumed by Lambda.");
- DynamoDB throttling: chosen operations (GetItem, PutItem, ...) answer
  ProvisionedThroughputExceededException, as a table over its capacity does;
- ACM that does not see the validation records: certificates stay PENDING_VALIDATION, as
  when the hosted zone is not the one the domain is delegated to.
Tests switch them on with `with faults.injected(...)`; from a terminal, use the options
--role-propagation-seconds, --throttle-dynamodb and --acm-blind-to-dns.
"""

import argparse
import hashlib
import io
import json
import logging
import re
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

# Any value works with the emulator; these never match a real account.
DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_list_function_url_configs():
    """Teaches moto the ListFunctionUrlConfigs call, which it lacks (5.2.5).

    `zappa update` lists a function's URLs to remove them (we deploy none); moto answers that
    route with an HTML 404 and the update fails. Must run before the emulator's first Lambda
    request: moto builds its routes on that request.
    """
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    def list_function_url_configs(self):
        function = self.backend.get_function(unquote(self.path.split("/")[-2]))
        configs = [function.url_config.to_dict()] if function.url_config else []
        return 200, {}, json.dumps({"FunctionUrlConfigs": configs})

    LambdaResponse.list_function_url_configs = list_function_url_configs
    route = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/urls/?$"
    urls.url_paths[route] = LambdaResponse.dispatch


def store_function_code_in_s3():
    """Makes get-function's Code.Location downloadable, as on AWS.

    moto names the location https://awslambda-<region>-tasks.s3.<region>.amazonaws.com/<key>
    but keeps the package in memory only; this stores each uploaded package under that
    bucket and key of the emulator's S3, where lambda_runtime.function_code and rollback.sh
    read it. moto's published versions share their code settings with $LATEST, so an update
    would point every version at the newest package: each upload gets settings of its own.
    """
    from moto.awslambda.models import LambdaFunction
    from moto.s3.models import s3_backends

    set_function_code = LambdaFunction._set_function_code

    def set_and_store_function_code(self, updated_spec):
        if updated_spec is not self.code:  # an update, not the creation
            self.code = dict(self.code)
        set_function_code(self, updated_spec)
        if "ZipFile" in updated_spec:
            s3 = s3_backends[self.account_id][self.partition]
            bucket = f"awslambda-{self.region}-tasks"
            if bucket not in s3.buckets:
                s3.create_bucket(bucket, self.region)
            s3.put_object(bucket, self.code["S3Key"], self.code_bytes)

    LambdaFunction._set_function_code = set_and_store_function_code


def custom_domains_as_on_aws():
    """API Gateway custom domain names (apigatewayv2) as AWS has them, where moto differs.

    - An API mapping may point at a REST API (API Gateway V1) and one of its stages: custom
      domains are shared by both APIs, and multi-level base paths such as `info/v2` exist in
      V2's API only. moto looks the id up among V2 APIs and answers NotFound.
    - A multi-level mapping key needs a REGIONAL domain with the TLS_1_2 security policy, and
      a second mapping of the same key on a domain is a ConflictException; AWS refuses both,
      moto does not (it replaces the mapping). (moto already refuses a multi-level base path
      in V1's create-base-path-mapping, as AWS does.)
    - A new domain gets what AWS gives it: the regional domain name and hosted zone id that
      an alias record points at, and the status AVAILABLE.
    - Deleting a domain with mappings fails in moto (it deletes from a dict it iterates).
    """
    from moto.apigateway.models import apigateway_backends
    from moto.apigatewayv2 import models
    from moto.apigatewayv2.exceptions import APIGatewayV2Error, BadRequestException

    backend_class = models.ApiGatewayV2Backend
    create_api_mapping = backend_class.create_api_mapping
    create_domain_name = backend_class.create_domain_name
    delete_domain_name = backend_class.delete_domain_name

    def create_api_mapping_to_rest_apis(self, api_id, api_mapping_key, domain_name, stage):
        if any(
            (mapping.domain_name, mapping.api_mapping_key) == (domain_name, api_mapping_key)
            for mapping in self.api_mappings.values()
        ):
            error = APIGatewayV2Error("ConflictException", "API mapping already exists.")
            error.code = 409
            raise error
        if "/" in api_mapping_key and domain_name in self.domain_names:
            for configuration in self.domain_names[domain_name].domain_name_configurations:
                if (configuration.get("endpointType"), configuration.get("securityPolicy")) != (
                    "REGIONAL",
                    "TLS_1_2",
                ):
                    raise BadRequestException(
                        "Multi-level base path mapping is only supported for REGIONAL domain "
                        "names with TLS 1.2 security policy."
                    )
        rest_apis = apigateway_backends[self.account_id][self.region_name].apis
        if api_id not in rest_apis or api_id in self.apis:
            return create_api_mapping(self, api_id, api_mapping_key, domain_name, stage)
        if stage not in rest_apis[api_id].stages:
            raise BadRequestException(f"Invalid stage identifier specified: {stage}")
        # moto's own checks of the key look the id up among V2 APIs: a placeholder for them.
        self.apis[api_id] = None
        try:
            return create_api_mapping(self, api_id, api_mapping_key, domain_name, stage)
        finally:
            del self.apis[api_id]

    def create_regional_domain_name(self, domain_name, domain_name_configurations, **others):
        suffix = hashlib.sha256(domain_name.encode()).hexdigest()[:10]
        for configuration in domain_name_configurations:
            configuration.setdefault("endpointType", "REGIONAL")
            configuration.setdefault(
                "apiGatewayDomainName", f"d-{suffix}.execute-api.{self.region_name}.amazonaws.com"
            )
            configuration.setdefault("hostedZoneId", "Z1UJRXOUMOOFQ8")
            configuration.setdefault("domainNameStatus", "AVAILABLE")
        return create_domain_name(self, domain_name, domain_name_configurations, **others)

    def delete_domain_name_and_its_mappings(self, domain_name):
        for mapping_id, mapping in list(self.api_mappings.items()):
            if mapping.domain_name == domain_name:
                del self.api_mappings[mapping_id]
        return delete_domain_name(self, domain_name)

    backend_class.create_api_mapping = create_api_mapping_to_rest_apis
    backend_class.create_domain_name = create_regional_domain_name
    backend_class.delete_domain_name = delete_domain_name_and_its_mappings


def acm_validates_through_route53():
    """An ACM certificate validated by DNS is issued once its validation CNAME record is in a
    Route 53 hosted zone of the account, as on AWS (where ACM then looks it up in DNS); moto
    issues every certificate 60 seconds after the request, whatever DNS holds."""
    from moto.acm.models import CertBundle
    from moto.route53.models import route53_backends

    def check(self):
        if self.type != "AMAZON_ISSUED" or self.status != "PENDING_VALIDATION":
            return
        if faults.acm_blind_to_dns:
            return
        partition, account_id = self.arn.split(":")[1], self.arn.split(":")[4]
        records = {
            (record.name.rstrip(".").lower(), value.rstrip(".").lower())
            for zone in route53_backends[account_id][partition].zones.values()
            for record in zone.rrsets
            if record.type == "CNAME"
            for value in record.records
        }
        options = self.describe()["Certificate"]["DomainValidationOptions"]
        wanted = {
            (
                option["ResourceRecord"]["Name"].rstrip(".").lower(),
                option["ResourceRecord"]["Value"].rstrip(".").lower(),
            )
            for option in options
        }
        if wanted <= records:
            self.status = "ISSUED"

    CertBundle.check = check


class Faults:
    """The opt-in faults of the emulator; all off until set (see the module docstring).

    moto keeps one state per process, and so do these switches: `faults` below.
    """

    def __init__(self):
        self.role_propagation_seconds = 0
        self.throttled_dynamodb_operations = set()
        self.acm_blind_to_dns = False
        self.role_created = {}  # role name -> time.monotonic() of its successful CreateRole

    @contextmanager
    def injected(
        self, role_propagation_seconds=0, throttled_dynamodb_operations=(), acm_blind_to_dns=False
    ):
        """Turns the given faults on for the duration of a `with` block."""
        self.role_propagation_seconds = role_propagation_seconds
        self.throttled_dynamodb_operations = set(throttled_dynamodb_operations)
        self.acm_blind_to_dns = acm_blind_to_dns
        try:
            yield self
        finally:
            self.role_propagation_seconds = 0
            self.throttled_dynamodb_operations = set()
            self.acm_blind_to_dns = False


faults = Faults()

CREATE_FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/?$")


def json_error(status, content_type, payload, headers=()):
    return status, [("Content-Type", content_type), *headers], json.dumps(payload).encode()


class FaultInjector:
    """WSGI middleware in front of moto's app: answers a request as AWS would under a fault,
    or passes it on unchanged. It reads the body only of the requests it may answer itself."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        fault = self.dynamodb_throttling(environ) or self.role_not_yet_assumable(environ)
        if fault:
            status, headers, body = fault
            start_response(status, headers)
            return [body]
        role_name = self.created_role_name(environ)
        if role_name:
            return self.app(environ, self.recording_success(role_name, start_response))
        return self.app(environ, start_response)

    @staticmethod
    def body(environ):
        """The request body; the environ gets a fresh stream for moto to read it again."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def dynamodb_throttling(self, environ):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service, _, operation = target.partition(".")
        if service.startswith("DynamoDB_") and operation in faults.throttled_dynamodb_operations:
            message = "The level of configured provisioned throughput for the table was exceeded."
            kind = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            payload = {"__type": kind, "message": message}
            return json_error("400 Bad Request", "application/x-amz-json-1.0", payload)
        return None

    def role_not_yet_assumable(self, environ):
        if not faults.role_propagation_seconds or environ["REQUEST_METHOD"] != "POST":
            return None
        if not CREATE_FUNCTION_PATH.match(environ.get("PATH_INFO", "")):
            return None
        role_name = str(json.loads(self.body(environ) or b"{}").get("Role", "")).split("/")[-1]
        created = faults.role_created.get(role_name)
        if created is None or time.monotonic() - created >= faults.role_propagation_seconds:
            return None
        payload = {
            "Type": "User",
            "message": "The role defined for the function cannot be assumed by Lambda.",
        }
        headers = [("x-amzn-ErrorType", "InvalidParameterValueException")]
        return json_error("400 Bad Request", "application/json", payload, headers)

    def created_role_name(self, environ):
        """The RoleName of an IAM CreateRole request, else None."""
        if environ["REQUEST_METHOD"] != "POST":
            return None
        if "/iam/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return None
        form = parse_qs(self.body(environ).decode())
        return form.get("RoleName", [None])[0] if form.get("Action") == ["CreateRole"] else None

    @staticmethod
    def recording_success(role_name, start_response):
        def start(status, headers, exc_info=None):
            if status.startswith("200"):
                faults.role_created[role_name] = time.monotonic()
            return start_response(status, headers, exc_info)

        return start


class EmulatorServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer with the FaultInjector in front of its app."""

    def _server_entry(self):
        app = FaultInjector(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def start(port=None):
    """Starts the emulator in a thread of this process; returns (server, endpoint URL)."""
    port = port or free_port()
    # The emulator logs every request it serves; its users' own output is easier to read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    add_list_function_url_configs()
    store_function_code_in_s3()
    custom_domains_as_on_aws()
    acm_validates_through_route53()
    server = EmulatorServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000, help="port (default: %(default)s)")
    parser.add_argument(
        "--role-propagation-seconds",
        type=float,
        default=0,
        help="Lambda refuses a new IAM role this long after CreateRole (default: 0, off)",
    )
    parser.add_argument(
        "--throttle-dynamodb",
        metavar="OPERATION",
        nargs="*",
        default=[],
        help="DynamoDB operations (e.g. GetItem PutItem) that always answer throttling",
    )
    parser.add_argument(
        "--acm-blind-to-dns",
        action="store_true",
        help="ACM never sees validation records: certificates stay PENDING_VALIDATION",
    )
    args = parser.parse_args()
    faults.acm_blind_to_dns = args.acm_blind_to_dns
    faults.role_propagation_seconds = args.role_propagation_seconds
    faults.throttled_dynamodb_operations = set(args.throttle_dynamodb)
    server, url = start(args.port)
    variables = {"AWS_ENDPOINT_URL": url, **DUMMY_ENVIRONMENT}
    print("AWS emulator running; use it from another terminal with:")
    print("export " + " ".join(f"{name}={value}" for name, value in variables.items()))
    print("Press Ctrl-C to stop (everything it holds is lost).")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
