"""What every subcommand shares: global options, the token, the client, the exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .._auth import TOKEN_ENV_VARS, Token
from .._config import DEFAULT_LIMITS, Config, Limits, from_env
from .._limiter import Limiter
from .._objectstore import CLOUD_EXTRA_HINT, StoreURL, parse_dest
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..client import Client

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CLIError",
    "emit_json",
    "exit_after_store",
    "env_config",
    "global_options",
    "load_token",
    "make_client",
    "require_token",
    "run_async",
    "store_dest",
]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # some work failed (listed)
EXIT_USAGE = 2  # usage, auth or configuration: nothing useful could start


class CLIError(Exception):
    """An expected failure: printed as one line, then exit with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def global_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name.

    ``default=SUPPRESS`` lets the value given before the subcommand survive the
    subparser's own defaults; ``_app.run`` fills in the real defaults afterwards.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    s = argparse.SUPPRESS
    group.add_argument(
        "--base-url",
        default=s,
        metavar="URL",
        help="API base URL (default: $CIRCLECI_BASE_URL or https://circleci.com/api/v2)",
    )
    group.add_argument(
        "--token-file",
        default=s,
        metavar="FILE",
        help=f"read the API token from FILE ('-' for stdin) instead of ${TOKEN_ENV_VARS[0]}",
    )
    group.add_argument("--json", action="store_true", default=s, help="machine-readable output")
    group.add_argument("-v", "--verbose", action="count", default=s, help="more detail on stderr")
    group.add_argument("-q", "--quiet", action="store_true", default=s, help="no progress output")
    return parent


GLOBAL_DEFAULTS: dict[str, Any] = {
    "base_url": None,
    "token_file": None,
    "json": False,
    "verbose": 0,
    "quiet": False,
}


def env_config(args: argparse.Namespace) -> Config:
    """The environment's configuration, with ``--base-url`` over ``$CIRCLECI_BASE_URL``."""
    try:
        return from_env(base_url=getattr(args, "base_url", None) or None)
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from exc


def _secret(args: argparse.Namespace, token: Token | None) -> Token | None:
    """Tell the output streams about the token, so that no printed line shows it."""
    redactor = getattr(args, "redactor", None)
    if token is not None and redactor is not None:
        redactor.add(token.reveal())
    return token


def load_token(args: argparse.Namespace) -> Token | None:
    """The token from ``--token-file``, else ``CIRCLE_TOKEN`` / ``CIRCLECI_TOKEN``.

    Never from an argument: argument lists are visible to every user in ``ps``.
    """
    path = getattr(args, "token_file", None)
    if path:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot read token file {path}: {exc.strerror}") from exc
        text = text.strip()
        if not text:
            raise CLIError(f"token file {path} is empty")
        try:
            return _secret(args, Token(text.splitlines()[0]))
        except ConfigurationError as exc:
            raise CLIError(f"token file {path}: {exc}") from exc
    return _secret(args, env_config(args).token)


def require_token(args: argparse.Namespace) -> Token:
    token = load_token(args)
    if token is None:
        raise CLIError(f"no CircleCI token: set {TOKEN_ENV_VARS[0]} or pass --token-file FILE")
    return token


def make_client(
    args: argparse.Namespace,
    *,
    token: Token | None = None,
    limits: Limits = DEFAULT_LIMITS,
    artifact_hosts: tuple[str, ...] = (),
    limiter: Limiter | None = None,
) -> Client:
    """A client configured from the environment and the global options (base URL, token)."""
    from ..client import Client  # not at start-up: `download` never makes one

    config = env_config(args)
    try:
        return Client(
            token if token is not None else require_token(args),
            base_url=config.base_url,
            limits=dataclasses.replace(limits, max_body_size=config.limits.max_body_size),
            timeout=config.timeout,
            artifact_hosts=(*config.artifact_hosts, *artifact_hosts),
            limiter=limiter,
        )
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from exc


def store_dest(dest: str) -> StoreURL | None:
    """``None`` for a local directory; the parsed ``s3://`` (etc.) DEST otherwise.

    Fails in one line for a scheme the project does not support (``ftp://``,
    ``s4://``), never creating a local directory named ``s3:``, and for an
    object store when the cloud extra (obstore) is not installed.
    """
    try:
        url = parse_dest(dest)
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from None
    if url is None:
        return None
    try:
        import obstore  # noqa: F401 - only whether the cloud extra is there
    except ImportError:
        raise CLIError(
            f"--dest {url}: object-store destinations need the cloud extra: {CLOUD_EXTRA_HINT}"
        ) from None
    return url


def refuse_url_dest(dest: str) -> None:
    """Fail in one line if DEST names a URL scheme: this command writes to a local directory."""
    url = store_dest(dest)
    if url is not None:
        raise CLIError(
            f"--dest {url}: this command cannot write to an object store; give a local directory"
        )


def exit_after_store(code: int) -> int:
    """Leave the process at once with ``code`` after a run that used an object store.

    obstore 0.12's tokio threads may still call into Python while the
    interpreter finalizes, and Python 3.11 then aborts the process (SIGABRT,
    about one run in five). By now every upload is complete or aborted and the
    event loop is closed, so nothing is lost by skipping finalization: the
    output streams are flushed and the process exits with ``code``.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function on asyncio (aiohttp needs it) under anyio."""
    return anyio.run(func, backend="asyncio")


def emit_json(value: Any) -> None:
    """One JSON document on stdout."""
    import msgspec

    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")
    sys.stdout.flush()
