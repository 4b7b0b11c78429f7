"""An offline AWS for the whole pipeline: moto's server mode on a loopback port.

The tests and the benchmarks start it in their own process; you can start it in a terminal
to try the deploy scripts without an AWS account:

    tools/aws_emulator.sh --port 5000
    # in another terminal, paste the lines it prints, then run the scripts as on AWS:
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing ...
    info-v2/initialize_dynamodb.sh && info-v2/create_lambdas.sh && ...

It fills gaps of moto 5.2.5: ListFunctionUrlConfigs, which `zappa update` calls, the
download of a function's package from get-function's Code.Location (rollback.sh reads
old versions there too), custom domains as create_custom_domain.sh uses them (an API
mapping to a REST API, ACM's DNS validation; see custom_domains_as_on_aws and
acm_validates_through_route53), Lambda's Invoke, which moto runs only in Docker (here the
project's Lambda runtime runner runs each version, with Lambda's logs and metrics: see
run_functions_on_invoke and tools/lambda_invoke.py), and releases as AWS makes them:
a publish that changes nothing publishes nothing, aliases and versions have policies of
their own, metric statistics count exactly the dimensions asked, a restored table keeps
its billing mode, a stage has dates and keeps its settings through a new deployment.
tools/local_gateway.py serves a deployed REST API through that Invoke.

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
import os
import re
import socket
import sys
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote

import lambda_invoke
from lambda_runtime import emulator_env
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server


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


def run_functions_on_invoke(endpoint_url):
    """Lambda's Invoke runs the function, as on AWS; moto (5.2.5) runs code in Docker only.

    lambda_invoke.py runs the version the call names (an alias's by its routing weights) in a
    warm container with the project's Lambda runtime runner, and writes what Lambda writes to
    CloudWatch Logs and metrics. The function's AWS calls go to ENDPOINT_URL, this emulator.
    Deleting a function or a version closes its containers, and so does resetting the
    emulator (moto-api/reset); EmulatorServer.stop closes them all.
    """
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    answer_invoke = LambdaResponse.invoke
    delete_function = LambdaBackend.delete_function
    reset = LambdaBackend.reset

    def answer_invoke_of_the_qualifier_asked(self):
        # moto reads `qualifier` (the API's is Qualifier), or else from the payload.
        self.querystring["qualifier"] = self.querystring.get("Qualifier", [None])
        return answer_invoke(self)

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        return lambda_invoke.invoke(
            self, function_name, qualifier, body, headers, response_headers, endpoint_url
        )

    def delete_function_and_its_containers(self, function_name, qualifier=None):
        delete_function(self, function_name, qualifier)
        name, qualifier = lambda_invoke.name_and_qualifier(function_name, qualifier)
        lambda_invoke.containers.close(self.account_id, self.region_name, name, qualifier)

    def reset_and_close_containers(self):
        lambda_invoke.containers.close(self.account_id, self.region_name)
        reset(self)

    LambdaResponse.invoke = answer_invoke_of_the_qualifier_asked
    LambdaBackend.invoke = invoke
    LambdaBackend.delete_function = delete_function_and_its_containers
    LambdaBackend.reset = reset_and_close_containers


def publish_version_only_when_changed():
    """PublishVersion returns the latest version when $LATEST's code and configuration are
    those of that version, as on AWS. moto decides by a flag that its first publish never
    clears, so a function updated before its first publish gets a new, identical version at
    every later publish."""
    from moto.awslambda.models import LambdaStorage

    publish_version = LambdaStorage.publish_version
    # What a version has of its own besides the code and configuration it froze.
    own = ("FunctionArn", "Version", "LastModified", "Description")

    def frozen(function):
        configuration = function.get_configuration()
        return {key: value for key, value in configuration.items() if key not in own}

    def publish_version_when_changed(self, name_or_arn, description=""):
        function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        versions = self._functions[function.function_name]["versions"]
        if versions and frozen(versions[-1]) == frozen(function):
            return versions[-1]
        function.code_or_config_updated = True  # so that moto publishes
        return publish_version(self, name_or_arn, description)

    LambdaStorage.publish_version = publish_version_when_changed


def permissions_of_aliases_and_versions():
    """An alias and a published version each have a resource policy of their own, apart
    from the function's, as on AWS: add-permission, get-policy and remove-permission with
    --qualifier act on it. In moto, every version shares the function's policy, a permission
    added for an alias lands in it too, and remove-permission ignores the qualifier; so an
    alias would seem to allow what only the function allows, and the other way round."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.policy import Policy
    from moto.awslambda.responses import LambdaResponse

    def policy(backend, function_name, qualifier):
        """The policy FUNCTION_NAME (a name, NAME:QUALIFIER or an ARN) and QUALIFIER name."""
        name, qualifier = lambda_invoke.name_and_qualifier(function_name, qualifier)
        latest = backend.get_function(name)
        target = backend.get_function(name, qualifier)  # ResourceNotFound when missing
        if qualifier in (None, "$LATEST"):
            return latest.policy
        if not qualifier.isdigit():  # an alias (AWS refuses alias names of digits only)
            alias = backend.get_alias(qualifier, name)
            if not hasattr(alias, "policy"):
                alias.policy = Policy(latest)
            return alias.policy
        if target.policy is latest.policy:  # a copy of $LATEST's, made when it was published
            target.policy = Policy(latest)
        return target.policy

    def add_permission(self, function_name, qualifier, raw):
        statement, _ = policy(self, function_name, qualifier).add_statement(raw, qualifier)
        return statement

    def get_policy(self, function_name, qualifier=None):
        return policy(self, function_name, qualifier).wire_format()

    def remove_permission(self):
        function_name = unquote(self.path.split("/")[-3])
        statement_id = self.path.split("/")[-1].split("?")[0]
        qualifier = self.querystring.get("Qualifier", [None])[0]
        revision = self.querystring.get("RevisionId", [""])[0]
        policy(self.backend, function_name, qualifier).del_statement(statement_id, revision)
        return 204, {"status": 204}, "{}"

    LambdaBackend.add_permission = add_permission
    LambdaBackend.get_policy = get_policy
    LambdaResponse.remove_permission = remove_permission


def metric_statistics_of_exactly_the_dimensions_asked():
    """get-metric-statistics counts the data points published with exactly the dimensions
    asked, as on AWS. moto counts every data point that has them among others, so Lambda's
    Errors by FunctionName would also count those by FunctionName and Resource (and again
    by ExecutedVersion): three times each error."""
    from moto.cloudwatch.models import CloudWatchBackend

    get_metric_statistics = CloudWatchBackend.get_metric_statistics

    def get_exact_metric_statistics(self, *query, dimensions, unit=None):
        asked = sorted((d["Name"], d["Value"]) for d in dimensions)
        # moto's method reads the data points through get_all_metrics only.
        exact = SimpleNamespace(
            get_all_metrics=lambda: [
                datum
                for datum in self.get_all_metrics()
                if sorted((d.name, d.value) for d in datum.dimensions) == asked
            ]
        )
        return get_metric_statistics(exact, *query, dimensions=dimensions, unit=unit)

    CloudWatchBackend.get_metric_statistics = get_exact_metric_statistics


def restored_tables_keep_their_billing_mode():
    """A table restored from a DynamoDB backup has the billing mode of the table backed up
    (on-demand stays on-demand), as on AWS; moto's has none (provisioned at 0 units)."""
    from moto.dynamodb.models.table import RestoredTable

    restored_table_init = RestoredTable.__init__

    def restore_with_billing_mode(self, name, account_id, region, backup):
        restored_table_init(self, name, account_id, region, backup)
        self.billing_mode = backup.table.billing_mode

    RestoredTable.__init__ = restore_with_billing_mode


def stages_as_on_aws():
    """An API Gateway stage has a createdDate and a lastUpdatedDate, as on AWS (moto gives
    neither: status.sh printed "updated None"), and a new deployment to an existing stage
    moves that stage to it, keeping its settings; moto makes the stage anew, dropping its
    throttling until the next update-stage."""
    from moto.apigateway.models import RestAPI, Stage

    stage_init = Stage.__init__
    stage_to_json = Stage.to_json
    apply_operations = Stage.apply_operations
    create_deployment = RestAPI.create_deployment

    def dated_stage_init(self, *args, **kwargs):
        stage_init(self, *args, **kwargs)
        self.created_date = self.last_updated_date = int(time.time())

    def dated_to_json(self):
        dates = {"createdDate": self.created_date, "lastUpdatedDate": self.last_updated_date}
        return {**stage_to_json(self), **dates}

    def dated_apply_operations(self, patch_operations):
        apply_operations(self, patch_operations)
        self.last_updated_date = int(time.time())
        return self

    def deploy_to_the_existing_stage(self, name, description, stage_variables=None):
        stage = self.stages.get(name)
        deployment = create_deployment(self, name, description, stage_variables)
        if stage is not None:
            stage.deployment_id = deployment.id
            stage.variables.update(stage_variables or {})
            stage.last_updated_date = int(time.time())
            self.stages[name] = stage
        return deployment

    Stage.__init__ = dated_stage_init
    Stage.to_json = dated_to_json
    Stage.apply_operations = dated_apply_operations
    RestAPI.create_deployment = deploy_to_the_existing_stage


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


def count_scans_in_one_page():
    """Answers a Scan with Select=COUNT of a whole table, or of one segment of it (no filter,
    no index, no Limit), in one page: the number of items it holds.

    moto 5.2.5 counts the way it scans for items: for every 1 MB page it sorts the table,
    walks it from its start to the page and deep-copies every item it counts, so a count
    takes time quadratic in the table's size (minutes for 200,000 items). DynamoDB pages a
    count at 1 MB read, like any scan; a client that follows LastEvaluatedKey (botocore's
    paginator) sums the same count from one page as from many. Other scans are moto's.
    """
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    scan = DynamoHandler.scan
    left_to_moto = {
        "ScanFilter",
        "FilterExpression",
        "IndexName",
        "Limit",
        "ExclusiveStartKey",
        "ReturnConsumedCapacity",
    }

    def scan_or_count(self):
        segments = (self.body.get("Segment"), self.body.get("TotalSegments"))
        whole_table = segments == (None, None)
        valid_segment = None not in segments and 0 <= segments[0] < segments[1]
        if (
            self.body.get("Select") != "COUNT"
            or left_to_moto & self.body.keys()
            or not (whole_table or valid_segment)
        ):
            return scan(self)
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        groups = table.items.values()  # by hash key: an item, or items by range key
        items = (
            [item for group in groups for item in group.values()]
            if table.range_key_attr
            else groups
        )
        count = sum(item.is_within_segment(segments) for item in items)
        return DynamoResult({"Count": count, "ScannedCount": count})

    DynamoHandler.scan = scan_or_count


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
    """moto's ThreadedMotoServer with the FaultInjector in front of its app, serving on the
    socket LISTENING (bound by the caller: moto's own start binds in its thread, where a port
    in use prints werkzeug's message and leaves the caller waiting), whose stop() also ends
    the functions' containers."""

    def __init__(self, listening):
        host, port = listening.getsockname()[:2]
        super().__init__(ip_address=host, port=port, verbose=False)
        self._listening = listening

    def start(self):
        app = FaultInjector(DomainDispatcherApplication(create_backend_app))
        with self._listening:  # werkzeug serves a duplicate of it
            self._server = make_server(
                self._ip_address,
                self._port,
                app,
                True,
                request_handler=MotoRequestHandler,
                fd=self._listening.fileno(),
            )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        super().stop()
        lambda_invoke.containers.close()


def start(port=0):
    """Starts the emulator in a thread of this process; returns (server, endpoint URL).
    Port 0 (the default) is a free one; a port in use raises OSError."""
    listening = socket.create_server(("127.0.0.1", port))
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    # The emulator logs every request it serves; its users' own output is easier to read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    add_list_function_url_configs()
    store_function_code_in_s3()
    custom_domains_as_on_aws()
    acm_validates_through_route53()
    run_functions_on_invoke(url)
    publish_version_only_when_changed()
    permissions_of_aliases_and_versions()
    metric_statistics_of_exactly_the_dimensions_asked()
    restored_tables_keep_their_billing_mode()
    stages_as_on_aws()
    count_scans_in_one_page()
    server = EmulatorServer(listening)
    server.start()
    return server, url


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
    try:
        server, url = start(args.port)
    except OSError as error:
        reason = os.strerror(error.errno)
        sys.exit(f"aws_emulator.py: error: port {args.port}: {reason}; see --port")
    variables = emulator_env(url)
    print("AWS emulator running; use it from another terminal with:")
    print("export " + " ".join(f"{name}={value}" for name, value in variables.items()))
    print("Press Ctrl-C to stop (everything it holds is lost).")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
