"""The ``aiocircleci`` command line.

Each subcommand lives in its own module under ``aiocircleci.cli`` and exposes
``register(subparsers, parents)``, which adds its parser and sets ``func`` to a
callable ``func(args) -> int``. ``main`` turns every expected error into one line
on stderr and a non-zero exit code; a user never sees a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._app import build_parser, run
from ._common import exit_after_store

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiocircleci`` console script."""
    code = run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        if "obstore" in sys.modules:
            # obstore's threads can abort the interpreter's finalization (see
            # exit_after_store): a process that loaded it leaves without one.
            exit_after_store(code)
        sys.exit(code)
    return code
