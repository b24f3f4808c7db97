"""Mirror every artifact of chosen pipelines to disk: fast, under the rate limit, incrementally.

::

    async with Client() as client:
        report = await mirror_artifacts(
            client,
            ["gh/my-org/my-repo"],
            "mirror",
            selection=Selection(branches=("main",), since=timedelta(days=7)),
        )
    print(report.summary())

Listing is a pipeline of stages joined by bounded memory object streams, all in
one task group: pipelines (newest first, one lister per project and branch, or
per organization) → workflows and their jobs (``listers // 4`` tasks) →
artifacts (``listers`` tasks). Every API call passes the client's limiter, so the
stages share one request budget and keep it busy. Each artifact goes to the
downloader as soon as its job's listing arrives, so downloads start within the
first few requests. Approval jobs and jobs without a number are skipped, and a
job reached through a rerun workflow is taken once (through the oldest workflow
that lists it).

Files land in ``DEST/<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<workflow-id8>/``
``<job-name>-<job-number>/<node_index>/<path>``. Names from the API are
sanitised like artifact paths (``/`` in a name becomes ``_``), and two artifacts
of a job whose paths would collide get distinct names (``name~2.ext``).

``DEST/.aiocircleci-manifest.sqlite`` (see ``_manifest``) records every file.
A file whose row says complete and whose size on disk matches is skipped without
any request; a finished job whose files are all complete is not even listed
again, nor are the jobs of a finished workflow. Files cut short by a crash are
resumed by the downloader from their ``.part``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlsplit

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._fs import DestDir, Kind, describe_kind
from ._http import redact_url
from ._lock import DestLock
from ._manifest import COMPLETE, FAILED, MANIFEST_NAME, Manifest, ManifestRow
from ._pagination import PageIterator
from ._paths import RESERVED_SUFFIXES, PathClaims, safe_relpath
from ._selection import (
    FINISHED_JOB_STATUSES,
    FINISHED_WORKFLOW_STATUSES,
    Globs,
    Selection,
    in_window,
    parse_time,
    pipeline_branch,
)
from ._slug import ProjectSlug
from .download import (
    DownloadDone,
    Downloader,
    DownloadEvent,
    DownloadFailed,
    DownloadQueued,
    DownloadReport,
    DownloadRequest,
    DownloadSkipped,
    FileResult,
    FileStatus,
)
from .errors import (
    CircleCIError,
    ConfigurationError,
    DecodeError,
    DiskError,
    Forbidden,
    Unauthorized,
    UnsafePath,
)
from .models import Artifact, Job, Pipeline, Workflow

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "DEFAULT_LISTERS",
    "DEFAULT_WORKERS",
    "MANIFEST_NAME",
    "FilePlanned",
    "Globs",
    "JobSelected",
    "ListingFailed",
    "ListingFailure",
    "ManifestRebuilt",
    "Mirror",
    "MirrorEvent",
    "MirrorReport",
    "PipelineSelected",
    "PlannedFile",
    "Selection",
    "job_directory",
    "mirror_artifacts",
    "parse_time",
]

DEFAULT_WORKERS: Final = 16  # downloads at once
DEFAULT_LISTERS: Final = 16  # artifact listers; a quarter as many pipeline listers
# The layout's depth above <node_index>: vcs, org, repo, pipeline, workflow, job.
_JOB_DEPTH: Final = 6
_FATAL = (Unauthorized, Forbidden, ConfigurationError, DiskError)
_JOBS = msgspec.json.Decoder(list[Job])
_ARTIFACTS = msgspec.json.Decoder(list[Artifact])


# ---------------------------------------------------------------- values and events


@dataclass(frozen=True, slots=True)
class ListingFailure:
    """A listing that failed after the client's retries; what it would have found is missing."""

    what: str
    error: CircleCIError

    @property
    def reason(self) -> str:
        return str(self.error)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedFile:
    """A file a dry run would download.

    ``size`` is known only from an earlier run's manifest (the API gives no
    sizes). ``status`` is ``new``, ``incomplete`` (a ``.part`` or a failed earlier
    try) or ``changed`` (recorded complete, but missing or different on disk).
    """

    path: str
    url: str
    status: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class PipelineSelected:
    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class JobSelected:
    pipeline: Pipeline
    workflow: Workflow
    job: Job


