"""Our own request and response values, so that nothing above the transport
speaks aiohttp. Pure data and small helpers about URLs and origins."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "IDEMPOTENT_METHODS",
    "Headers",
    "Request",
    "Response",
    "StreamResponse",
    "Transport",
    "origin_of",
    "redact_url",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive header mapping (first value wins)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            self._items.setdefault(name.lower(), (name, value))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def get(self, name: str, default: Any = None) -> Any:  # hot path: no KeyError round trip
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def lower_names(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request. ``url`` is absolute and already percent-encoded.

    ``timeout``: seconds this one exchange may take in all, body included (what
    is left of a call's deadline); a transport raises ``TimeoutError`` past it.
    """

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = None

    @property
    def idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS

    def __repr__(self) -> str:
        # Headers are left out on purpose: they carry the token.
        return f"<Request {self.method} {redact_url(self.url)}>"


@dataclass(frozen=True, slots=True)
class Response:
    """A buffered HTTP response."""

    status: int
    headers: Headers
    body: bytes
    url: str
    reason: str = ""

    def __repr__(self) -> str:
        return f"<Response {self.status} {redact_url(self.url)}>"


class StreamResponse(Protocol):
    """A response whose body is read chunk by chunk, as the server sent it
    (no Content-Encoding is undone). ``url`` is the URL that was requested."""

    status: int
    reason: str
    headers: Headers
    url: str

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; typed errors (``TransportError``) only."""
        ...

    async def read(self) -> bytes:
        """The whole body at once. Only for a body whose length is known and
        already checked against a cap (Content-Length without Content-Encoding)."""
        ...

    def close(self) -> None:
        """Drop the connection: it is never reused (a body that broke its framing)."""
        ...


class Transport(Protocol):
    """Sends one request, follows nothing, and hands back the response unread.

    The aiohttp implementation is ``_transport.AiohttpTransport``; tests of the
    request path without sockets use ``MockTransport``. Failures are typed
    (``TransportError`` and its subclasses), never a library's own exception.
    """

    def stream(self, request: Request) -> AbstractAsyncContextManager[StreamResponse]: ...

    async def aclose(self) -> None: ...


def _port(parts: Any) -> int | None:
    try:
        port: int | None = parts.port
    except ValueError:  # out of range or not a number: no origin can match it
        return -1
    return port


# The URL up to its path, query or fragment: all that its origin depends on.
_AUTHORITY = re.compile(r"[^/?#]*//[^/?#]*")


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, with the default port filled in.

    A port that is not a valid number gives ``-1``, which matches no origin.
    """
    # Every file of a run asks this of its URL (gate, policy, slot): the answer
    # is remembered per scheme and authority, not parsed again per file.
    authority = _AUTHORITY.match(url)
    return _origin(authority.group() if authority is not None else url)


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL" and the like
        return "", "", -1
    scheme = parts.scheme.lower()
    port = _port(parts) or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def redact_url(url: str, *, origin_only: bool = False) -> str:
    """The URL without user info and query, which may hold credentials or signatures.

    ``origin_only``: only ``scheme://host[:port]``, as ``--artifact-host`` takes it.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range, a broken IPv6 host: still never raise
        return url.partition("?")[0].partition("#")[0].rsplit("@", 1)[-1]
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    if origin_only:
        return f"{parts.scheme}://{netloc}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
