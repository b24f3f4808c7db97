"""The one module that speaks aiohttp's client.

Everything above it deals in ``_http.Request`` / ``_http.Response`` values and
in our own exceptions. Redirects are never followed here: the layers above
follow them by hand, because only they know which origins may see the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

import aiohttp
from yarl import URL

from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Limits, Timeout
from ._http import Headers, Request, Response, redact_url
from .errors import ConnectError, TimeoutError, TransportError

__all__ = ["StreamResponse", "Transport"]


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
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return ConnectError(f"connection failed ({type(exc).__name__})", method=method, url=url)
    if isinstance(exc, aiohttp.InvalidURL):
        return ConnectError("invalid URL", method=method, url=url)
    return TransportError(f"HTTP failure ({type(exc).__name__})", method=method, url=url)


_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class StreamResponse:
    """A response whose body is read chunk by chunk (used by downloads)."""

    __slots__ = ("_request", "_response", "headers", "reason", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, request: Request) -> None:
        self._response = response
        self._request = request
        self.status = response.status
        self.reason = response.reason or ""
        self.headers = Headers(response.headers.items())
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

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {redact_url(self.url)}>"


class Transport:
    """Sends requests over one aiohttp session, owned or borrowed.

    A borrowed session (passed in by the caller) is never closed here.
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
        self._timeout = timeout
        self._limits = limits
        self._user_agent = user_agent
        self._timeouts = {
            buffered: aiohttp.ClientTimeout(
                total=timeout.total if buffered else None,
                sock_connect=timeout.connect,
                sock_read=timeout.read,
            )
            for buffered in (True, False)
        }

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
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limits.max_connections_per_host,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self._user_agent},
                # Cookies would let one response change what later requests carry.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._owned and self._session is not None and not self._session.closed:
            await self._session.close()

    def _client_timeout(self, *, buffered: bool) -> aiohttp.ClientTimeout:
        return self._timeouts[buffered]

    def _url(self, request: Request) -> URL:
        url = URL(request.url, encoded=True)
        if request.params:
            url = url.extend_query(request.params)
        return url

    async def send(self, request: Request) -> Response:
        """Send a request and read the whole body."""
        session = self._ensure_session()
        try:
            async with session.request(
                request.method,
                self._url(request),
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                timeout=self._client_timeout(buffered=True),
            ) as resp:
                body = await resp.read()
                return Response(
                    status=resp.status,
                    headers=Headers(resp.headers.items()),
                    body=body,
                    url=str(resp.url),
                    reason=resp.reason or "",
                )
        except _FAILURES as exc:
            raise _translate(exc, request) from exc

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[StreamResponse]:
        """Send a request and hand over the body unread, undecoded (identity)."""
        session = self._ensure_session()
        try:
            cm = session.request(
                request.method,
                self._url(request),
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._client_timeout(buffered=False),
            )
            resp = await cm.__aenter__()
        except _FAILURES as exc:
            raise _translate(exc, request) from exc
        try:
            yield StreamResponse(resp, request)
        finally:
            if not resp.content.at_eof():
                # An abandoned body must not go back to the pool half-read.
                resp.close()
            await cm.__aexit__(None, None, None)

    def __repr__(self) -> str:
        state = "owned" if self._owned else "borrowed"
        return f"<Transport {state} session>"
