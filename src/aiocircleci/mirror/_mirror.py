"""The wiring of a mirror run: listing → planning → downloader and manifest.

``Mirror`` holds DEST's lock, opens the manifest (recovering a corrupt one) and
the downloader, runs the ``Lister``, and for each job's artifacts asks
``_planning`` what to do: skip what is complete, fail what cannot be, queue the
rest. The downloader's results go into the manifest as they arrive; only files
in flight are held in memory.
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import anyio

from .._fs import DestDir, Kind, describe_kind
from .._http import redact_url
from .._lock import DestLock
from .._manifest import COMPLETE, FAILED, Manifest
from .._selection import Selection
from .._slug import ProjectSlug
from ..download import (
    DownloadDone,
    Downloader,
    DownloadEvent,
    DownloadFailed,
    DownloadQueued,
    DownloadRequest,
    DownloadSkipped,
    FileResult,
    FileStatus,
)
from ..errors import CircleCIError, DiskError, UnsafePath
from ._layout import files_on_disk
from ._listing import FATAL, Lister, targets
from ._planning import Entry, JobWork, State, claim_entries, file_state, job_base, url_problem
from ._report import (
    FilePlanned,
    JobSelected,
    ListingFailed,
    ListingFailure,
    ManifestRebuilt,
    MirrorEvent,
    MirrorReport,
    OnEvent,
    PlannedFile,
    stats_mark,
)

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["DEFAULT_LISTERS", "DEFAULT_WORKERS", "Mirror", "mirror_artifacts"]

DEFAULT_WORKERS: Final = 16  # downloads at once
DEFAULT_LISTERS: Final = 16  # artifact listers; a quarter as many pipeline listers


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
        self._pending: dict[DownloadRequest, Entry] = {}
        self._started = 0.0
        self._stats_before = (0, 0, 0)

    def __repr__(self) -> str:
        mode = " dry-run" if self.dry_run else ""
        return f"<Mirror dest={str(self.dest)!r} workers={self._workers}{mode}>"

    # -- lifecycle

    async def __aenter__(self) -> Self:
        self._stats_before = stats_mark(self.client.stats)
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
                    claim_paths=False,  # _entries made paths distinct per job directory
                    run_id=self._lock.run_id,  # names this run in .part.meta
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
            report.count_requests(self.client.stats, self._stats_before)

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
        projects, org_slugs = targets(slugs, orgs, self.selection)
        since, until = self.selection.window(self._now())
        lister = Lister(
            self.client,
            self.selection,
            self.manifest,
            self.report,
            listers=self._listers,
            dry_run=self.dry_run,
            emit=self._emit,
            listing_failed=self._listing_failed,
        )
        await lister.for_each_job(
            projects, org_slugs, since, until, functools.partial(self._job, lister)
        )
        return self.report

    # -- each job: plan its files, then skip, fail or download each

    async def _job(self, lister: Lister, work: JobWork) -> None:
        self._emit(JobSelected(work.pipeline, work.workflow, work.job))
        rows = {
            (r.node_index, r.artifact_path): r
            for r in await self.manifest.job_files(work.slug, work.number)
        }
        base = job_base(work, rows)
        cached = await lister.cached_artifacts(work)
        if cached is not None:
            entries = claim_entries(self.selection, work, base, cached, rows)
            states = [await self._state(e) for e in entries]
            if all(s == State.COMPLETE for s in states):
                for entry in entries:
                    self._skip(entry)
                return
        artifacts = await lister.artifacts(work)
        if artifacts is None:
            return
        for entry in claim_entries(self.selection, work, base, artifacts, rows):
            await self._take(entry)

    async def _state(self, entry: Entry) -> State:
        """``file_state`` on what stands at the entry's path (looked at without following links)."""
        if entry.error is not None:
            return State.UNSAFE
        found = self._lstat(entry)
        if entry.error is not None:
            return State.UNSAFE
        row = entry.row
        digest = None
        if found is not None and self._verify and row is not None and row.complete:
            if found.st_size == row.size:
                digest = await anyio.to_thread.run_sync(self._sha256_of, entry.rel)
                if digest is None:
                    digest = ""  # unreadable: not the recorded hash
        return file_state(row, None if found is None else found.st_size, digest)

    def _lstat(self, entry: Entry) -> os.stat_result | None:
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

    async def _take(self, entry: Entry) -> None:
        state = await self._state(entry)
        if state is State.COMPLETE:
            self._skip(entry)
            return
        request = DownloadRequest(entry.artifact.url, entry.rel or entry.artifact.path)
        problem = url_problem(entry.artifact.url)
        if problem is not None and state is not State.UNSAFE:
            entry.error = UnsafePath(problem, url=redact_url(entry.artifact.url), path=entry.rel)
            state = State.UNSAFE
        if state is State.UNSAFE:
            assert entry.error is not None
            self._emit(DownloadQueued(request))
            self._file_failed(
                FileResult(request=request, status=FileStatus.FAILED, error=entry.error)
            )
            return
        if self.dry_run:
            self._plan(entry, state)
            return
        if state is State.CHANGED:
            # Recorded complete, different now: fetch it afresh.
            assert self._root is not None
            await anyio.to_thread.run_sync(self._root.unlink, entry.rel)
        assert self._downloader is not None
        self._pending[request] = entry
        await self._downloader.submit(request)

    def _skip(self, entry: Entry) -> None:
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

    def _plan(self, entry: Entry, state: State) -> None:
        row = entry.row
        status = "new"
        if state in (State.MISSING, State.CHANGED):
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
        if isinstance(error, FATAL):
            raise error
        failure = ListingFailure(what, error)
        self.report.listing_failures.append(failure)
        self._emit(ListingFailed(failure))

    def _emit(self, event: MirrorEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


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
