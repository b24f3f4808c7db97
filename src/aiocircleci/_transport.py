"""The one module that speaks aiohttp's client: ``AiohttpTransport``.

Everything above it deals in ``_http.Request`` / ``_http.StreamResponse`` values
and in our own exceptions. Redirects are never followed here, and no
Content-Encoding is undone here: the send path (``_send.py``) follows redirects
by hand, because only it knows which origins may see the token, and it inflates
bodies itself, so that a size cap counts the bytes that reach memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Limits, Timeout
from ._http import Headers, Request, redact_url
from .errors import ConnectError, TimeoutError, TransportError

__all__ = ["AiohttpStream", "AiohttpTransport"]


def _translate(exc: BaseException, request: Request) -> TransportError:
    """Our exception for an aiohttp or socket failure, without the original's text.

    aiohttp messages can quote URLs; we name the URL ourselves, redacted.
    """
    method, url = request.method, redact_url(request.url)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return TimeoutError("timed out", method=method, url=url)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ConnectError("connection dropped mid-body", method=method, url=url)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectError("server disconnected", method=method, url=url)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(
            f"cannot connect: {exc.os_error.strerror or 'refused'}", method=method, url=url
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return ConnectError("malformed HTTP response", method=method, url=url)
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return ConnectError(f"connection failed ({type(exc).__name__})", method=method, url=url)
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return ConnectError("invalid URL", method=method, url=url)
    return TransportError(f"HTTP failure ({type(exc).__name__})", method=method, url=url)


# ValueError: yarl and aiohttp raise it for URLs and header values they refuse.
_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


class _StrictConnector(aiohttp.TCPConnector):
    """A connector that never reuses a connection on which bytes arrived unasked.

    A server that sends more than it announced (an extra response after a body)
    leaves that response queued on the idle connection; aiohttp would hand it to
    the next request on that connection as its answer. Such a connection is
    closed instead.
    """

    async def _get(self, key: Any, traces: Any) -> Any:
        while True:
            conn = await super()._get(key, traces)
            if conn is None:
                return None
            protocol = conn.protocol
            if protocol is None or not protocol.should_close:
                return conn
            conn.close()


class _ResponseHeaders(Headers):
    """aiohttp's own case-insensitive headers, read in place: no copy per response.

    The same answers as ``Headers`` (first value wins, names as sent).
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: CIMultiDictProxy[str]) -> None:
        self._raw = raw

    def __getitem__(self, name: str) -> str:
        return self._raw[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._raw.get(name, default)

    def _first_names(self) -> dict[str, str]:
        """Lower-case name -> the name as first sent."""
        names: dict[str, str] = {}
        for name in self._raw:
            names.setdefault(name.lower(), name)
        return names

    def lower_names(self) -> Iterator[str]:
        return iter(self._first_names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._first_names().values())

    def __len__(self) -> int:
        return len(self._first_names())


class AiohttpStream:
    """A response whose body is read chunk by chunk, as sent (no decompression)."""

    __slots__ = ("_request", "_response", "headers", "reason", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, request: Request) -> None:
        self._response = response
        self._request = request
        self.status = response.status
        self.reason = response.reason or ""
        self.headers: Headers = _ResponseHeaders(response.headers)
        self.url = request.url

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive, in whatever sizes the socket delivered them.

        ``readany`` hands over buffered bytes without joining or slicing them
        (``read(n)`` copies); callers that want larger pieces batch them.
        """
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except _FAILURES as exc:
            raise _translate(exc, self._request) from exc

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _FAILURES as exc:
            raise _translate(exc, self._request) from exc

    def close(self) -> None:
        self._response.close()

    def __repr__(self) -> str:
        return f"<AiohttpStream {self.status} {redact_url(self.url)}>"


class _Exchange:
    """``async with transport.stream(request) as response``: one request on the wire."""

    __slots__ = ("_cm", "_request", "_response", "_transport")

    def __init__(self, transport: AiohttpTransport, request: Request) -> None:
        self._transport = transport
        self._request = request
        self._cm: Any = None
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> AiohttpStream:
        request = self._request
        transport = self._transport
        try:
            self._cm = transport._ensure_session().request(
                request.method,
                transport._url(request),
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                auto_decompress=False,
                timeout=transport._client_timeout
                if request.timeout is None
                else transport._deadline(request.timeout),
            )
            self._response = resp = await self._cm.__aenter__()
        except _FAILURES as exc:
            raise _translate(exc, request) from exc
        return AiohttpStream(resp, request)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        resp = self._response
        if resp is not None and not resp.content.at_eof():
            # An abandoned body must not go back to the pool half-read.
            resp.close()
        try:
            await self._cm.__aexit__(exc_type, exc, tb)
        except _FAILURES:
            pass


class AiohttpTransport:
    """Sends requests over one aiohttp session, owned or borrowed.

    A borrowed session (passed in by the caller) is never closed here, and its
    connector is the caller's: only an owned session gets the connector that
    refuses to reuse a connection on which a server sent more than it announced.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        limits: Limits = DEFAULT_LIMITS,
        user_agent: str = "aiocircleci",
    ) -> None:
        self._session = session
        self._owned = session is None
        self._limits = limits
        self._user_agent = user_agent
        # The call's deadline (Timeout.total) is kept above, across retries.
        self._client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.connect, sock_read=timeout.read
        )

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owned and self._session.closed):
            connector = _StrictConnector(
                limit=0,
                limit_per_host=self._limits.max_connections_per_host,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self._user_agent},
                # Cookies would let one response change what later requests carry.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._owned and self._session is not None and not self._session.closed:
            await self._session.close()

    def _deadline(self, seconds: float) -> aiohttp.ClientTimeout:
        # aiohttp's total covers the body too: every read runs under its timer.
        base = self._client_timeout
        return aiohttp.ClientTimeout(
            total=max(seconds, 0.001), sock_connect=base.sock_connect, sock_read=base.sock_read
        )

    def _url(self, request: Request) -> URL:
        url = URL(request.url, encoded=True)
        if request.params:
            url = url.extend_query(request.params)
        return url

    def stream(self, request: Request) -> _Exchange:
        """Send a request; the response's body is left unread and undecoded."""
        return _Exchange(self, request)

    def __repr__(self) -> str:
        state = "owned" if self._owned else "borrowed"
        return f"<AiohttpTransport {state} session>"
