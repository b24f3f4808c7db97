"""Where a body hits the disk: the concurrent artifact download pipeline.

::

    async with Downloader("out", client=client) as dl:
        async for artifact in client.job_artifacts(slug, number):
            await dl.submit(DownloadRequest(artifact.url, artifact.path))
    print(dl.report.summary())

Requests flow through a bounded memory object stream to ``workers`` tasks in one
task group, so work starts while a lister is still listing and a huge list is
never held in memory. Budgets are separate: connections per host, downloads in
flight, open files. File work runs on the downloader's own thread pool, sized to
the open-file budget, so a file never waits behind an exhausted shared pool.

Every body streams to ``NAME.part`` beside its target, with the sha256 computed
as it goes; the length is checked against Content-Length / Content-Range (and
the expected size and sha256, when given) before ``os.replace`` gives it its
final name. A file under its final name is therefore always complete. A dropped
connection resumes with ``Range`` + ``If-Range``; a 200 answer to a range request
starts over; a later run resumes a ``.part`` left behind (its validator is kept
in ``NAME.part.meta``). Requests go through the one send path (``_send.Sender``):
redirects are followed by hand, and the token goes, hop by hop, only to origins
the ``OriginPolicy`` allows, never to wherever a redirect leads. Retries follow
the one retry decision (``_retry.decide``); a 429 holds every download from
that host. The downloader adds only ``Range``/``If-Range`` and its body handling.

Progress is reported through subscriber callbacks (``DownloadEvent`` values);
nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import hashlib
import json
import math
import os
import random
import time
from collections.abc import AsyncIterable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import aiofiles
import anyio
from aiofiles.threadpool.binary import AsyncBufferedIOBase, AsyncBufferedReader
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._auth import OriginPolicy, Token
from ._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, Limits, RetryPolicy, Timeout
from ._http import Request, StreamResponse, Transport, origin_of, redact_url
from ._limiter import RateLimiter
from ._paths import PathClaims, resolve_inside, safe_relpath
from ._retry import GiveUp, Outcome, decide
from ._send import MAX_REDIRECTS, Sender
from ._transport import AiohttpTransport
from .errors import (
    APIError,
    ChecksumMismatch,
    CircleCIError,
    DiskError,
    DownloadError,
    IncompleteDownload,
    TokenNotSent,
    TransportError,
    UnsafePath,
    error_for_status,
)

if TYPE_CHECKING:
    import aiohttp

    from .client import Client

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_WORKERS",
    "MAX_REDIRECTS",
    "MAX_REFETCHES",
    "DownloadDone",
    "DownloadEvent",
    "DownloadFailed",
    "DownloadProgress",
    "DownloadQueued",
    "DownloadReport",
    "DownloadRequest",
    "DownloadSkipped",
    "DownloadStarted",
    "Downloader",
    "FileResult",
    "FileStatus",
    "download_all",
    "nofollow_opener",
]

T = TypeVar("T")

DEFAULT_WORKERS: Final = 8
DEFAULT_CHUNK_SIZE: Final = 256 * 1024
# Bodies up to this size are written on the event loop in one go: measured on
# ext4, open + write + rename of 16 KiB takes ~20 us, far less than a thread hop.
DEFAULT_INLINE_LIMIT: Final = 64 * 1024
# How often an expired pre-signed URL is fetched anew through the artifact URL.
MAX_REFETCHES: Final = 3
# Cleanup after a cancellation gets this long (seconds) to close files.
CLOSE_TIMEOUT: Final = 5.0
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
_PART = ".part"
_NO_LIMIT: contextlib.nullcontext[None] = contextlib.nullcontext()
_META = ".part.meta"
_IOV_MAX: Final = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
# Directories checked and created, remembered for the files that follow.
_MAX_DIRS: Final = 1024


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """One file to fetch: its URL and an untrusted relative target path.

    ``size`` and ``sha256`` (hex), when known, are checked before the file gets
    its final name, and let skip-existing recognise a complete file.
    """

    url: str
    path: str
    _: KW_ONLY
    size: int | None = None
    sha256: str | None = None

    def __repr__(self) -> str:
        return f"DownloadRequest({redact_url(self.url)!r}, {self.path!r})"


class FileStatus(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileResult:
    """What became of one request.

    ``path`` is the safe relative POSIX path written (``""`` when the request's
    path was unsafe). ``size`` and ``sha256`` describe the file on disk (sha256 is
    ``None`` for a skipped file whose hash was not needed). ``error`` says why a
    failed file failed.
    """

    request: DownloadRequest
    status: FileStatus
    path: str = ""
    size: int = 0
    sha256: str | None = None
    attempts: int = 0
    error: CircleCIError | None = None

    @property
    def reason(self) -> str:
        return "" if self.error is None else str(self.error)


@dataclass(frozen=True, slots=True)
class DownloadQueued:
    request: DownloadRequest


@dataclass(frozen=True, slots=True)
class DownloadStarted:
    """The first response for a file: ``total`` bytes (``None`` if unknown), of which
    ``offset`` were already on disk (a resumed ``.part``)."""

    request: DownloadRequest
    path: str
    total: int | None
    offset: int


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """``delta`` bytes more on disk; negative when a download starts over."""

    request: DownloadRequest
    path: str
    delta: int


@dataclass(frozen=True, slots=True)
class DownloadDone:
    result: FileResult


@dataclass(frozen=True, slots=True)
class DownloadSkipped:
    result: FileResult


@dataclass(frozen=True, slots=True)
class DownloadFailed:
    result: FileResult


DownloadEvent = (
    DownloadQueued
    | DownloadStarted
    | DownloadProgress
    | DownloadDone
    | DownloadSkipped
    | DownloadFailed
)
Subscriber = Callable[[DownloadEvent], None]
Opener = Callable[[str, int], int]
_AsyncFile = AsyncBufferedIOBase | AsyncBufferedReader


@dataclass(slots=True, kw_only=True)
class DownloadReport:
    """Files done, skipped and failed, bytes received and seconds taken.

    With ``keep_results=False`` the downloader keeps only the counts of done and
    skipped files (the failed ones are always listed), for lists too long to hold.
    """

    done: list[FileResult] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)
    files_done: int = 0
    files_skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def files_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> str:
        mb = self.bytes / 1e6
        rate = mb / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.files_done} done, {self.files_skipped} skipped, {self.files_failed} failed; "
            f"{mb:.1f} MB in {self.seconds:.2f} s ({rate:.1f} MB/s)"
        )


# ---------------------------------------------------------------- file work (runs in threads)


class _Restart(Exception):
    """The server ignored our range: start the file over from byte 0."""


class _Expired(Exception):
    """The pre-signed storage URL answered 403: fetch a new one via the artifact URL."""


def nofollow_opener(path: str, flags: int) -> int:
    """Open like ``os.open``, refusing to follow a symlink at ``path``."""
    # A planted NAME.part symlink must not redirect our writes elsewhere.
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o666)


@dataclass(slots=True)
class _OnDisk:
    final_size: int | None
    part_size: int | None
    validator: str | None


def _make_parent(root: Path, rel: PurePosixPath) -> Path:
    """The checked absolute directory for ``rel``'s parent, created if missing."""
    parent = resolve_inside(root, rel).parent
    parent.mkdir(parents=True, exist_ok=True)
    # Check again now that it exists: a symlink planted on the way is resolved now.
    if parent.resolve() != parent:
        raise UnsafePath("the path leads through a symlink", path=str(rel))
    return parent


