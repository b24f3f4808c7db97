"""Listing: API responses become job records, without touching the disk.

A pipeline of stages joined by bounded memory object streams, in the caller's
task group: pipelines (newest first, one lister per project and branch, or per
organization) → workflows and their jobs (``listers // 4`` tasks) → the
caller's job workers, which ask ``artifacts`` for each job's artifact list.
Approval jobs and jobs without a number are skipped, and a job reached through
a rerun workflow is taken once (through the oldest workflow that lists it).
Listings of finished workflows and jobs are kept in the manifest and not
requested again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._manifest import Manifest
from .._pagination import PageIterator
from .._selection import (
    FINISHED_JOB_STATUSES,
    FINISHED_WORKFLOW_STATUSES,
    Selection,
    in_window,
    pipeline_branch,
)
from .._slug import ProjectSlug
from ..errors import (
    CircleCIError,
    ConfigurationError,
    DecodeError,
    DiskError,
    Forbidden,
    Unauthorized,
)
from ..models import Artifact, Job, Pipeline, Workflow
from ._planning import JobWork
from ._report import MirrorEvent, MirrorReport, PipelineSelected

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["FATAL", "Lister", "org_slug", "targets"]

FATAL = (Unauthorized, Forbidden, ConfigurationError, DiskError)
_JOBS = msgspec.json.Decoder(list[Job])
_ARTIFACTS = msgspec.json.Decoder(list[Artifact])


class Lister:
    """The listing stages of one mirror run; counts go into ``report``, events to ``emit``,
    failed listings to ``listing_failed`` (which raises for the fatal ones)."""

    def __init__(
        self,
        client: Client,
        selection: Selection,
        manifest: Manifest,
        report: MirrorReport,
        *,
        listers: int,
        dry_run: bool,
        emit: Callable[[MirrorEvent], None],
        listing_failed: Callable[[str, CircleCIError], None],
    ) -> None:
        self.client = client
        self.selection = selection
        self.manifest = manifest
        self.report = report
        self.dry_run = dry_run
        self._listers = listers
        self._emit = emit
        self._listing_failed = listing_failed
        self._pipelines_seen: set[str] = set()

    async def for_each_job(
        self,
        projects: list[ProjectSlug],
        orgs: list[str],
        since: datetime | None,
        until: datetime | None,
        job: Callable[[JobWork], Awaitable[None]],
    ) -> None:
        """List the selection and await ``job`` for each selected job, ``listers`` at a time."""
        jobs_send, jobs_receive = anyio.create_memory_object_stream[JobWork](2 * self._listers)
        async with anyio.create_task_group() as tg:
            with jobs_receive:
                self.start(tg, projects, orgs, since, until, jobs_send)
                for _ in range(self._listers):
                    tg.start_soon(_each, jobs_receive.clone(), job)

    def start(
        self,
        tg: TaskGroup,
        projects: list[ProjectSlug],
        orgs: list[str],
        since: datetime | None,
        until: datetime | None,
        jobs: MemoryObjectSendStream[JobWork],
    ) -> None:
        """Start the listing tasks in ``tg``; each selected job goes to ``jobs``
        (closed when the listing is done)."""
        selection = self.selection
        pipelines_send, pipelines_receive = anyio.create_memory_object_stream[Pipeline](
            self._listers
        )
        with pipelines_send, pipelines_receive, jobs:
            for project in projects:
                if selection.pipeline_numbers:
                    tg.start_soon(
                        self._numbered_pipelines, project, since, until, pipelines_send.clone()
                    )
                    continue
                for branch in selection.branches or (None,):
                    tg.start_soon(
                        self._project_pipelines,
                        project,
                        branch,
                        since,
                        until,
                        pipelines_send.clone(),
                    )
            for org in orgs:
                tg.start_soon(self._org_pipelines, org, since, until, pipelines_send.clone())
            for _ in range(max(1, self._listers // 4)):
                tg.start_soon(self._pipeline_worker, pipelines_receive.clone(), jobs.clone())

    # -- stage 1: pipelines

    async def _numbered_pipelines(
        self,
        project: ProjectSlug,
        since: datetime | None,
        until: datetime | None,
        send: MemoryObjectSendStream[Pipeline],
    ) -> None:
        with send:
            for number in self.selection.pipeline_numbers:
                pipeline = await self.client.get_pipeline_by_number(project, number)
                if self.selection.takes_pipeline_branch(pipeline) and in_window(
                    pipeline.created_at, since, until
                ):
                    await self._pipeline_selected(pipeline, send)

    async def _project_pipelines(
        self,
        project: ProjectSlug,
        branch: str | None,
        since: datetime | None,
        until: datetime | None,
        send: MemoryObjectSendStream[Pipeline],
    ) -> None:
        what = f"pipelines of {project}" + (f" on {branch}" if branch else "")
        with send:
            await self._walk_pipelines(
                self.client.pipelines(project, branch=branch).pages(),
                what,
                since,
                until,
                send,
                one=self.selection.latest and branch is not None,
            )

    async def _org_pipelines(
        self,
        org: str,
        since: datetime | None,
        until: datetime | None,
        send: MemoryObjectSendStream[Pipeline],
    ) -> None:
        with send:
            await self._walk_pipelines(
                self.client.org_pipelines(org).pages(), f"pipelines of {org}", since, until, send
            )

    async def _walk_pipelines(
        self,
        pages: PageIterator[Pipeline],
        what: str,
        since: datetime | None,
        until: datetime | None,
        send: MemoryObjectSendStream[Pipeline],
        *,
        one: bool = False,
    ) -> None:
        """Newest first; stop at the first pipeline older than ``since``, fetching no more pages."""
        selection = self.selection
        latest: set[tuple[str, str | None, str | None]] = set()
        fetched = 0
        try:
            async with aclosing(pages) as listing:
                async for page in listing:
                    fetched += 1
                    for pipeline in page.items:
                        if since is not None and pipeline.created_at < since:
                            return
                        if until is not None and pipeline.created_at >= until:
                            continue
                        if not selection.takes_pipeline_branch(pipeline):
                            continue
                        if selection.latest:
                            tag = pipeline.vcs.tag if pipeline.vcs is not None else None
                            key = (pipeline.project_slug, pipeline_branch(pipeline), tag)
                            if key in latest:
                                continue
                            latest.add(key)
                        await self._pipeline_selected(pipeline, send)
                        if one:
                            return
        except CircleCIError as exc:
            if fetched == 0 or isinstance(exc, FATAL):
                raise  # an unknown project or a refused token: nothing useful can follow
            self._listing_failed(f"{what} after page {fetched}", exc)

    async def _pipeline_selected(
        self, pipeline: Pipeline, send: MemoryObjectSendStream[Pipeline]
    ) -> None:
        if pipeline.id in self._pipelines_seen or not self.selection.takes_pipeline_shard(pipeline):
            return
        self._pipelines_seen.add(pipeline.id)
        try:
            ProjectSlug.parse(pipeline.project_slug)
        except ValueError as exc:
            # One odd pipeline fails alone: its files are missing, the rest goes on.
            self._listing_failed(
                f"pipeline #{pipeline.number} ({pipeline.id})",
                DecodeError(f"its project_slug {pipeline.project_slug!r} does not parse: {exc}"),
            )
            return
        self.report.pipelines += 1
        self._emit(PipelineSelected(pipeline))
        await send.send(pipeline)

    # -- stage 2: workflows and their jobs

    async def _pipeline_worker(
        self,
        receive: MemoryObjectReceiveStream[Pipeline],
        send: MemoryObjectSendStream[JobWork],
    ) -> None:
        with receive, send:
            async for pipeline in receive:
                await self._pipeline(pipeline, send)

    async def _pipeline(self, pipeline: Pipeline, send: MemoryObjectSendStream[JobWork]) -> None:
        try:
            workflows = await self.client.pipeline_workflows(pipeline.id).collect()
        except CircleCIError as exc:
            self._listing_failed(
                f"workflows of {pipeline.project_slug} pipeline #{pipeline.number}", exc
            )
            return
        chosen = sorted(
            (w for w in workflows if self.selection.takes_workflow(w)),
            key=lambda w: (w.created_at, w.id),
        )
        self.report.workflows += len(chosen)
        jobs: list[list[Job] | None] = [None] * len(chosen)
        async with anyio.create_task_group() as tg:
            for index, workflow in enumerate(chosen):
                tg.start_soon(self._list_jobs, pipeline, workflow, jobs, index)
        # Oldest workflow first: a job a rerun lists again keeps its first directory.
        # Reruns stay inside their pipeline, so the jobs seen are the pipeline's only.
        jobs_seen: set[int] = set()
        for workflow, listed in zip(chosen, jobs, strict=True):
            for job in listed or ():
                if not self.selection.takes_job(job):
                    continue
                assert job.job_number is not None
                if job.job_number in jobs_seen:
                    continue
                jobs_seen.add(job.job_number)
                self.report.jobs += 1
                await send.send(JobWork(pipeline, workflow, job))

    async def _list_jobs(
        self, pipeline: Pipeline, workflow: Workflow, out: list[list[Job] | None], index: int
    ) -> None:
        key = f"jobs:{workflow.id}"
        finished = workflow.status in FINISHED_WORKFLOW_STATUSES
        if finished:
            cached = await self.manifest.listing(key)
            if cached is not None:
                out[index] = _JOBS.decode(cached)
                return
        try:
            jobs = await self.client.workflow_jobs(workflow.id).collect()
        except CircleCIError as exc:
            self._listing_failed(
                f"jobs of workflow {workflow.name} of {pipeline.project_slug} "
                f"pipeline #{pipeline.number}",
                exc,
            )
            return
        if finished and not self.dry_run:
            self.manifest.store_listing(key, msgspec.json.encode(jobs))
        out[index] = jobs

    # -- stage 3: a job's artifacts

    async def cached_artifacts(self, work: JobWork) -> list[Artifact] | None:
        """A finished job's artifact list as an earlier run stored it, or ``None``."""
        if work.job.status not in FINISHED_JOB_STATUSES:
            return None
        cached = await self.manifest.listing(_artifacts_key(work))
        return None if cached is None else _ARTIFACTS.decode(cached)

    async def artifacts(self, work: JobWork) -> list[Artifact] | None:
        """The job's artifact list from the API (kept when the job is finished), or
        ``None`` when the listing failed (reported)."""
        try:
            artifacts = await self.client.job_artifacts(work.slug, work.number).collect()
        except CircleCIError as exc:
            self._listing_failed(f"artifacts of {work.describe()}", exc)
            return None
        if work.job.status in FINISHED_JOB_STATUSES and not self.dry_run:
            self.manifest.store_listing(_artifacts_key(work), msgspec.json.encode(artifacts))
        return artifacts


