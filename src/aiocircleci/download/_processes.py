"""Small files on every core: ``Downloader(processes=N)`` feeds N-1 worker processes.

The event loop spends about half a millisecond of CPU per small file, so one
process is bound by one core. With ``processes=N`` the downloader starts N-1
child interpreters (``python -m aiocircleci.download._child``: a fresh start,
never a fork of a running loop) and stays one of the N itself. The parent keeps
what must have one owner: path safety and the collision claims (in ``submit``),
the DEST lock (the CLI's), the report and the events. One stream of
``(request, rel)`` feeds the parent's own workers and one pump per child.

Each pump has one slot per worker of a process (``workers`` is split between
the processes): a slot takes an item, sends it to the child as a ``_wire``
frame and waits for its result, as a local worker waits for its download, so
a child gets work as fast as it finishes it and the load balances itself. The
child's result frames become ``FileResult`` values and events here, as if the
parent's own workers had made them.

A child is started only once the parent's own workers are all busy, so a list
they absorb (two large files) pays for no interpreter; work stays with the
parent's workers until a child says it is ready, so a short list never waits
for one to start; a child that got no work is stopped. A child that dies
mid-run is reported (``DownloadReport.processes_lost`` and a warning in the
``aiocircleci`` log) and the items it held are downloaded by the parent (a
``.part`` it left is resumed): nothing is lost.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Final

import anyio
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream

from .._auth import environ_without_token
from ..errors import DiskError
from ._file import CLOSE_TIMEOUT
from ._partfile import nofollow_opener
from ._values import DownloadProgress, DownloadRequest, DownloadStarted, FileResult, FileStatus
from ._wire import (
    HEADER,
    Fatal,
    FromChild,
    Hello,
    Progress,
    Ready,
    Result,
    Started,
    Work,
    error_from_wire,
    frame,
    from_child,
    policy_to_wire,
)

if TYPE_CHECKING:
    from ._downloader import Downloader

__all__ = ["CHILD_MODULE", "WorkerProcesses", "per_process", "refuse_local_only"]

log = logging.getLogger("aiocircleci")

CHILD_MODULE: Final = "aiocircleci.download._child"
# The end of a dead child's stderr, quoted in the warning.
_STDERR_TAIL: Final = 2048
_READ_SIZE: Final = 256 * 1024

Item = tuple[DownloadRequest, PurePosixPath]


def refuse_local_only(
    session: object,
    transport: object,
    in_flight: object,
    opener: object,
    sleep: object,
    rng: object,
    clock: object,
    wall_clock: object,
) -> None:
    """``ValueError`` naming the ``Downloader`` settings given that cannot cross to
    another process (anything but the default)."""
    given = {
        "session": session is not None,
        "transport": transport is not None,
        "in_flight": in_flight is not None,
        "opener": opener is not nofollow_opener,
        "sleep": sleep is not anyio.sleep,
        "rng": rng is not None,
        "clock": clock is not time.monotonic,
        "wall_clock": wall_clock is not time.time,
    }
    names = [name for name, is_given in given.items() if is_given]
    if names:
        raise ValueError(
            f"{', '.join(names)} cannot be shared with worker processes (processes > 1)"
        )


def per_process(workers: int, processes: int) -> int:
    """Each process's share of the run's ``workers``.

    The run's total stays what the caller asked for: measured on 2 cores, 2 x 32
    downloads at once was slower than 2 x 16 in every round (more connections to
    one server, more contention); see benchmarks/README.md.
    """
    return -(-workers // processes)


class WorkerProcesses:
    """The downloader's child processes and their pumps; runs in its task group."""

    def __init__(self, dl: Downloader, count: int) -> None:
        self.dl = dl
        self.count = count
        self.input_closed = anyio.Event()

    def __repr__(self) -> str:
        return f"<WorkerProcesses count={self.count}>"

    def hello(self) -> Hello:
        dl = self.dl
        origins, globs = policy_to_wire(dl._policy)
        return Hello(
            token=dl._token.reveal() if dl._token is not None else None,
            origins=origins,
            globs=globs,
            dest=str(dl.dest.absolute()),
            run_id=dl.run_id,
            parent=os.getpid(),
            workers=dl._workers,
            max_connections_per_host=dl._per_host_option,
            max_open_files=dl._open_files_option,
            overwrite=dl._overwrite,
            retry=dl._retry,
            timeout=dl._timeout,
            chunk_size=dl._chunk_size,
            inline_limit=dl._inline_limit,
            segments=dl._segments,
            events=bool(dl._subscribers),
        )

    async def run(self, receive: MemoryObjectReceiveStream[Item]) -> None:
        with receive:
            hello = frame(self.hello())
            async with anyio.create_task_group() as tg:
                for index in range(self.count):
                    pump = _Pump(self, index, hello)
                    tg.start_soon(pump.run, receive.clone())


