"""One writer per destination: an exclusive ``flock`` on ``DEST/.aiocircleci-lock``.

Two runs on one DEST (a cron job overlapping a manual run) would share their
``.part`` files and corrupt each other's downloads, so every run that writes
into DEST holds this lock for its whole life. ``Mirror`` takes it (a library
user mirroring gets it too); the CLI's ``download --dest`` takes it around its
``Downloader``.

::

    async with DestLock("mirror", wait=False) as lock:
        ...  # lock.run_id names this run in .part ownership records

The lock is the kernel's: it vanishes with the process that holds it, however
that process dies, so a killed run never leaves a stale lock. The file itself
stays (deleting it would race with a run that just opened it); it holds the pid
and run id of the current holder, for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import anyio

from .errors import DestinationLocked, DiskError

__all__ = ["LOCK_NAME", "POLL_INTERVAL", "DestLock", "new_run_id"]

LOCK_NAME: Final = ".aiocircleci-lock"
# How often a waiting run tries the lock again (seconds).
POLL_INTERVAL: Final = 0.1


def new_run_id() -> str:
    """``<pid>-<random>``: unique per run, and says which process it was."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


class DestLock:
    """The exclusive lock on ``dest`` (created if missing); an async (or plain) context manager.

    ``wait`` waits for a running holder to finish; otherwise a held lock
    raises ``DestinationLocked`` naming the holder's pid. ``sleep`` is the
    waiting's clock (injectable for tests).
    """

    __slots__ = ("_fd", "_sleep", "dest", "path", "run_id", "wait")

    def __init__(
        self,
        dest: str | os.PathLike[str],
        *,
        wait: bool = False,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.dest = Path(dest)
        self.path = self.dest / LOCK_NAME
        self.wait = wait
        self.run_id = new_run_id()
        self._sleep = sleep
        self._fd = -1

    def __repr__(self) -> str:
        state = "held" if self.held else "free"
        return f"<DestLock {str(self.path)!r} {state} run={self.run_id}>"

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, flags, 0o644)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if exc.errno == errno.ELOOP:
                reason = "a symlink stands at the lock file's name"
            raise DiskError(f"cannot lock {self.dest}: {reason}", path=str(self.path)) from exc

    def try_acquire(self) -> bool:
        """Take the lock if it is free; ``False`` if another run holds it."""
        if self.held:
            raise RuntimeError("the lock is already held by this run")
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            reason = exc.strerror or type(exc).__name__
            raise DiskError(f"cannot lock {self.dest}: {reason}", path=str(self.path)) from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self.run_id}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            reason = exc.strerror or type(exc).__name__
            raise DiskError(f"cannot lock {self.dest}: {reason}", path=str(self.path)) from exc
        self._fd = fd
        return True

    def holder_pid(self) -> int | None:
        """The pid the lock file names (the holder, while it is held)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return None
        first = text.split(maxsplit=1)[0] if text.strip() else ""
        return int(first) if first.isdigit() else None

    def acquire(self) -> None:
        """Take the lock now, or raise ``DestinationLocked``."""
        if not self.try_acquire():
            raise self._locked()

    async def acquire_async(self) -> None:
        """Take the lock; with ``wait``, poll until the holder lets go (cancellable)."""
        while not self.try_acquire():
            if not self.wait:
                raise self._locked()
            await self._sleep(POLL_INTERVAL)

    def _locked(self) -> DestinationLocked:
        pid = self.holder_pid()
        return DestinationLocked(
            f"{self.dest} is in use by another aiocircleci run"
            + (f" (pid {pid})" if pid is not None else ""),
            path=str(self.dest),
            pid=pid,
        )

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Self:
        await self.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
