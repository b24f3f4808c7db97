"""A download worker process: ``python -m aiocircleci.download._child``.

Started by ``Downloader(processes=N)`` (``_processes``), never by hand. It reads
``_wire`` frames on stdin (``Hello`` first, then ``Work`` items), downloads them
with a plain ``Downloader`` on its own event loop (``claim_paths=False``: the
parent claimed the paths; the parent's run id) and writes events and results
on stdout. End of stdin means no more work: it finishes what it holds and exits.
It dies with its parent (``PR_SET_PDEATHSIG``), so a killed parent leaves no
worker writing into DEST.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import stat
import sys
from pathlib import PurePosixPath
from typing import Final

import anyio

from .._auth import Token
from ..errors import CircleCIError, DiskError
from ._downloader import Downloader
from ._file import CLOSE_TIMEOUT
from ._values import (
    DownloadEvent,
    DownloadProgress,
    DownloadRequest,
    DownloadStarted,
    FileResult,
)
from ._wire import (
    HEADER,
    Fatal,
    Hello,
    Progress,
    Ready,
    Result,
    Started,
    Work,
    error_to_wire,
    frame,
    policy_from_wire,
    to_child,
)

__all__ = ["main"]

_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (SIGKILL: mid-write is fine,
    a ``.part`` is resumable). Elsewhere, stdin's end of file still stops us."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class _Drained(asyncio.Protocol):
    """Tells when stdout's transport has written everything and closed."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Out:
    """Frames to stdout, gathered into one write per turn of the event loop.

    Events wait here too, merged per file (a start, the sum of progress), so
    that a file finishing in the same turn carries them in its result frame.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.WriteTransport) -> None:
        self._loop = loop
        self._transport = transport
        self._pending: list[bytes] = []
        self._scheduled = False
        self.started: dict[int, tuple[int | None, int]] = {}
        self.progress: dict[int, int] = {}

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def send(self, data: bytes) -> None:
        self._pending.append(data)
        self._schedule()

    def start(self, work_id: int, total: int | None, offset: int) -> None:
        self.started[work_id] = (total, offset)
        self._schedule()

    def advance(self, work_id: int, delta: int) -> None:
        self.progress[work_id] = self.progress.get(work_id, 0) + delta
        self._schedule()

    def flush(self) -> None:
        self._scheduled = False
        frames = [frame(Started(i, total, offset)) for i, (total, offset) in self.started.items()]
        frames += [frame(Progress(i, delta)) for i, delta in self.progress.items() if delta]
        self.started.clear()
        self.progress.clear()
        frames += self._pending
        self._pending.clear()
        if frames and not self._transport.is_closing():
            self._transport.write(b"".join(frames))


class _ChildDownloader(Downloader):
    """A ``Downloader`` whose results and events go to the parent, tagged with its ids."""

    def __init__(self, out: _Out, events: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._out = out
        self._ids: dict[int, tuple[int, DownloadRequest]] = {}
        self._sent_bytes = 0
        if events:
            self.subscribe(self._forward)

    def _forward(self, event: DownloadEvent) -> None:
        if isinstance(event, DownloadProgress):
            self._out.advance(self._ids[id(event.request)][0], event.delta)
        elif isinstance(event, DownloadStarted):
            self._out.start(self._ids[id(event.request)][0], event.total, event.offset)

    def _finish(self, result: FileResult) -> None:
        work_id, _ = self._ids.pop(id(result.request))
        received = self.report.bytes - self._sent_bytes
        self._sent_bytes = self.report.bytes
        error = None if result.error is None else error_to_wire(result.error)
        out = self._out
        self._out.send(
            frame(
                Result(
                    work_id,
                    result.status.value,
                    result.path,
                    result.size,
                    result.sha256,
                    result.attempts,
                    received,
                    error,
                    out.started.pop(work_id, None),
                    out.progress.pop(work_id, 0),
                )
            )
        )

    async def take(self, work: Work) -> None:
        request = DownloadRequest(work.url, work.path, size=work.size, sha256=work.sha256)
        self._ids[id(request)] = (work.id, request)
        assert self._send is not None
        await self._send.send((request, PurePosixPath(work.rel)))


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        header = await reader.readexactly(HEADER.size)
        return await reader.readexactly(HEADER.unpack(header)[0])
    except asyncio.IncompleteReadError:
        return None  # end of input: the parent has no more work (or is gone)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
    )
    transport, drained = await loop.connect_write_pipe(_Drained, os.fdopen(1, "wb", buffering=0))
    out = _Out(loop, transport)
    try:
        first = await _read_frame(reader)
        if first is None:
            return
        hello = to_child.decode(first)
        assert isinstance(hello, Hello)
        if os.getppid() != hello.parent:
            return  # the parent died before the death signal was armed
        dl = _ChildDownloader(
            out,
            hello.events,
            dest=hello.dest,
            token=Token(hello.token) if hello.token else None,
            policy=policy_from_wire(hello.origins, hello.globs),
            workers=hello.workers,
            max_connections_per_host=hello.max_connections_per_host,
            max_open_files=hello.max_open_files,
            overwrite=hello.overwrite,
            retry=hello.retry,
            timeout=hello.timeout,
            chunk_size=hello.chunk_size,
            inline_limit=hello.inline_limit,
            segments=hello.segments,
            keep_results=False,
            claim_paths=False,
            run_id=hello.run_id,
        )
        try:
            async with dl:
                out.send(frame(Ready()))
                while (data := await _read_frame(reader)) is not None:
                    work = to_child.decode(data)
                    assert isinstance(work, Work)
                    await dl.take(work)
        except DiskError as exc:
            out.send(frame(Fatal(error_to_wire(exc))))
        except (CircleCIError, anyio.BrokenResourceError) as exc:
            # The downloader stopped (after a fatal disk error): say why, then go.
            fatal = dl._fatal or exc
            if not isinstance(fatal, CircleCIError):
                fatal = DiskError("the worker process's downloader stopped")
            out.send(frame(Fatal(error_to_wire(fatal))))
    finally:
        out.flush()
        transport.close()
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await drained.closed


def main() -> None:
    modes = [os.fstat(fd).st_mode for fd in (0, 1)]
    if not all(stat.S_ISFIFO(m) or stat.S_ISSOCK(m) for m in modes):
        sys.exit("this is a download worker process: Downloader(processes=N) starts it on pipes")
    die_with_parent()
    # A closed pipe must not print a traceback; the parent reports a lost child.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    anyio.run(serve, backend="asyncio")


if __name__ == "__main__":
    main()