@dataclass(frozen=True, slots=True)
class FilePlanned:
    file: PlannedFile


@dataclass(frozen=True, slots=True)
class ListingFailed:
    failure: ListingFailure


@dataclass(frozen=True, slots=True)
class ManifestRebuilt:
    """The manifest was corrupt (or ``rebuild_manifest`` asked): the old file was moved
    to ``moved_to`` (kept, never deleted) and ``files`` rows were rebuilt from DEST.
    ``moved_to`` is ``None`` for a dry run, which moves and writes nothing."""

    reason: str
    moved_to: str | None
    files: int

    def line(self) -> str:
        if self.moved_to is None:
            return (
                f"the manifest is {self.reason}; it reads as empty now, and a run "
                "without --dry-run moves it aside and rebuilds it from the files in DEST"
            )
        return (
            f"the manifest was {self.reason}: kept it as {self.moved_to}, "
            f"rebuilt {self.files} rows from the files in DEST"
        )


MirrorEvent = (
    PipelineSelected | JobSelected | FilePlanned | ListingFailed | ManifestRebuilt | DownloadEvent
)
OnEvent = Callable[[MirrorEvent], None]


@dataclass(slots=True, kw_only=True)
class MirrorReport:
    """What a mirror run did.

    ``files_skipped`` counts files already complete in DEST. ``failed`` lists
    files that failed (with reasons), ``listing_failures`` the listings that did,
    and ``planned`` what a dry run would download. ``requests``, ``retries`` and
    ``rate_limited`` are the API requests this run made, retried, and got a 429 for.
    """

    dest: str
    dry_run: bool = False
    pipelines: int = 0
    workflows: int = 0
    jobs: int = 0
    files_done: int = 0
    files_skipped: int = 0
    failed: list[FileResult] = field(default_factory=list)
    listing_failures: list[ListingFailure] = field(default_factory=list)
    planned: list[PlannedFile] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    manifest_rebuilt: ManifestRebuilt | None = None

    @property
    def files_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no file and no listing failed."""
        return not self.failed and not self.listing_failures

    @property
    def planned_bytes(self) -> int:
        """Bytes of the planned files whose size is known."""
        return sum(p.size for p in self.planned if p.size is not None)

    def downloads(self) -> DownloadReport:
        """The file counts as a ``DownloadReport`` (what download summaries print)."""
        return DownloadReport(
            failed=list(self.failed),
            files_done=self.files_done,
            files_skipped=self.files_skipped,
            bytes=self.bytes,
            seconds=self.seconds,
        )

    def summary(self) -> str:
        listing = f", {len(self.listing_failures)} listings failed" if self.listing_failures else ""
        if self.dry_run:
            head = f"would download {len(self.planned)} files, {self.files_skipped} complete"
        else:
            head = self.downloads().summary()
        return (
            f"{head}; {self.pipelines} pipelines, {self.jobs} jobs; "
            f"{self.requests} API requests, {self.rate_limited} rate-limited{listing}"
        )


# ---------------------------------------------------------------- layout


def _name(text: str) -> str:
    """One path component from a name the API gave (workflow, job, slug segment)."""
    cleaned = text.replace("/", "_").replace("\\", "_")
    if cleaned.strip(".") == "":
        cleaned = cleaned.replace(".", "_") or "_"
    return str(safe_relpath(cleaned))


def job_directory(
    project_slug: str | ProjectSlug,
    pipeline_number: int,
    workflow_name: str,
    workflow_id: str,
    job_name: str,
    job_number: int,
) -> str:
    """``<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<id8>/<job-name>-<job-number>``"""
    slug = ProjectSlug.parse(project_slug)
    parts = (
        _name(slug.vcs),
        _name(slug.org),
        _name(slug.repo),
        str(int(pipeline_number)),
        _name(f"{workflow_name}-{workflow_id[:8]}"),
        _name(f"{job_name}-{int(job_number)}"),
    )
    return "/".join(parts)


def _row_from_layout(rel: str) -> ManifestRow | None:
    """The manifest row the layout implies for ``rel`` (``None``: not a mirrored file)."""
    parts = rel.split("/")
    if len(parts) <= _JOB_DEPTH + 1:
        return None
    vcs, org, repo, pipeline, workflow, job, node = parts[: _JOB_DEPTH + 1]
    workflow_name, _, workflow_id = workflow.rpartition("-")
    job_name, _, job_number = job.rpartition("-")
    if not (pipeline.isdigit() and node.isdigit() and job_number.isdigit() and workflow_name):
        return None
    return ManifestRow(
        path=rel,
        url="",
        size=None,
        sha256=None,
        status=COMPLETE,
        project_slug=f"{vcs}/{org}/{repo}",
        pipeline_id="",
        pipeline_number=int(pipeline),
        workflow_id=workflow_id,
        workflow_name=workflow_name,
        job_number=int(job_number),
        job_name=job_name,
        node_index=int(node),
        artifact_path="/".join(parts[_JOB_DEPTH + 1 :]),
    )


def files_on_disk(dest: str | os.PathLike[str], *, verify: bool = False) -> Iterator[ManifestRow]:
    """Manifest rows for the complete files under DEST's layout, read lazily from disk.

    Regular files only (``os.walk`` follows no symlink, and ``lstat`` decides);
    ``.part`` files and anything outside the layout are left out. ``verify``
    hashes each file (sha256); otherwise only sizes are recorded.
    """
    root = os.fspath(dest)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            continue  # DEST's own files: the manifest, the lock
        prefix = rel_dir.replace(os.sep, "/")
        for name in sorted(filenames):
            if name.endswith(RESERVED_SUFFIXES):
                continue
            row = _row_from_layout(f"{prefix}/{name}")
            if row is None:
                continue
            full = os.path.join(dirpath, name)
            try:
                found = os.lstat(full)
                if not stat.S_ISREG(found.st_mode):
                    continue
                size, sha = found.st_size, None
                if verify:
                    sha = _sha256_of(full)
            except OSError:
                continue  # gone meanwhile: the next run fetches it
            yield dataclasses.replace(row, size=size, sha256=sha)


@dataclass(slots=True)
class _JobWork:
    pipeline: Pipeline
    workflow: Workflow
    job: Job

    @property
    def slug(self) -> str:
        return self.pipeline.project_slug

    @property
    def number(self) -> int:
        assert self.job.job_number is not None
        return self.job.job_number

    def describe(self) -> str:
        return (
            f"job {self.job.name} #{self.number} of {self.slug} pipeline "
            f"#{self.pipeline.number} ({self.workflow.name})"
        )


@dataclass(slots=True)
class _Entry:
    work: _JobWork
    artifact: Artifact
    rel: str
    row: ManifestRow | None
    error: UnsafePath | None = None

    def row_for(self, **values: Any) -> ManifestRow:
        work, artifact = self.work, self.artifact
        return ManifestRow(
            path=self.rel,
            url=redact_url(artifact.url),
            project_slug=work.slug,
            pipeline_id=work.pipeline.id,
            pipeline_number=work.pipeline.number,
            workflow_id=work.workflow.id,
            workflow_name=work.workflow.name,
            job_number=work.number,
            job_name=work.job.name,
            node_index=artifact.node_index,
            artifact_path=artifact.path,
            **values,
        )


class _State(enum.Enum):
    """What an artifact's file on disk needs."""

    COMPLETE = "complete"  # recorded complete, same size (and hash) on disk: skip
    NEW = "new"  # never recorded complete: download (or resume its .part)
    MISSING = "missing"  # recorded complete, gone from disk: download again
    CHANGED = "changed"  # recorded complete, different on disk: replace
    UNSAFE = "unsafe"  # its path cannot be made safe: fail


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- the mirror


