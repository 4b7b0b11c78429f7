"""The offline AWS (tools/aws_emulator.py) for the benchmarks, with dummy credentials."""

import os

import aws_emulator


def start_emulator():
    """Starts the emulator and points this process's AWS calls at it; returns (server, url)."""
    server, url = aws_emulator.start()
    # Dummy credentials: nothing here may reach a real AWS account.
    os.environ.update(AWS_ENDPOINT_URL=url, **aws_emulator.DUMMY_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    return server, url
