"""The async request budget: a token bucket with a shared cool-down.

One ``RateLimiter`` may be shared by several clients so that they spend one
budget. Time comes from injected ``clock`` and ``sleep`` callables, so tests
drive it with a fake clock instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio

from ._http import origin_of
from ._ratelimit import AdaptiveRate, TokenBucket

__all__ = ["Limiter", "OriginGates", "RateLimiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@runtime_checkable
class Limiter(Protocol):
    """What the request path needs from a budget: ``RateLimiter`` here, or a shared one.

    ``acquire()`` returns when a request may leave; ``cool_down(seconds)`` (on a
    429) holds every request back; ``cooldown_remaining()`` says for how long
    still; ``on_success()`` is told of each success (adaptive modes use it).
    ``cool_down`` and ``cooldown_remaining`` are synchronous: a shared limiter
    answers them from what it knows locally and spreads the news on its own.
    """

    @property
    def rate(self) -> float: ...

    @property
    def burst(self) -> int: ...

    async def acquire(self) -> None: ...

    def cool_down(self, seconds: float) -> None: ...

    def cooldown_remaining(self) -> float: ...

    def on_success(self) -> None: ...


class RateLimiter:
    """Requests per second (rate, burst) plus a cool-down that every task obeys.

    ``acquire()`` returns when a request may leave. Waiters are served in the
    order they arrived: each reserves its slot in the bucket at once, then sleeps
    until it is due. A cancelled waiter gives its slot back. ``cool_down(seconds)``
    (called on a 429) holds back every request, including those already queued,
    until the deadline, and empties the bucket so that traffic resumes at the
    steady rate rather than in a burst.
    """

    __slots__ = (
        "_adaptive",
        "_bucket",
        "_clock",
        "_cooldown_until",
        "_sleep",
    )

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        adaptive: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._bucket = TokenBucket(rate, burst, now=clock())
        self._adaptive = AdaptiveRate(rate, now=clock()) if adaptive else None
        self._cooldown_until = float("-inf")

    @property
    def rate(self) -> float:
        return self._bucket.rate

    @property
    def burst(self) -> int:
        return self._bucket.burst

    def available(self) -> float:
        """Tokens in the bucket now; negative while waiters hold reservations."""
        return self._bucket.tokens(self._clock())

    def cooldown_remaining(self) -> float:
        """Seconds left in the current cool-down (0 when none)."""
        return max(0.0, self._cooldown_until - self._clock())

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            if now < self._cooldown_until:
                await self._sleep(self._cooldown_until - now)
                continue
            wait = self._bucket.reserve(now)
            if wait <= 0.0:
                return
            try:
                await self._sleep(wait)
            except BaseException:
                self._bucket.refund(self._clock())
                raise
            if self._clock() >= self._cooldown_until:
                return
            # A cool-down began while we waited: our slot predates it, so give
            # it back and queue again behind the deadline.
            self._bucket.refund(self._clock())

    def cool_down(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (a longer hold wins)."""
        now = self._clock()
        deadline = now + max(0.0, seconds)
        if self._adaptive is not None:
            self._bucket.set_rate(self._adaptive.on_limited(now), now)
        if deadline > self._cooldown_until:
            self._cooldown_until = deadline
            self._bucket.drain(until=deadline)

    def on_success(self) -> None:
        """Feed a success to the adaptive mode, which raises the rate again slowly."""
        if self._adaptive is not None:
            now = self._clock()
            rate = self._adaptive.on_success(now)
            if rate != self._bucket.rate:
                self._bucket.set_rate(rate, now)

    def __repr__(self) -> str:
        mode = " adaptive" if self._adaptive is not None else ""
        return f"<RateLimiter {self._bucket.rate:g}/s burst={self._bucket.burst}{mode}>"


class OriginGates:
    """One cool-down gate per origin, for hosts we impose no rate on (artifact hosts).

    ``gate_for(url)`` is what ``Sender`` waits on before each hop: a 429 from a
    host holds every request to that host, and no other.
    """

    __slots__ = ("_clock", "_gates", "_sleep")

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._gates: dict[tuple[str, str, int], RateLimiter] = {}

    def gate_for(self, url: str) -> RateLimiter:
        origin = origin_of(url)
        gate = self._gates.get(origin)
        if gate is None:
            gate = self._gates[origin] = RateLimiter(
                math.inf, 1, clock=self._clock, sleep=self._sleep
            )
        return gate

    def __repr__(self) -> str:
        return f"<OriginGates {len(self._gates)} origins>"
