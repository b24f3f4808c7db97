"""``aiocircleci mirror``: every artifact of the chosen pipelines, into a directory.

Checks everything it can before the first request (slugs, dates, the selection,
the destination, the token), so a mistake costs one line and exit status 2.
Then it mirrors with live bars on a terminal (plain lines elsewhere) and ends
with a summary, or one JSON document with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .._config import DEFAULT_LIMITS, Limits, StoreSettings, from_env
from .._http import redact_url
from .._limiter import Limiter
from .._objectstore import StoreURL
from .._redis_limiter import RedisRateLimiter
from .._selection import Globs, Selection, parse_time
from .._shard import JOB_INDEX_ENV, Shard, parse_shard
from .._slug import ProjectSlug
from ..client import Client
from ..errors import ConfigurationError, NotFound
from ..mirror import (
    DEFAULT_LISTERS,
    DEFAULT_WORKERS,
    MANIFEST_NAME,
    FilePlanned,
    JobSelected,
    ListingFailed,
    ManifestRebuilt,
    Mirror,
    MirrorEvent,
    MirrorReport,
    PipelineSelected,
    StoreMirror,
)
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    emit_json,
    make_client,
    require_token,
    run_async,
    store_dest,
)
from ._download import ARTIFACT_HOSTS_ENV
from ._progress import DisplayMode, ProgressDisplay, format_bytes, print_summary
from ._text import clean as _clean

__all__ = ["api_limits", "check_dest", "register", "run", "stats_line"]

DEFAULT_API_RATE = 10.0
_MIRROR_ONLY = (PipelineSelected, JobSelected, FilePlanned)

LAYOUT = f"""\
layout:
  DEST/<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<workflow-id8>/
       <job-name>-<job-number>/<node_index>/<artifact path>
  DEST/{MANIFEST_NAME} records every file (URL, path, size, sha256, pipeline,
  workflow, job, time); a second run fetches only what is new or incomplete.

times: an age such as 7d, 12h or 30m, an ISO date (2025-06-01, midnight UTC) or
  date-time (2025-06-01T12:00:00Z). --since is inclusive, --until exclusive.
