"""The request path every API call takes.

limiter → in-flight cap → transport → rate-limit headers → retry decision →
typed error or decoded body. Redirects are followed here, by hand, and the
token is attached afresh for each hop only where the origin policy allows it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin

import anyio
import msgspec

from ._auth import OriginPolicy, Token
from ._config import RetryPolicy
from ._http import Headers, Request, Response, origin_of, redact_url
from ._limiter import Limiter
from ._ratelimit import RateLimitInfo, parse_rate_limit_headers, parse_retry_after
from ._retry import backoff_delay, retryable_status
from ._transport import Transport
from .errors import APIError, DecodeError, RateLimited, TransportError, error_for_status
from .models._base import decoder

__all__ = ["MAX_REDIRECTS", "RequestStats", "Requester", "error_message"]

T = TypeVar("T")
log = logging.getLogger("aiocircleci")

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Response headers worth keeping on an APIError; request headers never are.
_KEPT_HEADERS = ("Retry-After", "X-Request-Id", "RateLimit-Remaining", "X-RateLimit-Remaining")


@dataclass(slots=True)
class RequestStats:
    """Counters a progress display can poll: requests sent, retries, 429s seen."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


def error_message(response: Response) -> str:
    """A one-line message from an error body: ``{"message": ...}``, ``{"error": ...}`` or text."""
    text = ""
    try:
        data = msgspec.json.decode(response.body)
    except msgspec.DecodeError:
        text = response.body.decode("utf-8", "replace")
    else:
        if isinstance(data, dict):
            for key in ("message", "error"):
                value = data.get(key)
                if isinstance(value, str) and value:
                    text = value
                    break
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    text = value["message"]
                    break
        elif isinstance(data, str):
            text = data
    text = " ".join(text.split())
    if not text:
        text = response.reason or f"HTTP {response.status}"
    return text if len(text) <= 300 else text[:299] + "…"


