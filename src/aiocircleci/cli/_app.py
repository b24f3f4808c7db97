"""Parser assembly and the error-to-exit-code boundary of the CLI.

Every expected failure becomes one line on stderr and an exit code:
0 all done, 1 some work failed, 2 usage, auth or configuration errors,
130 interrupted. No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Protocol

from .. import __version__, errors
from ._common import EXIT_FAILED, EXIT_USAGE, GLOBAL_DEFAULTS, CLIError, global_options
from ._text import RedactingStream, Redactor, clean


class _Command(Protocol):
    def register(
        self,
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
        parents: list[argparse.ArgumentParser],
    ) -> None: ...


# Which module registers which subcommands. Only the module of the command
# being run is imported: start-up time is part of every `download` and `mirror`.
_MODULES: dict[str, tuple[str, ...]] = {
    "aiocircleci.cli._mirror": ("mirror",),
    "aiocircleci.cli._demo": ("demo",),
    "aiocircleci.cli._download": ("download",),
    "aiocircleci.testing._cli": ("fake-server",),
    "aiocircleci.cli._commands": (
        "pipelines",
        "workflows",
        "jobs",
        "artifacts",
        "trigger",
        "insights",
        "me",
    ),
}


def _commands(argv: list[str] | None = None) -> list[_Command]:
    """The command modules to register: the one ``argv`` names, or all of them."""
    wanted = set(argv or ())
    chosen = [m for m, names in _MODULES.items() if wanted & set(names)]
    return [importlib.import_module(m) for m in (chosen or _MODULES)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit 2, as the rest of the CLI.
        self.exit(EXIT_USAGE, f"aiocircleci: {message} (see --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand it names is registered."""
    parents = [global_options()]
    parser = _Parser(
        prog="aiocircleci",
        description="Asyncio client for the CircleCI API v2: mirror and download artifacts.",
        parents=parents,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    sub.required = True
    for command in _commands(argv):
        command.register(sub, parents)
    return parser


def _message(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for an expected error."""
    if isinstance(exc, CLIError):
        return str(exc), exc.code
    if isinstance(exc, errors.TokenNotSent):
        return str(exc), EXIT_USAGE
    if isinstance(exc, errors.Unauthorized):
        return "authentication failed: the CircleCI token is missing, wrong or expired", EXIT_USAGE
    if isinstance(exc, errors.ConfigurationError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, errors.NotFound):
        return f"not found: {exc.message} ({exc.url})", EXIT_USAGE
    if isinstance(exc, errors.BadRequest | errors.UnprocessableEntity):
        # The API refused what the user asked for (a malformed id, an unknown parameter).
        return f"refused: {exc.message} ({exc.url})", EXIT_USAGE
    if isinstance(exc, errors.DestinationLocked):
        return f"{exc}; wait for it with --wait-lock", EXIT_USAGE
    if isinstance(exc, errors.DiskError):
        return str(exc), EXIT_USAGE  # each says what it could not do ("cannot write X: ...")
    if isinstance(exc, errors.CircleCIError):
        return str(exc), EXIT_FAILED
    if isinstance(exc, ValueError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        where = f": {exc.filename}" if exc.filename else ""
        code = EXIT_USAGE if exc.errno in (errno.EACCES, errno.EROFS, errno.ENOSPC) else EXIT_FAILED
        return f"{reason}{where}", code
    # A bug of ours: still one line; -vv shows the traceback for a report.
    logging.getLogger("aiocircleci").debug("unexpected error", exc_info=exc)
    return f"unexpected error: {type(exc).__name__}: {exc} (run with -vv for details)", EXIT_FAILED


def run(argv: list[str]) -> int:
    """Run one command: every line it prints goes through the token redactor."""
    redactor = Redactor()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(stdout, redactor)
    sys.stderr = RedactingStream(stderr, redactor)
    try:
        return _run(argv, redactor)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _fail(exc: BaseException) -> int:
    line, code = _message(exc)
    # Error text can quote a server (a message, a reason): escape it.
    print(f"aiocircleci: {clean(line)}", file=sys.stderr)
    return code


def _run(argv: list[str], redactor: Redactor) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    args.redactor = redactor
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose >= 2
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("aiocircleci: interrupted", file=sys.stderr)
        return 130
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, KeyboardInterrupt):
            print("aiocircleci: interrupted", file=sys.stderr)
            return 130
        return _fail(first)
    except Exception as exc:  # noqa: BLE001 - the one boundary where errors become lines
        return _fail(exc)
