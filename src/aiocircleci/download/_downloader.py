"""Where a body hits the disk: the concurrent artifact download pipeline.

::

    async with Downloader.from_client(client, "out") as dl:
        async for artifact in client.job_artifacts(slug, number):
            await dl.submit(DownloadRequest(artifact.url, artifact.path))
    print(dl.report.summary())

Requests flow through a bounded memory object stream to ``workers`` tasks in one
task group (and, with ``processes``, to worker processes: ``_processes``), so work
starts while a lister is still listing and a huge list is never held in memory.
Budgets are separate: connections per host, downloads in flight, open files.

Each file is one ``FileDownload`` (``_file``): it streams to ``NAME.part``
beside its target, verified before ``os.replace`` gives it its final name, and
resumes with ``Range`` + ``If-Range``. Requests go through the one send path
(``_send.Sender``): redirects by hand, the token only to origins the
``OriginPolicy`` allows, retries as ``_retry.decide`` says, and a 429 holds
every download from that host.

Progress is reported through subscriber callbacks (``DownloadEvent`` values);
nothing here prints.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import time
from collections.abc import AsyncIterable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._auth import OriginPolicy, Token
from .._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, Limits, RetryPolicy, Timeout
from .._fs import DestDir
from .._http import Transport, origin_of, redact_url
from .._limiter import OriginGates
from .._lock import new_run_id
from .._paths import safe_relpath
from .._segments import DEFAULT_SEGMENTS, SegmentConfig
from .._send import Sender
from .._transport import AiohttpTransport
from ..errors import APIError, DiskError, DownloadError, TransportError, UnsafePath
from ._claims import DiskClaims
from ._file import CLOSE_TIMEOUT, FileDownload
from ._partfile import Opener, nofollow_opener
from ._processes import WorkerProcesses, per_process, refuse_local_only
from ._values import (
    DownloadDone,
    DownloadEvent,
    DownloadFailed,
    DownloadQueued,
    DownloadReport,
    DownloadRequest,
    DownloadSkipped,
    FileResult,
    FileStatus,
    Subscriber,
)

if TYPE_CHECKING:
    import aiohttp

    from ..client import Client

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_WORKERS", "Downloader", "download_all"]

T = TypeVar("T")

DEFAULT_WORKERS: Final = 8
DEFAULT_CHUNK_SIZE: Final = 256 * 1024
# Bodies up to this size are written on the event loop in one go: measured on
# ext4, open + write + rename of 16 KiB takes ~20 us, far less than a thread hop.
DEFAULT_INLINE_LIMIT: Final = 64 * 1024
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _disk_error(exc: OSError, request: DownloadRequest, rel: str) -> DiskError:
    reason = exc.strerror or type(exc).__name__
    error = DiskError(f"cannot write {rel}: {reason}", url=redact_url(request.url), path=rel)
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------- the downloader


class Downloader:
    """Downloads ``DownloadRequest`` values into ``dest``, ``workers`` at a time
    (used as the module's example shows).

    ``token`` goes only to URLs that ``policy`` allows (no policy: nowhere).
    ``session`` is an aiohttp session to borrow (never closed here); otherwise
    the downloader opens its own with ``max_connections_per_host`` connections
    per host (default: ``workers``). ``in_flight`` may be a shared
    ``CapacityLimiter`` bounding downloads across downloaders. ``max_open_files``
    (default: ``workers``) sizes both the open-file budget and the thread pool.
    Two requests for one path land under distinct names (``report~2.xml``); the
    claims that decide it are kept in a temporary SQLite file, not in memory.
    ``claim_paths=False`` trusts the caller to send distinct paths.
    ``overwrite`` downloads files that already exist complete. ``opener`` opens
    files relative to a directory descriptor (``(name, flags, dir_fd) -> fd``,
    like ``os.open``; the default refuses symlinks), a hook for unusual file
    systems and for tests that simulate a full disk. Failures of one file are
    reported and the rest continues; a full or unwritable disk ends the run with
    one ``DiskError``. Cancellation stops the workers promptly and leaves only
    ``.part`` files, which a later run resumes.

    ``run_id`` names this run in the ``.part.meta`` of the files it writes (the
    CLI and the mirror pass their DEST lock's id; default: a fresh one). Each
    ``.part`` is locked while written: a ``.part`` another live run holds fails
    that file, never shared; one whose owner died is adopted. Everything under
    ``dest`` is reached through directory descriptors without following a
    symlink (``_fs.DestDir``); something other than a regular file at a final
    name is that file's failure.

    ``segments`` splits a large file into ranges fetched over several
    connections when its server answers ``Accept-Ranges: bytes`` and a length
    above ``segments.threshold`` (``None``: every file is one stream). Its
    ``max_connections`` caps the segment connections of the whole run; the
    ``.part.meta`` records finished segments, so a later run resumes only the rest.

    ``processes`` > 1 (default 1) starts ``processes - 1`` worker interpreters
    beside this one (``_processes``), so small files use every core; ``workers``
    and the budgets derived from it are split between them. Results and events
    arrive as from local workers. Settings that cannot cross a process
    (``session``, ``transport``, ``in_flight``, ``opener``, clocks, ``sleep``,
    ``rng``) are refused with it; the segment cap then holds per process.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        *,
        token: Token | None = None,
        policy: OriginPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        workers: int = DEFAULT_WORKERS,
        max_connections_per_host: int | None = None,
        max_open_files: int | None = None,
        in_flight: anyio.CapacityLimiter | None = None,
        queue_size: int | None = None,
        overwrite: bool = False,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: Timeout = DEFAULT_TIMEOUT,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        subscribers: Iterable[Subscriber] = (),
        keep_results: bool = True,
        claim_paths: bool = True,
        opener: Opener = nofollow_opener,
        run_id: str | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        transport: Transport | None = None,
        segments: SegmentConfig | None = DEFAULT_SEGMENTS,
        processes: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if processes < 1:
            raise ValueError("processes must be at least 1")
        if processes > 1:
            refuse_local_only(session, transport, in_flight, opener, sleep, rng, clock, wall_clock)
            workers = per_process(workers, processes)
        self._processes = processes
        self._pool: WorkerProcesses | None = None
        # What worker processes are given as they were given here.
        self._timeout = timeout
        self._per_host_option = max_connections_per_host
        self._open_files_option = max_open_files
        self.dest = Path(dest)
        self._token = token
        self._policy = policy
        self._workers = workers
        per_host = max_connections_per_host or workers
        self._per_host = per_host
        self._segments = segments
        # One cap on segment connections across every file of the run.
        self._segment_slots = (
            anyio.CapacityLimiter(segments.max_connections) if segments is not None else None
        )
        pool = per_host
        if segments is not None and max_connections_per_host is None:
            pool = max(per_host, segments.max_connections)
        self._transport: Transport = transport or AiohttpTransport(
            session,
            timeout=timeout,
            limits=Limits(max_connections_per_host=pool),
            user_agent="aiocircleci-download",
        )
        self._open_files = max_open_files or workers
        # A budget that cannot bind (it is at least the number of workers) costs
        # time per file and buys nothing, so it only exists when it binds.
        self._file_slots = (
            anyio.CapacityLimiter(self._open_files) if self._open_files < workers else None
        )
        self._in_flight = in_flight
        self._limit_hosts = per_host < workers or session is not None
        self._hosts: dict[tuple[str, str, int], anyio.CapacityLimiter] = {}
        self.run_id = run_id or new_run_id()
        self._inline_limit = inline_limit
        self._opener = opener
        self._queue_size = queue_size if queue_size is not None else 2 * workers
        self._overwrite = overwrite
        self._retry = retry
        self._chunk_size = chunk_size
        self._subscribers: list[Subscriber] = list(subscribers)
        self._keep = keep_results
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        # One gate per origin: a 429 from a host holds every download from it.
        self._gates = OriginGates(clock=clock, sleep=sleep)
        self._sender = Sender(
            self._transport,
            token=token,
            policy=policy,
            # Byte counts and offsets must be the stored bytes.
            headers={"Accept-Encoding": "identity"},
            gate_for=self._gates.gate_for,
            slot_for=self._host_slot,
            clock=clock,
        )
        # Claims hold every path of the run, on disk (memory stays flat); a caller that
        # hands out distinct paths itself (the mirror, per job directory) turns them off.
        self._claim_paths = claim_paths
        self._claims: DiskClaims | None = None
        self.report = DownloadReport()
        self._executor: ThreadPoolExecutor | None = None
        self._send: MemoryObjectSendStream[tuple[DownloadRequest, PurePosixPath]] | None = None
        self._tg: TaskGroup | None = None
        self._fatal: DiskError | None = None
        self._started = 0.0
        self._root: DestDir | None = None

    @classmethod
    def from_client(
        cls,
        client: Client,
        dest: str | os.PathLike[str],
        *,
        artifact_hosts: Iterable[str] = (),
        **kwargs: Any,
    ) -> Downloader:
        """A downloader that sends ``client``'s token to the API origin and its
        artifact hosts (plus ``artifact_hosts``: exact origins such as
        ``http://127.0.0.1:8081`` or https host globs)."""
        return cls(
            dest,
            token=client.token,
            policy=client.artifact_policy(artifact_hosts),
            **kwargs,
        )

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(event)`` on the event loop for every ``DownloadEvent``."""
        self._subscribers.append(callback)

    def __repr__(self) -> str:
        return f"<Downloader dest={str(self.dest)!r} workers={self._workers}>"

    # -- lifecycle

    async def __aenter__(self) -> Self:
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DiskError(
                f"cannot create {self.dest}: {exc.strerror or type(exc).__name__}",
                path=str(self.dest),
            ) from exc
        root = DestDir.open(self.dest)
        if not os.access(self.dest, os.W_OK | os.X_OK):
            root.close()
            raise DiskError(f"the destination {self.dest} is not a writable directory")
        self._root = root
        if self._claim_paths:
            self._claims = DiskClaims()
        self._started = self._clock()
        self._executor = ThreadPoolExecutor(
            max_workers=self._open_files, thread_name_prefix="aiocircleci-files"
        )
        send, receive = anyio.create_memory_object_stream[tuple[DownloadRequest, PurePosixPath]](
            max_buffer_size=self._queue_size
        )
        self._send = send
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        with receive:
            for _ in range(self._workers):
                tg.start_soon(self._worker, receive.clone())
            if self._processes > 1:
                self._pool = WorkerProcesses(self, self._processes - 1)
                tg.start_soon(self._pool.run, receive.clone())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None
        assert self._send is not None
        self._send.close()
        if self._pool is not None:
            self._pool.input_closed.set()
        try:
            if exc is not None:
                self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._transport.aclose()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
            if self._root is not None:
                self._root.close()
            if self._claims is not None:
                self._claims.close()
            self.report.seconds = self._clock() - self._started
        if self._fatal is not None:
            raise self._fatal

    async def submit(self, request: DownloadRequest) -> None:
        """Queue one request; waits while the queue is full (backpressure).

        An unsafe path is reported as failed at once. Raises the run's
        ``DiskError`` if a full disk has stopped the workers.
        """
        if self._send is None:
            raise RuntimeError("use the Downloader as an async context manager")
        if self._subscribers:
            self._emit(DownloadQueued(request))
        try:
            rel = safe_relpath(request.path)
            if self._claims is not None:
                rel = self._claims.claim(rel)
        except UnsafePath as exc:
            self._finish(FileResult(request=request, status=FileStatus.FAILED, error=exc))
            return
        try:
            try:
                # While there is room, no checkpoint: a lister's burst costs no loop cycle per file.
                self._send.send_nowait((request, rel))
            except anyio.WouldBlock:
                await self._send.send((request, rel))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            if self._fatal is not None:
                raise self._fatal from None
            raise DownloadError("the downloader has stopped", url=redact_url(request.url)) from None

    async def close_input(self) -> None:
        """No more requests: the workers finish the queue, then leaving the context returns."""
        if self._send is not None:
            await self._send.aclose()
        if self._pool is not None:
            self._pool.input_closed.set()

    # -- events and results

    def _emit(self, event: DownloadEvent) -> None:
        for callback in self._subscribers:
            callback(event)

    def _finish(self, result: FileResult) -> None:
        report = self.report
        event: type[DownloadDone | DownloadSkipped | DownloadFailed]
        if result.status is FileStatus.DONE:
            report.files_done += 1
            kept, event = report.done, DownloadDone
        elif result.status is FileStatus.SKIPPED:
            report.files_skipped += 1
            kept, event = report.skipped, DownloadSkipped
        else:
            kept, event = report.failed, DownloadFailed
        if self._keep or kept is report.failed:
            kept.append(result)
        # No event is built when nobody listens (the CLI's -q subscribes nothing).
        if self._subscribers:
            self._emit(event(result))

    # -- workers

    async def _worker(
        self, receive: MemoryObjectReceiveStream[tuple[DownloadRequest, PurePosixPath]]
    ) -> None:
        with receive:
            while True:
                try:
                    request, rel = await _take(receive)
                except anyio.EndOfStream:
                    return
                if self._in_flight is None:
                    result = await self._download(request, rel)
                else:
                    async with self._in_flight:
                        result = await self._download(request, rel)
                self._finish(result)
                if self._fatal is not None:
                    return  # the run is being cancelled (_stop)

    async def _thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking file work on our pool. Not cancellable midway: a file is
        never closed while a write to it is still running."""
        loop = asyncio.get_running_loop()
        with anyio.CancelScope(shield=True):
            result = await loop.run_in_executor(self._executor, func, *args)
        return result

    async def _download(self, request: DownloadRequest, rel: PurePosixPath) -> FileResult:
        rel_text = str(rel)
        job = FileDownload(self, request, rel_text)
        try:
            if self._file_slots is None:
                return await job.run()
            await self._file_slots.acquire()
            try:
                return await job.run()
            finally:
                self._file_slots.release()
        except UnsafePath as exc:
            exc.path = rel_text
            return job.failed(exc)
        except DiskError as exc:
            return job.failed(exc)
        except OSError as exc:
            error = _disk_error(exc, request, rel_text)
            if exc.errno in _FATAL_ERRNOS:
                self._stop(error)
            return job.failed(error)
        except (DownloadError, APIError, TransportError) as exc:
            return job.failed(exc)

    def _stop(self, error: DiskError) -> None:
        """A full or unwritable disk ends the run; the first such error is raised on exit."""
        self._fatal = self._fatal or error
        assert self._tg is not None
        self._tg.cancel_scope.cancel()

    def _host_slot(self, url: str) -> anyio.CapacityLimiter | None:
        if not self._limit_hosts:
            return None
        origin = origin_of(url)
        limiter = self._hosts.get(origin)
        if limiter is None:
            limiter = self._hosts[origin] = anyio.CapacityLimiter(self._per_host)
        return limiter


async def _take(receive: MemoryObjectReceiveStream[T]) -> T:
    """The next item; no checkpoint (a loop cycle) while one is queued."""
    try:
        return receive.receive_nowait()
    except anyio.WouldBlock:
        return await receive.receive()


async def download_all(
    requests: Iterable[DownloadRequest] | AsyncIterable[DownloadRequest],
    dest: str | os.PathLike[str],
    *,
    client: Client | None = None,
    artifact_hosts: Iterable[str] = (),
    **kwargs: Any,
) -> DownloadReport:
    """Download every request into ``dest`` and return the report.

    ``requests`` may be an async iterable (a lister still listing). With
    ``client``, its token goes to its API origin and artifact hosts (plus
    ``artifact_hosts``); other keyword arguments go to ``Downloader``.
    """
    if client is not None:
        downloader = Downloader.from_client(client, dest, artifact_hosts=artifact_hosts, **kwargs)
    else:
        downloader = Downloader(dest, **kwargs)
    async with downloader:
        if isinstance(requests, AsyncIterable):
            async for request in requests:
                await downloader.submit(request)
        else:
            for request in requests:
                await downloader.submit(request)
    return downloader.report
