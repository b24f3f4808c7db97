"""``aiocircleci download``: fetch a list of URLs, one per line.

The drop-in replacement for the ``curl ... | grep -o 'https://[^"]*' | wget -i -``
recipe of CircleCI's API guide: each file is named by its URL's path (so two
URLs with one basename do not collide), and the token from the environment goes
only to the API origin and the artifact hosts, never to the storage host an
artifact URL redirects to.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import anyio

from .._auth import OriginPolicy
from .._config import ARTIFACT_HOSTS_ENV
from .._http import redact_url
from .._lock import DestLock
from ..download import (
    DEFAULT_SEGMENTS,
    Downloader,
    DownloadRequest,
    FileResult,
    FileStatus,
    SegmentConfig,
)
from ..errors import DownloadError
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    emit_json,
    env_config,
    load_token,
    refuse_url_dest,
    run_async,
)
from ._progress import ProgressDisplay, print_summary

__all__ = ["ARTIFACT_HOSTS_ENV", "register", "run"]


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    parser = subparsers.add_parser(
        "download",
        parents=parents,
        help="download the URLs listed in a file (one per line)",
        description=(
            "Download every URL listed in FILE (one per line, '-' for stdin) into DIR, "
            "named by the URL's path. The token goes only to the API origin and artifact hosts."
        ),
    )
    parser.add_argument("-i", "--input", required=True, metavar="FILE", help="URL list, or '-'")
    parser.add_argument("--dest", required=True, metavar="DIR", help="destination directory")
    parser.add_argument(
        "-j", "--jobs", type=int, default=8, metavar="N", help="parallel downloads (default: 8)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help=(
            "download in N processes, -j split between them, so small files use every core "
            "(default: the number of usable CPUs; 1: all in this process)"
        ),
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="download files that already exist complete"
    )
    parser.add_argument(
        "--wait-lock",
        action="store_true",
        help="if another run is writing into DIR, wait for it instead of exiting",
    )
    parser.add_argument(
        "--artifact-host",
        action="append",
        default=[],
        metavar="HOST",
        help=(
            "another host that may receive the token: an exact origin (http://127.0.0.1:8081) "
            f"or an https host glob; also ${ARTIFACT_HOSTS_ENV} (comma-separated)"
        ),
    )
    parser.add_argument(
        "--segment-size",
        default=None,
        metavar="SIZE",
        help=(
            "fetch files larger than --segment-threshold as ranges of SIZE bytes over several "
            "connections (K/M/G suffixes; default: 16M)"
        ),
    )
    parser.add_argument(
        "--segment-threshold",
        default=None,
        metavar="SIZE",
        help="smallest file fetched as ranges (default: 32M)",
    )
    parser.add_argument(
        "--segment-connections",
        type=int,
        default=None,
        metavar="N",
        help="connections for ranges across all files (default: 32)",
    )
    parser.add_argument("--no-segments", action="store_true", help="fetch every file as one stream")
    parser.set_defaults(func=run)


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(option: str, text: str) -> int:
    """``4096``, ``64K``, ``16M``, ``1G`` (binary units) as bytes."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    number = value[: len(value) - len(unit)]
    if not number.isdigit():
        raise CLIError(f"{option} takes a size such as 65536, 64K or 16M, not {text!r}")
    return int(number) * _UNITS[unit]


def segment_config(args: argparse.Namespace) -> SegmentConfig | None:
    """The segmented-download settings the options ask for (``None``: off)."""
    if args.no_segments:
        return None
    config = DEFAULT_SEGMENTS
    changes: dict[str, int] = {}
    if args.segment_size is not None:
        changes["segment_size"] = _size("--segment-size", args.segment_size)
    if args.segment_threshold is not None:
        changes["threshold"] = _size("--segment-threshold", args.segment_threshold)
    if args.segment_connections is not None:
        changes["max_connections"] = args.segment_connections
    if not changes:
        return config
    try:
        return dataclasses.replace(config, **changes)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _policy(args: argparse.Namespace) -> OriginPolicy:
    config = env_config(args)
    return OriginPolicy.for_hosts(config.base_url, [*config.artifact_hosts, *args.artifact_host])


# A plain http(s) URL (host of letters, digits, dots and dashes, a port of at most
# five digits, no control character or space): its path is read without urlsplit,
# which costs more per listed URL than the rest of the CLI's work on it.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::(\d{1,5}))?(/[^?#\x00-\x20\x7f]*)?(?:[?#]\S*)?"
)


def request_for_url(url: str) -> DownloadRequest:
    """The request for one listed URL: its target is the URL's (decoded) path."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None and int(plain[1] or 0) <= 65535:
        return DownloadRequest(url, unquote(plain[2] or ""))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    return DownloadRequest(url, unquote(parts.path))


async def _lines(source: BinaryIO) -> AsyncIterator[str]:
    """Lines of ``source`` as they arrive, read in a thread (stdin may be a slow pipe)."""
    read = getattr(source, "read1", source.read)
    pending = b""
    while True:
        block: bytes = await anyio.to_thread.run_sync(read, 1 << 16, abandon_on_cancel=True)
        if not block:
            break
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by run()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc


def _check_dest(dest: str) -> None:
    refuse_url_dest(dest)
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise CLIError(f"--dest {dest} is not a directory")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise CLIError("-j must be at least 1")
    processes = usable_cpus() if args.processes is None else args.processes
    if processes < 1:
        raise CLIError("--processes must be at least 1")
    _check_dest(args.dest)
    token = load_token(args)
    policy = _policy(args)
    segments = segment_config(args)
    source = _open_input(args.input)
    display = ProgressDisplay(sys.stderr, quiet=args.quiet or args.json, verbose=args.verbose > 0)
    invalid: list[FileResult] = []

    async def main() -> Downloader:
        lock = DestLock(args.dest, wait=args.wait_lock)
        downloader = Downloader(
            args.dest,
            run_id=lock.run_id,
            token=token,
            policy=policy,
            workers=args.jobs,
            overwrite=args.overwrite,
            subscribers=display.subscribers,
            keep_results=bool(args.json),
            segments=segments,
            processes=processes,
        )
        # One writer per DEST: a second run would share (and corrupt) our .part files.
        # Worker processes (--processes) write under this run's lock and run id.
        async with lock, downloader:
            async for line in _lines(source):
                url = line.strip()
                if not url or url.startswith("#"):
                    continue
                try:
                    request = request_for_url(url)
                except ValueError as exc:
                    invalid.append(
                        FileResult(
                            request=DownloadRequest(url, ""),
                            status=FileStatus.FAILED,
                            error=DownloadError(str(exc), url=redact_url(url)),
                        )
                    )
                    continue
                await downloader.submit(request)
        return downloader

    try:
        with display:
            downloader = run_async(main)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    report = downloader.report
    report.failed.extend(invalid)
    if args.json:
        emit_json(
            {
                "done": [_result_json(r) for r in report.done],
                "skipped": [_result_json(r) for r in report.skipped],
                "failed": [_result_json(r) for r in report.failed],
                "bytes": report.bytes,
                "seconds": round(report.seconds, 3),
                # Only when it happened: the usual document stays as it was.
                **({"processes_lost": report.processes_lost} if report.processes_lost else {}),
            }
        )
    elif not args.quiet or report.failed:
        print_summary(report, sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _result_json(result: FileResult) -> dict[str, object]:
    return {
        "url": redact_url(result.request.url),
        "path": result.path,
        "size": result.size,
        "sha256": result.sha256,
        "error": result.reason or None,
    }
