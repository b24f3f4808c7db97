"""The shared limiter against a real Valkey server, and two processes against the emulator."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from aiocircleci._limiter import Limiter
from aiocircleci._redis_limiter import RedisRateLimiter
from aiocircleci.errors import ConfigurationError, ConnectError
from aiocircleci.testing import FakeCircleCI, WorldConfig

from ._servers import free_port


class _Stop(Exception):
    """Raised by the fake sleep: the test has seen how long acquire() would wait."""


class _RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        raise _Stop


def _key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


def test_it_is_a_limiter_the_client_accepts() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=3.0, burst=2)
    assert isinstance(limiter, Limiter)
    assert (limiter.rate, limiter.burst) == (3.0, 2)


@pytest.mark.anyio
async def test_two_limiters_on_one_key_share_one_bucket(redis_server: str) -> None:
    key = _key()
    sleep = _RecordingSleep()
    async with (
        RedisRateLimiter(f"{redis_server}/0", rate=1.0, burst=2, key=key) as a,
        RedisRateLimiter(f"{redis_server}/0", rate=1.0, burst=2, key=key, sleep=sleep) as b,
    ):
        await a.acquire()
        await b.acquire()  # the burst of 2 is spent between them
        with pytest.raises(_Stop):
            await b.acquire()
    # One token a second: the third request waits about a second.
    assert len(sleep.waits) == 1
    assert 0.8 < sleep.waits[0] <= 1.0


@pytest.mark.anyio
async def test_another_key_is_another_budget(redis_server: str) -> None:
    sleep = _RecordingSleep()
    async with (
        RedisRateLimiter(f"{redis_server}/0", rate=1.0, key=_key()) as a,
        RedisRateLimiter(f"{redis_server}/0", rate=1.0, key=_key(), sleep=sleep) as b,
    ):
        await a.acquire()
        await b.acquire()
    assert sleep.waits == []


@pytest.mark.anyio
async def test_a_429_in_one_process_pauses_the_others_whatever_their_clocks(
    redis_server: str,
) -> None:
    key = _key()
    sleep = _RecordingSleep()
    async with RedisRateLimiter(f"{redis_server}/0", rate=100.0, key=key) as a:
        a.cool_down(30.0)
        assert 29.0 < a.cooldown_remaining() <= 30.0
    # A's exit wrote its pending cool-down. B's clock is far off from A's:
    # the deadline lives on Redis's clock, so B still waits about 30 s.
    skewed = lambda: time.monotonic() + 86_400.0  # noqa: E731
    async with RedisRateLimiter(
        f"{redis_server}/0", rate=100.0, key=key, clock=skewed, sleep=sleep
    ) as b:
        with pytest.raises(_Stop):
            await b.acquire()
        assert 28.0 < b.cooldown_remaining() <= 30.0
    assert len(sleep.waits) == 1
    assert 28.0 < sleep.waits[0] <= 30.0


@pytest.mark.anyio
async def test_a_shorter_cool_down_does_not_cut_a_longer_one(redis_server: str) -> None:
    key = _key()
    sleep = _RecordingSleep()
    async with RedisRateLimiter(f"{redis_server}/0", rate=100.0, key=key) as a:
        a.cool_down(20.0)
    async with RedisRateLimiter(f"{redis_server}/0", rate=100.0, key=key) as a:
        a.cool_down(1.0)
    async with RedisRateLimiter(f"{redis_server}/0", rate=100.0, key=key, sleep=sleep) as b:
        with pytest.raises(_Stop):
            await b.acquire()
    assert 18.0 < sleep.waits[0] <= 20.0


@pytest.mark.anyio
async def test_an_unreachable_redis_is_one_typed_error_without_the_password() -> None:
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(url, rate=1.0)
    with pytest.raises(ConnectError) as info:
        async with limiter:
            pass
    assert "hunter2secret" not in str(info.value)
    assert "hunter2secret" not in repr(limiter)
    assert "127.0.0.1" in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "127.0.0.1:6379", "s3://bucket"])
def test_a_url_that_is_not_redis_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="expected redis://HOST:PORT/DB"):
        RedisRateLimiter(url, rate=1.0)


# --------------------------------------------- two processes, one API budget

_WORKER = textwrap.dedent(
    """
    import json, math, sys, time
    import anyio
    from aiocircleci import Client, Limits
    from aiocircleci._redis_limiter import RedisRateLimiter

    base_url, token, redis_url, key, rate, seconds = sys.argv[1:]
    rate, seconds = float(rate), float(seconds)

    async def main():
        async with (
            RedisRateLimiter(redis_url, rate, burst=1, key=key) as limiter,
            Client(
                token, base_url=base_url, limiter=limiter,
                limits=Limits(rate=math.inf, burst=1000, max_in_flight=8),
            ) as client,
        ):
            # Both processes begin together, however long their start-up took.
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            stop = time.monotonic() + seconds

            async def worker():
                while time.monotonic() < stop:
                    await client.me()

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(worker)
            stats = client.stats
        print(json.dumps({"requests": stats.requests, "limited": stats.rate_limited}))

    anyio.run(main)
    """
)


def test_two_processes_sharing_one_limiter_stay_within_the_rate_together(
    redis_server: str, tmp_path: Path
) -> None:
    rate, seconds = 40.0, 3.0
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    # The emulator's bucket holds a quarter second's worth: slack for arrival
    # jitter on a busy machine, far less than a second process at R would need.
    with FakeCircleCI(
        seed=5, config=WorldConfig(projects=1), rate_limit=rate, rate_limit_burst=10
    ) as fake:
        argv = [
            sys.executable,
            str(script),
            fake.base_url,
            fake.token,
            f"{redis_server}/0",
            _key(),
            str(rate),
            str(seconds),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE")}
        workers = [
            subprocess.Popen(
                argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        for w in workers:
            assert w.stdout is not None
            assert w.stdout.readline() == "ready\n"
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [json.loads(w.communicate(timeout=60)[0]) for w in workers]
        records = fake.api_requests
    assert [w.returncode for w in workers] == [0, 0]

    assert fake.violations == 0
    assert [r.status for r in records if r.status == 429] == []
    assert [o["limited"] for o in outputs] == [0, 0]
    # Both processes took a real share of the budget.
    counts = [o["requests"] for o in outputs]
    assert sum(counts) == len(records)
    assert min(counts) > 0.25 * sum(counts)
    # Together: the rate R, within 2%. The sustained rate is the slope of arrival
    # time against request count (a least-squares fit over every request), which
    # one request delayed by a busy machine at either end cannot skew.
    times = sorted(r.timestamp for r in records)
    fit = statistics.linear_regression(range(len(times)), times)
    measured = 1.0 / fit.slope
    assert math.isclose(measured, rate, rel_tol=0.02), measured
