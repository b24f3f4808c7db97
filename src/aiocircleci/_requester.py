"""The request path every API call takes.

limiter → in-flight cap → the one send path (``_send.Sender``: token per hop,
redirects by hand, capped body) → rate-limit headers → the one retry decision
(``_retry.decide``) → typed error or decoded body.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import msgspec

from ._auth import Token
from ._config import DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, RetryPolicy, Timeout
from ._http import Headers, Request, Response, StreamResponse, Transport, redact_url
from ._limiter import Limiter
from ._ratelimit import RateLimitInfo, parse_rate_limit_headers
from ._retry import GiveUp, Outcome, decide
from ._send import MAX_REDIRECTS, Budget, Sender
from .errors import APIError, DecodeError, RateLimited, TransportError, error_for_status
from .models._base import decoder

__all__ = ["MAX_REDIRECTS", "RequestStats", "Requester", "error_message"]

T = TypeVar("T")
log = logging.getLogger("aiocircleci")

# Response headers worth keeping on an APIError; request headers never are.
_KEPT_HEADERS = ("Retry-After", "X-Request-Id", "RateLimit-Remaining", "X-RateLimit-Remaining")


@dataclass(slots=True)
class RequestStats:
    """Counters a progress display can poll: requests sent, retries, 429s seen."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


def error_message(response: Response, token: Token | None = None) -> str:
    """A one-line message from an error body: ``{"message": ...}``, ``{"error": ...}`` or text.

    A token the server echoes back is replaced by ``****``.
    """
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
    if token is not None:
        text = token.redact(text)
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
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.transport = transport
        self.limiter = limiter
        # fast_acquire: a free slot is taken without yielding to the event loop,
        # which a CapacityLimiter does twice per request.
        in_flight = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self._retry = retry
        self._timeout = timeout
        self._max_body = max_body_size
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = RequestStats()
        self.rate_limit: RateLimitInfo | None = None
        # The token goes only to the API origin; a redirect elsewhere drops it.
        self.sender = Sender(
            transport,
            token=token,
            trusted_prefix=self.base_url + "/",
            headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate"},
            gate_for=lambda url: limiter,
            slot_for=lambda url: in_flight,
            on_response=self._observe,
            clock=clock,
        )

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

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
        extra = dict(headers or {})
        if body is not None:
            extra["Content-Type"] = "application/json"
        request = Request(method, url, _query(params), extra, body)
        budget = Budget(self._timeout.total, self._clock)
        started = self._clock()
        attempt = 0  # failures (5xx, transport) so far
        limited = 0  # 429s so far
        while True:
            self.stats.requests += 1
            response: Response | None = None
            try:
                answer = await self.sender.fetch(request, limit=self._max_body, budget=budget)
            except TransportError as exc:
                log.debug("%s %s failed: %s", method, redact_url(url), exc)
                outcome = Outcome(error=exc)
            else:
                status = answer.status
                self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
                if status < 400:
                    self.limiter.on_success()
                    return answer
                response = answer
                outcome = Outcome(status, retry_after=answer.headers.get("Retry-After"))
            decision = decide(
                outcome,
                attempt=attempt,
                limited=limited,
                method=method,
                elapsed=self._clock() - started,
                policy=self._retry,
                rng=self._rng,
                now=self._wall_clock(),
                time_left=budget.left(),
            )
            if isinstance(decision, GiveUp):
                if response is None:
                    assert outcome.error is not None
                    raise outcome.error
                raise self._error(request, response, retry_after=decision.retry_after)
            self.stats.retries += 1
            if decision.cool_down:
                assert response is not None
                self.stats.rate_limited += 1
                limited += 1
                # Every task of this client waits, not only this request's retry.
                self.sender.cool_down(response.url, decision.wait)
                log.info("429 from %s; cooling down %.2fs", redact_url(response.url), decision.wait)
            else:
                attempt += 1
                budget.add(decision.wait)
                await self._sleep(decision.wait)

    def _observe(self, response: StreamResponse) -> None:
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
        return cls(response.status, error_message(response, self._token), **kwargs)

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
