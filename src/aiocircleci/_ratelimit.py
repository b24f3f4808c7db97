"""Rate-limit arithmetic: the token bucket, Retry-After and rate-limit headers.

Everything here is pure and clock-injectable. Nothing sleeps and nothing does
I/O: callers pass ``now`` (seconds on a monotonic clock, and where a wall clock
matters, seconds since the epoch) and get back how long to wait. The async
limiter in ``_limiter.py`` and the emulator's server-side limiter both build on it.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass

# Refill arithmetic leaves crumbs such as 0.9999999999999998 tokens; a wait
# computed from such a crumb can be too small to move a float clock at all.
_EPSILON = 1e-9

__all__ = [
    "AdaptiveRate",
    "RateLimitInfo",
    "TokenBucket",
    "parse_rate_limit_headers",
    "parse_retry_after",
]


class TokenBucket:
    """A token bucket holding up to ``burst`` tokens, refilled at ``rate`` per second.

    ``take(now)`` takes one token and returns 0.0, or takes nothing and returns
    the seconds until a token will be available. ``reserve(now)`` always takes a
    token, possibly going into debt, and returns how long the caller must wait
    before using it; that makes first-come ordering trivial for the async limiter.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, *, now: float = 0.0) -> None:
        if not rate > 0:  # also rejects NaN; math.inf means unlimited
            raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return int(self._burst)

    def set_rate(self, rate: float, now: float) -> None:
        """Change the refill rate from ``now`` on (tokens already earned are kept)."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self._refill(now)
        self._rate = float(rate)

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (negative while reservations are outstanding)."""
        self._refill(now)
        return self._tokens

    def take(self, now: float) -> float:
        """Take a token if one is available; otherwise return the seconds until one is."""
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def reserve(self, now: float) -> float:
        """Take a token unconditionally and return the seconds to wait before using it."""
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= -_EPSILON:
            return 0.0
        return -self._tokens / self._rate

    def refund(self, now: float) -> None:
        """Give back a reserved token that was never used (a cancelled waiter)."""
        self._refill(now)
        self._tokens = min(self._burst, self._tokens + 1.0)

    def drain(self, *, until: float) -> None:
        """Keep at most one token, and earn nothing before ``until``.

        After a server's 429 our idea of the burst is wrong: traffic resumes
        at ``until`` at the steady rate, without a burst.
        """
        self._tokens = min(self._tokens, 1.0)
        self._last = max(self._last, until)

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            if self._rate == math.inf:
                self._tokens = self._burst
            else:
                self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._last = now

    def __repr__(self) -> str:
        rate, burst, tokens = self._rate, int(self._burst), self._tokens
        return f"<TokenBucket rate={rate:g}/s burst={burst} tokens={tokens:.2f}>"


def parse_retry_after(value: str | None, *, now: float, maximum: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value.

    Accepts delta-seconds (``"30"``, and leniently ``"1.5"``) and an HTTP-date.
    ``now`` is the wall clock in seconds since the epoch, used for dates. A date
    in the past gives 0; every result is clamped to ``[0, maximum]``. Returns
    ``None`` when the header is missing or unparseable, so that the caller falls
    back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is None or not math.isfinite(seconds):
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 7231 dates are always GMT
            import datetime as _dt

            when = when.replace(tzinfo=_dt.UTC)
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), maximum)


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The rate-limit headers of the latest response, where the server sent any.

    ``limit`` and ``remaining`` are the most restrictive of all the windows the
    server announced (where two headers disagree, the lower limit holds).
    ``reset`` is in seconds from the response.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    windows: tuple[tuple[str, int | None, int | None], ...] = ()


_WINDOWS = ("Second", "Minute", "Hour", "Day")


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip().split(",")[0].split(";")[0])
    except ValueError:
        return None
    # "1e309" is a float (inf), and "nan" too: neither is a count.
    return int(number) if math.isfinite(number) else None


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def parse_rate_limit_headers(headers: Mapping[str, str], *, now: float) -> RateLimitInfo | None:
    """Read ``RateLimit-*`` and ``X-RateLimit-*`` headers; ``None`` when there are none.

    ``headers`` must be case-insensitive (aiohttp's ``CIMultiDictProxy`` is).
    ``X-RateLimit-Reset`` may be an epoch timestamp or delta-seconds; values
    larger than a day's worth of seconds are taken as timestamps relative to ``now``.
    """
    names = headers.lower_names() if hasattr(headers, "lower_names") else map(str.lower, headers)
    if not any(n.startswith(("ratelimit-", "x-ratelimit-")) for n in names):
        return None
    windows: list[tuple[str, int | None, int | None]] = []
    plain = (_int(headers.get("RateLimit-Limit")), _int(headers.get("RateLimit-Remaining")))
    if plain != (None, None):
        windows.append(("", plain[0], plain[1]))
    x_plain = (_int(headers.get("X-RateLimit-Limit")), _int(headers.get("X-RateLimit-Remaining")))
    if x_plain != (None, None):
        windows.append(("x", x_plain[0], x_plain[1]))
    for window in _WINDOWS:
        pair = (
            _int(headers.get(f"X-RateLimit-Limit-{window}")),
            _int(headers.get(f"X-RateLimit-Remaining-{window}")),
        )
        if pair != (None, None):
            windows.append((window.lower(), pair[0], pair[1]))
    reset: float | None = None
    for name in ("RateLimit-Reset", "X-RateLimit-Reset"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        if value > 86_400 * 365:
            value = max(0.0, value - now)
        reset = value if reset is None else max(reset, value)
    if not windows and reset is None:
        return None
    return RateLimitInfo(
        limit=_min(*(w[1] for w in windows)),
        remaining=_min(*(w[2] for w in windows)),
        reset=reset,
        windows=tuple(windows),
    )


class AdaptiveRate:
    """Multiplicative decrease on a 429, slow additive increase while all is well.

    ``on_limited`` halves the rate (never below ``floor``); ``on_success`` adds
    ``step`` requests per second for every ``recover_after`` seconds since the last
    change, never above ``ceiling`` (the configured rate). Pure: the caller applies
    the returned rate to its bucket.
    """

    __slots__ = ("_ceiling", "_changed", "_floor", "_rate", "_recover_after", "_step")

    def __init__(
        self,
        ceiling: float,
        *,
        floor: float = 0.5,
        step: float | None = None,
        recover_after: float = 5.0,
        now: float = 0.0,
    ) -> None:
        self._ceiling = ceiling
        self._floor = min(floor, ceiling)
        self._rate = ceiling
        self._step = step if step is not None else max(ceiling / 20.0, 0.05)
        self._recover_after = recover_after
        self._changed = now

    @property
    def rate(self) -> float:
        return self._rate

    def on_limited(self, now: float) -> float:
        self._rate = max(self._floor, self._rate / 2.0)
        self._changed = now
        return self._rate

    def on_success(self, now: float) -> float:
        if self._rate < self._ceiling and now - self._changed >= self._recover_after:
            self._rate = min(self._ceiling, self._rate + self._step)
            self._changed = now
        return self._rate

    def __repr__(self) -> str:
        return f"<AdaptiveRate {self._rate:g}/s of {self._ceiling:g}/s>"