class Mirror:
    """Mirrors artifacts into ``dest``; an async context manager around ``run``.

    ::

        async with Mirror(client, "mirror", selection=Selection(latest=True)) as mirror:
            await mirror.run(["gh/org/repo"])
        print(mirror.report.summary())

    ``workers`` downloads run at once (the downloader's budget, apart from the
    API's); ``listers`` artifact listings may wait on the client's limiter at
    once, enough to keep the rate limit busy at high latency. ``artifact_hosts``
    are extra origins that may receive the token (exact origins such as
    ``http://127.0.0.1:8081`` or https host globs), besides the client's.
    ``dry_run`` lists without downloading or writing anything. ``verify`` hashes
    files recorded complete before skipping them. ``on_event`` receives every
    ``MirrorEvent`` on the event loop. ``now`` is the clock relative windows
    count back from. ``downloader_options`` go to ``Downloader`` (``retry``,
    ``timeout``, ``chunk_size``...). Leaving the block waits for the downloads,
    then commits the manifest.

    A run that writes holds DEST's lock (``_lock.DestLock``) from entering the
    block to leaving it: another run on the same DEST raises
    ``DestinationLocked`` on entering, or waits for it with ``wait_lock``.
    A corrupt manifest is moved aside and rebuilt from the files in DEST
    (sizes; sha256 too with ``verify``), and ``rebuild_manifest`` does so on
    request; a ``ManifestRebuilt`` event (and ``report.manifest_rebuilt``) says so.
    """

    def __init__(
        self,
        client: Client,
        dest: str | os.PathLike[str],
        *,
        selection: Selection | None = None,
        workers: int = DEFAULT_WORKERS,
        listers: int = DEFAULT_LISTERS,
        artifact_hosts: Iterable[str] = (),
        dry_run: bool = False,
        verify: bool = False,
        on_event: OnEvent | None = None,
        now: Callable[[], datetime] = _utc_now,
        downloader_options: Mapping[str, Any] | None = None,
        wait_lock: bool = False,
        rebuild_manifest: bool = False,
    ) -> None:
        if workers < 1 or listers < 1:
            raise ValueError("workers and listers must be at least 1")
        self.client = client
        self.dest = Path(dest)
        self.selection = selection if selection is not None else Selection()
        self._workers = workers
        self._listers = listers
        self._artifact_hosts = tuple(artifact_hosts)
        self.dry_run = dry_run
        self._verify = verify
        self._on_event = on_event
        self._now = now
        self._downloader_options = dict(downloader_options or {})
        self._lock = DestLock(self.dest, wait=wait_lock)
        self._rebuild_manifest = rebuild_manifest
        self.report = MirrorReport(dest=str(self.dest), dry_run=dry_run)
        self._manifest: Manifest | None = None
        self._root: DestDir | None = None
        self._downloader: Downloader | None = None
        self._stack: AsyncExitStack | None = None
        self._pending: dict[DownloadRequest, _Entry] = {}
        self._pipelines_seen: set[str] = set()
        self._jobs_seen: set[tuple[str, int]] = set()
        self._started = 0.0
        self._stats_before = (0, 0, 0)

    def __repr__(self) -> str:
        mode = " dry-run" if self.dry_run else ""
        return f"<Mirror dest={str(self.dest)!r} workers={self._workers}{mode}>"

    # -- lifecycle

    async def __aenter__(self) -> Self:
        stats = self.client.stats
        self._stats_before = (stats.requests, stats.retries, stats.rate_limited)
        self._started = time.perf_counter()
        async with AsyncExitStack() as stack:
            if not self.dry_run:
                try:
                    await anyio.to_thread.run_sync(
                        lambda: self.dest.mkdir(parents=True, exist_ok=True)
                    )
                except OSError as exc:
                    reason = exc.strerror or type(exc).__name__
                    raise DiskError(f"cannot create {self.dest}: {reason}") from exc
                await stack.enter_async_context(self._lock)
            if not self.dry_run or self.dest.is_dir():
                self._root = stack.enter_context(DestDir.open(self.dest))
            self._manifest = await stack.enter_async_context(
                Manifest(self.dest, read_only=self.dry_run, rebuild=self._rebuild_manifest)
            )
            await self._recover_manifest(self._manifest)
            if not self.dry_run:
                downloader = Downloader.from_client(
                    self.client,
                    self.dest,
                    artifact_hosts=self._artifact_hosts,
                    workers=self._workers,
                    subscribers=[self._on_download],
                    keep_results=False,
                    **self._downloader_options,
                )
                self._downloader = await stack.enter_async_context(downloader)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stack is not None
        try:
            await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            report = self.report
            if self._downloader is not None:
                report.bytes = self._downloader.report.bytes
            report.seconds = time.perf_counter() - self._started
            stats = self.client.stats
            before = self._stats_before
            report.requests = stats.requests - before[0]
            report.retries = stats.retries - before[1]
            report.rate_limited = stats.rate_limited - before[2]

    async def _recover_manifest(self, manifest: Manifest) -> None:
        """Rows for what DEST holds, when the manifest was moved aside (corrupt or on request)."""
        reason = "corrupt" if manifest.corrupt else "rebuilt on request"
        if manifest.moved_aside is not None:
            files = await manifest.record_all(files_on_disk(self.dest, verify=self._verify))
            event = ManifestRebuilt(reason, str(manifest.moved_aside), files)
        elif manifest.corrupt:
            event = ManifestRebuilt(reason, None, 0)
        else:
            return
        self.report.manifest_rebuilt = event
        self._emit(event)

    @property
    def run_id(self) -> str:
        """This run's id (``<pid>-<random>``), the owner recorded for what it writes."""
        return self._lock.run_id

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            raise RuntimeError("use the Mirror as an async context manager")
        return self._manifest

    # -- the run

    async def run(
        self, slugs: Iterable[str | ProjectSlug] = (), *, orgs: Iterable[str] = ()
    ) -> MirrorReport:
        """Mirror the selected artifacts of the projects ``slugs`` and of every project
        of the organizations ``orgs`` (``gh/my-org``). Returns the report so far;
        downloads finish when the ``Mirror`` block ends.

        Raises ``ValueError`` for a malformed slug or selection before any request,
        and the API's error when a project or organization is unknown (``NotFound``)
        or the token is refused. Other failed listings are reported, not raised.
        """
        if isinstance(slugs, str | ProjectSlug):
            slugs = [slugs]
        if isinstance(orgs, str):
            orgs = [orgs]
        projects = list(dict.fromkeys(ProjectSlug.parse(s) for s in slugs))
        org_slugs = list(dict.fromkeys(_org_slug(o) for o in orgs))
        if not projects and not org_slugs:
            raise ValueError("nothing to mirror: name a project slug or an organization")
        selection = self.selection
        if selection.pipeline_numbers and org_slugs:
            raise ValueError("pipeline numbers need project slugs, not an organization")
        since, until = selection.window(self._now())
        if self._manifest is None:
            raise RuntimeError("use the Mirror as an async context manager")

        pipelines_send, pipelines_receive = anyio.create_memory_object_stream[Pipeline](
            self._listers
        )
        jobs_send, jobs_receive = anyio.create_memory_object_stream[_JobWork](2 * self._listers)
        async with anyio.create_task_group() as tg:
            with pipelines_send, pipelines_receive, jobs_send, jobs_receive:
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
                for org in org_slugs:
                    tg.start_soon(self._org_pipelines, org, since, until, pipelines_send.clone())
                for _ in range(max(1, self._listers // 4)):
                    tg.start_soon(
                        self._pipeline_worker, pipelines_receive.clone(), jobs_send.clone()
                    )
                for _ in range(self._listers):
                    tg.start_soon(self._job_worker, jobs_receive.clone())
        return self.report

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
            if fetched == 0 or isinstance(exc, _FATAL):
                raise  # an unknown project or a refused token: nothing useful can follow
            self._listing_failed(f"{what} after page {fetched}", exc)

    async def _pipeline_selected(
        self, pipeline: Pipeline, send: MemoryObjectSendStream[Pipeline]
    ) -> None:
        if pipeline.id in self._pipelines_seen:
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
        send: MemoryObjectSendStream[_JobWork],
    ) -> None:
        with receive, send:
            async for pipeline in receive:
                await self._pipeline(pipeline, send)

    async def _pipeline(self, pipeline: Pipeline, send: MemoryObjectSendStream[_JobWork]) -> None:
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
        for workflow, listed in zip(chosen, jobs, strict=True):
            for job in listed or ():
                if not self.selection.takes_job(job):
                    continue
                assert job.job_number is not None
                key = (pipeline.project_slug, job.job_number)
                if key in self._jobs_seen:
                    continue
                self._jobs_seen.add(key)
                self.report.jobs += 1
                await send.send(_JobWork(pipeline, workflow, job))

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

    # -- stage 3: artifacts

    async def _job_worker(self, receive: MemoryObjectReceiveStream[_JobWork]) -> None:
        with receive:
            async for work in receive:
                await self._job(work)

    async def _job(self, work: _JobWork) -> None:
        self._emit(JobSelected(work.pipeline, work.workflow, work.job))
        rows = {
            (r.node_index, r.artifact_path): r
            for r in await self.manifest.job_files(work.slug, work.number)
        }
        base = self._base(work, rows)
        key = f"artifacts:{work.slug}:{work.number}"
        finished = work.job.status in FINISHED_JOB_STATUSES
        if finished:
            cached = await self.manifest.listing(key)
            if cached is not None:
                entries = self._entries(work, base, _ARTIFACTS.decode(cached), rows)
                states = [await self._state(e) for e in entries]
                if all(s == _State.COMPLETE for s in states):
                    for entry in entries:
                        self._skip(entry)
                    return
        try:
            artifacts = await self.client.job_artifacts(work.slug, work.number).collect()
        except CircleCIError as exc:
            self._listing_failed(f"artifacts of {work.describe()}", exc)
            return
        if finished and not self.dry_run:
            self.manifest.store_listing(key, msgspec.json.encode(artifacts))
        for entry in self._entries(work, base, artifacts, rows):
            await self._take(entry)

    def _base(self, work: _JobWork, rows: Mapping[tuple[int, str], ManifestRow]) -> str:
        """The job's directory: where an earlier run put it, else from the layout."""
        for row in rows.values():
            parts = PurePosixPath(row.path).parts
            if len(parts) > _JOB_DEPTH:
                return "/".join(parts[:_JOB_DEPTH])
        return job_directory(
            work.slug,
            work.pipeline.number,
            work.workflow.name,
            work.workflow.id,
            work.job.name,
            work.number,
        )

    def _entries(
        self,
        work: _JobWork,
        base: str,
        artifacts: Iterable[Artifact],
        rows: Mapping[tuple[int, str], ManifestRow],
    ) -> list[_Entry]:
        claims = PathClaims()
        chosen = [
            (artifact, rows.get((artifact.node_index, artifact.path)))
            for artifact in artifacts
            if self.selection.takes_artifact(artifact.path)
        ]
        entries: dict[int, _Entry] = {}
        # Files an earlier run recorded keep their paths: they claim first, so a new
        # artifact "a" beside a recorded "a/b" is the one renamed (a~2), never skipped.
        for recorded in (True, False):
            for index, (artifact, row) in enumerate(chosen):
                if (row is not None) is not recorded:
                    continue
                try:
                    if row is not None:
                        rel = safe_relpath(row.path)
                    else:
                        # The artifact's path alone first: its ".." must not climb into our layout.
                        inner = safe_relpath(artifact.path)
                        rel = safe_relpath(f"{base}/{artifact.node_index}/{inner}")
                    rel = claims.claim(rel)
                except UnsafePath as exc:
                    entries[index] = _Entry(work, artifact, "", None, exc)
                    continue
                entries[index] = _Entry(work, artifact, str(rel), row)
        return [entries[i] for i in sorted(entries)]

    async def _state(self, entry: _Entry) -> _State:
        row = entry.row
        if entry.error is not None:
            return _State.UNSAFE
        found = self._lstat(entry)
        if entry.error is not None:
            return _State.UNSAFE
        if found is None:
            return _State.MISSING if row is not None and row.complete else _State.NEW
        if row is None or not row.complete:
            return _State.NEW
        if found.st_size != row.size:
            return _State.CHANGED
        if self._verify:
            digest = await anyio.to_thread.run_sync(self._sha256_of, entry.rel)
            if digest != row.sha256:
                return _State.CHANGED
        return _State.COMPLETE

    def _lstat(self, entry: _Entry) -> os.stat_result | None:
        """What stands at the entry's name, never following a symlink. Anything but a
        regular file there (a directory, a symlink, a symlink on the way) becomes the
        entry's error: it is that file's failure, never "complete"."""
        if self._root is None:
            return None  # a dry run into a DEST that does not exist yet
        try:
            found = self._root.lstat(entry.rel)
        except UnsafePath as exc:
            entry.error = exc
            return None
        except OSError as exc:
            entry.error = UnsafePath(
                f"cannot inspect the file's name: {exc.strerror or type(exc).__name__}",
                path=entry.rel,
            )
            return None
        if found is not None and not stat.S_ISREG(found.st_mode):
            kind = describe_kind(Kind.DIRECTORY if stat.S_ISDIR(found.st_mode) else Kind.OTHER)
            if stat.S_ISLNK(found.st_mode):
                kind = describe_kind(Kind.SYMLINK)
            entry.error = UnsafePath(f"{kind} stands at the file's name", path=entry.rel)
            return None
        return found

    def _sha256_of(self, rel: str) -> str | None:
        assert self._root is not None
        try:
            return self._root.sha256(rel)[1]
        except (OSError, UnsafePath):
            return None

    async def _take(self, entry: _Entry) -> None:
        state = await self._state(entry)
        if state is _State.COMPLETE:
            self._skip(entry)
            return
        request = DownloadRequest(entry.artifact.url, entry.rel or entry.artifact.path)
        problem = _url_problem(entry.artifact.url)
        if problem is not None and state is not _State.UNSAFE:
            entry.error = UnsafePath(problem, url=redact_url(entry.artifact.url), path=entry.rel)
            state = _State.UNSAFE
        if state is _State.UNSAFE:
            assert entry.error is not None
            self._emit(DownloadQueued(request))
            self._file_failed(
                FileResult(request=request, status=FileStatus.FAILED, error=entry.error)
            )
            return
        if self.dry_run:
            self._plan(entry, state)
            return
        if state is _State.CHANGED:
            # Recorded complete, different now: fetch it afresh.
            assert self._root is not None
            await anyio.to_thread.run_sync(self._root.unlink, entry.rel)
        assert self._downloader is not None
        self._pending[request] = entry
        await self._downloader.submit(request)

    def _skip(self, entry: _Entry) -> None:
        row = entry.row
        assert row is not None
        request = DownloadRequest(entry.artifact.url, entry.rel)
        result = FileResult(
            request=request,
            status=FileStatus.SKIPPED,
            path=entry.rel,
            size=row.size or 0,
            sha256=row.sha256,
        )
        self.report.files_skipped += 1
        self._emit(DownloadQueued(request))
        self._emit(DownloadSkipped(result))

    def _has_part(self, rel: str) -> bool:
        if self._root is None:
            return False
        try:
            return self._root.lstat(rel + ".part") is not None
        except (OSError, UnsafePath):
            return False

    def _plan(self, entry: _Entry, state: _State) -> None:
        row = entry.row
        status = "new"
        if state in (_State.MISSING, _State.CHANGED):
            status = "changed"
        elif row is not None or self._has_part(entry.rel):
            status = "incomplete"
        planned = PlannedFile(
            path=entry.rel,
            url=redact_url(entry.artifact.url),
            status=status,
            size=row.size if row is not None and row.complete else None,
        )
        self.report.planned.append(planned)
        self._emit(FilePlanned(planned))

    # -- downloader events

    def _on_download(self, event: DownloadEvent) -> None:
        if isinstance(event, DownloadDone | DownloadSkipped | DownloadFailed):
            result = event.result
            entry = self._pending.pop(result.request, None)
            if isinstance(event, DownloadDone):
                self.report.files_done += 1
                if entry is not None:
                    self.manifest.record(
                        entry.row_for(size=result.size, sha256=result.sha256, status=COMPLETE)
                    )
            elif isinstance(event, DownloadSkipped):
                # Complete under its final name, but not (yet) in the manifest: a
                # crash came between the rename and the commit.
                self.report.files_skipped += 1
                if entry is not None:
                    self.manifest.record_hashing(
                        entry.row_for(size=None, sha256=None, status=COMPLETE),
                        str(self.dest / entry.rel),
                    )
            else:
                self.report.failed.append(result)
                if entry is not None:
                    self.manifest.record(
                        entry.row_for(size=None, sha256=None, status=FAILED, error=result.reason)
                    )
        self._emit(event)

    def _file_failed(self, result: FileResult) -> None:
        self.report.failed.append(result)
        self._emit(DownloadFailed(result))

    def _listing_failed(self, what: str, error: CircleCIError) -> None:
        if isinstance(error, _FATAL):
            raise error
        failure = ListingFailure(what, error)
        self.report.listing_failures.append(failure)
        self._emit(ListingFailed(failure))

    def _emit(self, event: MirrorEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


def _org_slug(org: str) -> str:
    value = org.strip().strip("/")
    if value.count("/") != 1 or not all(value.split("/")):
        raise ValueError(f"invalid organization {org!r}: expected VCS/ORG, such as gh/my-org")
    return value


def _url_problem(url: str) -> str | None:
    """Why an artifact URL cannot be fetched at all, or ``None`` (checked before queueing,
    so one bad URL fails its file alone)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        return f"the artifact URL is not valid: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the artifact URL is not an http(s) URL"
    return None


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


async def mirror_artifacts(
    client: Client,
    slugs: Iterable[str | ProjectSlug] | str,
    dest: str | os.PathLike[str],
    *,
    orgs: Iterable[str] = (),
    selection: Selection | None = None,
    workers: int = DEFAULT_WORKERS,
    listers: int = DEFAULT_LISTERS,
    artifact_hosts: Iterable[str] = (),
    dry_run: bool = False,
    verify: bool = False,
    on_event: OnEvent | None = None,
    downloader_options: Mapping[str, Any] | None = None,
    wait_lock: bool = False,
    rebuild_manifest: bool = False,
) -> MirrorReport:
    """Mirror the selected artifacts of ``slugs`` (and of every project of ``orgs``)
    into ``dest`` and return the report. See ``Mirror`` for the options."""
    async with Mirror(
        client,
        dest,
        selection=selection,
        workers=workers,
        listers=listers,
        artifact_hosts=artifact_hosts,
        dry_run=dry_run,
        verify=verify,
        on_event=on_event,
        downloader_options=downloader_options,
        wait_lock=wait_lock,
        rebuild_manifest=rebuild_manifest,
    ) as mirror:
        await mirror.run(slugs, orgs=orgs)
    return mirror.report
