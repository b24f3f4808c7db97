"""When to retry and how long to wait: pure functions of the attempt and the outcome."""

from __future__ import annotations

import random

from ._config import RetryPolicy

__all__ = ["backoff_delay", "retryable_status"]


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th retry (0-based)."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * (2.0**attempt))
    return rng.uniform(0.0, ceiling)


def retryable_status(status: int, *, idempotent: bool, policy: RetryPolicy) -> bool:
    """A 429 is always retryable (nothing was done); a 5xx only for idempotent methods."""
    if status == 429:
        return True
    return idempotent and status in policy.retry_statuses
