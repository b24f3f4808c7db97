"""The mirror's object-store destination: ``s3://BUCKET/PREFIX`` instead of a directory.

``StoreMirror`` runs the same listing (``Lister``) and the same planning
(``claim_entries``) as ``Mirror``, so every object gets the key a file would
get on disk, relative to the prefix. What differs is where state lives and
where bodies go:

- the record of what is done is the bucket's own: one manifest object per job
  (``_objectstore``: ``PREFIX/.aiocircleci/jobs/<project>/<job>.json``), read once
  at the start (``complete_jobs``). A job whose manifest exists and whose
  objects are all listed with their sizes is skipped without listing its
  artifacts; any other job is copied again whole, and its manifest is written
  only once every one of its objects is complete. A manifest written under an
  artifact filter or for a job still running is not ``whole``: the job is
  listed again and what the manifest records is kept. Shards own disjoint
  pipelines, hence disjoint jobs and disjoint manifest objects.
- bodies stream from the artifact host into multipart uploads
  (``_storecopy.StoreCopier``): no local copy, memory bounded across all
  uploads, an object visible under its key only once complete.

The listings of finished workflows and jobs are cached in a manifest database
in a temporary directory for the run's duration (``Lister`` reads it); it holds
no body and is deleted when the run ends.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio

from .._config import StoreSettings
from .._http import redact_url
from .._manifest import Manifest
from .._objectstore import JobManifest, ObjectStoreWriter, StoredObject, StoreURL
from .._selection import FINISHED_JOB_STATUSES, Selection
from .._slug import ProjectSlug
from .._storecopy import MemoryBudget, StoreCopier
from ..download import (
    DownloadDone,
    DownloadFailed,
    DownloadQueued,
    DownloadRequest,
    DownloadSkipped,
    FileResult,
    FileStatus,
)
from ..errors import CircleCIError, UnsafePath
from ._listing import FATAL, Lister, targets
from ._mirror import DEFAULT_LISTERS, DEFAULT_WORKERS
from ._planning import Entry, JobWork, claim_entries, job_base, url_problem
from ._report import (
    JobSelected,
    ListingFailed,
    ListingFailure,
    MirrorEvent,
    MirrorReport,
    OnEvent,
    stats_mark,
)

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["StoreMirror"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StoreMirror:
    """Mirrors artifacts into an object store; an async context manager around ``run``.

    ::

        url = parse_dest("s3://my-bucket/circleci")
        async with StoreMirror(client, url, StoreSettings.from_env()) as mirror:
            await mirror.run(["gh/org/repo"])

    ``workers`` copies run at once; ``memory`` is the budget of bytes that all
    uploads in flight share (``_storecopy.MemoryBudget``); ``writer`` lets a
    caller pass an ``ObjectStoreWriter`` it built (its part size, its store).
    The other options are ``Mirror``'s. There is no DEST lock: two runs on the
    same selection would only do the same work twice, and shards never share
    an object.
    """

    def __init__(
        self,
        client: Client,
        url: StoreURL,
        settings: StoreSettings | None = None,
        *,
        selection: Selection | None = None,
        workers: int = DEFAULT_WORKERS,
        listers: int = DEFAULT_LISTERS,
        artifact_hosts: Iterable[str] = (),
        on_event: OnEvent | None = None,
        now: Callable[[], datetime] = _utc_now,
        memory: MemoryBudget | None = None,
        writer: ObjectStoreWriter | None = None,
    ) -> None:
        if workers < 1 or listers < 1:
            raise ValueError("workers and listers must be at least 1")
        self.client = client
        self.url = url
        self.selection = selection if selection is not None else Selection()
        self._settings = settings
        self._workers = workers
        self._listers = listers
        self._artifact_hosts = tuple(artifact_hosts)
        self._on_event = on_event
        self._now = now
        self._memory = memory
        self._writer = writer
        self.report = MirrorReport(dest=url.url)
        self._slots = anyio.CapacityLimiter(workers)
        self._done: dict[tuple[str, int], JobManifest] = {}
        self._manifest: Manifest | None = None
        self._copier: StoreCopier | None = None
        self._stack: AsyncExitStack | None = None
        self._started = 0.0
        self._stats_before = (0, 0, 0)

    def __repr__(self) -> str:
        return f"<StoreMirror dest={self.url.url!r} workers={self._workers}>"

    async def __aenter__(self) -> Self:
        self._stats_before = stats_mark(self.client.stats)
        self._started = time.perf_counter()
        async with AsyncExitStack() as stack:
            writer = self._writer
            if writer is None:
                writer = ObjectStoreWriter(self.url, self._settings or StoreSettings())
            self._writer = writer
            # The bucket's record first: a wrong bucket or credentials fail here.
            self._done = await writer.complete_jobs()
            cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="aiocircleci-"))
            self._manifest = await stack.enter_async_context(Manifest(cache))
            self._copier = await stack.enter_async_context(
                StoreCopier(
                    writer,
                    token=self.client.token,
                    policy=self.client.artifact_policy(self._artifact_hosts),
                    workers=self._workers,
                    memory=self._memory,
                )
            )
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
            report.seconds = time.perf_counter() - self._started
            report.count_requests(self.client.stats, self._stats_before)

    async def run(
        self, slugs: Iterable[str | ProjectSlug] = (), *, orgs: Iterable[str] = ()
    ) -> MirrorReport:
        """Mirror the selected artifacts of ``slugs`` and of every project of ``orgs``
        (as ``Mirror.run``); each job's copies and manifest are done when it returns."""
        if self._manifest is None:
            raise RuntimeError("use the StoreMirror as an async context manager")
        projects, org_slugs = targets(slugs, orgs, self.selection)
        since, until = self.selection.window(self._now())
        lister = Lister(
            self.client,
            self.selection,
            self._manifest,
            self.report,
            listers=self._listers,
            dry_run=False,
            emit=self._emit,
            listing_failed=self._listing_failed,
        )
        await lister.for_each_job(
            projects, org_slugs, since, until, functools.partial(self._job, lister)
        )
        return self.report

    async def _job(self, lister: Lister, work: JobWork) -> None:
        self._emit(JobSelected(work.pipeline, work.workflow, work.job))
        done = self._done.get((work.slug, work.number))
        if done is not None and done.whole:
            for recorded in done.objects:
                self._skip(recorded)
            return
        # A manifest of part of the job (an artifact filter, a running job): keep
        # what it records, copy the rest.
        kept = {o.key: o for o in done.objects} if done is not None else {}
        artifacts = await lister.artifacts(work)
        if artifacts is None:
            return
        entries = claim_entries(self.selection, work, job_base(work, {}), artifacts, {})
        stored: list[StoredObject] = []
        failures: list[FileResult] = []
        async with anyio.create_task_group() as tg:
            for entry in entries:
                if entry.error is None and entry.rel in kept:
                    self._skip(kept[entry.rel])
                    continue
                tg.start_soon(self._copy, entry, stored, failures)
        if failures:
            return  # no manifest: the next run copies this job again
        whole = not self.selection.artifacts and work.job.status in FINISHED_JOB_STATUSES
        if done is not None and not stored and whole == done.whole:
            return  # the bucket already says this: no new version of the manifest
        objects = {**kept, **{o.key: o for o in stored}}
        assert self._writer is not None
        await self._writer.write_manifest(work.slug, work.number, objects.values(), whole=whole)

    async def _copy(
        self, entry: Entry, stored: list[StoredObject], failures: list[FileResult]
    ) -> None:
        url = entry.artifact.url
        request = DownloadRequest(url, entry.rel or entry.artifact.path)
        self._emit(DownloadQueued(request))
        problem = url_problem(url) if entry.error is None else None
        if problem is not None:
            entry.error = UnsafePath(problem, url=redact_url(url), path=entry.rel)
        if entry.error is not None:
            result = FileResult(request=request, status=FileStatus.FAILED, error=entry.error)
            self._failed(result)
            failures.append(result)
            return
        assert self._copier is not None
        async with self._slots:
            try:
                obj = await self._copier.copy(url, entry.rel)
            except CircleCIError as exc:
                result = FileResult(request=request, status=FileStatus.FAILED, error=exc)
                self._failed(result)
                failures.append(result)
                return
        stored.append(obj)
        self.report.files_done += 1
        self.report.bytes += obj.size
        result = FileResult(
            request=request, status=FileStatus.DONE, path=obj.key, size=obj.size, sha256=obj.sha256
        )
        self._emit(DownloadDone(result))

    def _skip(self, stored: StoredObject) -> None:
        request = DownloadRequest(self._where(stored.key), stored.key)
        result = FileResult(
            request=request,
            status=FileStatus.SKIPPED,
            path=stored.key,
            size=stored.size,
            sha256=stored.sha256,
        )
        self.report.files_skipped += 1
        self._emit(DownloadQueued(request))
        self._emit(DownloadSkipped(result))

    def _where(self, key: str) -> str:
        return f"{self.url.url.rstrip('/')}/{key}"

    def _failed(self, result: FileResult) -> None:
        self.report.failed.append(result)
        self._emit(DownloadFailed(result))

    def _listing_failed(self, what: str, error: CircleCIError) -> None:
        if isinstance(error, FATAL):
            raise error
        failure = ListingFailure(what, error)
        self.report.listing_failures.append(failure)
        self._emit(ListingFailed(failure))

    def _emit(self, event: MirrorEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