class Requester:
    """Sends API requests for one client under its limiter, cap and retry policy."""

    def __init__(
        self,
        *,
        base_url: str,
        token: Token | None,
        transport: Transport,
        limiter: Limiter,
        max_in_flight: int,
        retry: RetryPolicy,
        token_policy: OriginPolicy,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_prefix = self.base_url + "/"
        self._token = token
        self.transport = transport
        self.limiter = limiter
        # fast_acquire: a free slot is taken without yielding to the event loop,
        # which a CapacityLimiter does twice per request.
        self._in_flight = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self._retry = retry
        self._policy = token_policy
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = RequestStats()
        self.rate_limit: RateLimitInfo | None = None

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def auth_headers(self, url: str) -> dict[str, str]:
        """The token header for ``url``, or nothing when its origin is not trusted."""
        if self._token is None:
            return {}
        # Every API call starts with the base URL: no need to parse it again.
        if url.startswith(self._base_prefix) or self._policy.allows(url):
            return {"Circle-Token": self._token.reveal()}
        return {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        type: Any = None,
    ) -> Any:
        """Send a request and decode a 2xx body as ``type`` (``None``: discard it)."""
        body = None if json is None else msgspec.json.encode(json)
        response = await self.send(method, self.url_for(path), params=params, body=body)
        if type is None:
            return None
        try:
            return decoder(type).decode(response.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(
                f"unexpected response to {method} {redact_url(response.url)}: {exc}"
            ) from exc

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send with limits, retries and redirects; raise a typed error on failure."""
        method = method.upper()
        query = _query(params)
        request = Request(method, url, query, {}, body)
        started = self._clock()
        attempt = 0  # failures (5xx, transport) so far
        limited = 0  # 429s so far
        while True:
            try:
                response = await self._send_following_redirects(request, headers)
            except TransportError:
                if not request.idempotent or not self._may_retry(attempt, started, 0.0):
                    raise
                await self._backoff(attempt)
                attempt += 1
                continue
            status = response.status
            if status < 400:
                self.limiter.on_success()
                return response
            if status == 429:
                wait = parse_retry_after(
                    response.headers.get("Retry-After"),
                    now=self._wall_clock(),
                    maximum=self._retry.max_retry_after,
                )
                if wait is None:
                    wait = backoff_delay(limited, self._retry, self._rng)
                self.stats.rate_limited += 1
                limited += 1
                # Every task of this client waits, not only this request's retry.
                self.limiter.cool_down(wait)
                log.info("429 from %s; cooling down %.2fs", redact_url(response.url), wait)
                elapsed = self._clock() - started + wait
                if limited < self._retry.max_rate_limited and elapsed <= self._retry.max_elapsed:
                    self.stats.retries += 1
                    continue
                raise self._error(request, response, retry_after=wait)
            if retryable_status(status, idempotent=request.idempotent, policy=self._retry):
                if self._may_retry(attempt, started, 0.0):
                    await self._backoff(attempt)
                    attempt += 1
                    continue
            raise self._error(request, response)

    def _may_retry(self, attempt: int, started: float, wait: float) -> bool:
        if attempt + 1 >= self._retry.max_attempts:
            return False
        return self._clock() - started + wait <= self._retry.max_elapsed

    async def _backoff(self, attempt: int) -> None:
        self.stats.retries += 1
        await self._sleep(backoff_delay(attempt, self._retry, self._rng))

    async def _send_following_redirects(
        self, request: Request, extra_headers: Mapping[str, str] | None
    ) -> Response:
        hops = 0
        response: Response | None = None
        while hops <= MAX_REDIRECTS:
            await self.limiter.acquire()
            headers = {"Accept": "application/json"}
            if request.body is not None:
                headers["Content-Type"] = "application/json"
            if extra_headers:
                headers.update(extra_headers)
            headers.update(self.auth_headers(request.url))
            sent = Request(request.method, request.url, request.params, headers, request.body)
            response = await self._send_once(sent)
            if response is None:
                continue
            self._observe(response)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response
            target = urljoin(response.url, location)
            if origin_of(target)[0] not in ("http", "https"):
                return response
            method = "GET" if response.status == 303 else request.method
            body = None if response.status == 303 else request.body
            # The query of the original request is already in response.url.
            request = Request(method, target, (), {}, body)
            hops += 1
        assert response is not None
        return response

    async def _send_once(self, request: Request) -> Response | None:
        """One attempt on the wire; ``None`` when a cool-down began while it queued."""
        async with self._in_flight:
            if self.limiter.cooldown_remaining() > 0:
                # A 429 arrived while this request waited for a slot: it must
                # not leave before the cool-down ends.
                return None
            t0 = self._clock()
            self.stats.requests += 1
            try:
                response = await self.transport.send(request)
            except TransportError as exc:
                log.debug("%s %s failed: %s", request.method, redact_url(request.url), exc)
                raise
        self.stats.by_status[response.status] = self.stats.by_status.get(response.status, 0) + 1
        if log.isEnabledFor(logging.DEBUG):  # redact_url is not free; skip it when unused
            elapsed = self._clock() - t0
            url = redact_url(request.url)
            log.debug("%s %s -> %d in %.3fs", request.method, url, response.status, elapsed)
        return response

    def _observe(self, response: Response) -> None:
        info = parse_rate_limit_headers(response.headers, now=self._wall_clock())
        if info is not None:
            self.rate_limit = info

    def _error(
        self, request: Request, response: Response, *, retry_after: float | None = None
    ) -> APIError:
        cls = error_for_status(response.status)
        kept = Headers((h, response.headers[h]) for h in _KEPT_HEADERS if h in response.headers)
        kwargs: dict[str, Any] = {
            "method": request.method,
            "url": redact_url(request.url),
            "headers": kept,
        }
        if cls is RateLimited:
            kwargs["retry_after"] = retry_after
        return cls(response.status, error_message(response), **kwargs)

    def __repr__(self) -> str:
        return f"<Requester {self.base_url} limiter={self.limiter!r}>"


def _query(params: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Query pairs; ``None`` values are not sent, booleans are ``true``/``false``."""
    if not params:
        return ()
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return tuple(pairs)