def _probe(target: str) -> _OnDisk:
    """What an earlier run left: the final file's size, a resumable ``.part``."""
    try:
        final_size: int | None = os.stat(target).st_size
    except FileNotFoundError:
        final_size = None
    meta_path = target + _META
    if not os.path.exists(meta_path):
        return _OnDisk(final_size, None, None)
    try:
        with open(meta_path, "rb") as f:
            meta = json.loads(f.read())
        validator = meta.get("validator") if isinstance(meta, dict) else None
        if isinstance(validator, str):
            part_size = os.stat(target + _PART).st_size
            return _OnDisk(final_size, part_size, validator)
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        pass
    return _OnDisk(final_size, None, None)


def _hash_file(path: str, limit: int) -> Any:
    """sha256 of the first ``limit`` bytes of ``path`` (a hashlib object)."""
    digest = hashlib.sha256()
    remaining = limit
    with open(path, "rb", buffering=0) as f:
        while remaining > 0:
            data = f.read(min(remaining, 1 << 20))
            if not data:
                break
            digest.update(data)
            remaining -= len(data)
    return digest


def _write_meta(target: str, validator: str | None, total: int | None) -> None:
    meta = target + _META
    if validator is None:
        _unlink(meta)
        return
    with open(meta, "w", encoding="utf-8") as f:
        f.write(json.dumps({"validator": validator, "total": total}))


