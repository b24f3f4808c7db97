"""When to retry and how long to wait: one pure decision for every request.

``decide(outcome, ...)`` looks at what one attempt came to (a status or an
error) and at what happened so far, and returns ``Retry(wait)`` or
``GiveUp()``, in the style of githubkit's retry decisions. API calls
(``_requester.py``) and every repeated GET (``_send.GetRetries``: downloads,
segments, object-store copies) ask it; none keeps a retry rule of its own. It
reads no clock and sleeps not at all: ``elapsed`` and ``now`` come from the
caller, randomness from the caller's ``rng``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._config import RetryPolicy
from ._http import IDEMPOTENT_METHODS
from ._ratelimit import parse_retry_after
from .errors import CircleCIError, ConnectError, IncompleteDownload, TimeoutError

__all__ = ["Decision", "GiveUp", "Outcome", "Retry", "backoff_delay", "decide", "retryable_status"]

# Failures that say nothing about the request itself: the next try may work.
_TRANSIENT = (ConnectError, TimeoutError, IncompleteDownload)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: an HTTP ``status`` (0 when there was no answer),
    the ``error`` raised instead, and the ``Retry-After`` header, if any."""

    status: int = 0
    error: CircleCIError | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``wait`` seconds. ``cool_down``: the server said 429, so
    every task talking to that origin waits, not only this one."""

    wait: float
    cool_down: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop and report the outcome; ``retry_after`` is the wait a 429 asked for."""

    retry_after: float | None = None


Decision = Retry | GiveUp


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th retry (0-based)."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * (2.0**attempt))
    return rng.uniform(0.0, ceiling)


def retryable_status(status: int, *, idempotent: bool, policy: RetryPolicy) -> bool:
    """A 429 is always retryable (nothing was done); a 5xx only for idempotent methods."""
    if status == 429:
        return True
    return idempotent and status in policy.retry_statuses


def decide(
    outcome: Outcome,
    *,
    attempt: int,
    limited: int,
    method: str,
    elapsed: float,
    policy: RetryPolicy,
    rng: random.Random,
    now: float,
    time_left: float | None = None,
) -> Decision:
    """Retry or give up after a failed attempt.

    ``attempt``: failures (5xx, transport) before this one; ``limited``: 429s
    before this one; ``elapsed``: seconds since the call began; ``now``: the
    wall clock (for a Retry-After date); ``time_left``: what remains of the
    call's deadline, if it has one. A 429 is retried for every method (the
    server did nothing), within ``max_rate_limited`` and ``max_elapsed``; it
    waits what Retry-After says (else backoff) and holds the whole origin. A
    5xx in ``retry_statuses`` and a dropped connection or timeout are retried
    only for idempotent methods, so a POST is never replayed.
    """
    if outcome.status == 429:
        wait = parse_retry_after(outcome.retry_after, now=now, maximum=policy.max_retry_after)
        if wait is None:
            wait = backoff_delay(limited, policy, rng)
        if limited + 1 < policy.max_rate_limited and elapsed + wait <= policy.max_elapsed:
            return Retry(wait, cool_down=True)
        return GiveUp(retry_after=wait)
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if outcome.error is not None:
        transient = idempotent and isinstance(outcome.error, _TRANSIENT)
    else:
        transient = retryable_status(outcome.status, idempotent=idempotent, policy=policy)
    if not transient or attempt + 1 >= policy.max_attempts:
        return GiveUp()
    wait = backoff_delay(attempt, policy, rng)
    if outcome.status and outcome.retry_after is not None:
        # A 503 with Retry-After: the server knows better than our backoff.
        asked = parse_retry_after(outcome.retry_after, now=now, maximum=policy.max_retry_after)
        if asked is not None:
            wait = max(wait, asked)
    if elapsed + wait > policy.max_elapsed:
        return GiveUp()
    if time_left is not None and wait >= time_left:
        return GiveUp()
    return Retry(wait)
