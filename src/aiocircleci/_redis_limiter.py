"""One API budget for many processes and machines: a token bucket in Redis or Valkey.

``RedisRateLimiter`` has the interface the request path uses (``Limiter`` in
``_limiter.py``) and keeps its state in two Redis keys, updated only by atomic
Lua scripts:

- ``{key}:bucket``, a hash of ``tokens`` and ``last`` (the bucket's level and
  when it was last refilled);
- ``{key}:cooldown``, the moment until which nobody may send (set on a 429).

The scripts read the time with Redis's ``TIME``, never the caller's clock, so
machines whose clocks disagree still share one bucket. ``acquire()`` works as
``RateLimiter`` does: it reserves a token at once (into debt when the bucket
is empty) and sleeps until its slot, so waiters on every machine are served in
the order they asked and a late wake-up costs no capacity. In a cool-down
nothing is reserved: the caller sleeps until its end. A waiter that wakes to
find that a cool-down began while it slept (or that is cancelled) gives its
token back and queues again.

``cool_down(seconds)`` is synchronous, as the request path calls it: it holds
this process back at once, and hands the deadline to a publisher task (owned
by the limiter's task group) that writes it to Redis, where every other
process's next ``acquire()`` sees it. Several cool-downs while one write is on
its way are merged into the longest.

Use it as an async context manager; it needs the ``cloud`` extra (redis-py)::

    async with RedisRateLimiter("redis://host:6379/0", rate=10) as limiter:
        async with Client(limiter=limiter) as client:
            ...

A Redis that cannot be reached raises ``ConnectError`` from ``__aenter__`` or
``acquire()``; its URL is shown without a password.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlsplit, urlunsplit

import anyio
from anyio.abc import TaskGroup

from .errors import ConfigurationError, ConnectError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_KEY", "RedisRateLimiter", "redact_redis_url"]

DEFAULT_KEY: Final = "aiocircleci:limiter"
REDIS_EXTRA_HINT: Final = "pip install 'aiocircleci[cloud]'"
_SCHEMES: Final = ("redis", "rediss", "valkey", "valkeys", "unix")
_CLOSE_TIMEOUT: Final = 5.0

# KEYS: bucket, cooldown. ARGV: rate, burst.
# In a cool-down: {'0', seconds it still holds}, nothing reserved. Otherwise a
# token is reserved, possibly into debt: {seconds to wait before using it, '0'}.
_RESERVE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < cooldown then
  return {'0', string.format('%.6f', cooldown - now)}
end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or now)
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate)
  last = now
end
tokens = tokens - 1
local wait = 0
if tokens < -1e-9 then
  wait = -tokens / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens),
           'last', string.format('%.6f', last))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate + wait + 60) * 1000))
return {string.format('%.6f', wait), '0'}
"""

# KEYS: bucket, cooldown. ARGV: rate, burst, check ('1': only when a cool-down
# holds). Gives back a reserved token that will not be used; returns the
# seconds the cool-down still holds.
_REFUND: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
local holds = math.max(0, cooldown - now)
if ARGV[3] == '1' and holds <= 0 then
  return '0'
end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if tokens and last then
  if now > last then
    tokens = math.min(burst, tokens + (now - last) * rate)
    last = now
  end
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', math.min(burst, tokens + 1)),
             'last', string.format('%.6f', last))
end
return string.format('%.6f', holds)
"""

# KEYS: bucket, cooldown. ARGV: seconds. Longer holds win; the bucket is
# drained so that traffic resumes at the steady rate, not in a burst.
# Returns the seconds the cool-down now holds.
_COOL_DOWN: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local seconds = math.max(0, tonumber(ARGV[1]))
local deadline = now + seconds
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if deadline > current then
  redis.call('SET', KEYS[2], string.format('%.6f', deadline),
             'PX', math.ceil(seconds * 1000) + 1000)
  local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '1')
  local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', math.min(tokens, 1)),
             'last', string.format('%.6f', math.max(last, deadline)))
  redis.call('PEXPIRE', KEYS[1], math.ceil((seconds + 60) * 1000))
  current = deadline
end
return string.format('%.6f', current - now)
"""