def _write_chunks(raw: Any, digest: Any, chunks: list[bytes]) -> None:
    """Hash and write ``chunks`` to an unbuffered file, in one thread hop and,
    usually, one ``writev`` call."""
    for chunk in chunks:
        digest.update(chunk)  # releases the GIL for large chunks
    fd = raw.fileno()
    pending = [memoryview(chunk) for chunk in chunks]
    while pending:
        written = os.writev(fd, pending[:_IOV_MAX])
        # A short write (a signal, a nearly full disk): drop what went out, retry the rest.
        while pending and written >= len(pending[0]):
            written -= len(pending.pop(0))
        if pending and written:
            pending[0] = pending[0][written:]


def _publish(target: str) -> None:
    os.replace(target + _PART, target)
    if os.path.lexists(target + _META):
        _unlink(target + _META)


def _write_whole(target: str, chunks: list[bytes], opener: Opener) -> None:
    """A small body in one thread hop: write ``NAME.part``, then rename it into place."""
    part = target + _PART
    # Straight to the descriptor: a file object would add an fstat and an
    # ioctl(FIOCLEX) to every small file.
    fd = opener(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    _publish(target)


def _discard(target: str) -> None:
    _unlink(target + _PART)
    _unlink(target + _META)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# ---------------------------------------------------------------- helpers


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of ``bytes a-b/n``; ``(None, n)`` for ``bytes */n``."""
    if not value:
        return None, None
    unit, _, spec = value.strip().partition(" ")
    if unit.lower() != "bytes":
        return None, None
    span, _, total_text = spec.partition("/")
    total = int(total_text) if total_text.strip().isdigit() else None
    first, dash, _ = span.partition("-")
    start = int(first) if dash and first.strip().isdigit() else None
    return start, total


def _validator(headers: Any) -> str | None:
    etag: str | None = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = headers.get("Last-Modified")
    return modified or None


def _disk_error(exc: OSError, request: DownloadRequest, rel: str) -> DiskError:
    reason = exc.strerror or type(exc).__name__
    error = DiskError(f"cannot write {rel}: {reason}", url=redact_url(request.url), path=rel)
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------- the downloader


class Downloader:
    """Downloads ``DownloadRequest`` values into ``dest``, ``workers`` at a time.

    ::

        async with Downloader(dest, token=token, policy=policy) as dl:
            await dl.submit(DownloadRequest(url, "path/in/dest.txt"))
        report = dl.report

    ``token`` goes only to URLs that ``policy`` allows (no policy: nowhere).
    ``session`` is an aiohttp session to borrow (never closed here); otherwise
    the downloader opens its own with ``max_connections_per_host`` connections
    per host (default: ``workers``). ``in_flight`` may be a shared
    ``CapacityLimiter`` bounding downloads across downloaders. ``max_open_files``
    (default: ``workers``) sizes both the open-file budget and the thread pool.
    ``claim_paths=False`` trusts the caller to send distinct paths (no run-long
    record of every path, for runs too long to hold one).
    ``overwrite`` downloads files that already exist complete. ``opener`` opens
    ``.part`` files (``os.open``'s signature; the default refuses symlinks), a
    hook for unusual file systems and for tests that simulate a full disk. Failures of one
    file are reported and the rest continues; a full or unwritable disk ends the
    run with one ``DiskError``. Cancellation stops the workers promptly and leaves
    only ``.part`` files, which a later run resumes.
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
        sleep: Callable[[float], Any] = anyio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        transport: Transport | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.dest = Path(dest)
        self._token = token
        self._policy = policy
        self._workers = workers
        per_host = max_connections_per_host or workers
        self._per_host = per_host
        self._transport: Transport = transport or AiohttpTransport(
            session,
            timeout=timeout,
            limits=Limits(max_connections_per_host=per_host),
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
        self._dirs: dict[PurePosixPath, Path] = {}
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
        self._gates: dict[tuple[str, str, int], RateLimiter] = {}
        self._sender = Sender(
            self._transport,
            token=token,
            policy=policy,
            # Byte counts and offsets must be the stored bytes.
            headers={"Accept-Encoding": "identity"},
            gate_for=self._gate,
            slot_for=self._host_slot,
            clock=clock,
        )
        # Claims hold every path of the run; a caller that hands out distinct paths
        # itself (the mirror, per job directory) turns them off to keep memory flat.
        self._claims = PathClaims() if claim_paths else None
        self.report = DownloadReport()
        self._executor: ThreadPoolExecutor | None = None
        self._send: MemoryObjectSendStream[tuple[DownloadRequest, PurePosixPath]] | None = None
        self._tg: TaskGroup | None = None
        self._fatal: DiskError | None = None
        self._started = 0.0
        self._dest_root: Path | None = None

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
            root = self.dest.resolve()
        except OSError as exc:
            raise DiskError(
                f"cannot create {self.dest}: {exc.strerror or type(exc).__name__}",
                path=str(self.dest),
            ) from exc
        if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
            raise DiskError(f"the destination {self.dest} is not a writable directory")
        self._dest_root = root
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
        try:
            if exc is not None:
                self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._transport.aclose()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
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
        self._emit(DownloadQueued(request))
        try:
            rel = safe_relpath(request.path)
            if self._claims is not None:
                rel = self._claims.claim(rel)
        except UnsafePath as exc:
            self._finish(FileResult(request=request, status=FileStatus.FAILED, error=exc))
            return
        try:
            await self._send.send((request, rel))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            if self._fatal is not None:
                raise self._fatal from None
            raise DownloadError("the downloader has stopped", url=redact_url(request.url)) from None

    async def close_input(self) -> None:
        """No more requests: the workers finish the queue, then leaving the context returns."""
        if self._send is not None:
            await self._send.aclose()

    # -- events and results

    def _emit(self, event: DownloadEvent) -> None:
        for callback in self._subscribers:
            callback(event)

    def _finish(self, result: FileResult) -> None:
        report = self.report
        if result.status is FileStatus.DONE:
            report.files_done += 1
            if self._keep:
                report.done.append(result)
            self._emit(DownloadDone(result))
        elif result.status is FileStatus.SKIPPED:
            report.files_skipped += 1
            if self._keep:
                report.skipped.append(result)
            self._emit(DownloadSkipped(result))
        else:
            report.failed.append(result)
            self._emit(DownloadFailed(result))

    # -- workers

    async def _worker(
        self, receive: MemoryObjectReceiveStream[tuple[DownloadRequest, PurePosixPath]]
    ) -> None:
        with receive:
            async for request, rel in receive:
                if self._in_flight is None:
                    result = await self._download(request, rel)
                else:
                    async with self._in_flight:
                        result = await self._download(request, rel)
                self._finish(result)
                if self._fatal is not None:
                    assert self._tg is not None
                    self._tg.cancel_scope.cancel()
                    return

    async def _thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking file work on our pool. Not cancellable midway: a file is
        never closed while a write to it is still running."""
        loop = asyncio.get_running_loop()
        with anyio.CancelScope(shield=True):
            result = await loop.run_in_executor(self._executor, func, *args)
        return result

    async def _download(self, request: DownloadRequest, rel: PurePosixPath) -> FileResult:
        rel_text = str(rel)
        job = _Job(self, request, rel_text)
        try:
            if self._file_slots is None:
                return await job.run(rel)
            await self._file_slots.acquire()
            try:
                return await job.run(rel)
            finally:
                self._file_slots.release()
        except UnsafePath as exc:
            exc.path = rel_text
            return job.failed(exc)
        except DiskError as exc:
            return job.failed(exc)
        except OSError as exc:
            error = _disk_error(exc, request, rel_text)
            if exc.errno in _FATAL_ERRNOS and self._fatal is None:
                self._fatal = error
            return job.failed(error)
        except (DownloadError, APIError, TransportError) as exc:
            return job.failed(exc)

    async def _target(self, rel: PurePosixPath) -> str:
        """The absolute path for ``rel``; its directory is checked and created once."""
        parent_rel = rel.parent
        parent = self._dirs.get(parent_rel)
        if parent is None:
            assert self._dest_root is not None
            parent = await self._thread(_make_parent, self._dest_root, rel)
            if len(self._dirs) >= _MAX_DIRS:
                self._dirs.clear()  # a cache, not a record: memory stays flat on long runs
            self._dirs[parent_rel] = parent
        return os.path.join(parent, rel.name)

    def _host_slot(self, url: str) -> anyio.CapacityLimiter | None:
        if not self._limit_hosts:
            return None
        origin = origin_of(url)
        limiter = self._hosts.get(origin)
        if limiter is None:
            limiter = self._hosts[origin] = anyio.CapacityLimiter(self._per_host)
        return limiter

    def _gate(self, url: str) -> RateLimiter:
        origin = origin_of(url)
        gate = self._gates.get(origin)
        if gate is None:
            gate = self._gates[origin] = RateLimiter(
                math.inf, 1, clock=self._clock, sleep=self._sleep
            )
        return gate


class _Job:
    """The state of one file while it downloads: offset, hash, open part file."""

    __slots__ = (
        "attempts",
        "digest",
        "dl",
        "file",
        "offset",
        "pending",
        "rel",
        "request",
        "started",
        "target",
        "url",
        "validator",
    )

    def __init__(self, dl: Downloader, request: DownloadRequest, rel: str) -> None:
        self.dl = dl
        self.request = request
        self.rel = rel
        self.target = ""
        self.offset = 0
        self.digest: Any = hashlib.sha256()
        self.validator: str | None = None
        self.file: _AsyncFile | None = None
        self.pending: asyncio.Future[None] | None = None
        self.attempts = 0
        self.started = False
        self.url = request.url  # the URL that answered last (a 429 cools its origin)

    def failed(self, error: CircleCIError) -> FileResult:
        return FileResult(
            request=self.request,
            status=FileStatus.FAILED,
            path=self.rel,
            size=self.offset,
            attempts=self.attempts,
            error=error,
        )

    def _progress(self, delta: int) -> None:
        if delta and self.dl._subscribers:
            self.dl._emit(DownloadProgress(self.request, self.rel, delta))

    async def run(self, rel: PurePosixPath) -> FileResult:
        dl = self.dl
        self.target = await dl._target(rel)
        # A few stat calls: cheaper on the loop than a thread hop.
        on_disk = _probe(self.target)
        if on_disk.final_size is not None and not dl._overwrite:
            skipped = await self._check_existing(on_disk.final_size)
            if skipped is not None:
                return skipped
        if on_disk.part_size:
            # A .part from an earlier run, with the validator it was fetched under.
            part = self.target + _PART
            self.digest = await dl._thread(_hash_file, part, on_disk.part_size)
            self.offset = on_disk.part_size
            self.validator = on_disk.validator
        try:
            return await self._fetch_with_retries()
        finally:
            if self.file is not None:
                with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    await self._close_part()

    async def _check_existing(self, size: int) -> FileResult | None:
        request = self.request
        if request.size is not None and request.size != size:
            return None
        sha: str | None = None
        if request.sha256 is not None:
            sha = (await self.dl._thread(_hash_file, self.target, size)).hexdigest()
            if sha != request.sha256.lower():
                return None
        return FileResult(
            request=request, status=FileStatus.SKIPPED, path=self.rel, size=size, sha256=sha
        )

    async def _close_part(self) -> None:
        file, pending = self.file, self.pending
        self.file = self.pending = None
        if pending is not None:
            try:
                await pending
            except OSError:
                pass
        if file is not None:
            with anyio.CancelScope(shield=True):
                await file.close()

    async def _restart(self) -> None:
        """Throw away what is on disk and start the file from byte 0."""
        await self._close_part()
        await self.dl._thread(_discard, self.target)
        self._progress(-self.offset)
        self.offset = 0
        self.digest = hashlib.sha256()
        self.validator = None

    async def _fetch_with_retries(self) -> FileResult:
        dl, request = self.dl, self.request
        policy = dl._retry
        failures = 0
        limited = 0
        refetches = 0
        started = dl._clock()
        while True:
            self.attempts += 1
            try:
                return await self._fetch()
            except _Expired:
                refetches += 1
                if refetches > MAX_REFETCHES:
                    return self.failed(
                        DownloadError(
                            "the signed storage URL kept answering 403 (expired)",
                            url=redact_url(request.url),
                            path=self.rel,
                        )
                    )
                continue
            except _Restart:
                await self._restart()
                failures += 1
                if failures >= policy.max_attempts:
                    return self.failed(
                        IncompleteDownload(
                            "the server ignored the range request", url=redact_url(request.url)
                        )
                    )
                continue
            except ChecksumMismatch as exc:
                resumed = self.offset > 0 and failures == 0
                await self._restart()
                if not resumed:
                    return self.failed(exc)
                failures += 1
                if failures >= policy.max_attempts:
                    return self.failed(exc)
                continue
            except (TransportError, IncompleteDownload) as exc:
                error: CircleCIError = exc
                outcome = Outcome(error=exc)
            except APIError as exc:
                error = exc
                outcome = Outcome(exc.status, retry_after=exc.headers.get("Retry-After"))
            decision = decide(
                outcome,
                attempt=failures,
                limited=limited,
                method="GET",
                elapsed=dl._clock() - started,
                policy=policy,
                rng=dl._rng,
                now=dl._wall_clock(),
            )
            if isinstance(decision, GiveUp):
                return self.failed(error)
            if decision.cool_down:
                # Every download from that host waits, not only this one.
                limited += 1
                dl._sender.cool_down(self.url, decision.wait)
            else:
                failures += 1
                if decision.wait > 0:
                    await dl._sleep(decision.wait)

    async def _fetch(self) -> FileResult:
        headers: dict[str, str] = {}
        if self.offset > 0:
            headers["Range"] = f"bytes={self.offset}-"
            if self.validator:
                headers["If-Range"] = self.validator
        self.url = self.request.url
        request = Request("GET", self.request.url, headers=headers)
        async with self.dl._sender.open(request) as exchange:
            resp = exchange.response
            self.url = resp.url
            if resp.status == 403 and exchange.redirects > 0:
                raise _Expired
            if resp.status == 401 and exchange.token_withheld:
                raise TokenNotSent(redact_url(resp.url, origin_only=True), url=redact_url(resp.url))
            return await self._receive(resp, resp.url)

    async def _receive(self, resp: StreamResponse, url: str) -> FileResult:
        dl, request = self.dl, self.request
        status = resp.status
        offset = self.offset
        total: int | None
        length_text = resp.headers.get("Content-Length")
        length = int(length_text) if length_text and length_text.isdigit() else None
        if status == 416 and offset > 0:
            _, total = _content_range(resp.headers.get("Content-Range"))
            if total == offset:
                return await self._complete(total)
            raise _Restart
        if status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                if offset == 0:
                    raise IncompleteDownload(
                        "a partial answer to a request for the whole file",
                        url=redact_url(url),
                        path=self.rel,
                    )
                raise _Restart
            if total is None and length is not None:
                total = offset + length
        elif status == 200:
            if offset > 0:
                # The resource changed (If-Range) or the server ignores ranges.
                await self._restart()
                offset = 0
            total = length
        else:
            error_class = error_for_status(status) if status >= 400 else APIError
            raise error_class(
                status,
                resp.reason or f"HTTP {status}",
                method="GET",
                url=redact_url(url),
                headers={k: v for k, v in resp.headers.items() if k.lower() == "retry-after"},
            )
        if request.size is not None and total is not None and total != request.size:
            raise IncompleteDownload(
                f"the server announces {total} bytes, {request.size} were expected",
                url=redact_url(request.url),
                path=self.rel,
            )
        validator = _validator(resp.headers)
        if not self.started:
            self.started = True
            dl._emit(DownloadStarted(request, self.rel, total, offset))
        if validator != self.validator:
            self.validator = validator
            if self.file is not None:
                await self._flush([])
                await dl._thread(_write_meta, self.target, validator, total)
        return await self._stream_body(resp, total)

    async def _open_part(self, start: int, total: int | None) -> _AsyncFile:
        """Open ``NAME.part`` to continue at byte ``start``, and record its validator."""
        dl = self.dl
        part = self.target + _PART
        afile: _AsyncFile
        with anyio.CancelScope(shield=True):
            if start > 0:
                afile = await aiofiles.open(part, "r+b", opener=dl._opener, executor=dl._executor)
                await afile.seek(start)
                await afile.truncate()
            else:
                afile = await aiofiles.open(part, "wb", opener=dl._opener, executor=dl._executor)
        await dl._thread(_write_meta, self.target, self.validator, total)
        return afile

    async def _stream_body(self, resp: StreamResponse, total: int | None) -> FileResult:
        dl = self.dl
        loop = asyncio.get_running_loop()
        executor = dl._executor
        chunk_size = dl._chunk_size
        buffer: list[bytes] = []
        buffered = 0
        emit = bool(dl._subscribers)
        start = self.offset
        try:
            async for chunk in resp.iter_chunks():
                n = len(chunk)
                buffer.append(chunk)
                buffered += n
                dl.report.bytes += n
                self.offset += n
                if emit:
                    dl._emit(DownloadProgress(self.request, self.rel, n))
                if buffered >= chunk_size:
                    if self.file is None:
                        self.file = await self._open_part(self.offset - buffered, total)
                    if self.pending is not None:
                        with anyio.CancelScope(shield=True):
                            await self.pending
                    # The next read overlaps with this hash + write in the pool.
                    self.pending = loop.run_in_executor(
                        executor, _write_chunks, self.file.raw, self.digest, buffer
                    )
                    buffer = []
                    buffered = 0
        except BaseException as exc:
            # Keep what arrived: a retry (or, with a validator, a later run) resumes after it.
            if buffer and (isinstance(exc, TransportError) or self.validator is not None):
                with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    if self.file is None:
                        self.file = await self._open_part(self.offset - buffered, total)
                    await self._flush(buffer)
            raise
        if total is not None and self.offset > total:
            # The framing is broken: that connection must never serve another request.
            resp.close()
            await self._restart()
            raise IncompleteDownload(
                f"received more than the {total} bytes announced",
                url=redact_url(self.request.url),
                path=self.rel,
            )
        if total is not None and self.offset != total:
            if buffer or self.file is not None:
                if self.file is None:
                    self.file = await self._open_part(self.offset - buffered, total)
                await self._flush(buffer)
            raise IncompleteDownload(
                f"received {self.offset} of {total} bytes",
                url=redact_url(self.request.url),
                path=self.rel,
            )
        if self.file is None and start == 0:
            # The whole body is in memory: hash it here, write and rename in one go.
            digest = self.digest
            for chunk in buffer:
                digest.update(chunk)
            self._verify(self.offset)
            if self.offset <= dl._inline_limit:
                _write_whole(self.target, buffer, dl._opener)
            else:
                await dl._thread(_write_whole, self.target, buffer, dl._opener)
            return self._done()
        if self.file is None:
            self.file = await self._open_part(start, total)
        await self._flush(buffer)
        await self._close_part()
        self._verify(self.offset)
        await dl._thread(_publish, self.target)
        return self._done()

    async def _flush(self, buffer: list[bytes]) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            with anyio.CancelScope(shield=True):
                await pending
        if buffer:
            assert self.file is not None
            await self.dl._thread(_write_chunks, self.file.raw, self.digest, buffer)

    async def _complete(self, total: int) -> FileResult:
        """The ``.part`` already holds every byte (the server answered 416)."""
        await self._close_part()
        self._verify(total)
        await self.dl._thread(_publish, self.target)
        return self._done()

    def _verify(self, size: int) -> None:
        request = self.request
        if request.size is not None and size != request.size:
            raise IncompleteDownload(
                f"received {size} bytes, {request.size} were expected",
                url=redact_url(request.url),
                path=self.rel,
            )
        if request.sha256 is not None and self.digest.hexdigest() != request.sha256.lower():
            raise ChecksumMismatch(
                "the sha256 differs from the expected one",
                url=redact_url(request.url),
                path=self.rel,
            )

    def _done(self) -> FileResult:
        return FileResult(
            request=self.request,
            status=FileStatus.DONE,
            path=self.rel,
            size=self.offset,
            sha256=self.digest.hexdigest(),
            attempts=self.attempts,
        )


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
