"""Parser assembly and the error-to-exit-code boundary of the CLI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Protocol


class _Command(Protocol):
    def register(
        self,
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
        parents: list[argparse.ArgumentParser],
    ) -> None: ...


def _commands() -> list[_Command]:
    # Imported lazily so that `aiocircleci --help` stays fast and one broken
    # optional command cannot stop the others from loading.
    from ..testing import _cli as fake_server

    return [fake_server]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiocircleci",
        description="Asyncio client for the CircleCI API v2: mirror and download artifacts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in _commands():
        command.register(sub, [])
    return parser


def run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("aiocircleci: interrupted", file=sys.stderr)
        return 130
