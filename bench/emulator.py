"""The offline AWS (tools/aws_emulator.py) for the benchmarks, with dummy credentials."""

import os

import aws_emulator
from lambda_runtime import emulator_env


def start_emulator():
    """Starts the emulator and points this process's AWS calls at it; returns (server, url)."""
    server, url = aws_emulator.start()
    # Dummy credentials: nothing here may reach a real AWS account.
    os.environ.update(emulator_env(url))
    os.environ.pop("AWS_PROFILE", None)
    return server, url
