"""Small frozen configuration values with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "BASE_URL_ENV_VARS",
    "Limits",
    "RetryPolicy",
    "Timeout",
]

DEFAULT_BASE_URL = "https://circleci.com/api/v2"
BASE_URL_ENV_VARS = ("CIRCLECI_BASE_URL",)


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds allowed to connect, between two reads, and for a whole buffered request."""

    connect: float = 10.0
    read: float = 60.0
    total: float | None = 120.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The request budget of a client.

    ``rate`` and ``burst`` feed the token bucket (CircleCI does not publish its
    limits; 10/s with a burst of 20 stays clear of the 429s users report at
    sustained polling). ``max_in_flight`` caps concurrent API requests,
    ``max_connections_per_host`` caps the connection pool. ``adaptive`` halves the
    rate after each 429 and raises it slowly again.
    """

    rate: float = 10.0
    burst: int = 20
    max_in_flight: int = 16
    max_connections_per_host: int = 32
    adaptive: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Backoff is "full jitter": a uniform draw from ``[0, min(cap, base * 2**n)]``.
    5xx answers, dropped connections and timeouts are retried only for idempotent
    methods, up to ``max_attempts`` tries in all. A 429 is retried for every
    method because the server refused before acting; those retries have their own
    budget, ``max_rate_limited`` (many tasks sharing one cool-down can each be
    refused several times in a row while the server's bucket refills), and all
    retries together stop after ``max_elapsed`` seconds. ``max_retry_after``
    clamps what a server may ask us to wait.
    """

    max_attempts: int = 5
    max_rate_limited: int = 20
    max_elapsed: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 300.0
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})


DEFAULT_TIMEOUT = Timeout()
DEFAULT_LIMITS = Limits()
DEFAULT_RETRY = RetryPolicy()
