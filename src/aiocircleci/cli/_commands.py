"""The small commands: ``pipelines``, ``workflows``, ``jobs``, ``artifacts``, ``trigger``,
``insights`` and ``me``.

Each prints an aligned table on stdout (or, with ``--json``, the API's values as
one JSON document) and lets the CLI boundary turn errors into one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, get_args

import anyio

from .._api.insights import ReportingWindow
from .._lock import DestLock
from .._selection import FINISHED_WORKFLOW_STATUSES
from ..client import Client
from ..download import Downloader, DownloadRequest
from ..models import PipelineState, Workflow, WorkflowStatus
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    emit_json,
    make_client,
    run_async,
)
from ._download import ARTIFACT_HOSTS_ENV
from ._progress import ProgressDisplay, print_summary
from ._text import clean as _clean

__all__ = ["parse_param", "register"]

T = TypeVar("T")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    def add(name: str, help: str, func: Callable[[argparse.Namespace], int]) -> Any:
        parser = subparsers.add_parser(name, parents=parents, help=help, description=help)
        parser.set_defaults(func=func)
        return parser

    p = add("pipelines", "list a project's pipelines, newest first", _pipelines)
    p.add_argument("slug", metavar="SLUG", help="project slug, such as gh/my-org/my-repo")
    p.add_argument("--branch", help="only this branch")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default: 20)")

    p = add("workflows", "list the workflows of a pipeline", _workflows)
    p.add_argument("pipeline_id", metavar="PIPELINE_ID")

    p = add("jobs", "list the jobs of a workflow", _jobs)
    p.add_argument("workflow_id", metavar="WORKFLOW_ID")

    p = add("artifacts", "list (or download) the artifacts of a job", _artifacts)
    p.add_argument("slug", metavar="SLUG")
    p.add_argument("job_number", type=int, metavar="JOB_NUMBER")
    p.add_argument("--download", metavar="DIR", help="download them into DIR/<node>/<path>")
    p.add_argument("-j", "--parallel", type=int, default=8, metavar="N", help="downloads at once")
    p.add_argument(
        "--artifact-host",
        action="append",
        default=[],
        metavar="HOST",
        help=f"another origin that may receive the token; also ${ARTIFACT_HOSTS_ENV}",
    )

    p = add("trigger", "trigger a pipeline, and optionally wait for its workflows", _trigger)
    p.add_argument("slug", metavar="SLUG")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--branch", help="the branch to build (default: the project's default)")
    ref.add_argument("--tag", help="the tag to build")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="a pipeline parameter (true/false and integers are typed)",
    )
    p.add_argument("--wait", action="store_true", help="wait until every workflow has finished")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S", help="give up after S s")
    p.add_argument("--interval", type=float, default=5.0, metavar="S", help="poll every S s")

    p = add("insights", "summary metrics of a project's workflows", _insights)
    p.add_argument("slug", metavar="SLUG")
    p.add_argument("--branch", help="only this branch (default: the default branch)")
    p.add_argument(
        "--window",
        choices=get_args(ReportingWindow),
        default="last-30-days",
        help="reporting window (default: %(default)s)",
    )

    add("me", "the user the token belongs to", _me)


def parse_param(text: str) -> tuple[str, str | int | bool]:
    """``key=value``; ``true``/``false`` become booleans and integers integers."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    typed: str | int | bool = value
    if value.lower() in ("true", "false"):
        typed = value.lower() == "true"
    elif value.lstrip("-").isdigit():
        typed = int(value)
    return key.strip(), typed


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_clean("-" if v is None else _text(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    out = sys.stdout
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.flush()


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _client_run(
    args: argparse.Namespace, body: Callable[[Client], Awaitable[T]], **kwargs: Any
) -> T:
    async def main() -> T:
        async with make_client(args, **kwargs) as client:
            return await body(client)

    return run_async(main)


# ---------------------------------------------------------------- listings


def _pipelines(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CLIError("--limit must be at least 1")

    async def body(client: Client) -> Any:
        return await client.pipelines(args.slug, branch=args.branch, limit=args.limit).collect()

    pipelines = _client_run(args, body)
    if args.json:
        emit_json(pipelines)
        return EXIT_OK
    rows = []
    for p in pipelines:
        ref = None
        if p.vcs is not None:
            ref = p.vcs.branch if p.vcs.branch is not None else f"tag {p.vcs.tag}"
        rows.append((p.number, p.state.value, ref, p.created_at, p.id))
    _table(("NUMBER", "STATE", "BRANCH", "CREATED (UTC)", "ID"), rows)
    return EXIT_OK


def _workflows(args: argparse.Namespace) -> int:
    async def body(client: Client) -> Any:
        return await client.pipeline_workflows(args.pipeline_id).collect()

    workflows = _client_run(args, body)
    if args.json:
        emit_json(workflows)
        return EXIT_OK
    rows = [(w.name, w.status.value, w.created_at, w.stopped_at, w.id) for w in workflows]
    _table(("NAME", "STATUS", "CREATED (UTC)", "STOPPED (UTC)", "ID"), rows)
    return EXIT_OK


def _jobs(args: argparse.Namespace) -> int:
    async def body(client: Client) -> Any:
        return await client.workflow_jobs(args.workflow_id).collect()

    jobs = _client_run(args, body)
    if args.json:
        emit_json(jobs)
        return EXIT_OK
    rows = [(j.job_number, j.name, j.type.value, j.status.value, j.id) for j in jobs]
    _table(("NUMBER", "NAME", "TYPE", "STATUS", "ID"), rows)
    return EXIT_OK


def _artifacts(args: argparse.Namespace) -> int:
    from ._mirror import _artifact_hosts, check_dest

    if args.parallel < 1:
        raise CLIError("-j must be at least 1")
    hosts = _artifact_hosts(args)
    if args.download is None:

        async def listing(client: Client) -> Any:
            return await client.job_artifacts(args.slug, args.job_number).collect()

        artifacts = _client_run(args, listing, artifact_hosts=hosts)
        if args.json:
            emit_json(artifacts)
        else:
            _table(("NODE", "PATH", "URL"), [(a.node_index, a.path, a.url) for a in artifacts])
        return EXIT_OK

    check_dest(args.download, create=True)
    display = ProgressDisplay(sys.stderr, quiet=args.quiet or args.json, verbose=args.verbose > 0)

    async def download(client: Client) -> Any:
        lock = DestLock(args.download)
        downloader = Downloader.from_client(
            client,
            args.download,
            workers=args.parallel,
            subscribers=display.subscribers,
            run_id=lock.run_id,
        )
        # One writer per DEST, as for `download` and `mirror`.
        async with lock, downloader:
            async for artifact in client.job_artifacts(args.slug, args.job_number):
                path = f"{artifact.node_index}/{artifact.path.lstrip('/')}"
                await downloader.submit(DownloadRequest(artifact.url, path))
        return downloader.report

    with display:
        report = _client_run(args, download, artifact_hosts=hosts)
    if args.json:
        emit_json(
            {
                "done": [{"path": r.path, "size": r.size, "sha256": r.sha256} for r in report.done],
                "skipped": [r.path for r in report.skipped],
                "failed": [{"path": r.path, "error": r.reason} for r in report.failed],
                "bytes": report.bytes,
            }
        )
    elif not args.quiet or report.failed:
        print_summary(report, sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


# ---------------------------------------------------------------- trigger


def _trigger(args: argparse.Namespace) -> int:
    if args.interval <= 0 or args.timeout <= 0:
        raise CLIError("--interval and --timeout must be positive")
    parameters = dict(args.param)

    async def body(client: Client) -> tuple[Any, list[Workflow] | None]:
        created = await client.trigger_pipeline(
            args.slug, branch=args.branch, tag=args.tag, parameters=parameters or None
        )
        if not args.json:
            print(
                f"pipeline #{created.number} {created.id} {created.state or 'unknown'}", flush=True
            )
        if not args.wait:
            return created, None
        return created, await _wait(client, created.id, args)

    created, workflows = _client_run(args, body)
    if args.json:
        emit_json({"pipeline": created, "workflows": workflows})
    if workflows is None:
        return EXIT_OK
    return EXIT_OK if all(w.status is WorkflowStatus.SUCCESS for w in workflows) else EXIT_FAILED


async def _wait(client: Client, pipeline_id: str, args: argparse.Namespace) -> list[Workflow]:
    """Poll until every workflow of the pipeline has finished; print each change of status."""
    deadline = time.monotonic() + args.timeout
    shown: dict[str, str] = {}
    while True:
        workflows = await client.pipeline_workflows(pipeline_id).collect()
        for workflow in workflows:
            status = str(workflow.status or "unknown")
            if shown.get(workflow.id) != status and not args.json:
                print(f"workflow {_clean(workflow.name)}: {status}", flush=True)
            shown[workflow.id] = status
        if workflows and all(w.status in FINISHED_WORKFLOW_STATUSES for w in workflows):
            return workflows
        if not workflows:
            pipeline = await client.get_pipeline(pipeline_id)
            if pipeline.state is PipelineState.ERRORED:
                reasons = "; ".join(e.message or "" for e in pipeline.errors) or "no reason given"
                raise CLIError(f"the pipeline errored: {reasons}", EXIT_FAILED)
        if time.monotonic() + args.interval > deadline:
            raise CLIError(
                f"timed out after {args.timeout:g} s; workflows still running: "
                + (
                    ", ".join(
                        w.name for w in workflows if w.status not in FINISHED_WORKFLOW_STATUSES
                    )
                    or "none yet"
                ),
                EXIT_FAILED,
            )
        await anyio.sleep(args.interval)


# ---------------------------------------------------------------- insights, me


def _insights(args: argparse.Namespace) -> int:
    async def body(client: Client) -> Any:
        return await client.workflow_metrics(
            args.slug, branch=args.branch, reporting_window=args.window
        ).collect()

    summaries = _client_run(args, body)
    if args.json:
        emit_json(summaries)
        return EXIT_OK
    rows = []
    for s in summaries:
        m = s.metrics
        d = m.duration_metrics
        rows.append(
            (
                s.name,
                m.total_runs,
                f"{m.success_rate * 100:.0f}%",
                d.median,
                d.p95,
                m.total_credits_used,
            )
        )
    _table(("WORKFLOW", "RUNS", "SUCCESS", "MEDIAN S", "P95 S", "CREDITS"), rows)
    return EXIT_OK


def _me(args: argparse.Namespace) -> int:
    async def body(client: Client) -> Any:
        return await client.me()

    user = _client_run(args, body)
    if args.json:
        emit_json(user)
    else:
        print(_clean(f"{user.login} ({user.name}) {user.id}"))
    return EXIT_OK
