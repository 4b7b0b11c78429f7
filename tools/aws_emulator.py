"""An offline AWS for the whole pipeline: moto's server mode on a loopback port.

The tests and the benchmarks start it in their own process; you can start it in a terminal
to try the deploy scripts without an AWS account:

    .venv/bin/python tools/aws_emulator.py --port 5000
    # in another terminal, paste the lines it prints, then run the scripts as on AWS:
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing ...
    info-v2/initialize_dynamodb.sh && info-v2/create_lambdas.sh && ...

It fills one gap of moto 5.2.5 that the scripts meet: ListFunctionUrlConfigs, which
`zappa update` calls. moto stores Lambda code but cannot run it (that needs Docker); the
tests run the stored package with tests/lambda_runner.py instead.
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


def start(port=None):
    """Starts the emulator in a thread of this process; returns (server, endpoint URL)."""
    port = port or free_port()
    # The emulator logs every request it serves; its users' own output is easier to read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    add_list_function_url_configs()
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
