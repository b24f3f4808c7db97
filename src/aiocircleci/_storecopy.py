"""Artifact bodies from their host into an object store, with no local copy.

``StoreCopier.copy(url, key)`` opens the artifact through the one send path
(``Sender.open``: the token only where the origin policy allows it, redirects
followed by hand) and streams the body into ``ObjectStoreWriter.upload``: a
multipart upload that shows an object under ``key`` only once it is complete.
A failure of the fetch (a 5xx, a dropped connection, a body shorter than its
Content-Length) aborts that upload and is retried as the one retry decision
(``_retry.decide``) says, from byte 0; a 429 holds every copy from that host.

Memory is bounded across all uploads, not only per upload: each copy holds a
share of one ``MemoryBudget`` while it runs, as much as its Content-Length
for a body smaller than one part (a single PUT), else what a multipart upload
holds at most (``part_size * (max_concurrency + 1)``).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, Self

import anyio

from ._auth import OriginPolicy, Token
from ._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, Limits, RetryPolicy, Timeout
from ._http import Request, StreamResponse, Transport, redact_url
from ._limiter import OriginGates
from ._objectstore import ObjectStoreWriter, StoredObject
from ._send import GetRetries, Sender
from ._transport import AiohttpTransport
from .errors import (
    APIError,
    IncompleteDownload,
    TokenNotSent,
    TransportError,
    error_for_status,
)

__all__ = ["DEFAULT_MEMORY_BUDGET", "MemoryBudget", "StoreCopier"]

# What all uploads of one process may hold at once: four multipart uploads of
# 8 MiB parts, two in flight each, or many small bodies.
DEFAULT_MEMORY_BUDGET: Final = 96 * 1024 * 1024
# A small body is counted at no less than this (buffers, headers, the PUT).
_SMALLEST_SHARE: Final = 64 * 1024


class MemoryBudget:
    """Bytes that uploads in flight may hold, shared by every upload of a process.

    ``async with budget.hold(n)``: waits until ``n`` bytes (at most the whole
    budget) are free. Holders are served in turn, so a big share is never
    starved by a stream of small ones.
    """

    __slots__ = ("_free", "_released", "_turn", "total")

    def __init__(self, total: int = DEFAULT_MEMORY_BUDGET) -> None:
        if total < 1:
            raise ValueError("the memory budget must be at least 1 byte")
        self.total = total
        self._free = total
        self._turn = anyio.Lock()
        self._released = anyio.Event()

    @property
    def free(self) -> int:
        return self._free

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = max(1, min(size, self.total))
        async with self._turn:
            while self._free < size:
                await self._released.wait()
            self._free -= size
        try:
            yield
        finally:
            self._free += size
            released, self._released = self._released, anyio.Event()
            released.set()

    def __repr__(self) -> str:
        return f"<MemoryBudget free={self._free}/{self.total}>"


class StoreCopier:
    """Copies artifact URLs into one ``ObjectStoreWriter``; an async context manager.

    ``token`` goes only to URLs ``policy`` allows (as for the downloader).
    ``memory`` is the budget all copies share (one per process, by default one
    per copier). ``retry`` is the policy the one retry decision follows.
    """

    __slots__ = (
        "_clock",
        "_gates",
        "_memory",
        "_retry",
        "_rng",
        "_sender",
        "_sleep",
        "_transport",
        "_wall_clock",
        "writer",
    )

    def __init__(
        self,
        writer: ObjectStoreWriter,
        *,
        token: Token | None = None,
        policy: OriginPolicy | None = None,
        workers: int = 16,
        memory: MemoryBudget | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: Timeout = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self._memory = memory if memory is not None else MemoryBudget()
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._wall_clock = wall_clock
        self._transport: Transport = transport or AiohttpTransport(
            timeout=timeout,
            limits=Limits(max_connections_per_host=workers),
            user_agent="aiocircleci-download",
        )
        # One gate per origin, so that a 429 from a host holds every copy from it.
        self._gates = OriginGates(clock=self._clock, sleep=self._sleep)
        self._sender = Sender(
            self._transport,
            token=token,
            policy=policy,
            # Byte counts must be the stored bytes.
            headers={"Accept-Encoding": "identity"},
            gate_for=self._gates.gate_for,
            clock=clock,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self._transport.aclose()

    async def copy(self, url: str, key: str) -> StoredObject:
        """Fetch ``url`` into the object ``key``; its size and sha256 once complete.

        Raises the last ``CircleCIError`` of the fetch when the retry decision
        gives up, ``ObjectStoreError`` when the store fails.
        """
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
                return await self._attempt(url, key)
            except (TransportError, IncompleteDownload, APIError) as exc:
                if not await retries.again(exc, url):
                    raise

    async def _attempt(self, url: str, key: str) -> StoredObject:
        async with self._sender.open(Request("GET", url)) as exchange:
            resp = exchange.response
            if resp.status == 401 and exchange.token_withheld:
                raise TokenNotSent(redact_url(resp.url, origin_only=True), url=redact_url(resp.url))
            if resp.status != 200:
                error_class = error_for_status(resp.status) if resp.status >= 400 else APIError
                raise error_class(
                    resp.status,
                    resp.reason or f"HTTP {resp.status}",
                    method="GET",
                    url=redact_url(resp.url),
                    headers={k: v for k, v in resp.headers.items() if k.lower() == "retry-after"},
                )
            text = resp.headers.get("Content-Length")
            length = int(text) if text and text.strip().isdigit() else None
            share = self.writer.multipart_share
            if length is not None and length < self.writer.part_size:
                share = max(_SMALLEST_SHARE, length)
            async with self._memory.hold(share):
                return await self.writer.upload(key, _body(resp, length))


async def _body(resp: StreamResponse, length: int | None) -> AsyncIterator[bytes]:
    """The body's chunks; ``IncompleteDownload`` when it is not Content-Length long,
    so that the upload is aborted rather than completed short."""
    received = 0
    async for chunk in resp.iter_chunks():
        received += len(chunk)
        if length is not None and received > length:
            raise IncompleteDownload(
                f"the body is longer than its Content-Length of {length}",
                url=redact_url(resp.url),
            )
        yield chunk
    if length is not None and received != length:
        raise IncompleteDownload(
            f"the connection closed after {received} of {length} bytes",
            url=redact_url(resp.url),
        )
