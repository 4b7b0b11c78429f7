"""An offline AWS for the whole pipeline: moto's server mode on a loopback port.

The tests and the benchmarks start it in their own process; you can start it in a terminal
to try the deploy scripts without an AWS account:

    tools/aws_emulator.sh --port 5000
    # in another terminal, paste the lines it prints, then run the scripts as on AWS:
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing ...
    info-v2/initialize_dynamodb.sh && info-v2/create_lambdas.sh && ...

It fills two gaps of moto 5.2.5: ListFunctionUrlConfigs, which `zappa update` calls, and the
download of a function's package from get-function's Code.Location. moto cannot run Lambda
code (that needs Docker); tools/local_gateway.py runs the stored package instead.
"""

import argparse
import json
import logging
import socket
import threading
from urllib.parse import unquote

from moto.server import ThreadedMotoServer

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
    bucket and key of the emulator's S3, where lambda_runtime.function_code reads it.
    """
    from moto.awslambda.models import LambdaFunction
    from moto.s3.models import s3_backends

    set_function_code = LambdaFunction._set_function_code

    def set_and_store_function_code(self, updated_spec):
        set_function_code(self, updated_spec)
        if "ZipFile" in updated_spec:
            s3 = s3_backends[self.account_id][self.partition]
            bucket = f"awslambda-{self.region}-tasks"
            if bucket not in s3.buckets:
                s3.create_bucket(bucket, self.region)
            s3.put_object(bucket, self.code["S3Key"], self.code_bytes)

    LambdaFunction._set_function_code = set_and_store_function_code


def start(port=None):
    """Starts the emulator in a thread of this process; returns (server, endpoint URL)."""
    port = port or free_port()
    # The emulator logs every request it serves; its users' own output is easier to read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    add_list_function_url_configs()
    store_function_code_in_s3()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000, help="port (default: %(default)s)")
    args = parser.parse_args()
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
