"""``Client``: one aiohttp session, one request budget, every API call."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio

from . import _api
from ._auth import OriginPolicy, Token
from ._config import (
    DEFAULT_RETRY,
    Limits,
    RetryPolicy,
    Timeout,
    check_base_url,
    from_env,
)
from ._decode import Decoding
from ._http import Transport
from ._limiter import Limiter, RateLimiter
from ._ratelimit import RateLimitInfo
from ._requester import Requester, RequestStats
from ._transport import AiohttpTransport

if TYPE_CHECKING:
    # Only for the annotation of a borrowed session: _transport.py alone talks to aiohttp.
    import aiohttp

__all__ = ["Client"]

T = TypeVar("T")


class Client(_api.Operations):
    """An async client for CircleCI API v2.

    ::

        async with Client() as client:
            async for pipeline in client.pipelines("gh/org/repo", branch="main"):
                ...

    ``token``: a personal API token; ``None`` reads ``CIRCLE_TOKEN``, then
    ``CIRCLECI_TOKEN``. ``base_url`` defaults to ``CIRCLECI_BASE_URL``, then
    ``https://circleci.com/api/v2`` (set it for CircleCI server or the emulator).
    ``session``: an aiohttp session to borrow; the client never closes it.
    ``limiter``: a ``RateLimiter`` to share one budget among several clients (or
    a ``RedisRateLimiter`` to share it among processes and machines); by default
    each client gets its own from ``limits``. The token is sent only
    to the API origin (and, by the downloader, to ``artifact_hosts``, which
    default to ``*.circle-artifacts.com`` plus ``$CIRCLECI_ARTIFACT_HOSTS``).
    ``transport``: anything with the ``Transport`` shape, such as
    ``MockTransport`` for tests without sockets (then ``session`` is unused).
    ``strict``: refuse bodies that decode only by tolerance (a skipped item, a
    ``null`` where a value belongs, an unknown enum value); see ``models._base``.
    ``client.raw`` makes the same calls and answers plain JSON.
    """

    def __init__(
        self,
        token: str | Token | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        limiter: Limiter | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: Timeout | None = None,
        artifact_hosts: Iterable[str] | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
        strict: bool = False,
    ) -> None:
        config = from_env(base_url=base_url)
        self.base_url = check_base_url(config.base_url)
        if isinstance(token, str):
            token = Token(token)
        self._token = token if token is not None else config.token
        # None: the defaults, with the environment's body cap ($CIRCLECI_MAX_BODY_SIZE).
        self.limits = limits = config.limits if limits is None else limits
        # None: the environment's timeouts ($CIRCLECI_*TIMEOUT), else the defaults.
        self.timeout = timeout = config.timeout if timeout is None else timeout
        self.limiter: Limiter = (
            limiter
            if limiter is not None
            else RateLimiter(
                limits.rate, limits.burst, adaptive=limits.adaptive, clock=clock, sleep=sleep
            )
        )
        self._transport: Transport = transport or AiohttpTransport(
            session, timeout=timeout, limits=limits
        )
        self._artifact_hosts = (
            config.artifact_hosts if artifact_hosts is None else tuple(artifact_hosts)
        )
        self._requester = Requester(
            base_url=self.base_url,
            token=self._token,
            transport=self._transport,
            limiter=self.limiter,
            max_in_flight=limits.max_in_flight,
            retry=retry,
            timeout=timeout,
            max_body_size=limits.max_body_size,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            rng=rng,
        )
        redact = self._token.redact if self._token is not None else _unchanged
        self._decoding = Decoding(strict=strict, redact=redact)

    @property
    def raw(self) -> Any:
        """The same calls, answering the body's plain JSON instead of models.

        ``await client.raw.get_pipeline(id)`` is a ``dict``; ``client.raw.pipelines(slug)``
        yields ``dict`` items. It shares this client's session, limits and retries,
        so no model ever stands between a caller and the data.
        """
        return _RawView(self)

    @property
    def strict(self) -> bool:
        """Whether decoding refuses what only tolerance would accept (see the README)."""
        return self._decoding.strict

    @property
    def has_token(self) -> bool:
        return self._token is not None

    @property
    def stats(self) -> RequestStats:
        """Requests sent, retries and 429s so far."""
        return self._requester.stats

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate-limit headers of the latest response that carried any."""
        return self._requester.rate_limit

    def artifact_policy(self, extra_hosts: Iterable[str] = ()) -> OriginPolicy:
        """Which origins the downloader may send the token to.

        The API origin, plus the artifact hosts: entries with a scheme are exact
        origins (``http://127.0.0.1:8081``), the others are https host globs.
        """
        return OriginPolicy.for_hosts(self.base_url, [*self._artifact_hosts, *extra_hosts])

    @property
    def token(self) -> Token | None:
        """The token, as an opaque ``Token`` (its repr hides the value)."""
        return self._token

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if the client owns it."""
        with anyio.CancelScope(shield=True):
            await self._transport.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        type: type[T],
    ) -> T:
        """Call any endpoint, with the client's limits, retries and errors.

        ``path`` is relative to the base URL (``/project/gh/org/repo``); ``type``
        is what the 2xx body decodes to (a Struct, ``dict[str, Any]``, ``list[...]``).
        """
        result: T = await self._requester.call(method, path, params=params, json=json, type=type)
        return result

    @property
    def transport(self) -> Transport:
        return self._transport

    def __repr__(self) -> str:
        auth = "token" if self._token is not None else "no token"
        return f"<Client {self.base_url} ({auth}) {self.limiter!r}>"


def _unchanged(text: str) -> str:
    return text


class _RawView(_api.Operations):
    """``Client.raw``: every typed call of a client, answering plain JSON."""

    _raw = True

    def __init__(self, client: Client) -> None:
        self._requester = client._requester
        self._decoding = client._decoding

    def __repr__(self) -> str:
        return f"<raw view of {self._requester.base_url}>"
