"""``aiocircleci fake-server``: run the emulator in the foreground until Ctrl-C.

Standard output gets exactly the base URL on its first line and, when no
``--token`` was given, ``token: <generated token>`` on the second; then
ready-to-paste ``export`` lines for ``CIRCLECI_BASE_URL``, ``CIRCLE_TOKEN`` (when
generated) and ``CIRCLECI_ARTIFACT_HOSTS``, so ``aiocircleci mirror`` in that shell
sends the token to the emulator's artifact host too. All of it is flushed at
once, so a script can read it from a pipe. Everything else goes to standard
error. The token never appears in a URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys

from ._faults import Faults
from ._server import FakeCircleCI
from ._world import WorldConfig

__all__ = ["env_lines", "register", "run"]

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2}
_UNITS.update({"mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3})

_EPILOG = """\
fault spec: comma-separated rules TARGET:KIND[TRIGGER]
  TARGET   api | artifact | storage | *   (api/OPERATION narrows to one operationId)
  KIND     500 502 503 504 | reset | reset-mid-body | short-body | stall
           | latency=MS[-MS] | page-token-404 | ignore-page-token | ignore-range
  TRIGGER  @P (probability) | #N (Nth request) | #N-M | #N+ | none (always)
  example  --faults 'api:503@0.1,artifact:reset-mid-body@0.05,storage:short-body#3'

Prints the base URL on the first line of stdout and, when --token is not given,
"token: ..." on the second, then "export NAME=value" lines to paste into a shell
(CIRCLECI_BASE_URL, CIRCLE_TOKEN, CIRCLECI_ARTIFACT_HOSTS). Send requests with
the header "Circle-Token: TOKEN". Bodies have the live API's shapes unless
--spec-shapes is given.
"""


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if match is None or match[2].lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 512KiB, 64MiB, 1GiB)")
    return int(match[1]) * _UNITS[match[2].lower()]


def _faults(text: str) -> Faults:
    try:
        return Faults.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    parser = subparsers.add_parser(
        "fake-server",
        parents=parents,
        help="run the embedded CircleCI API emulator",
        description="Serve a deterministic CircleCI API v2 world on loopback until Ctrl-C.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add("--port", type=int, default=0, help="API port; 0 picks a free one (default)")
    add("--artifact-port", type=int, default=0, help="artifact host port (default: free)")
    add("--storage-port", type=int, default=0, help="storage host port (default: free)")
    add("--seed", type=int, default=0, help="world seed (default: %(default)s)")
    add("--token", help="API token to accept (default: generate one and print it)")
    add("--projects", type=int, default=3, help="number of projects (default: %(default)s)")
    add("--pipelines", type=int, default=25, help="pipelines per project (default: %(default)s)")
    add("--workflows", type=int, default=2, help="workflows per pipeline (default: %(default)s)")
    add("--jobs", type=int, default=4, help="jobs per workflow (default: %(default)s)")
    add("--artifacts", type=int, default=3, help="artifacts per job node (default: %(default)s)")
    add("--max-artifact-size", type=_size, default=64 * 1024, help="e.g. 64KiB (default)")
    add("--large-artifacts", type=int, default=0, help="how many large artifacts (default: 0)")
    add("--large-artifact-size", type=_size, default=64 * 1024**2, help="e.g. 1GiB (default 64MiB)")
    add("--no-quirks", action="store_true", help="only successful, numbered, single-node jobs")
    add("--page-size", type=int, default=20, help="items per page (default: %(default)s)")
    add("--rate-limit", type=float, help="requests per second per token (default: unlimited)")
    add("--rate-limit-burst", type=int, help="bucket size (default: one second's worth)")
    add(
        "--retry-after",
        choices=("seconds", "http-date", "missing"),
        default="seconds",
        help="how a 429 announces the wait (default: %(default)s)",
    )
    add("--latency-ms", type=float, default=0.0, help="added to every request (default: 0)")
    add(
        "--limit-rate",
        type=_size,
        default=None,
        metavar="SIZE",
        help="cap each artifact or storage response at SIZE bytes/s, e.g. 32MiB (default: none)",
    )
    add("--faults", type=_faults, default=None, metavar="SPEC", help="fault spec, see below")
    add("--public", action="store_true", help="artifact host does not require the token")
    add("--url-ttl", type=float, default=300.0, help="storage URL lifetime in seconds")
    add(
        "--spec-shapes",
        action="store_true",
        help="serve the OpenAPI spec's spellings instead of what the live API sends",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; both end with exit status 0."""
    try:
        config = WorldConfig(
            projects=args.projects,
            pipelines_per_project=args.pipelines,
            workflows_per_pipeline=args.workflows,
            jobs_per_workflow=args.jobs,
            artifacts_per_job=args.artifacts,
            max_artifact_size=args.max_artifact_size,
            large_artifacts=args.large_artifacts,
            large_artifact_size=args.large_artifact_size,
            quirks=not args.no_quirks,
        )
        fake = FakeCircleCI(
            seed=args.seed,
            token=args.token,
            config=config,
            host=args.host,
            port=args.port,
            artifact_port=args.artifact_port,
            storage_port=args.storage_port,
            rate_limit=args.rate_limit,
            rate_limit_burst=args.rate_limit_burst,
            retry_after_style=args.retry_after,
            latency_ms=args.latency_ms,
            limit_rate=args.limit_rate,
            faults=args.faults,
            page_size=args.page_size,
            private=not args.public,
            url_ttl=args.url_ttl,
            shapes="spec" if args.spec_shapes else None,
        )
    except ValueError as exc:
        print(f"aiocircleci fake-server: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(fake))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"aiocircleci fake-server: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def env_lines(fake: FakeCircleCI) -> list[str]:
    """``export`` lines that point the client and the CLI at a running emulator."""
    lines = [f"export CIRCLECI_BASE_URL={fake.base_url}"]
    if fake.token_generated:  # a token passed with --token is not echoed back
        lines.append(f"export CIRCLE_TOKEN={fake.token}")
    lines.append(f"export CIRCLECI_ARTIFACT_HOSTS={fake.artifact_origin}")
    return lines


async def _serve(fake: FakeCircleCI) -> None:
    async with fake:
        print(fake.base_url, flush=True)
        if fake.token_generated:
            print(f"token: {fake.token}", flush=True)
        for line in env_lines(fake):
            print(line, flush=True)
        print(
            f"artifact host {fake.artifact_origin}, storage host {fake.storage_origin}; "
            "Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
