"""``MockTransport``: requests answered in memory by a function, without sockets.

As httpx's ``MockTransport``: ``Client(transport=MockTransport(handler))`` sends
every request through the whole request path (rate limiter, token policy,
redirects, retries, body limits, decoding) and then, instead of the network, to
``handler(request) -> Response`` (a plain or an async function). Integration
tests use the emulator over real sockets; this is for unit tests of the path.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import anyio

from ._http import Headers, Request, Response, redact_url
from .errors import TimeoutError

__all__ = ["MockTransport"]

Handler = Callable[[Request], Response | Awaitable[Response]]
_CHUNK = 64 * 1024


class _MockStream:
    __slots__ = ("_body", "_request", "_transport", "closed", "headers", "reason", "status", "url")

    def __init__(self, response: Response, request: Request, transport: MockTransport) -> None:
        self._transport = transport
        self._request = request
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers
        self.url = request.url
        self._body = response.body
        self.closed = False

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        body = self._body
        for start in range(0, len(body), _CHUNK):
            if self.closed:
                return
            yield body[start : start + _CHUNK]

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._transport.closed.append(self._request)


class _MockExchange:
    __slots__ = ("_request", "_transport")

    def __init__(self, transport: MockTransport, request: Request) -> None:
        self._transport = transport
        self._request = request

    async def __aenter__(self) -> _MockStream:
        request = self._request
        self._transport.requests.append(request)
        answer = self._transport.handler(request)
        if inspect.isawaitable(answer):
            try:
                with anyio.fail_after(request.timeout):
                    response = await answer
            except builtins.TimeoutError:
                raise TimeoutError(
                    "timed out: no answer within the call's deadline",
                    method=request.method,
                    url=redact_url(request.url),
                ) from None
        else:
            response = answer
        assert isinstance(response, Response)
        return _MockStream(response, request, self._transport)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class MockTransport:
    """Answers each request with ``handler(request)``; keeps every request sent.

    ``requests`` lists what reached the transport, headers included, so a test
    can see which hop carried the token. ``closed`` lists the requests whose
    response the send path closed (over a network, that connection would be
    dropped, never reused). Bodies are handed over in 64 KiB chunks.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed: list[Request] = []

    def stream(self, request: Request) -> _MockExchange:
        return _MockExchange(self, request)

    async def aclose(self) -> None:
        return None

    @staticmethod
    def response(
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        url: str = "",
    ) -> Response:
        """A ``Response`` to return from a handler."""
        return Response(status, Headers(headers or {}), body, url)

    def __repr__(self) -> str:
        return f"<MockTransport {len(self.requests)} requests>"