class _Pump:
    """One child: ``workers`` slots feed it, one reader turns its frames into results.

    Each slot takes one item from the shared stream, sends it to the child and
    waits for its result before it takes the next, exactly as a local worker
    waits for its download: the stream serves waiting receivers in turn, so a
    child gets work as fast as it finishes it. Frames queued in one turn of the
    event loop go out in one write.
    """

    def __init__(self, pool: WorkerProcesses, index: int, hello: bytes) -> None:
        self.pool = pool
        self.dl = pool.dl
        self.index = index
        self.hello = hello
        self.in_flight: dict[int, tuple[Item, anyio.Event]] = {}
        self.next_id = 0
        self.outbox: list[bytes] = []
        self.wake = anyio.Event()
        self.slots_open = self.dl._workers
        self.closing = False  # every slot is done: no more work for the child
        self.ready = anyio.Event()
        self.gate = anyio.Event()  # slots may take work (or must stop)
        self.exited = anyio.Event()
        self.dead = False  # its stdout ended: nothing more comes from it
        self.stopped = False  # we stopped it before it got work
        self.lost = 0  # items it held when it died
        self.stderr = bytearray()
        self.first: Item | None = None  # the item that started the child

    def __repr__(self) -> str:
        return f"<_Pump {self.index} in_flight={len(self.in_flight)} dead={self.dead}>"

    async def run(self, receive: MemoryObjectReceiveStream[Item]) -> None:
        env = environ_without_token()
        with receive:
            # A child only once the parent's own workers are all busy: they were the
            # stream's first waiting receivers, and it serves them in turn. A list they
            # absorb (two large files, a handful of small ones) starts no interpreter.
            # That first item is the child's first work once it is ready (the parent
            # keeps to its own workers' count of downloads), or the parent's if not.
            try:
                self.first = await receive.receive()
            except anyio.EndOfStream:
                return
            process = await anyio.open_process([sys.executable, "-m", CHILD_MODULE], env=env)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._drain_stderr, process)
                    tg.start_soon(self._write, process)
                    tg.start_soon(self._open_gate, process)
                    for _ in range(self.dl._workers):
                        tg.start_soon(self._slot, receive.clone())
                    await self._read(process)
                    code = await process.wait()
                    if self.lost or (code != 0 and not self.stopped):
                        self._report_lost(process, code)
                    # Its locks are gone with it: the slots may now resume its .part files.
                    self.exited.set()
                if self.first is not None:  # stopped (or dead) before it took it
                    item, self.first = self.first, None
                    await self._download_here(item)
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    await process.aclose()

    async def _download_here(self, item: Item) -> None:
        """Download ``item`` in this process, as a local worker would."""
        self.dl._finish(await self.dl._download(*item))  # a full disk stops the run there

    # -- to the child

    async def _open_gate(self, process: Process) -> None:
        """Let the slots take work once the child is ready; stop it if the input ends first."""
        async with anyio.create_task_group() as tg:

            async def input_closed() -> None:
                await self.pool.input_closed.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(input_closed)
            await self.ready.wait()
            tg.cancel_scope.cancel()
        if not self.ready.is_set():
            # A tiny list: the parent's workers have it all; don't wait for a start-up.
            self.stopped = True
            process.kill()
        self.gate.set()

    async def _slot(self, receive: MemoryObjectReceiveStream[Item]) -> None:
        dl = self.dl
        with receive:
            try:
                await self.gate.wait()
                while not (self.dead or self.stopped):
                    if self.first is not None:
                        item, self.first = self.first, None
                    else:
                        try:
                            item = await receive.receive()
                        except anyio.EndOfStream:
                            return
                    if self.dead:
                        # It died while we waited for work: this item is the parent's.
                        await self._download_here(item)
                        return
                    work_id = self.next_id
                    self.next_id += 1
                    done = anyio.Event()
                    self.in_flight[work_id] = (item, done)
                    self._post(self._work(work_id, item))
                    await done.wait()
                    if work_id in self.in_flight:
                        # The child died holding it: download it here, resuming its .part
                        # (which may stand in a directory this process made).
                        await self.exited.wait()
                        del self.in_flight[work_id]
                        assert dl._root is not None
                        dl._root.forget_made()
                        await self._download_here(item)
                        return
            finally:
                self.slots_open -= 1
                if self.slots_open == 0:
                    self.closing = True
                    self.wake.set()

    def _post(self, data: bytes) -> None:
        self.outbox.append(data)
        self.wake.set()

    @staticmethod
    def _work(work_id: int, item: Item) -> bytes:
        request, rel = item
        return frame(
            Work(work_id, request.url, request.path, str(rel), request.size, request.sha256)
        )

    async def _write(self, process: Process) -> None:
        assert process.stdin is not None
        stdin = process.stdin
        try:
            await stdin.send(self.hello)
            while True:
                await self.wake.wait()
                self.wake = anyio.Event()
                if self.outbox:
                    data = b"".join(self.outbox)
                    self.outbox.clear()
                    await stdin.send(data)
                if self.closing and not self.outbox:
                    return
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the child is gone: _read sees it
        finally:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                try:
                    await stdin.aclose()  # no more work: the child finishes and exits
                except (anyio.BrokenResourceError, OSError):
                    pass

    # -- from the child

    async def _read(self, process: Process) -> None:
        assert process.stdout is not None
        stdout = process.stdout
        buffer = bytearray()
        try:
            while True:
                buffer += await stdout.receive(_READ_SIZE)
                # Every whole frame of the chunk, without an await between them.
                start = 0
                while len(buffer) - start >= HEADER.size:
                    (size,) = HEADER.unpack_from(buffer, start)
                    end = start + HEADER.size + size
                    if end > len(buffer):
                        break
                    self._handle(from_child.decode(memoryview(buffer)[start + HEADER.size : end]))
                    start = end
                del buffer[:start]
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.dead = True
            self.lost = len(self.in_flight)
            self.ready.set()
            for _, done in self.in_flight.values():
                done.set()

    def _handle(self, message: FromChild) -> None:
        dl = self.dl
        if isinstance(message, Result):
            (request, rel), done = self.in_flight.pop(message.id)
            dl.report.bytes += message.received
            if message.started is not None:
                total, offset = message.started
                dl._emit(DownloadStarted(request, str(rel), total, offset))
            if message.progress:
                dl._emit(DownloadProgress(request, str(rel), message.progress))
            dl._finish(
                FileResult(
                    request=request,
                    status=FileStatus(message.status),
                    path=message.path,
                    size=message.size,
                    sha256=message.sha256,
                    attempts=message.attempts,
                    error=None if message.error is None else error_from_wire(message.error),
                )
            )
            done.set()
        elif isinstance(message, Progress):
            (request, rel), _ = self.in_flight[message.id]
            dl._emit(DownloadProgress(request, str(rel), message.delta))
        elif isinstance(message, Started):
            (request, rel), _ = self.in_flight[message.id]
            dl._emit(DownloadStarted(request, str(rel), message.total, message.offset))
        elif isinstance(message, Ready):
            self.ready.set()
        elif isinstance(message, Fatal):
            error = error_from_wire(message.error)
            dl._stop(error if isinstance(error, DiskError) else DiskError(str(error)))

    async def _drain_stderr(self, process: Process) -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            self.stderr += chunk
            del self.stderr[:-_STDERR_TAIL]

    def _report_lost(self, process: Process, code: int) -> None:
        self.dl.report.processes_lost += 1
        tail = self.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        log.warning(
            "download worker process %d (pid %d) exited with %d holding %d files; "
            "this process downloads them%s",
            self.index + 1,
            process.pid,
            code,
            self.lost,
            (": " + " | ".join(tail)) if tail else "",
        )
