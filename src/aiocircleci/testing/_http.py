"""HTTP mechanics shared by the three hosts: tokens, ranges, and faulty bodies.

Faults are real network behaviour, not status codes dressed up: a reset is a
TCP RST (``SO_LINGER`` 0), a short body is a clean close after fewer bytes than
``Content-Length`` announced, a stall keeps the connection open with no data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from ._faults import FaultKind

__all__ = [
    "Body",
    "ByteRange",
    "extract_token",
    "reset_connection",
    "resolve_range",
    "send",
]


def extract_token(headers: Mapping[str, str]) -> str | None:
    """The API token from ``Circle-Token``, HTTP Basic (user name) or ``Bearer``."""
    token = headers.get("Circle-Token")
    if token:
        return token.strip()
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _password = decoded.partition(":")
        return user or None
    return None


def reset_connection(request: web.BaseRequest) -> None:
    """Send a TCP RST: drop the connection without flushing anything still buffered."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(frozen=True, slots=True)
class ByteRange:
    """The half-open byte range ``[start, end)`` a 206 answers with."""

    start: int
    end: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


RangeOutcome = ByteRange | Literal["full", "unsatisfiable"]


def resolve_range(
    headers: Mapping[str, str], size: int, etag: str, last_modified: str
) -> RangeOutcome:
    """What to answer to ``Range`` and ``If-Range`` (RFC 9110 §13.1.5, §14).

    A missing, malformed or multi-range ``Range`` gets the full body, as does an
    ``If-Range`` that does not match (strong ETag comparison, or the exact
    ``Last-Modified`` date). A range starting at or beyond the end is unsatisfiable.
    """
    header = headers.get("Range")
    if not header:
        return "full"
    if_range = headers.get("If-Range")
    if if_range is not None:
        if_range = if_range.strip()
        validator = etag if if_range.startswith(('"', "W/")) else last_modified
        if if_range != validator:
            return "full"
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return "full"
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return "full"
    try:
        if not first:
            suffix = int(last)
            if suffix <= 0 or size == 0:
                return "unsatisfiable"
            return ByteRange(max(0, size - suffix), size)
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return "full"
    if last and end <= start:
        return "full"  # "bytes=9-3" is invalid, and invalid ranges are ignored
    if start >= size:
        return "unsatisfiable"
    return ByteRange(start, min(end, size))


@dataclass(frozen=True, slots=True)
class Body:
    """A response body: fixed bytes, or ``chunks`` produced on demand, ``length`` long."""

    length: int
    data: bytes | None = None
    chunks: Iterable[bytes] | None = None

    @classmethod
    def of(cls, data: bytes) -> Body:
        return cls(len(data), data=data)

    def iter(self) -> Iterable[bytes]:
        if self.data is not None:
            return (self.data,)
        return self.chunks if self.chunks is not None else ()


@dataclass(slots=True)
class Sent:
    """What actually went out, for the request log."""

    response: web.StreamResponse
    status: int | None
    bytes_sent: int


async def _wait_stalled(request: web.BaseRequest, stop: asyncio.Event, limit: float) -> None:
    """Hold the connection open until the client leaves, the server stops, or ``limit``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not stop.is_set() and request.transport is not None and loop.time() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _flush(request: web.BaseRequest, settle: float = 0.03) -> None:
    """Let what was written reach the peer, so a reset does not swallow it."""
    transport = request.transport
    while transport is not None and transport.get_write_buffer_size() > 0:
        await asyncio.sleep(0.002)
        transport = request.transport
    # A RST discards whatever the peer has not read yet; give it a moment to read.
    await asyncio.sleep(settle)


async def _write(
    response: web.StreamResponse,
    chunks: Iterable[bytes],
    sent: Sent,
    limit: int,
    rate: float | None,
) -> None:
    """Write ``chunks`` up to ``limit`` bytes, no faster than ``rate`` bytes/s if given.

    Paced the way nginx's ``limit_rate`` paces a response: the body goes out in
    slices of about 20 ms worth, each one once the time for the bytes before it
    has passed. ``sent.bytes_sent`` counts what went out, even if the peer leaves.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    step = max(4096, int(rate / 50)) if rate else 0
    for chunk in chunks:
        room = limit - sent.bytes_sent
        if room <= 0:
            break
        view = memoryview(chunk)[:room]
        if not step:
            await response.write(view)
            sent.bytes_sent += len(view)
            continue
        assert rate is not None
        for offset in range(0, len(view), step):
            delay = start + sent.bytes_sent / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            part = view[offset : offset + step]
            await response.write(part)
            sent.bytes_sent += len(part)


async def send(
    request: web.BaseRequest,
    *,
    status: int,
    headers: Mapping[str, str],
    body: Body,
    fault: FaultKind | None = None,
    cut_bytes: int = 64 * 1024,
    stop: asyncio.Event,
    stall_seconds: float = 300.0,
    rate: float | None = None,
) -> Sent:
    """Answer with ``body``, or break the answer the way ``fault`` says.

    ``headers`` must not carry ``Content-Length``; it is set from ``body.length``.
    For ``HEAD`` only the headers go out. A client that disconnects mid-body is
    not an error: the answer just ends there. ``rate`` caps the body at that many
    bytes per second (``None``: as fast as the connection takes it).
    """
    head = request.method == "HEAD"
    if head or (fault is None and rate is None and body.data is not None):
        whole = web.Response(status=status, headers=headers, body=None if head else body.data)
        if head:
            whole.headers["Content-Length"] = str(body.length)
        return Sent(whole, status, 0 if head else body.length)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = body.length
    sent = Sent(response, status, 0)
    try:
        await response.prepare(request)
        if fault is None:
            await _write(response, body.iter(), sent, body.length, rate)
            await response.write_eof()
            return sent
        await _write(response, body.iter(), sent, min(cut_bytes, body.length // 2), rate)
        await _flush(request)
    except ConnectionError:
        return sent
    if fault is FaultKind.SHORT_BODY:
        transport = request.transport
        if transport is not None:
            transport.close()  # a clean FIN after what was written: just too few bytes
    elif fault is FaultKind.STALL:
        await _wait_stalled(request, stop, stall_seconds)
        reset_connection(request)
    else:
        reset_connection(request)
    return sent