def _artifacts_key(work: JobWork) -> str:
    return f"artifacts:{work.slug}:{work.number}"


async def _each(
    receive: MemoryObjectReceiveStream[JobWork], job: Callable[[JobWork], Awaitable[None]]
) -> None:
    with receive:
        async for work in receive:
            await job(work)


def targets(
    slugs: Iterable[str | ProjectSlug], orgs: Iterable[str], selection: Selection
) -> tuple[list[ProjectSlug], list[str]]:
    """The projects and organizations a run names, checked before any request.

    Raises ``ValueError`` for a malformed slug, for nothing named, and for
    pipeline numbers asked of an organization.
    """
    if isinstance(slugs, str | ProjectSlug):
        slugs = [slugs]
    if isinstance(orgs, str):
        orgs = [orgs]
    projects = list(dict.fromkeys(ProjectSlug.parse(s) for s in slugs))
    org_slugs = list(dict.fromkeys(org_slug(o) for o in orgs))
    if not projects and not org_slugs:
        raise ValueError("nothing to mirror: name a project slug or an organization")
    if selection.pipeline_numbers and org_slugs:
        raise ValueError("pipeline numbers need project slugs, not an organization")
    return projects, org_slugs


def org_slug(org: str) -> str:
    value = org.strip().strip("/")
    if value.count("/") != 1 or not all(value.split("/")):
        raise ValueError(f"invalid organization {org!r}: expected VCS/ORG, such as gh/my-org")
    return value
