"""The mirror's manifest: one SQLite file in the destination, written from one thread.

``DEST/.aiocircleci-manifest.sqlite`` holds a row per mirrored file (its path
in DEST, URL, size, sha256, status, and the pipeline, workflow and job it came
from) and the listings of finished workflows and jobs, which no longer change,
so that a re-run need not ask the API for them again.

Every statement runs on one dedicated thread that owns the connection, so the
event loop never blocks on the disk and SQLite never sees two writers. Rows are
buffered on the event loop and committed in batches (every ``batch_size`` rows
and at least every ``flush_interval`` seconds); the database is in WAL mode
with ``synchronous=NORMAL``, so a committed batch survives the process being
killed. A row that never got committed is not lost either: its file is under its
final name only once complete, and the next run records it again.

A manifest SQLite calls corrupt (truncated, overwritten with garbage) is never
a dead end and never deleted: it is moved aside to
``.aiocircleci-manifest.sqlite.corrupt-<time>`` (with its ``-wal`` and
``-shm``) and a fresh one takes its place; ``moved_aside`` says where the old
one went, so the caller can rebuild the rows from what is on disk. ``rebuild``
moves even a healthy manifest aside, on request.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import anyio
from anyio.abc import TaskGroup

from .errors import DiskError

__all__ = [
    "COMPLETE",
    "FAILED",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestRow",
    "read_manifest",
]

T = TypeVar("T")

MANIFEST_NAME: Final = ".aiocircleci-manifest.sqlite"
COMPLETE: Final = "complete"
FAILED: Final = "failed"
SCHEMA_VERSION: Final = 1
CLOSE_TIMEOUT: Final = 10.0
# SQLite's result codes for a file that is damaged or not a database at all.
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_SIDE_FILES: Final = ("", "-wal", "-shm")


class _Corrupt(Exception):
    """SQLite says the manifest is damaged or not a database."""


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc)
    return "not a database" in text or "malformed" in text


_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    size INTEGER,
    sha256 TEXT,
    status TEXT NOT NULL,
    project_slug TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    pipeline_number INTEGER NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    job_number INTEGER NOT NULL,
    job_name TEXT NOT NULL,
    node_index INTEGER NOT NULL,
    artifact_path TEXT NOT NULL,
    error TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_job ON files (project_slug, job_number);
CREATE TABLE IF NOT EXISTS listings (
    key TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    recorded_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRow:
    """One file of the mirror. ``path`` is relative to DEST, POSIX-style.

    ``status`` is ``complete`` (the file on disk has ``size`` bytes hashing to
    ``sha256``) or ``failed`` (``error`` says why; the next run tries again).
    ``recorded_at`` is an ISO 8601 UTC time.
    """

    path: str
    url: str
    size: int | None
    sha256: str | None
    status: str
    project_slug: str
    pipeline_id: str
    pipeline_number: int
    workflow_id: str
    workflow_name: str
    job_number: int
    job_name: str
    node_index: int
    artifact_path: str
    error: str | None = None
    recorded_at: str = ""

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE


_COLUMNS: Final = tuple(f.name for f in fields(ManifestRow))
_INSERT_FILE: Final = (
    f"INSERT INTO files ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "path")
)
_INSERT_LISTING: Final = (
    "INSERT INTO listings (key, body, recorded_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET body = excluded.body, recorded_at = excluded.recorded_at"
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _nofollow(path: str, flags: int) -> int:
    # Only a regular file under its own name is hashed: a symlink planted there is refused.
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))


def _hash_file(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0, opener=_nofollow) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise IsADirectoryError(path)
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@dataclass(slots=True)
class _Pending:
    """Work buffered on the event loop until the next batch."""

    files: list[ManifestRow]
    hashed: list[tuple[ManifestRow, str]]
    listings: list[tuple[str, bytes, str]]

    def __bool__(self) -> bool:
        return bool(self.files or self.hashed or self.listings)


class Manifest:
    """The manifest of a mirror in ``dest``; use as an async context manager.

    ``read_only`` opens an existing manifest without ever writing (a dry run);
    a missing (or corrupt) one then reads as empty and nothing is created.
    A corrupt manifest opened for writing is moved aside (see the module's
    docstring) and ``moved_aside`` names where; ``rebuild`` does the same to a
    healthy one. ``corrupt`` says whether the manifest found was damaged.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        *,
        read_only: bool = False,
        rebuild: bool = False,
        batch_size: int = 256,
        flush_interval: float = 0.5,
    ) -> None:
        self.dest = Path(dest)
        self.path = self.dest / MANIFEST_NAME
        self.read_only = read_only
        self._rebuild = rebuild and not read_only
        self.corrupt = False
        self.moved_aside: Path | None = None
        self._batch_size = batch_size
        self._interval = flush_interval
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._pending = _Pending([], [], [])
        self._inflight: set[asyncio.Future[None]] = set()
        self._error: BaseException | None = None
        self._tg: TaskGroup | None = None
        self.rows_written = 0

    def __repr__(self) -> str:
        mode = " read-only" if self.read_only else ""
        return f"<Manifest {str(self.path)!r}{mode}>"

    # -- lifecycle

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="aiocircleci-manifest"
        )
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        if not self.read_only:
            self._tg = anyio.create_task_group()
            await self._tg.__aenter__()
            self._tg.start_soon(self._flusher)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tg is not None:
                self._tg.cancel_scope.cancel()
                await self._tg.__aexit__(None, None, None)
                self._tg = None
        finally:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                try:
                    await self.flush()
                finally:
                    await self._run(self._close)
            assert self._executor is not None
            self._executor.shutdown(wait=True)

    def _open(self) -> None:
        if self.read_only:
            if not self.path.exists():
                return
            uri = self.path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True)
            try:
                _check(conn)
            except (_Corrupt, sqlite3.DatabaseError) as exc:
                conn.close()
                if isinstance(exc, sqlite3.Error) and not _is_corrupt(exc):
                    raise DiskError(f"cannot open the manifest {self.path}: {exc}") from exc
                self.corrupt = True  # reads as empty; a dry run moves nothing
                return
            self._conn = conn
            return
        if self._rebuild and os.path.lexists(self.path):
            self._move_aside("rebuilt")
        try:
            conn = self._connect()
        except _Corrupt:
            self.corrupt = True
            self._move_aside("corrupt")
            conn = self._connect()
        self._conn = conn

    def _connect(self) -> sqlite3.Connection:
        """The manifest's connection, schema in place; ``_Corrupt`` if SQLite says so."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            _check(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DiskError(
                    f"the manifest {self.path} was written by a newer aiocircleci",
                    path=str(self.path),
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except _Corrupt:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if _is_corrupt(exc):
                raise _Corrupt(str(exc)) from exc
            raise DiskError(f"cannot open the manifest {self.path}: {exc}") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _move_aside(self, why: str) -> None:
        """Keep the old manifest (and its WAL) under a new name; never delete it."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{MANIFEST_NAME}.{why}-{stamp}")
        try:
            for suffix in _SIDE_FILES:
                source = Path(f"{self.path}{suffix}")
                if os.path.lexists(source):
                    os.replace(source, f"{aside}{suffix}")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DiskError(
                f"cannot move the manifest {self.path} aside: {reason}", path=str(self.path)
            ) from exc
        self.moved_aside = aside

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func`` on the manifest's thread; the event loop waits without blocking."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    # -- reading

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._conn is None:
            return []
        return self._conn.execute(sql, params).fetchall()

    async def job_files(self, project_slug: str, job_number: int) -> list[ManifestRow]:
        """The rows of one job's files."""
        found = await self._run(
            self._query,
            f"SELECT {', '.join(_COLUMNS)} FROM files WHERE project_slug = ? AND job_number = ?",
            (project_slug, job_number),
        )
        return [ManifestRow(**dict(zip(_COLUMNS, row, strict=True))) for row in found]

    async def listing(self, key: str) -> bytes | None:
        """A stored listing (see ``store_listing``), or ``None``."""
        found = await self._run(self._query, "SELECT body FROM listings WHERE key = ?", (key,))
        return bytes(found[0][0]) if found else None

    async def rows(self) -> list[ManifestRow]:
        """Every file row, ordered by path."""
        found = await self._run(
            self._query, f"SELECT {', '.join(_COLUMNS)} FROM files ORDER BY path", ()
        )
        return [ManifestRow(**dict(zip(_COLUMNS, row, strict=True))) for row in found]

    # -- writing (buffered; committed in batches on the manifest's thread)

    def record(self, row: ManifestRow) -> None:
        """Record a file (replacing the row of the same path)."""
        self._check_writable()
        if not row.recorded_at:
            row = _with_time(row)
        self._pending.files.append(row)
        self._maybe_flush()

    def record_hashing(self, row: ManifestRow, absolute_path: str) -> None:
        """Record a complete file whose size and sha256 are read from disk first."""
        self._check_writable()
        self._pending.hashed.append((_with_time(row), absolute_path))
        self._maybe_flush()

    def store_listing(self, key: str, body: bytes) -> None:
        """Keep a listing that will not change (a finished workflow's jobs, say)."""
        self._check_writable()
        self._pending.listings.append((key, body, utc_now()))
        self._maybe_flush()

    def _check_writable(self) -> None:
        if self.read_only:
            raise RuntimeError("this manifest is open read-only")
        if self._error is not None:
            raise DiskError(f"cannot write the manifest {self.path}: {self._error}")

    def _maybe_flush(self) -> None:
        p = self._pending
        if len(p.files) + len(p.listings) >= self._batch_size or len(p.hashed) >= 8:
            self._submit()

    def _submit(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, _Pending([], [], [])
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._write, batch)
        self._inflight.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._inflight.discard(future)
        if not future.cancelled() and future.exception() is not None and self._error is None:
            self._error = future.exception()

    def _write(self, batch: _Pending) -> None:
        conn = self._conn
        assert conn is not None
        files = list(batch.files)
        for row, absolute in batch.hashed:
            try:
                size, sha = _hash_file(absolute)
            except OSError:
                continue  # gone again; the next run finds it missing and fetches it
            files.append(_replace(row, size=size, sha256=sha))
        try:
            conn.execute("BEGIN")
            conn.executemany(_INSERT_FILE, [astuple(r) for r in files])
            conn.executemany(_INSERT_LISTING, batch.listings)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.rows_written += len(files)

    async def record_all(self, rows: Iterable[ManifestRow]) -> int:
        """Record every row of ``rows`` now, in batches; ``rows`` is consumed on the
        manifest's thread (it may read the disk), never held whole. Returns the count."""
        self._check_writable()
        await self.flush()
        return await self._run(self._write_all, rows)

    def _write_all(self, rows: Iterable[ManifestRow]) -> int:
        iterator = iter(rows)
        count = 0
        while batch := list(itertools.islice(iterator, self._batch_size * 4)):
            self._write(_Pending([_with_time(r) for r in batch], [], []))
            count += len(batch)
        return count

    async def flush(self) -> None:
        """Commit everything recorded so far; raise ``DiskError`` if a batch failed."""
        if not self.read_only:
            self._submit()
            while self._inflight:
                await asyncio.wait(set(self._inflight))
        if self._error is not None:
            error = self._error
            raise DiskError(f"cannot write the manifest {self.path}: {error}") from error

    async def _flusher(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            if self._pending:
                self._submit()


def _check(conn: sqlite3.Connection) -> None:
    """Raise ``_Corrupt`` unless SQLite finds the whole file sound (every page is read)."""
    try:
        found = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        if _is_corrupt(exc):
            raise _Corrupt(str(exc)) from exc
        raise
    if found is None or found[0] != "ok":
        raise _Corrupt(str(found[0]) if found else "quick_check returned nothing")


def _with_time(row: ManifestRow) -> ManifestRow:
    return _replace(row, recorded_at=row.recorded_at or utc_now())


def _replace(row: ManifestRow, **changes: Any) -> ManifestRow:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values.update(changes)
    return ManifestRow(**values)


def read_manifest(dest: str | os.PathLike[str]) -> Iterator[ManifestRow]:
    """Every row of the manifest in ``dest``, read synchronously (for scripts and tests)."""
    path = Path(dest) / MANIFEST_NAME
    if not path.exists():
        return
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        query = f"SELECT {', '.join(_COLUMNS)} FROM files ORDER BY path"
        for row in conn.execute(query):
            yield ManifestRow(**dict(zip(_COLUMNS, row, strict=True)))
    finally:
        conn.close()