globs: shell patterns, case-sensitive; '*' also matches '/'.
"""


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    parser = subparsers.add_parser(
        "mirror",
        parents=parents,
        help="mirror every artifact of chosen pipelines into a directory or a bucket",
        description=(
            "Mirror the artifacts of the selected pipelines of the projects SLUG... "
            "(and of every project of --org) into DIR, incrementally."
        ),
        epilog=LAYOUT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("slugs", nargs="*", metavar="SLUG", help="project slug, such as gh/my-org/my-repo")
    add(
        "--org", action="append", default=[], metavar="ORG", help="every project of ORG (gh/my-org)"
    )
    add(
        "--dest",
        required=True,
        metavar="DEST",
        help="destination directory, or s3://BUCKET/PREFIX (the cloud extra)",
    )
    sel = parser.add_argument_group("selection")
    sel.add_argument("--branch", action="append", default=[], help="only this branch (repeatable)")
    sel.add_argument("--since", metavar="WHEN", help="pipelines created at or after WHEN")
    sel.add_argument("--until", metavar="WHEN", help="pipelines created before WHEN")
    sel.add_argument(
        "--pipeline", action="append", type=int, default=[], metavar="N", help="pipeline number"
    )
    sel.add_argument("--latest", action="store_true", help="only the newest pipeline per branch")
    sel.add_argument(
        "--status", action="append", default=[], metavar="STATUS", help="workflow status"
    )
    for what, meta in (("workflow", "workflow names"), ("job", "job names"), ("artifact", "paths")):
        sel.add_argument(
            f"--{what}", action="append", default=[], metavar="GLOB", help=f"only {meta} matching"
        )
        sel.add_argument(
            f"--exclude-{what}",
            action="append",
            default=[],
            metavar="GLOB",
            help=f"not {meta} matching",
        )
    add(
        "-j",
        "--parallel",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"downloads at once (default: {DEFAULT_WORKERS})",
    )
    add(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help=(
            "download in N processes, -j split between them (default: 1; the listing, "
            "the manifest and the lock stay in this process; not with an s3:// DEST)"
        ),
    )
    add(
        "--listers",
        type=int,
        default=DEFAULT_LISTERS,
        metavar="N",
        help=f"API listings at once (default: {DEFAULT_LISTERS})",
    )
    add(
        "--api-rate",
        type=float,
        default=DEFAULT_API_RATE,
        metavar="R",
        help=f"API requests per second, in bursts of at most R/2 (default: {DEFAULT_API_RATE:g})",
    )
    add(
        "--shard",
        metavar="K/N",
        help=(
            "take only shard K of N (0-based), split by pipeline, so that N machines share "
            f"the work; K may come from ${JOB_INDEX_ENV} (give N alone)"
        ),
    )
    add(
        "--rate-limiter",
        metavar="URL",
        help=(
            "share the --api-rate budget with every process using this Redis or Valkey "
            "(redis://HOST:PORT/DB); needs the cloud extra"
        ),
    )
    add("--dry-run", action="store_true", help="list what would be downloaded; write nothing")
    add("--verify", action="store_true", help="hash files recorded complete before skipping them")
    add(
        "--rebuild-manifest",
        action="store_true",
        help=f"move {MANIFEST_NAME} aside (kept) and rebuild it from the files in DIR",
    )
    add(
        "--wait-lock",
        action="store_true",
        help="if another run is writing into DIR, wait for it instead of exiting",
    )
    add(
        "--artifact-host",
        action="append",
        default=[],
        metavar="HOST",
        help=f"another origin that may receive the token; also ${ARTIFACT_HOSTS_ENV}",
    )
    parser.set_defaults(func=run)


def api_limits(rate: float) -> Limits:
    """The client's budget for ``--api-rate``: bursts of half a second's worth.

    A server whose bucket holds a second's worth then keeps half a second of
    slack, so latency jitter never turns matching rates into 429s.
    """
    if not rate > 0 or math.isinf(rate):
        raise CLIError(f"--api-rate must be a positive number, not {rate:g}")
    return Limits(
        rate=rate,
        burst=max(1, math.ceil(rate / 2)),
        max_in_flight=DEFAULT_LIMITS.max_in_flight,
        max_connections_per_host=DEFAULT_LIMITS.max_connections_per_host,
    )


def check_dest(dest: str, *, create: bool) -> None:
    """Fail in one line now if DEST cannot be a writable directory."""
    path = Path(dest)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--dest {dest} is not a directory")
    if not create:
        for parent in path.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise CLIError(f"--dest {dest} cannot be created: {parent} is not a directory")
                break
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".aiocircleci-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CLIError(f"--dest {dest} is not writable: {reason}") from exc


def _selection(args: argparse.Namespace) -> Selection:
    now = datetime.now(UTC)
    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        text = getattr(args, name)
        try:
            moments[name] = None if text is None else parse_time(text, now=now)
        except ValueError as exc:
            raise CLIError(f"--{name}: {exc}") from exc
    try:
        return Selection(
            branches=tuple(args.branch),
            since=moments["since"],
            until=moments["until"],
            pipeline_numbers=tuple(args.pipeline),
            latest=args.latest,
            workflow_statuses=frozenset(args.status),
            workflows=Globs(tuple(args.workflow), tuple(args.exclude_workflow)),
            jobs=Globs(tuple(args.job), tuple(args.exclude_job)),
            artifacts=Globs(tuple(args.artifact), tuple(args.exclude_artifact)),
            shard=_shard(args.shard),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc


def _shard(text: str | None) -> Shard | None:
    if text is None:
        return None
    try:
        return parse_shard(text, job_index=from_env().job_index)
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from None


def _rate_limiter(url: str | None, limits: Limits) -> RedisRateLimiter | None:
    if url is None:
        return None
    try:
        return RedisRateLimiter(url, limits.rate, limits.burst)
    except ConfigurationError as exc:
        raise CLIError(str(exc)) from None


def _artifact_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    # $CIRCLECI_ARTIFACT_HOSTS is read with the rest of the environment (from_env).
    return tuple(args.artifact_host)


def stats_line(client: Client, report: MirrorReport | None = None) -> str:
    """API requests, 429s, retries and any cool-down, for the live display and the summary."""
    stats = client.stats
    text = (
        f"{stats.requests} requests, {stats.rate_limited} rate-limited (429), "
        f"{stats.retries} retries"
    )
    if report is not None:
        text += f"; {report.pipelines} pipelines, {report.jobs} jobs"
    cooldown = client.limiter.cooldown_remaining()
    if cooldown > 0:
        text += f"; cooling down {cooldown:.1f} s"
    return text


def _store_options(args: argparse.Namespace) -> StoreURL | None:
    """The object-store DEST, if it is one, with the options that only a directory takes refused."""
    url = store_dest(args.dest)
    if url is None:
        return None
    for flag, given in (
        ("--dry-run", args.dry_run),
        ("--verify", args.verify),
        ("--rebuild-manifest", args.rebuild_manifest),
        ("--wait-lock", args.wait_lock),
        ("--processes", args.processes != 1),
    ):
        if given:
            raise CLIError(f"{flag} applies to a local DEST, not to an object store ({url})")
    return url


def run(args: argparse.Namespace) -> int:
    url = _store_options(args)
    if not args.slugs and not args.org:
        raise CLIError("name at least one project SLUG or --org ORG")
    for slug in args.slugs:
        try:
            ProjectSlug.parse(slug)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    if args.parallel < 1 or args.listers < 1:
        raise CLIError("-j and --listers must be at least 1")
    if args.processes < 1:
        raise CLIError("--processes must be at least 1")
    if args.rebuild_manifest and args.dry_run:
        raise CLIError("--rebuild-manifest writes the manifest; it cannot go with --dry-run")
    if args.pipeline and args.org:
        raise CLIError("--pipeline needs project slugs, not --org")
    selection = _selection(args)
    limits = api_limits(args.api_rate)
    shared = _rate_limiter(args.rate_limiter, limits)
    token = require_token(args)
    # A dry run prints its plan; per-file lines would only repeat it.
    display = ProgressDisplay(
        sys.stderr, quiet=args.quiet or args.json or args.dry_run, verbose=args.verbose > 0
    )
    listing_failures: list[str] = []
    live: dict[str, Any] = {}

    def on_event(event: MirrorEvent) -> None:
        if isinstance(event, ManifestRebuilt):
            # Always said, even with -q or --json: the user's record of DEST changed.
            display.stream.write(_clean(event.line()) + "\n")
            return
        if isinstance(event, ListingFailed):
            line = f"failed {event.failure.what}: {event.failure.reason}"
            listing_failures.append(line)
            if display.mode is DisplayMode.PLAIN:
                display.stream.write(_clean(line) + "\n")
            return
        if not isinstance(event, _MIRROR_ONLY):
            display(event)

    def live_stats() -> str | None:
        client, mirror = live.get("client"), live.get("mirror")
        return None if client is None else stats_line(client, mirror.report if mirror else None)

    display.stats = live_stats

    async def main() -> MirrorReport:
        async with contextlib.AsyncExitStack() as stack:
            limiter = None if shared is None else await stack.enter_async_context(shared)
            return await mirror_with(limiter)

    async def mirror_with(limiter: Limiter | None) -> MirrorReport:
        client = make_client(
            args,
            token=token,
            limits=limits,
            artifact_hosts=_artifact_hosts(args),
            limiter=limiter,
        )
        async with client:
            # Pre-flight, before DEST is touched: a wrong token or an unknown
            # project fails in one line and leaves nothing behind.
            await client.me()
            for slug in args.slugs:
                try:
                    await client.get_project(slug)
                except NotFound:
                    raise CLIError(
                        f"unknown project {slug}: not found, or the token cannot see it"
                    ) from None
            if url is not None:
                return await store_mirror(client, url)
            await anyio.to_thread.run_sync(
                functools.partial(check_dest, args.dest, create=not args.dry_run)
            )
            mirror = Mirror(
                client,
                args.dest,
                selection=selection,
                workers=args.parallel,
                listers=args.listers,
                dry_run=args.dry_run,
                verify=args.verify,
                on_event=on_event,
                wait_lock=args.wait_lock,
                rebuild_manifest=args.rebuild_manifest,
                # Results come back to this process: the manifest keeps one writer.
                downloader_options={"processes": args.processes},
            )
            live["client"], live["mirror"] = client, mirror
            async with mirror:
                await mirror.run(args.slugs, orgs=args.org)
            live["final"] = stats_line(client, mirror.report)
        return mirror.report

    async def store_mirror(client: Client, url: StoreURL) -> MirrorReport:
        mirror = StoreMirror(
            client,
            url,
            StoreSettings.from_env(),
            selection=selection,
            workers=args.parallel,
            listers=args.listers,
            artifact_hosts=_artifact_hosts(args),
            on_event=on_event,
        )
        live["client"], live["mirror"] = client, mirror
        async with mirror:
            await mirror.run(args.slugs, orgs=args.org)
        live["final"] = stats_line(client, mirror.report)
        return mirror.report

    with display:
        report = run_async(main)
    if args.json:
        emit_json(report_json(report))
    elif args.dry_run:
        _print_plan(report)
    elif not args.quiet or not report.ok:
        print_summary(report.downloads(), sys.stderr, stats=lambda: live.get("final"))
    if listing_failures and not args.json:
        sys.stderr.write("failed listings:\n")
        for line in listing_failures:
            sys.stderr.write(_clean(f"  {line}") + "\n")
    return EXIT_OK if report.ok else EXIT_FAILED


def _print_plan(report: MirrorReport) -> None:
    for planned in report.planned:
        sys.stdout.write(_clean(planned.path) + "\n")
    sys.stdout.flush()
    unknown = sum(1 for p in report.planned if p.size is None)
    known = len(report.planned) - unknown
    sizes = f"{format_bytes(report.planned_bytes)} known for {known}" if known else "sizes unknown"
    if known and unknown:
        sizes += f", unknown for {unknown}"
    sys.stderr.write(
        f"would download {len(report.planned)} files ({sizes}); "
        f"{report.files_skipped} already complete; {report.files_failed} cannot be; "
        f"{report.pipelines} pipelines, {report.jobs} jobs, {report.requests} API requests\n"
    )
    for result in report.failed:
        where = result.path or result.request.path
        sys.stderr.write(_clean(f"  cannot download {where}: {result.reason}") + "\n")


def report_json(report: MirrorReport) -> dict[str, object]:
    body: dict[str, object] = {
        "ok": report.ok,
        "dest": report.dest,
        "dry_run": report.dry_run,
        "files": {
            "done": report.files_done,
            "skipped": report.files_skipped,
            "failed": report.files_failed,
        },
        "bytes": report.bytes,
        "seconds": round(report.seconds, 3),
        "pipelines": report.pipelines,
        "workflows": report.workflows,
        "jobs": report.jobs,
        "api": {
            "requests": report.requests,
            "retries": report.retries,
            "rate_limited": report.rate_limited,
        },
        "failed": [
            {
                "path": r.path or r.request.path,
                "url": redact_url(r.request.url),
                "error": r.reason,
            }
            for r in report.failed
        ],
        "listing_failures": [{"what": f.what, "error": f.reason} for f in report.listing_failures],
    }
    if report.manifest_rebuilt is not None:
        body["manifest_rebuilt"] = {
            "reason": report.manifest_rebuilt.reason,
            "moved_to": report.manifest_rebuilt.moved_to,
            "files": report.manifest_rebuilt.files,
        }
    if report.dry_run:
        body["planned"] = [
            {"path": p.path, "url": p.url, "status": p.status, "size": p.size}
            for p in report.planned
        ]
        body["planned_bytes"] = report.planned_bytes
    return body
