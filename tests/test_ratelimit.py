"""The pure rate-limit arithmetic and the async limiter, driven by a fake clock."""

from __future__ import annotations

import email.utils

import anyio
import pytest

from aiocircleci import RateLimiter
from aiocircleci._http import Headers
from aiocircleci._ratelimit import (
    AdaptiveRate,
    TokenBucket,
    parse_rate_limit_headers,
    parse_retry_after,
)


class FakeClock:
    """Monotonic time that only moves when a sleeper asks it to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Wake at the deadline the sleeper asked for; time never runs backwards.
        deadline = self.now + max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()
        self.now = max(self.now, deadline)


class BlockingClock(FakeClock):
    """A clock whose sleeps never end until cancelled (for waiter-leak tests)."""

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await anyio.sleep_forever()


def test_bucket_sustains_its_configured_rate_within_two_percent_over_60_simulated_seconds() -> None:
    bucket = TokenBucket(rate=7.0, burst=10, now=0.0)
    now, granted = 0.0, 0
    while now < 60.0:
        wait = bucket.take(now)
        if wait == 0.0:
            granted += 1
        else:
            now += wait
    steady = (granted - 10) / 60.0  # the initial burst is free
    assert steady == pytest.approx(7.0, rel=0.02)


def test_bucket_refuses_a_rate_of_zero_and_a_burst_below_one() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0)


@pytest.mark.anyio
async def test_limiter_shared_by_ten_tasks_holds_the_rate_within_two_percent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=5, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []

    async def worker() -> None:
        while clock.now < 60.0:
            await limiter.acquire()
            stamps.append(clock.now)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(worker)
    within = [t for t in stamps if t < 60.0]
    assert (len(within) - 5) / 60.0 == pytest.approx(5.0, rel=0.02)
    assert stamps == sorted(stamps)  # nobody jumped the queue


@pytest.mark.anyio
async def test_waiters_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, burst=1, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def worker(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(worker, i)
            await anyio.lowlevel.checkpoint()
    assert order == list(range(8))


@pytest.mark.anyio
async def test_cancelled_waiters_give_their_tokens_back() -> None:
    clock = BlockingClock()
    limiter = RateLimiter(1.0, burst=2, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.available() == pytest.approx(0.0)
    with anyio.move_on_after(0.05):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(limiter.acquire)
    # Five reservations were made and all five were returned on cancellation.
    assert limiter.available() == pytest.approx(0.0)
    clock.now += 10.0
    assert limiter.available() == pytest.approx(2.0)


@pytest.mark.anyio
async def test_cool_down_holds_back_every_waiter_including_those_already_queued() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100.0, burst=1, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    limiter.cool_down(30.0)
    released: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        released.append(clock.now)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(worker)
    assert len(released) == 20
    assert min(released) >= 30.0
    # Traffic resumes at the steady rate (one per 10 ms), not in a burst.
    gaps = [b - a for a, b in zip(released, released[1:], strict=False)]
    assert all(g == pytest.approx(0.01, abs=1e-6) for g in gaps)


def test_adaptive_rate_halves_on_429_and_recovers_slowly() -> None:
    adaptive = AdaptiveRate(10.0, floor=1.0, step=1.0, recover_after=5.0, now=0.0)
    assert adaptive.on_limited(0.0) == 5.0
    assert adaptive.on_limited(1.0) == 2.5
    assert adaptive.on_success(2.0) == 2.5  # too soon to raise it
    assert adaptive.on_success(6.0) == 3.5
    for t in range(7, 200):
        adaptive.on_success(float(t * 5))
    assert adaptive.rate == 10.0


@pytest.mark.anyio
async def test_adaptive_limiter_lowers_its_bucket_rate_after_a_cool_down() -> None:
    clock = FakeClock()
    limiter = RateLimiter(8.0, burst=1, adaptive=True, clock=clock, sleep=clock.sleep)
    limiter.cool_down(1.0)
    assert limiter.rate == 4.0


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("0", 0.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        (email.utils.formatdate(NOW + 42, usegmt=True), 42.0),
        (email.utils.formatdate(NOW - 3600, usegmt=True), 0.0),  # a date in the past is 0
        ("-5", 0.0),
        ("100000", 300.0),  # clamped to the maximum
        (email.utils.formatdate(NOW + 10**6, usegmt=True), 300.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW, maximum=300.0) == pytest.approx(expected)


@pytest.mark.parametrize("value", [None, "", "soon", "Wed, 99 Foo 2024"])
def test_retry_after_that_cannot_be_read_falls_back_to_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW, maximum=300.0) is None


def test_rate_limit_headers_take_the_lowest_limit_when_windows_disagree() -> None:
    headers = Headers(
        {
            "x-ratelimit-limit-second": "10",
            "X-RateLimit-Remaining-Second": "3",
            "X-RateLimit-Limit-Minute": "300",
            "X-RateLimit-Remaining-Minute": "250",
            "RateLimit-Limit": "20",
            "RateLimit-Remaining": "7",
            "X-RateLimit-Reset": str(int(NOW + 12)),
        }
    )
    info = parse_rate_limit_headers(headers, now=NOW)
    assert info is not None
    assert info.limit == 10
    assert info.remaining == 3
    assert info.reset == pytest.approx(12.0)
    assert parse_rate_limit_headers(Headers({"Content-Type": "text/plain"}), now=NOW) is None
