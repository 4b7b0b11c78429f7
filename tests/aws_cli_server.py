"""The AWS CLI of the tests, started once per worker and forked for every call.

An `aws` process spends about 0.3 s of CPU before it sends its first byte: Python starts
and imports botocore and the CLI's customisations. The suite's scripts make about 1,200
calls, and on 2 cores that start-up was half of the suite's time. This server imports the
CLI once; the `aws` on the tests' PATH (written by started()) is a small client that hands
the server its arguments, environment, folder and standard streams, and exits with the
status of the call. For each call the server forks, and the child runs the virtualenv's own
`aws` script on the caller's streams: the same code as `aws` run as a process of its own.
AWS_CLI_SERVER=off in the environment of tests/run.sh turns it off.

    python tests/aws_cli_server.py SOCKET     serves until terminated
"""

import ast
import gc
import importlib
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

AWS_SCRIPT = Path(sys.executable).parent / "aws"
STREAMS = 3  # stdin, stdout and stderr, in that order

# `aws` on the tests' PATH: no site-packages (-S), no PYTHON* settings (-I), and _socket
# rather than socket (which imports enum and selectors): it starts in 7 ms instead of 12.
CLIENT = """#!{python} -IS
import _socket, os, sys
request = repr((sys.argv[1:], dict(os.environ), os.getcwd())).encode()
streams = b""
for stream in (0, 1, 2):  # a closed one is sent as /dev/null
    try:
        os.fstat(stream)
    except OSError:
        stream = os.open(os.devnull, os.O_RDWR)
    streams += stream.to_bytes(4, sys.byteorder)
server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
server.connect({socket_path!r})
header = len(request).to_bytes(4, "big")
server.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, streams)])
server.sendall(request)
status = server.recv(1)
sys.exit(status[0] if status else 255)
"""


def receive_exactly(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client left before its request was read")
        data += chunk
    return data


def run_call(connection):
    """In a forked child: the call of one client, on that client's streams. Never returns."""
    status = 255
    try:
        header, streams, _, _ = socket.recv_fds(connection, 4, STREAMS)
        request = receive_exactly(connection, int.from_bytes(header, "big"))
        argv, environment, folder = ast.literal_eval(request.decode())
        for target, stream in enumerate(streams):
            os.dup2(stream, target)
            os.close(stream)
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        # awscli reads AWS_DATA_PATH when imported: read it again in the caller's environment.
        importlib.reload(sys.modules["awscli"])
        sys.argv = [str(AWS_SCRIPT), *argv]
        runpy.run_path(str(AWS_SCRIPT), run_name="__main__")
        status = 0
    except SystemExit as end:
        status = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
    except BaseException as error:  # noqa: BLE001 -- reported to the caller, as a crash of aws would be
        print(f"aws_cli_server: {error!r}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        try:
            connection.sendall(bytes([status & 0xFF]))
        finally:
            os._exit(status & 0xFF)


def serve(socket_path):
    import awscli.clidriver  # noqa: F401 -- imported once here, for every child
    import awscli.handlers  # noqa: F401 -- the customisations each call would import

    gc.freeze()  # a collection in a child would otherwise touch, and so copy, every page
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(socket_path)
    listener.listen(128)
    listener.settimeout(1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while os.getppid() == parent:  # a test worker that was killed leaves no server behind
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            run_call(connection)
        connection.close()


@contextmanager
def started():
    """Starts a server for the tests of one worker; yields the folder of its `aws` client, to
    be put first on the scripts' PATH."""
    # A folder of its own under /tmp: a socket's path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="aws-cli-", dir="/tmp") as folder:
        socket_path = str(Path(folder) / "socket")
        client = Path(folder) / "bin" / "aws"
        client.parent.mkdir()
        client.write_text(CLIENT.format(python=sys.executable, socket_path=socket_path))
        client.chmod(0o755)
        server = subprocess.Popen([sys.executable, __file__, socket_path], stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not Path(socket_path).exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the AWS CLI server did not start")
                time.sleep(0.05)
            yield client.parent
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    serve(sys.argv[1])
