"""``FakeCircleCI``: the API, artifact and storage hosts on three loopback ports.

Every request passes the same gate, in this order: added latency and
request-phase faults (what a load balancer does before the app sees anything),
then, on the API, the token and the per-token rate limit, then the handler. The
answer goes out through ``_http.send``, which breaks the body when a body-phase
fault fires. Each request leaves one ``RequestRecord`` in the log.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import math
import secrets
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Literal, Self

import msgspec
from aiohttp import web

from .._ratelimit import TokenBucket
from ._api import ApiCall, ApiError, ApiRoute, ApiRouter, Reply, all_routes
from ._artifacts import (
    StorageSigner,
    answer_content,
    parse_artifact_path,
    parse_storage_path,
    s3_error,
    storage_path,
)
from ._faults import FaultInjector, FaultKind, Faults, Phase
from ._http import Body, Sent, extract_token, reset_connection, send
from ._log import RequestRecord, RouteClass
from ._pagination import Pager, PageTokenError
from ._shapes import Shapes, default_shapes, live_body
from ._world import World, WorldConfig

__all__ = ["API_PREFIX", "FakeCircleCI", "RetryAfterStyle"]

logger = logging.getLogger("aiocircleci.testing")

API_PREFIX = "/api/v2"
RetryAfterStyle = Literal["seconds", "http-date", "missing"]

_JSON = "application/json; charset=utf-8"
_STATUS_MESSAGES = {
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}
_S3_CODES = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _json(body: object) -> Body:
    return Body.of(msgspec.json.encode(body))


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def generate_token() -> str:
    """A token shaped like a CircleCI personal API token."""
    return f"CCIPAT_{secrets.token_urlsafe(16)}_{secrets.token_hex(20)}"


class FakeCircleCI:
    """A faithful CircleCI API v2 emulator on 127.0.0.1, for tests, demos and benchmarks.

    ``async with FakeCircleCI(seed=1) as fake:`` binds three free ports (API,
    artifact host, storage host) and serves until the block ends; ``with
    FakeCircleCI(...) as fake:`` does the same from a background thread for
    synchronous code. The world is generated from ``seed`` and ``config``
    and is available as ``fake.world`` before and after start.

    Knobs: ``rate_limit`` requests per second per token (``None``: unlimited)
    with a bucket of ``rate_limit_burst`` (default: one second's worth);
    ``retry_after_style`` says how a 429 announces the wait; ``latency_ms`` is
    added to every request on all three hosts; ``limit_rate`` caps every
    response body of the artifact and storage hosts at that many bytes per
    second, per response, as nginx's ``limit_rate`` and object stores cap a
    single stream; ``faults`` is a ``Faults`` value
    or a fault-spec string (see ``aiocircleci.testing._faults``); ``page_size``
    is the fixed page size of every list; ``private`` makes the artifact host
    require the token; ``url_ttl`` is how long storage URLs stay valid.
    ``clock`` (monotonic seconds) drives rate limits; ``wall_clock`` (epoch
    seconds) drives URL expiry, timestamps of new things, and the log.
    ``shapes``: ``"live"`` serves what the real API sends, ``"spec"`` what its
    OpenAPI spec says (see ``aiocircleci.testing._shapes``); ``None`` reads
    ``AIOCIRCLECI_FAKE_SHAPES`` and defaults to live.

    ``violations`` counts requests that arrive from a token before the
    Retry-After last announced to it has passed, except those arriving within
    ``violation_grace`` seconds of the first 429 of a run of 429s: those were
    already on their way when the client could first have known.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        token: str | None = None,
        config: WorldConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        artifact_port: int = 0,
        storage_port: int = 0,
        rate_limit: float | None = None,
        rate_limit_burst: int | None = None,
        retry_after_style: RetryAfterStyle = "seconds",
        latency_ms: float = 0.0,
        limit_rate: float | None = None,
        faults: Faults | str | None = None,
        page_size: int = 20,
        private: bool = True,
        url_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log_limit: int | None = 100_000,
        violation_grace: float = 0.25,
        shapes: Shapes | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if limit_rate is not None and not limit_rate > 0:
            raise ValueError(f"limit_rate must be positive, not {limit_rate!r}")
        if retry_after_style not in ("seconds", "http-date", "missing"):
            raise ValueError(f"unknown retry_after_style {retry_after_style!r}")
        self.seed = seed
        self.shapes: Shapes = default_shapes() if shapes is None else shapes
        if self.shapes not in ("live", "spec"):
            raise ValueError(f"shapes must be 'live' or 'spec', not {self.shapes!r}")
        self.token_generated = token is None
        self.token = token if token is not None else generate_token()
        self.world = World(seed, config, private=private)
        self.host = host
        self.page_size = page_size
        self.latency_ms = latency_ms
        self.limit_rate = limit_rate
        self.retry_after_style: RetryAfterStyle = retry_after_style
        self.violations = 0
        self.violation_grace = violation_grace
        self._ports = (port, artifact_port, storage_port)
        self._clock = clock
        self._wall_clock = wall_clock
        secret = hashlib.sha256(f"aiocircleci-fake:{seed}".encode()).digest()
        self._pager = Pager(secret)
        self._signer = StorageSigner(hashlib.sha256(secret + b":storage").digest(), url_ttl)
        self._router = ApiRouter(all_routes())
        self._faults = Faults.parse(faults) if isinstance(faults, str) else faults or Faults()
        self._injector = FaultInjector(self._faults, seed)
        self._log: deque[RequestRecord] = deque(maxlen=log_limit)
        # Per host: each connection's number (by its transport), how many were
        # seen, and how many requests are being answered now and at most.
        self._connections: dict[RouteClass, weakref.WeakKeyDictionary[object, int]] = {
            rc: weakref.WeakKeyDictionary() for rc in RouteClass
        }
        self._opened = dict.fromkeys(RouteClass, 0)
        self._busy = dict.fromkeys(RouteClass, 0)
        self._peak = dict.fromkeys(RouteClass, 0)
        self._answering = 0  # handlers running now (their records are not all written)
        self._rate: float | None = None
        self._burst = 1
        self._buckets: dict[str, TokenBucket] = {}
        # token -> (when its current run of 429s began, the latest announced deadline)
        self._announced: dict[str, tuple[float, float]] = {}
        self.set_rate_limit(rate_limit, rate_limit_burst)
        self._runners: list[web.AppRunner] = []
        self._origins: tuple[str, str, str] | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    # ------------------------------------------------------------- public API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v2``"""
        return self._running()[0] + API_PREFIX

    @property
    def api_origin(self) -> str:
        return self._running()[0]

    @property
    def artifact_origin(self) -> str:
        return self._running()[1]

    @property
    def storage_origin(self) -> str:
        return self._running()[2]

    @property
    def routes(self) -> tuple[ApiRoute, ...]:
        """Every API operation this emulator serves."""
        return self._router.routes

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (a copy)."""
        return list(self._log)

    @property
    def api_requests(self) -> list[RequestRecord]:
        return [r for r in self._log if r.route_class is RouteClass.API]

    @property
    def artifact_requests(self) -> list[RequestRecord]:
        return [r for r in self._log if r.route_class is RouteClass.ARTIFACT]

    @property
    def storage_requests(self) -> list[RequestRecord]:
        return [r for r in self._log if r.route_class is RouteClass.STORAGE]

    def clear_requests(self) -> None:
        """Empty the log and reset the peaks of :meth:`max_concurrent`."""
        self._log.clear()
        self._peak = dict(self._busy)

    def connections(self, route_class: RouteClass) -> int:
        """How many TCP connections have sent requests to one host since it started."""
        return self._opened[route_class]

    def max_concurrent(self, route_class: RouteClass) -> int:
        """The most requests one host was answering at the same time (since the log was cleared).

        A download that fetches ranges of one file over several connections at
        once shows here as more than 1 on the storage host.
        """
        return self._peak[route_class]

    def wait_settled(self, timeout: float = 5.0) -> None:
        """Wait until every request the emulator began answering is in the log.

        A streamed body's record is written once its last byte has gone out, a
        moment after the client may already have it all; a test that reads the
        log right after a client (a subprocess, say) finished calls this first.
        Call it from a thread other than the emulator's (thread mode).
        """
        deadline = time.monotonic() + timeout
        while self._answering:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._answering} requests still being answered")
            time.sleep(0.002)

    def _counted(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def counted(request: web.Request) -> web.StreamResponse:
            self._answering += 1
            try:
                return await handler(request)
            finally:
                self._answering -= 1

        return counted

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | str | None) -> None:
        """Replace the fault rules; their counters and RNGs start afresh."""
        self._faults = Faults.parse(faults) if isinstance(faults, str) else faults or Faults()
        self._injector = FaultInjector(self._faults, self.seed)

    def set_rate_limit(self, rate: float | None, burst: int | None = None) -> None:
        """Change the per-token limit; buckets start full. ``None`` lifts it."""
        if rate is not None and not rate > 0:
            raise ValueError(f"rate_limit must be positive, not {rate!r}")
        self._rate = rate
        self._burst = burst if burst is not None else max(1, math.ceil(rate or 1))
        self._buckets.clear()

    @property
    def url_ttl(self) -> float:
        return self._signer.ttl

    @url_ttl.setter
    def url_ttl(self, seconds: float) -> None:
        self._signer.ttl = seconds

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind the three hosts and start serving."""
        if self._origins is not None:
            raise RuntimeError("FakeCircleCI is already running")
        self._stop = asyncio.Event()
        handlers = (self._handle_api, self._handle_artifact, self._handle_storage)
        origins: list[str] = []
        try:
            for port, handler in zip(self._ports, handlers, strict=True):
                app = web.Application()
                app.router.add_route("*", "/{tail:.*}", self._counted(handler))
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                self._runners.append(runner)
                sock = _bind(self.host, port)
                site = web.SockSite(runner, sock)
                await site.start()
                origins.append(_origin(self.host, sock.getsockname()[1]))
        except BaseException:
            await self.close()
            raise
        self._origins = (origins[0], origins[1], origins[2])
        self.world.artifact_origin = origins[1]

    async def close(self) -> None:
        """Stop serving; stalled responses are cut, idle connections closed."""
        if self._stop is not None:
            self._stop.set()
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        self._origins = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __enter__(self) -> Self:
        """Serve from a background thread with its own event loop."""
        ready = threading.Event()

        async def serve() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            async with self:
                ready.set()
                await self._thread_stop.wait()

        def main() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # handed to the starting thread
                self._thread_error = exc
            finally:
                ready.set()

        self._thread_error = None
        self._thread = threading.Thread(target=main, name="FakeCircleCI", daemon=True)
        self._thread.start()
        ready.wait()
        if self._thread_error is not None:
            self._thread.join()
            raise self._thread_error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop, thread = self._thread_loop, self._thread_stop, self._thread
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join()
        self._thread = self._thread_loop = self._thread_stop = None

    def __repr__(self) -> str:
        where = self._origins[0] if self._origins else "not running"
        return f"<FakeCircleCI seed={self.seed} {where}>"

    def _running(self) -> tuple[str, str, str]:
        if self._origins is None:
            raise RuntimeError("FakeCircleCI is not running; use `async with FakeCircleCI()`")
        return self._origins

    # ------------------------------------------------------------ the gate

    def _arrive(self, request: web.Request, route_class: RouteClass) -> int:
        """Count the request as being answered; return its connection's number."""
        busy = self._busy[route_class] = self._busy[route_class] + 1
        self._peak[route_class] = max(self._peak[route_class], busy)
        transport = request.transport
        if transport is None:
            return 0
        numbers = self._connections[route_class]
        number = numbers.get(transport)
        if number is None:
            number = numbers[transport] = self._opened[route_class] = self._opened[route_class] + 1
        return number

    async def _gate(
        self,
        request: web.Request,
        route_class: RouteClass,
        operation: str | None,
        labels: list[str],
    ) -> FaultKind | None:
        """Latency and request-phase faults; returns the fault kind that fired, if any."""
        decision = self._injector.draw(Phase.REQUEST, route_class, operation)
        labels.extend(decision.labels)
        delay = self.latency_ms + decision.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        return decision.kind

    async def _answer(
        self,
        request: web.Request,
        route_class: RouteClass,
        operation: str | None,
        labels: list[str],
        status: int,
        headers: dict[str, str],
        body: Body,
    ) -> Sent:
        fault = None
        if body.length > 0 and request.method != "HEAD":
            decision = self._injector.draw(Phase.BODY, route_class, operation)
            labels.extend(decision.labels)
            fault = decision.kind
        assert self._stop is not None
        return await send(
            request,
            status=status,
            headers=headers,
            body=body,
            fault=fault,
            cut_bytes=self._faults.cut_bytes,
            stop=self._stop,
            stall_seconds=self._faults.stall_seconds,
            rate=None if route_class is RouteClass.API else self.limit_rate,
        )

    def _record(
        self,
        request: web.Request,
        route_class: RouteClass,
        operation: str | None,
        sent: Sent | None,
        labels: list[str],
        arrived: float,
        connection: int,
        violation: bool = False,
    ) -> None:
        self._busy[route_class] -= 1
        self._log.append(
            RequestRecord(
                route_class=route_class,
                operation=operation,
                method=request.method,
                path=request.rel_url.raw_path,
                query=tuple(request.query.items()),
                headers=tuple(request.headers.items()),
                status=None if sent is None else sent.status,
                faults=tuple(labels),
                timestamp=arrived,
                violation=violation,
                bytes_sent=0 if sent is None else sent.bytes_sent,
                connection=connection,
            )
        )

    def _status_fault(self, route_class: RouteClass, status: int) -> tuple[dict[str, str], Body]:
        message = _STATUS_MESSAGES[status]
        if route_class is RouteClass.API:
            return {"Content-Type": _JSON}, _json({"message": message})
        if route_class is RouteClass.STORAGE:
            return {"Content-Type": "application/xml"}, Body.of(
                s3_error(_S3_CODES[status], message)
            )
        return {"Content-Type": "text/plain; charset=utf-8"}, Body.of(message.encode())

    def _rate_check(self, token: str) -> tuple[bool, float]:
        """Whether this request is a violation, and how long until the bucket has a token."""
        now = self._clock()
        began, until = self._announced.get(token, (0.0, 0.0))
        # Requests already in flight when the first 429 went out are not the
        # client's fault; only those sent once it could have known count.
        violation = began + self.violation_grace <= now < until
        if violation:
            self.violations += 1
        if self._rate is None:
            return violation, 0.0
        bucket = self._buckets.get(token)
        if bucket is None:
            bucket = self._buckets[token] = TokenBucket(self._rate, self._burst, now=now)
        return violation, bucket.take(now)

    def _announce(self, token: str, now: float, until: float) -> None:
        began, previous = self._announced.get(token, (now, 0.0))
        if now >= previous:  # the previous wait is over: a new run of 429s begins
            began = now
        self._announced[token] = (began, until)

    def _retry_after(self, token: str, wait: float) -> dict[str, str]:
        now = self._clock()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.retry_after_style == "seconds":
            seconds = max(1, math.ceil(wait))
            headers["Retry-After"] = str(seconds)
            self._announce(token, now, now + seconds)
        elif self.retry_after_style == "http-date":
            wall = self._wall_clock()
            at = math.ceil(wall + wait)  # HTTP-dates have whole seconds: round up
            headers["Retry-After"] = email.utils.formatdate(at, usegmt=True)
            self._announce(token, now, now + (at - wall))
        return headers

    # ------------------------------------------------------------- API host

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        arrived = self._wall_clock()
        labels: list[str] = []
        connection = self._arrive(request, RouteClass.API)
        raw_path = request.rel_url.raw_path
        matched: tuple[ApiRoute, dict[str, str]] | bool = False
        if raw_path.startswith(API_PREFIX + "/"):
            matched = self._router.match(request.method, raw_path[len(API_PREFIX) :])
        operation = matched[0].operation_id if isinstance(matched, tuple) else None
        sent: Sent | None = None
        violation = False
        try:
            kind = await self._gate(request, RouteClass.API, operation, labels)
            if kind is FaultKind.RESET:
                reset_connection(request)
                return web.Response()
            status: int
            headers: dict[str, str] = {"Content-Type": _JSON}
            if kind is not None and kind.status is not None:
                status = kind.status
                headers, body = self._status_fault(RouteClass.API, status)
            else:
                token = extract_token(request.headers)
                if token != self.token:
                    status, headers, body = self._unauthorized(token)
                else:
                    violation, wait = self._rate_check(token)
                    if wait > 0:
                        status = 429
                        headers = self._retry_after(token, wait)
                        body = Body.of(b"Rate limited.")
                    elif isinstance(matched, tuple):
                        status, body = await self._call(request, matched, operation, labels)
                    elif matched:
                        status, body = 405, _json({"message": "Method not allowed."})
                    else:
                        status, body = 404, _json({"message": "Not found."})
            sent = await self._answer(
                request, RouteClass.API, operation, labels, status, headers, body
            )
            return sent.response
        finally:
            self._record(
                request, RouteClass.API, operation, sent, labels, arrived, connection, violation
            )

    async def _call(
        self,
        request: web.Request,
        matched: tuple[ApiRoute, dict[str, str]],
        operation: str | None,
        labels: list[str],
    ) -> tuple[int, Body]:
        route, params = matched
        body = await request.read() if request.method in _BODY_METHODS else b""
        page_token = request.query.get("page-token") or None

        def paginate(
            items: Sequence[object], scope: str, from_end: bool
        ) -> tuple[Sequence[object], str | None]:
            token = page_token
            if token is not None:
                decision = self._injector.draw(Phase.PAGE, RouteClass.API, operation)
                labels.extend(decision.labels)
                if decision.kind is FaultKind.PAGE_TOKEN_404:
                    raise ApiError(404, "Not Found" if self.shapes == "live" else "Page not found.")
                if decision.kind is FaultKind.IGNORE_PAGE_TOKEN:
                    token = None
            try:
                found, following = self._pager.page(
                    items, scope=scope, token=token, size=self.page_size, from_end=from_end
                )
            except PageTokenError:
                if self.shapes == "live":  # an expired or foreign token, as CircleCI answers it
                    raise ApiError(404, "Not Found") from None
                raise ApiError(400, "Invalid page-token.") from None
            return found, following

        call = ApiCall(
            world=self.world,
            params=params,
            query=request.query,
            body=body,
            now=self._wall_clock(),
            paginate=paginate,
        )
        try:
            reply: Reply = route.handler(call)
        except ApiError as exc:
            return exc.status, _json({"message": exc.message})
        except Exception:
            logger.exception("emulator handler for %s failed", route.operation_id)
            return 500, _json({"message": _STATUS_MESSAGES[500]})
        answer = reply.body
        if self.shapes == "live" and reply.status < 300:
            answer = live_body(route.operation_id, answer)
        return reply.status, _json(answer)

    def _unauthorized(self, token: str | None) -> tuple[int, dict[str, str], Body]:
        """401 as the spec has it (JSON), or as CircleCI sends it (two kinds of text)."""
        if self.shapes == "spec":
            return 401, {"Content-Type": _JSON}, _json({"message": "You must log in first."})
        text = {"Content-Type": "text/plain; charset=utf-8"}
        if token is None:
            # JSON, labelled as text: what CircleCI answers when no token came.
            return 401, text, _json({"message": "You must log in first."})
        return 401, text, Body.of(b"Invalid token provided.")

    # -------------------------------------------------------- artifact host

    async def _handle_artifact(self, request: web.Request) -> web.StreamResponse:
        arrived = self._wall_clock()
        labels: list[str] = []
        connection = self._arrive(request, RouteClass.ARTIFACT)
        sent: Sent | None = None
        try:
            kind = await self._gate(request, RouteClass.ARTIFACT, None, labels)
            if kind is FaultKind.RESET:
                reset_connection(request)
                return web.Response()
            text = {"Content-Type": "text/plain; charset=utf-8"}
            headers: dict[str, str] = {}
            artifact = None
            if kind is not None and kind.status is not None:
                status = kind.status
                headers, body = self._status_fault(RouteClass.ARTIFACT, status)
            elif request.method not in ("GET", "HEAD"):
                status, headers, body = 405, text, Body.of(b"Method not allowed.")
            else:
                artifact = parse_artifact_path(self.world, request.rel_url.raw_path)
                if artifact is None:
                    status, headers, body = 404, text, Body.of(b"Not found.")
                elif (
                    self.world.project(artifact.project_slug).private
                    and extract_token(request.headers) != self.token
                ):
                    status, headers = 401, {"Content-Type": _JSON}
                    body = _json({"message": "You must log in first."})
                elif artifact.path.endswith((".html", ".htm")):
                    # HTML artifacts are served in place so relative links work.
                    answer = answer_content(
                        self.world,
                        artifact,
                        request.headers,
                        ranges=kind is not FaultKind.IGNORE_RANGE,
                    )
                    status, headers, body = answer.status, answer.headers, answer.body
                else:
                    location = self.storage_origin + self._signer.sign(
                        storage_path(artifact), self._wall_clock()
                    )
                    status, headers, body = 302, {"Location": location}, Body.of(b"")
            sent = await self._answer(
                request, RouteClass.ARTIFACT, None, labels, status, headers, body
            )
            return sent.response
        finally:
            self._record(request, RouteClass.ARTIFACT, None, sent, labels, arrived, connection)

    # --------------------------------------------------------- storage host

    async def _handle_storage(self, request: web.Request) -> web.StreamResponse:
        arrived = self._wall_clock()
        labels: list[str] = []
        connection = self._arrive(request, RouteClass.STORAGE)
        sent: Sent | None = None
        try:
            kind = await self._gate(request, RouteClass.STORAGE, None, labels)
            if kind is FaultKind.RESET:
                reset_connection(request)
                return web.Response()
            xml = {"Content-Type": "application/xml"}
            headers: dict[str, str] = xml
            if kind is not None and kind.status is not None:
                status = kind.status
                headers, body = self._status_fault(RouteClass.STORAGE, status)
            elif request.method not in ("GET", "HEAD"):
                status, body = 405, Body.of(s3_error("MethodNotAllowed", "Method not allowed"))
            elif "Authorization" in request.headers:
                # S3 refuses a pre-signed URL that also carries an Authorization header.
                status, body = (
                    400,
                    Body.of(
                        s3_error(
                            "InvalidArgument",
                            "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                            "parameter, Signature query string parameter or the Authorization "
                            "header should be specified",
                        )
                    ),
                )
            else:
                raw_path = request.rel_url.raw_path
                problem = self._signer.check(
                    raw_path,
                    request.query.get("X-Expires"),
                    request.query.get("X-Signature"),
                    self._wall_clock(),
                )
                artifact = parse_storage_path(self.world, raw_path) if problem is None else None
                if problem is not None:
                    status, body = 403, Body.of(s3_error(*problem))
                elif artifact is None:
                    status, body = 404, Body.of(s3_error("NoSuchKey", "The key does not exist."))
                else:
                    answer = answer_content(
                        self.world,
                        artifact,
                        request.headers,
                        ranges=kind is not FaultKind.IGNORE_RANGE,
                    )
                    status, headers, body = answer.status, answer.headers, answer.body
            sent = await self._answer(
                request, RouteClass.STORAGE, None, labels, status, headers, body
            )
            return sent.response
        finally:
            self._record(request, RouteClass.STORAGE, None, sent, labels, arrived, connection)