def redact_redis_url(url: str) -> str:
    """``url`` without its password (and user), for logs, reprs and errors."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


class RedisRateLimiter:
    """A token bucket (``rate`` per second, ``burst``) and a 429 cool-down kept in Redis.

    Every limiter built with the same ``url`` and ``key`` shares one budget,
    in any process on any machine. ``client`` lets a caller pass its own
    ``redis.asyncio.Redis`` (the caller closes it); otherwise one is made from
    ``url`` (``redis://HOST:PORT/DB``, ``rediss://`` for TLS) and closed on exit.
    ``clock`` and ``sleep`` serve only the local side (how long this process
    has been told to wait); the bucket itself runs on Redis's clock.
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_cool_down_script",
        "_cooldown_until",
        "_keys",
        "_owns_client",
        "_pending",
        "_rate",
        "_redis",
        "_remote_until",
        "_sleep",
        "_refund_script",
        "_reserve_script",
        "_task_group",
        "_wake",
        "key",
        "url",
    )

    def __init__(
        self,
        url: str,
        rate: float,
        burst: int = 1,
        *,
        key: str = DEFAULT_KEY,
        client: Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive, finite number per second, not {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        scheme = urlsplit(url).scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigurationError(
                f"--rate-limiter {redact_redis_url(url)}: expected redis://HOST:PORT/DB"
            )
        self.url = url
        self.key = key
        self._rate = float(rate)
        self._burst = int(burst)
        self._keys = (f"{key}:bucket", f"{key}:cooldown")
        self._clock = clock
        self._sleep = sleep
        self._redis: Any = client
        self._owns_client = client is None
        self._reserve_script: Any = None
        self._refund_script: Any = None
        self._cool_down_script: Any = None
        self._cooldown_until = float("-inf")  # set here, on a 429 this process saw
        self._remote_until = float("-inf")  # learnt from Redis, on the local clock
        self._pending: float | None = None  # a cool-down not yet written to Redis
        self._wake = anyio.Event()
        self._task_group: TaskGroup | None = None

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        if self._redis is None:
            try:
                from redis.asyncio import Redis
            except ImportError as exc:
                raise ConfigurationError(
                    f"--rate-limiter {redact_redis_url(self.url)} needs the cloud extra: "
                    f"{REDIS_EXTRA_HINT}"
                ) from exc
            url = self.url
            if url.startswith("valkey"):  # redis-py knows the protocol by its first name
                url = "redis" + url[len("valkey") :]
            try:
                self._redis = Redis.from_url(url)
            except ValueError as exc:
                raise ConfigurationError(
                    f"--rate-limiter {redact_redis_url(self.url)}: {exc}"
                ) from None
        self._reserve_script = self._redis.register_script(_RESERVE)
        self._refund_script = self._redis.register_script(_REFUND)
        self._cool_down_script = self._redis.register_script(_COOL_DOWN)
        try:
            await self._call(self._redis.ping)
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
        except BaseException:
            await self._close_client()
            raise
        self._task_group = task_group
        task_group.start_soon(self._publish_cool_downs)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                # Write a cool-down still pending, then stop the publisher.
                with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                    if self._pending is not None:
                        await self._write_pending()
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            await self._close_client()

    async def _close_client(self) -> None:
        if self._owns_client and self._redis is not None:
            with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                await self._redis.aclose()
            self._redis = None

    # ------------------------------------------------------------------ budget

    def cooldown_remaining(self) -> float:
        """Seconds this process still holds back (its own 429s and others', as last seen)."""
        return max(0.0, max(self._cooldown_until, self._remote_until) - self._clock())

    async def acquire(self) -> None:
        if self._reserve_script is None:
            raise RuntimeError("use RedisRateLimiter as an async context manager")
        args = (repr(self._rate), self._burst)
        while True:
            local = self.cooldown_remaining()
            if local > 0:
                await self._sleep(local)
                continue
            wait_text, cooldown_text = await self._call(
                self._reserve_script, keys=self._keys, args=args
            )
            if self._learn(cooldown_text):
                continue
            wait = float(wait_text)
            if wait <= 0:
                return
            try:
                await self._sleep(wait)
            except BaseException:
                with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                    await self._call(self._refund_script, keys=self._keys, args=(*args, "0"))
                raise
            # A slot that predates a cool-down which began while we slept (here,
            # or anywhere: Redis refunds only then) is given back, and we queue
            # again behind the deadline.
            only_if_cooling = "0" if self.cooldown_remaining() > 0 else "1"
            holds = await self._call(
                self._refund_script, keys=self._keys, args=(*args, only_if_cooling)
            )
            if not self._learn(holds) and only_if_cooling == "1":
                return

    def _learn(self, holds_text: bytes | str) -> bool:
        """Note a cool-down that Redis reports; whether one holds."""
        holds = float(holds_text)
        if holds > 0:
            self._remote_until = max(self._remote_until, self._clock() + holds)
            return True
        return False

    def cool_down(self, seconds: float) -> None:
        """Hold every request back for ``seconds``, here at once and everywhere soon."""
        seconds = max(0.0, seconds)
        self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)
        self._pending = seconds if self._pending is None else max(self._pending, seconds)
        self._wake.set()

    def on_success(self) -> None:
        """Nothing to learn: the shared rate is fixed."""

    # ---------------------------------------------------------------- internals

    async def _publish_cool_downs(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            try:
                await self._write_pending()
            except ConnectError:
                # This process holds back anyway; the next 429 tries again.
                continue

    async def _write_pending(self) -> None:
        seconds, self._pending = self._pending, None
        if seconds is None:
            return
        holds = await self._call(self._cool_down_script, keys=self._keys, args=(repr(seconds),))
        self._remote_until = max(self._remote_until, self._clock() + float(holds))

    async def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await function(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise ConnectError(
                f"shared rate limiter unreachable: {type(exc).__name__}: {exc}",
                url=redact_redis_url(self.url),
            ) from exc

    def __repr__(self) -> str:
        return (
            f"<RedisRateLimiter {self._rate:g}/s burst={self._burst} "
            f"{redact_redis_url(self.url)} key={self.key}>"
        )
