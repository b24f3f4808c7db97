"""Segmented downloads: one large file as byte ranges over several connections.

Object stores cap one stream (S3 pre-signed URLs, nginx ``limit_rate``), so a
large file comes in fastest as several ``Range`` requests at once. This module
is the engine, apart from the part file that holds the result:

- ``plan_segments`` cuts ``[0, total)`` into fixed-size ``Segment`` values and
  leaves out those a ``.meta`` records as done (``SegmentRecord``);
- ``fetch_segments`` fetches the rest concurrently through the one send path
  (``Sender.open``: token policy, redirects, rate gates), hands each body chunk
  to the caller's ``write_at(offset, data)`` and retries a broken segment from
  where *it* stopped, asking ``_retry.decide``;
- ``PrefixHasher`` hashes the contiguous finished prefix as segments complete,
  reading them back from the part file (the page cache) on a worker thread, so
  that when the last segment lands only its own bytes are left to hash.

Two signals tell the caller to change course; neither leaves the downloader:
``RangeNotHonoured`` (a 200 where a 206 was asked: fall back to one stream
from byte 0) and ``SegmentURLExpired`` (the signed storage URL answered 403:
resolve the artifact URL again and call once more with the same done set).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from ._config import DEFAULT_RETRY, RetryPolicy
from ._http import Request, StreamResponse, redact_url
from ._send import GetRetries, Sender
from .errors import (
    APIError,
    CircleCIError,
    IncompleteDownload,
    TransportError,
    error_for_status,
)

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_SEGMENTS",
    "DEFAULT_SEGMENTS_PER_FILE",
    "DEFAULT_SEGMENT_SIZE",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WRITE_SIZE",
    "PrefixHasher",
    "RangeNotHonoured",
    "Segment",
    "SegmentConfig",
    "SegmentRecord",
    "SegmentURLExpired",
    "fetch_segments",
    "plan_segments",
]

MiB = 1024 * 1024
# 16 MiB ranges: a 256 MiB file is 16 of them, and a reset costs at most one.
DEFAULT_SEGMENT_SIZE = 16 * MiB
# aria2c's -x16 -s16 reaches 1 GB/s against a 32 MB/s cap with 16 connections.
DEFAULT_SEGMENTS_PER_FILE = 16
# Below this a file is one stream: a range request costs a round trip.
DEFAULT_THRESHOLD = 32 * MiB
DEFAULT_MAX_CONNECTIONS = 32
# Body chunks are gathered up to this much before one positional write: about
# what one socket read delivers, so most writes need no join.
DEFAULT_WRITE_SIZE = 256 * 1024
# Completed data is read back for hashing this much at a time (1 MiB measured
# ~0.1 s more CPU and ~4 MiB more peak RSS for 2 x 256 MiB, no faster).
_HASH_BLOCK = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)", re.ASCII)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentConfig:
    """How large files are split.

    A file is segmented when its server answers ``Accept-Ranges: bytes`` and a
    length above ``threshold``; it is cut into ``segment_size`` ranges, at most
    ``segments_per_file`` of them in flight for one file and at most
    ``max_connections`` across every file of a download run. ``write_size`` is
    how much of a body is gathered before one positional write (memory per
    segment in flight).
    """

    segment_size: int = DEFAULT_SEGMENT_SIZE
    segments_per_file: int = DEFAULT_SEGMENTS_PER_FILE
    threshold: int = DEFAULT_THRESHOLD
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    write_size: int = DEFAULT_WRITE_SIZE

    def __post_init__(self) -> None:
        for name in ("segment_size", "segments_per_file", "max_connections", "write_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if self.threshold < 0:
            raise ValueError(f"threshold must not be negative, not {self.threshold!r}")

    def applies(self, total: int | None, *, accept_ranges: str | None) -> bool:
        """Whether a file of ``total`` bytes whose server said ``accept_ranges`` is segmented."""
        if total is None or total <= self.threshold or total <= self.segment_size:
            return False
        return (accept_ranges or "").strip().lower() == "bytes"


DEFAULT_SEGMENTS = SegmentConfig()


class Segment(msgspec.Struct, frozen=True):
    """The half-open byte range ``[start, end)`` numbered ``index`` in its file's plan."""

    index: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def plan_segments(
    total: int, *, segment_size: int, done: Collection[int] = frozenset()
) -> list[Segment]:
    """The segments of a ``total``-byte file still to fetch, in order.

    Segment ``i`` is ``[i * segment_size, min(total, (i + 1) * segment_size))``:
    the numbering depends only on ``total`` and ``segment_size``, so the indexes
    a ``.meta`` recorded in an earlier run mean the same ranges now.
    """
    if total < 0:
        raise ValueError(f"total must not be negative, not {total!r}")
    if segment_size < 1:
        raise ValueError(f"segment_size must be at least 1, not {segment_size!r}")
    count = -(-total // segment_size)
    return [
        Segment(i, i * segment_size, min(total, (i + 1) * segment_size))
        for i in range(count)
        if i not in done
    ]


class SegmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a ``.meta`` keeps of a segmented download: the plan's parameters
    and a bitmap of the finished segments (hex, bit ``i`` of byte ``i // 8``).

    A record made for another ``total`` or ``segment_size`` does not apply: its
    indexes name other ranges (``done_for`` returns nothing then).
    """

    total: int
    segment_size: int
    done: str = ""

    @classmethod
    def empty(cls, total: int, segment_size: int) -> SegmentRecord:
        return cls(total=total, segment_size=segment_size)

    def indexes(self) -> set[int]:
        """The finished segments' indexes (bad hex counts as nothing done)."""
        try:
            bits = bytes.fromhex(self.done)
        except ValueError:
            return set()
        count = -(-self.total // self.segment_size) if self.segment_size > 0 else 0
        return {i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte >> b & 1} & set(
            range(count)
        )

    def done_for(self, total: int, segment_size: int) -> set[int]:
        """The finished indexes if this record was made for the same plan, else none."""
        if (self.total, self.segment_size) != (total, segment_size):
            return set()
        return self.indexes()

    def with_done(self, index: int) -> SegmentRecord:
        """A record with segment ``index`` finished as well."""
        bits = bytearray(bytes.fromhex(self.done)) if self.done else bytearray()
        if len(bits) <= index // 8:
            bits.extend(bytes(index // 8 + 1 - len(bits)))
        bits[index // 8] |= 1 << index % 8
        return SegmentRecord(total=self.total, segment_size=self.segment_size, done=bits.hex())


class RangeNotHonoured(Exception):
    """A 200 came where a 206 was asked: the server ignores ranges, or the file
    changed under ``If-Range``. Bytes written so far are not to be trusted;
    the caller fetches the file as one stream from byte 0."""


class SegmentURLExpired(Exception):
    """The signed storage URL answered 403: the caller resolves the artifact
    URL again and calls ``fetch_segments`` with the new URL and the same done set."""


# ---------------------------------------------------------------- prefix hashing


def _hash_range(fd: int, digest: Any, start: int, end: int, block: int) -> None:
    offset = start
    while offset < end:
        data = os.pread(fd, min(block, end - offset), offset)
        if not data:
            raise OSError(f"the part file ends at {offset}, before {end}")
        digest.update(data)
        offset += len(data)


class PrefixHasher:
    """The sha256 of a file whose ranges finish out of order.

    ``await hasher.add(start, end)`` when ``[start, end)`` is on disk (in
    ``fd``); the hasher reads the contiguous finished prefix back with
    ``os.pread`` on a worker thread, ``block`` bytes at a time, so it never
    holds a whole segment. Only one task hashes at a time; a call that finds
    another hashing returns at once, and that one picks up its range too.
    ``offset`` is how far the digest has got.
    """

    __slots__ = ("_block", "_digest", "_fd", "_finished", "_lock", "offset")

    def __init__(self, fd: int, *, digest: Any = None, block: int = _HASH_BLOCK) -> None:
        self._fd = fd
        self._digest = digest if digest is not None else hashlib.sha256()
        self._block = block
        self._finished: dict[int, int] = {}  # start -> end, past the prefix
        self._lock = anyio.Lock()
        self.offset = 0

    def __repr__(self) -> str:
        return f"<PrefixHasher at {self.offset}, {len(self._finished)} ranges waiting>"

    async def add(self, start: int, end: int) -> None:
        """``[start, end)`` is written: hash whatever it makes contiguous."""
        if end > start:
            self._finished[start] = end
        if self._lock.locked():
            return
        async with self._lock:
            while (end := self._finished.pop(self.offset, -1)) >= 0:
                begin = self.offset
                await anyio.to_thread.run_sync(
                    _hash_range, self._fd, self._digest, begin, end, self._block
                )
                self.offset = end

    def hexdigest(self, total: int) -> str:
        """The sha256 of the whole file; ``ValueError`` while a gap remains below ``total``."""
        if self.offset != total or self._lock.locked():
            raise ValueError(f"hashed {self.offset} of {total} bytes")
        return str(self._digest.hexdigest())


# ---------------------------------------------------------------- fetching

WriteAt = Callable[[int, bytes], Awaitable[object] | None]
OnDone = Callable[[Segment], Awaitable[object] | None]


async def _call(result: Awaitable[object] | None) -> None:
    if result is not None and inspect.isawaitable(result):
        await result


async def fetch_segments(
    sender: Sender,
    url: str,
    *,
    total: int,
    validator: str | None,
    write_at: WriteAt,
    plan: Sequence[Segment],
    config: SegmentConfig = DEFAULT_SEGMENTS,
    connections: anyio.CapacityLimiter | None = None,
    on_done: OnDone | None = None,
    on_progress: Callable[[int], None] | None = None,
    signed: bool = False,
    first: StreamResponse | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    rng: random.Random | None = None,
) -> None:
    """Fetch the ``plan``'s segments of the ``total``-byte file at ``url``.

    At most ``config.segments_per_file`` segments are in flight, each holding
    one slot of ``connections`` (shared between files; by default a limiter of
    ``config.max_connections`` for this file alone) while its request is open.
    Each asks ``Range: bytes=a-b`` (plus ``If-Range: validator``), checks that
    the 206's Content-Range is exactly that range of ``total`` bytes, and hands
    its body to ``write_at(offset, data)`` in pieces of at most
    ``config.write_size``. ``on_progress(n)`` sees every chunk,
    ``on_done(segment)`` each segment once all its bytes were written.

    A dropped connection, a short body or a retryable status retries only that
    segment, from where it stopped, as ``_retry.decide`` says; when it gives up,
    the error is raised (the other segments are cancelled). A 200 raises
    ``RangeNotHonoured``; a 403 after a redirect (or from ``url`` itself when
    ``signed``: it is a pre-signed storage URL) raises ``SegmentURLExpired``.

    ``first`` is the unread 200 that gave ``total`` (the whole file from byte
    0): its body serves segment 0 when the plan starts with it, so that
    connection is not wasted, and the response is closed once segment 0 is in
    (at once when the plan has no segment 0). The caller still owns it.
    """
    if connections is None:
        connections = anyio.CapacityLimiter(config.max_connections)
    fetcher = _Fetcher(
        sender,
        url,
        total=total,
        validator=validator,
        write_at=write_at,
        config=config,
        connections=connections,
        on_progress=on_progress,
        signed=signed,
        retry=retry,
        clock=clock,
        wall_clock=wall_clock,
        sleep=sleep,
        rng=rng or random.Random(),
    )
    for segment in plan:
        if not 0 <= segment.start < segment.end <= total:
            raise ValueError(f"segment {segment!r} is not within [0, {total})")
    head: tuple[Segment, StreamResponse] | None = None
    if first is not None:
        if plan and plan[0].start == 0:
            head = (plan[0], first)
            plan = plan[1:]
        else:
            first.close()
    queue = iter(plan)
    workers = min(config.segments_per_file, len(plan) + (head is not None))
    try:
        async with anyio.create_task_group() as tg:
            for i in range(workers):
                tg.start_soon(fetcher.work, queue, on_done, head if i == 0 else None)
    except BaseExceptionGroup as group:
        raise _first(group) from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error to report of several segments' failures, the signals first."""
    leaves = list(_leaves(group))
    for kind in (RangeNotHonoured, SegmentURLExpired, CircleCIError):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0]


class _Progress:
    """How far one segment got (every byte before ``position`` is written) and
    the URL that answered it last (a 429 cools that origin down)."""

    __slots__ = ("position", "url")

    def __init__(self, position: int, url: str) -> None:
        self.position = position
        self.url = url


class _Fetcher:
    """What every segment of one file shares: the request, the limits, the retry policy."""

    __slots__ = (
        "_clock",
        "_config",
        "_connections",
        "_on_progress",
        "_retry",
        "_rng",
        "_sender",
        "_signed",
        "_sleep",
        "_total",
        "_url",
        "_validator",
        "_wall_clock",
        "_write_at",
    )

    def __init__(
        self,
        sender: Sender,
        url: str,
        *,
        total: int,
        validator: str | None,
        write_at: WriteAt,
        config: SegmentConfig,
        connections: anyio.CapacityLimiter,
        on_progress: Callable[[int], None] | None,
        signed: bool,
        retry: RetryPolicy,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
    ) -> None:
        self._sender = sender
        self._url = url
        self._total = total
        self._validator = validator
        self._write_at = write_at
        self._config = config
        self._connections = connections
        self._on_progress = on_progress
        self._signed = signed
        self._retry = retry
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng

    async def work(
        self,
        queue: Iterator[Segment],
        on_done: OnDone | None,
        head: tuple[Segment, StreamResponse] | None = None,
    ) -> None:
        if head is not None:
            await self.fetch(head[0], first=head[1])
            if on_done is not None:
                await _call(on_done(head[0]))
        for segment in queue:
            await self.fetch(segment)
            if on_done is not None:
                await _call(on_done(segment))

    async def fetch(self, segment: Segment, *, first: StreamResponse | None = None) -> None:
        """One segment, retried from where it stopped until done or given up.

        With ``first`` (a 200 for the whole file), the first attempt reads its
        body up to the segment's end and closes it; retries ask for ranges.
        """
        progress = _Progress(segment.start, self._url)
        retries = GetRetries(
            self._sender,
            self._retry,
            rng=self._rng,
            clock=self._clock,
            wall_clock=self._wall_clock,
            sleep=self._sleep,
        )
        while True:
            try:
                async with self._connections:
                    if first is not None:
                        progress.url = first.url
                        response, first = first, None
                        try:
                            await self._receive(response, progress, segment.end, whole=True)
                        finally:
                            response.close()
                    else:
                        await self._attempt(segment, progress)
                return
            except (TransportError, IncompleteDownload, APIError) as exc:
                if not await retries.again(exc, progress.url):
                    raise

    async def _attempt(self, segment: Segment, progress: _Progress) -> None:
        """One request for the rest of ``segment``, from ``progress.position``."""
        end = segment.end
        position = progress.position
        headers = {"Range": f"bytes={position}-{end - 1}"}
        if self._validator:
            headers["If-Range"] = self._validator
        async with self._sender.open(Request("GET", self._url, headers=headers)) as exchange:
            resp = exchange.response
            progress.url = resp.url
            status = resp.status
            if status == 206:
                self._check_range(resp, position, end)
                await self._receive(resp, progress, end)
                return
            if status == 200:
                resp.close()
                raise RangeNotHonoured
            if status == 403 and (exchange.redirects > 0 or self._signed):
                raise SegmentURLExpired
            raise (error_for_status(status) if status >= 400 else APIError)(
                status,
                resp.reason or f"HTTP {status}",
                method="GET",
                url=redact_url(resp.url),
                headers={k: v for k, v in resp.headers.items() if k.lower() == "retry-after"},
            )

    def _check_range(self, resp: StreamResponse, start: int, end: int) -> None:
        value = resp.headers.get("Content-Range") or ""
        match = _CONTENT_RANGE.fullmatch(value.strip())
        length = resp.headers.get("Content-Length")
        if (
            match is None
            or (int(match[1]), int(match[2]) + 1, int(match[3])) != (start, end, self._total)
            or (length is not None and length != str(end - start))
        ):
            resp.close()
            raise IncompleteDownload(
                f"asked for bytes {start}-{end - 1}/{self._total}, "
                f"got {value[:80]!r} ({length!r} bytes)",
                url=redact_url(resp.url),
            )

    async def _receive(
        self, resp: StreamResponse, progress: _Progress, end: int, *, whole: bool = False
    ) -> None:
        """Stream the body to ``write_at``, moving ``progress.position`` past
        every byte written (on failure too: a retry asks for the rest only).

        ``whole``: the body goes on past ``end`` (the whole file): it is read up
        to ``end`` only, and the caller closes the response."""
        position = progress.position
        write_size = self._config.write_size
        on_progress = self._on_progress
        buffer: list[bytes] = []
        buffered = 0
        base = position  # where the buffer starts
        try:
            async for chunk in resp.iter_chunks():
                n = len(chunk)
                if whole and base + buffered + n >= end:
                    chunk = chunk[: end - base - buffered]
                    n = len(chunk)
                    buffer.append(chunk)
                    buffered += n
                    if on_progress is not None:
                        on_progress(n)
                    break
                if base + buffered + n > end:
                    resp.close()
                    raise IncompleteDownload(
                        f"received more than the {end - position} bytes of the range",
                        url=redact_url(resp.url),
                    )
                buffer.append(chunk)
                buffered += n
                if on_progress is not None:
                    on_progress(n)
                if buffered >= write_size:
                    await _call(self._write_at(base, b"".join(buffer)))
                    base += buffered
                    progress.position = base
                    buffer, buffered = [], 0
        except (TransportError, IncompleteDownload):
            # Keep what arrived: the retry asks for the rest only.
            if buffer:
                with anyio.CancelScope(shield=True):
                    await _call(self._write_at(base, b"".join(buffer)))
                progress.position = base + buffered
            raise
        if buffer:
            await _call(self._write_at(base, b"".join(buffer)))
            base += buffered
            progress.position = base
        if base != end:
            raise IncompleteDownload(
                f"received {base - position} of {end - position} bytes of the range",
                url=redact_url(resp.url),
            )
