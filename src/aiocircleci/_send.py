"""The one send path: a request through its hops to a response.

API calls (``_requester.py``) and downloads (``download.py``) both send through
a ``Sender``. For each hop it waits for the origin's rate limiter (and its 429
cool-down) and a slot, attaches the token only where the origin policy allows
it, and hands the request to the ``Transport``. Redirects are followed here, by
hand, at most ``max_redirects`` of them, and only to http(s) URLs: the token
is decided afresh for every hop, so it never follows a redirect to an origin
that is not trusted. ``open`` yields the final response with its body unread
(downloads stream it); ``fetch`` reads it through ``read_body`` (API calls),
which undoes gzip/deflate itself so that its cap counts decompressed bytes and
memory stays bounded whatever the server sends.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol
from urllib.parse import urljoin

from ._auth import OriginPolicy, Token
from ._config import RetryPolicy
from ._http import Request, Response, StreamResponse, Transport, origin_of, redact_url
from ._retry import GiveUp, Outcome, decide
from .errors import (
    APIError,
    CircleCIError,
    ConnectError,
    DecodeError,
    RedirectError,
    ResponseTooLarge,
    TimeoutError,
)

__all__ = [
    "GetRetries",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "Budget",
    "Exchange",
    "Sender",
    "read_body",
]

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A redirect's own body is read (and dropped) up to this much, so that its
# connection can be reused; past it the connection is closed instead.
_REDIRECT_BODY = 64 * 1024
# Inflated bytes are produced at most this much at a time: a gzip bomb never
# holds more than the cap plus one piece.
_PIECE = 256 * 1024
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # zlib detects the gzip or zlib header itself


class _Gate(Protocol):
    """What the sender needs of a rate limiter: a turn, and the 429 cool-down."""

    async def acquire(self) -> None: ...

    def cooldown_remaining(self) -> float: ...

    def cool_down(self, seconds: float) -> None: ...


class _Slot(Protocol):
    async def acquire(self) -> None: ...

    def release(self) -> None: ...


class Budget:
    """The deadline of one call across its attempts: ``total`` seconds of
    sending, receiving and backoff. Time spent waiting for the rate limiter or a
    server's 429 cool-down is not counted: that is not the server stalling."""

    __slots__ = ("_clock", "spent", "total")

    def __init__(self, total: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self.spent = 0.0

    def left(self) -> float | None:
        return None if self.total is None else self.total - self.spent

    def add(self, seconds: float) -> None:
        self.spent += seconds


@dataclass(slots=True)
class Exchange:
    """The final response of a request and how many redirects led to it.

    ``token_withheld``: the final hop could have carried the token (same origin
    as the first) but the origin policy kept it back, so a 401 there means
    "trust this host", not "the token is wrong".
    """

    response: StreamResponse
    redirects: int
    token_withheld: bool = False


def _redirect_target(url: str, response: StreamResponse, method: str) -> str | None:
    """Where a redirect leads, or ``None`` when ``response`` is not one to follow."""
    if response.status not in REDIRECT_STATUSES:
        return None
    location: str | None = response.headers.get("Location")
    if not location:
        return None
    try:
        target = urljoin(url, location.strip())
    except ValueError:
        target = ""
    scheme, host, port = origin_of(target)
    if scheme not in ("http", "https"):
        raise RedirectError(
            "redirected to a URL that is not http(s)", method=method, url=redact_url(url)
        )
    if not host or not 0 < port < 65536 or any(c in target for c in "\r\n\0 "):
        raise RedirectError("redirected to an invalid URL", method=method, url=redact_url(url))
    return target


class Sender:
    """Takes requests through their hops for one client or one downloader.

    ``token`` goes to a hop's URL only when it starts with ``trusted_prefix``
    (the API base URL) or ``policy`` allows its origin, never to a scheme other
    than http(s), and never after a redirect to another origin, trusted or not.
    ``gate_for(url)`` is the rate limiter that hop waits for (an origin's 429
    cool-down holds every task talking to it);
    ``slot_for(url)`` bounds requests in flight (held until the body is read).
    ``headers`` go on every hop. ``on_response`` sees every hop's response.
    """

    __slots__ = (
        "_clock",
        "_gate_for",
        "_headers",
        "_on_response",
        "_policy",
        "_prefix",
        "_slot_for",
        "_token",
        "max_redirects",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        *,
        token: Token | None = None,
        policy: OriginPolicy | None = None,
        trusted_prefix: str | None = None,
        headers: Mapping[str, str] | None = None,
        gate_for: Callable[[str], _Gate | None] | None = None,
        slot_for: Callable[[str], _Slot | None] | None = None,
        on_response: Callable[[StreamResponse], None] | None = None,
        max_redirects: int = MAX_REDIRECTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self._token = token
        self._policy = policy
        self._prefix = trusted_prefix
        self._headers = dict(headers or {})
        self._gate_for = gate_for
        self._slot_for = slot_for
        self._on_response = on_response
        self.max_redirects = max_redirects
        self._clock = clock

    def token_allowed(self, url: str) -> bool:
        """Whether a request to ``url`` may carry the token."""
        if self._token is None:
            return False
        # Every API call starts with the base URL: no need to parse it again.
        if self._prefix is not None and url.startswith(self._prefix):
            return True
        if self._policy is None or not url.startswith(("http://", "https://")):
            return False
        return self._policy.allows(url)

    def headers_for(
        self, url: str, extra: Mapping[str, str] | None, *, token: bool = True
    ) -> dict[str, str]:
        """The headers of one hop; ``token=False`` withholds the token whatever the policy."""
        headers = dict(self._headers)
        if extra:
            headers.update(extra)
        if token and self.token_allowed(url):
            assert self._token is not None
            headers["Circle-Token"] = self._token.reveal()
        else:
            # A caller's header must not smuggle the token to an untrusted origin.
            headers.pop("Circle-Token", None)
        return headers

    def cool_down(self, url: str, seconds: float) -> None:
        """A 429 from ``url``: every task talking to its origin waits ``seconds``."""
        gate = self._gate_for(url) if self._gate_for is not None else None
        if gate is not None:
            gate.cool_down(seconds)

    def open(self, request: Request, *, budget: Budget | None = None) -> _Open:
        """``async with sender.open(request) as exchange``: the final response,
        its body unread. ``RedirectError`` past ``max_redirects``."""
        return _Open(self, request, budget)

    async def fetch(
        self, request: Request, *, limit: int, budget: Budget | None = None
    ) -> Response:
        """Send ``request`` and read the final response's body (at most ``limit``
        bytes, decompressed)."""
        async with self.open(request, budget=budget) as exchange:
            resp = exchange.response
            body = await read_body(resp, limit=limit, method=request.method)
            return Response(resp.status, resp.headers, body, resp.url, resp.reason)

    async def _admit(self, url: str) -> _Slot | None:
        """Wait for the hop's gate and slot; a cool-down that began while we
        queued for the slot sends us back to the gate."""
        gate = self._gate_for(url) if self._gate_for is not None else None
        slot = self._slot_for(url) if self._slot_for is not None else None
        while True:
            if gate is not None:
                await gate.acquire()
            if slot is None:
                return None
            await slot.acquire()
            if gate is None or gate.cooldown_remaining() <= 0:
                return slot
            slot.release()


class _Open:
    __slots__ = ("_budget", "_cm", "_request", "_sender", "_slot", "_started")

    def __init__(self, sender: Sender, request: Request, budget: Budget | None) -> None:
        self._sender = sender
        self._request = request
        self._budget = budget
        self._cm: AbstractAsyncContextManager[StreamResponse] | None = None
        self._slot: _Slot | None = None
        self._started = 0.0

    async def __aenter__(self) -> Exchange:
        sender, request = self._sender, self._request
        extra = request.headers
        for hop in range(sender.max_redirects + 1):
            self._slot = await sender._admit(request.url)
            # The token never follows a redirect to another origin, trusted or not.
            token = hop == 0 or origin_of(request.url) == origin_of(self._request.url)
            try:
                sent = Request(
                    request.method,
                    request.url,
                    request.params,
                    sender.headers_for(request.url, extra, token=token),
                    request.body,
                    self._begin(),
                )
                cm = sender.transport.stream(sent)
                response = await cm.__aenter__()
                self._cm = cm
                if sender._on_response is not None:
                    sender._on_response(response)
                target = _redirect_target(response.url, response, sent.method)
                if target is None:
                    withheld = (
                        token and sender._token is not None and "Circle-Token" not in sent.headers
                    )
                    return Exchange(response, hop, withheld)
                await _drain(response)
            except BaseException as exc:
                await self._exit(type(exc), exc, exc.__traceback__)
                raise
            await self._exit(None, None, None)
            # 303 turns into a GET without a body; the other redirects repeat
            # the request. The query of the original request is in the target.
            if response.status == 303:
                request = Request("GET", target, (), extra, None)
            else:
                request = Request(request.method, target, (), extra, request.body)
        raise RedirectError(
            f"more than {sender.max_redirects} redirects",
            method=self._request.method,
            url=redact_url(self._request.url),
        )

    def _begin(self) -> float | None:
        """Start the hop's clock; what is left of the call's deadline, body included."""
        self._started = self._sender._clock()
        left = self._budget.left() if self._budget is not None else None
        if left is not None and left <= 0:
            raise _deadline(self._request, self._budget)
        return left

    async def _exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cm, self._cm = self._cm, None
        slot, self._slot = self._slot, None
        try:
            if cm is not None:
                await cm.__aexit__(exc_type, exc, tb)
        finally:
            if self._budget is not None:
                self._budget.add(self._sender._clock() - self._started)
            if slot is not None:
                slot.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit(exc_type, exc, tb)


def _deadline(request: Request, budget: Budget | None) -> TimeoutError:
    total = budget.total if budget is not None and budget.total is not None else 0.0
    return TimeoutError(
        f"no complete answer within the call's deadline of {total:g} s",
        method=request.method,
        url=redact_url(request.url),
    )


async def _drain(response: StreamResponse) -> None:
    """Read a redirect's small body so its connection can serve the next hop."""
    seen = 0
    async for chunk in response.iter_chunks():
        seen += len(chunk)
        if seen > _REDIRECT_BODY:
            response.close()
            return


class _Inflater:
    """gzip or deflate, undone in pieces of at most ``_PIECE`` bytes."""

    __slots__ = ("_z",)

    def __init__(self) -> None:
        self._z = zlib.decompressobj(_GZIP_OR_ZLIB)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated pieces of ``data``, produced lazily: a caller that stops
        early (past its cap) never makes the rest."""
        z = self._z
        while data and not z.eof:
            piece = z.decompress(data, _PIECE)
            if piece:
                yield piece
            tail = z.unconsumed_tail
            if not piece and tail == data:
                return
            data = tail


async def read_body(
    response: StreamResponse, *, limit: int, method: str = "GET", budget: Budget | None = None
) -> bytes:
    """The whole body of ``response``, gzip/deflate undone, at most ``limit`` bytes.

    The cap counts decompressed bytes and is enforced while the body streams:
    ``ResponseTooLarge`` as soon as it is passed, with the connection closed.
    More bytes than Content-Length close the connection too (``ConnectError``).
    """
    headers = response.headers
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    length_text = headers.get("Content-Length")
    length = int(length_text) if length_text and length_text.strip().isdigit() else None
    inflater: _Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater()
    elif encoding not in ("", "identity"):
        response.close()
        raise DecodeError(
            f"unsupported Content-Encoding {encoding[:40]!r} from {redact_url(response.url)}"
        )
    elif length is not None and length > limit:
        response.close()
        raise _too_large(limit, method, response.url)
    if inflater is None and length is not None:
        # Framed by Content-Length and within the cap: one read.
        body = await response.read()
        if len(body) > length:
            response.close()
            raise _overlong(length, method, response.url)
        return body
    parts: list[bytes] = []
    size = 0
    received = 0
    try:
        async for chunk in response.iter_chunks():
            received += len(chunk)
            if length is not None and received > length:
                response.close()
                raise _overlong(length, method, response.url)
            pieces = inflater.feed(chunk) if inflater is not None else (chunk,)
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    response.close()
                    raise _too_large(limit, method, response.url)
                parts.append(piece)
    except zlib.error as exc:
        response.close()
        raise DecodeError(
            f"the {encoding} body from {redact_url(response.url)} is corrupt"
        ) from exc
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large(limit: int, method: str, url: str) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the response body is larger than the {limit:,}-byte limit",
        limit=limit,
        method=method,
        url=redact_url(url),
    )


def _overlong(length: int, method: str, url: str) -> ConnectError:
    return ConnectError(
        f"the body is longer than its Content-Length of {length}",
        method=method,
        url=redact_url(url),
    )


class GetRetries:
    """The retry state of one GET that a loop repeats: a download, a segment, a copy.

    ``await retries.again(error, url)`` asks ``_retry.decide``. On a 429 every
    task talking to ``url``'s origin cools down (``Sender.cool_down``); on another
    retryable failure it sleeps the backoff. It answers ``False`` when the
    decision gives up. A caller may count ``failures`` of its own (a restart,
    a bad checksum) so that they spend the same budget.
    """

    __slots__ = (
        "_clock",
        "_policy",
        "_rng",
        "_sender",
        "_sleep",
        "_started",
        "_wall_clock",
        "failures",
        "limited",
    )

    def __init__(
        self,
        sender: Sender,
        policy: RetryPolicy,
        *,
        rng: random.Random,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._sender = sender
        self._policy = policy
        self._rng = rng
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._started = clock()
        self.failures = 0
        self.limited = 0

    async def again(self, error: CircleCIError, url: str) -> bool:
        """Wait before the next attempt after ``error``; ``False``: give up."""
        if isinstance(error, APIError):
            outcome = Outcome(error.status, retry_after=error.headers.get("Retry-After"))
        else:
            outcome = Outcome(error=error)
        decision = decide(
            outcome,
            attempt=self.failures,
            limited=self.limited,
            method="GET",
            elapsed=self._clock() - self._started,
            policy=self._policy,
            rng=self._rng,
            now=self._wall_clock(),
        )
        if isinstance(decision, GiveUp):
            return False
        if decision.cool_down:
            # Every task talking to that host waits, not only this one.
            self.limited += 1
            self._sender.cool_down(url, decision.wait)
        else:
            self.failures += 1
            if decision.wait > 0:
                await self._sleep(decision.wait)
        return True
