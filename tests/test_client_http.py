"""The request path over real sockets: pagination, 429s, retries, errors, redirects.

Each test runs a small aiohttp.web app on 127.0.0.1 that behaves the way
CircleCI does in the case at hand, and records what it received.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
import uuid
import warnings
from contextlib import aclosing
from typing import Any

import anyio
import pytest
from aiohttp import web

from aiocircleci import (
    Client,
    ConnectError,
    DecodeError,
    Limits,
    NotFound,
    PaginationWarning,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unauthorized,
)
from aiocircleci._http import Request
from aiocircleci._transport import AiohttpTransport
from aiocircleci.models import PipelineState

from .conftest import ServeApp, some

TOKEN = "s3cr3t-token-value-that-must-never-leak"
FAST_RETRY = RetryPolicy(backoff_base=0.001, backoff_cap=0.002, max_attempts=4)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=64)


def pipeline_json(number: int, slug: str = "gh/org/repo") -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=number)),
        "number": number,
        "project_slug": slug,
        "state": "created",
        "created_at": "2026-11-01T10:00:00Z",
        "errors": [],
        "trigger": {
            "type": "webhook",
            "received_at": "2026-11-01T10:00:00Z",
            "actor": {"login": "octocat", "avatar_url": None},
        },
    }


def me_json() -> dict[str, Any]:
    return {"id": str(uuid.UUID(int=7)), "login": "octocat", "name": "Octo Cat", "avatar_url": None}


def endless_pipelines() -> tuple[web.Application, list[int]]:
    """A project whose pipeline list never ends: pages of 20, numbered from 0.

    The list counts the requests the app answered (one entry per request).
    """
    requests: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        n = int(request.query.get("page-token") or 0)
        requests.append(n)
        items = [pipeline_json(i) for i in range(n, n + 20)]
        return web.json_response({"items": items, "next_page_token": str(n + 20)})

    app = web.Application()
    app.router.add_get("/api/v2/project/gh/org/repo/pipeline", handler)
    return app, requests


def client_for(base: str, **kwargs: Any) -> Client:
    kwargs.setdefault("limits", FAST)
    kwargs.setdefault("retry", FAST_RETRY)
    return Client(TOKEN, base_url=base + "/api/v2", **kwargs)


@pytest.mark.anyio
async def test_pagination_walks_every_page_and_resends_the_branch_filter(serve: ServeApp) -> None:
    seen: list[dict[str, str]] = []
    pages = {None: (1, "t2"), "t2": (21, "t3"), "t3": (41, "t4"), "t4": (61, None)}

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        start, nxt = pages[request.query.get("page-token")]
        items = [pipeline_json(n) for n in range(start, start + 20)]
        return web.json_response({"items": items, "next_page_token": nxt})

    app = web.Application()
    app.router.add_get("/api/v2/project/gh/org/repo/pipeline", handler)
    async with serve(app) as base, client_for(base) as client:
        numbers = [p.number async for p in client.pipelines("gh/org/repo", branch="main")]
    assert numbers == list(range(1, 81))
    assert [q.get("branch") for q in seen] == ["main"] * 4
    assert [q.get("page-token") for q in seen] == [None, "t2", "t3", "t4"]


@pytest.mark.anyio
async def test_limit_stops_early_and_pages_yields_whole_pages(serve: ServeApp) -> None:
    app, requests = endless_pipelines()
    async with serve(app) as base, client_for(base) as client:
        first = [p.number async for p in client.pipelines("gh/org/repo", limit=25)]
        assert first == list(range(25))
        assert len(requests) == 2
        sizes = [
            len(page.items) async for page in client.pipelines("gh/org/repo", limit=45).pages()
        ]
        assert sizes == [20, 20, 5]


@pytest.mark.anyio
async def test_an_endpoint_that_ignores_page_token_stops_with_a_warning_not_a_loop(
    serve: ServeApp,
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        items = [{"path": f"f{i}.txt", "node_index": 0, "url": f"http://x/{i}"} for i in range(3)]
        return web.json_response({"items": items, "next_page_token": "same-token-forever"})

    app = web.Application()
    app.router.add_get("/api/v2/project/gh/org/repo/7/artifacts", handler)
    async with serve(app) as base, client_for(base) as client:
        with pytest.warns(PaginationWarning, match="already sent"):
            paths = [a.path async for a in client.job_artifacts("gh/org/repo", 7)]
    assert paths == ["f0.txt", "f1.txt", "f2.txt"]  # the repeated page is not yielded twice
    assert calls == 2


@pytest.mark.anyio
async def test_429_with_seconds_pauses_every_task_until_retry_after_has_elapsed(
    serve: ServeApp,
) -> None:
    arrivals: list[float] = []
    limited_at: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        now = time.monotonic()
        arrivals.append(now)
        if not limited_at:
            limited_at.append(now)
            return web.Response(status=429, text="Rate limited.", headers={"Retry-After": "1"})
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    # 10 requests/s: the second request is due 100 ms after the first, long
    # after the 429 has come back, so every later request is the client's choice.
    limits = Limits(rate=10.0, burst=1, max_in_flight=64)
    async with serve(app) as base, client_for(base, limits=limits) as client:
        users: list[str] = []

        async def task() -> None:
            users.append(some((await client.me()).login))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(task)
        assert client.stats.rate_limited == 1
    assert users == ["octocat"] * 20
    assert len(arrivals) == 21  # 20 calls and one retry
    t429 = limited_at[0]
    early = [t - t429 for t in arrivals[1:] if t - t429 < 1.0]
    assert early == [], f"requests reached the server during the cool-down: {early}"


@pytest.mark.anyio
async def test_429_with_an_http_date_waits_until_that_date(serve: ServeApp) -> None:
    offset = [0.0]
    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            when = math.floor(time.time()) + 5
            # The client's wall clock reads 0.4 s before that date.
            offset[0] = (when - 0.4) - time.time()
            date = email.utils.formatdate(when, usegmt=True)
            return web.Response(status=429, text="Rate limited.", headers={"Retry-After": date})
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base:
        client = client_for(base, wall_clock=lambda: time.time() + offset[0])
        async with client:
            await client.me()
    waited = arrivals[1] - arrivals[0]
    # Backoff would have retried within milliseconds (FAST_RETRY); the date said 0.4 s.
    assert 0.35 <= waited < 1.0


@pytest.mark.anyio
async def test_429_without_retry_after_falls_back_to_backoff_and_recovers(serve: ServeApp) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return web.Response(status=429, text="Rate limited.")
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base, client_for(base) as client:
        assert (await client.me()).login == "octocat"
        assert client.stats.rate_limited == 2
    assert calls == 3


@pytest.mark.anyio
async def test_persistent_429_with_a_plain_text_body_raises_rate_limited(serve: ServeApp) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=429, text="Rate limited.", headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base, client_for(base) as client:
        with pytest.raises(RateLimited) as info:
            await client.me()
    assert info.value.status == 429
    assert info.value.message == "Rate limited."
    assert info.value.retry_after == 0.0
    assert info.value.url.endswith("/api/v2/me")


@pytest.mark.anyio
async def test_503_is_retried_for_get(serve: ServeApp) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base, client_for(base) as client:
        assert (await client.me()).login == "octocat"
    assert calls == 3


@pytest.mark.anyio
@pytest.mark.parametrize("status", [502, 503])
async def test_a_trigger_pipeline_post_that_fails_with_5xx_is_not_repeated(
    serve: ServeApp, status: int
) -> None:
    posts = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal posts
        posts += 1
        return web.Response(status=status, text="Bad Gateway")

    app = web.Application()
    app.router.add_post("/api/v2/project/gh/org/repo/pipeline", handler)
    async with serve(app) as base, client_for(base) as client:
        with pytest.raises(ServerError) as info:
            await client.trigger_pipeline("gh/org/repo", branch="main")
    assert posts == 1
    assert info.value.status == status
    assert info.value.method == "POST"


@pytest.mark.anyio
async def test_a_post_refused_with_429_is_retried_because_nothing_was_done(
    serve: ServeApp,
) -> None:
    bodies: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        if len(bodies) == 1:
            return web.Response(status=429, text="Rate limited.", headers={"Retry-After": "0"})
        return web.json_response(
            {
                "id": str(uuid.UUID(int=9)),
                "state": "pending",
                "number": 42,
                "created_at": "2026-11-01T10:00:00Z",
            },
            status=201,
        )

    app = web.Application()
    app.router.add_post("/api/v2/project/gh/org/repo/pipeline", handler)
    async with serve(app) as base, client_for(base) as client:
        created = await client.trigger_pipeline(
            "gh/org/repo", tag="v1.0", parameters={"deploy": True, "n": 3}
        )
    assert created.number == 42
    assert created.state is PipelineState.PENDING
    assert bodies == [{"tag": "v1.0", "parameters": {"deploy": True, "n": 3}}] * 2


@pytest.mark.anyio
async def test_a_dropped_connection_is_retried_for_get_but_not_for_post(serve: ServeApp) -> None:
    calls: dict[str, int] = {"GET": 0, "POST": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        calls[request.method] += 1
        if request.method == "GET" and calls["GET"] > 1:
            return web.json_response(me_json())
        assert request.transport is not None
        request.transport.close()  # reset before any header
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/api/v2/me", handler)
    async with serve(app) as base, client_for(base) as client:
        assert (await client.me()).login == "octocat"
        with pytest.raises(ConnectError):
            await client.request("POST", "/me", json={}, type=dict[str, Any])
    assert calls == {"GET": 2, "POST": 1}


@pytest.mark.anyio
async def test_errors_are_typed_and_carry_the_message_of_either_body_shape(
    serve: ServeApp,
) -> None:
    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "Project not found"}, status=404)

    async def policy(request: web.Request) -> web.Response:
        return web.json_response({"error": "policy bundle not found"}, status=404)

    async def unauthorized(request: web.Request) -> web.Response:
        return web.json_response({"message": "You must log in first."}, status=401)

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="{not json", content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v2/project/gh/org/nope", missing)
    app.router.add_get("/api/v2/owner/o/context/c/policy-bundle", policy)
    app.router.add_get("/api/v2/me", unauthorized)
    app.router.add_get("/api/v2/pipeline/abc", garbage)
    async with serve(app) as base, client_for(base) as client:
        with pytest.raises(NotFound, match="Project not found") as nf:
            await client.get_project("gh/org/nope")
        assert nf.value.status == 404
        with pytest.raises(NotFound, match="policy bundle not found"):
            await client.request("GET", "/owner/o/context/c/policy-bundle", type=dict[str, Any])
        with pytest.raises(Unauthorized, match="log in"):
            await client.me()
        with pytest.raises(DecodeError):
            await client.get_pipeline("abc")


@pytest.mark.anyio
async def test_connection_refused_is_a_typed_transport_error() -> None:
    with anyio.fail_after(10):
        async with Client(TOKEN, base_url="http://127.0.0.1:9/api/v2", retry=FAST_RETRY) as client:
            with pytest.raises(ConnectError, match="cannot connect"):
                await client.me()


@pytest.mark.anyio
async def test_the_token_is_sent_as_circle_token_with_accept_json_and_never_in_the_url(
    serve: ServeApp,
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((str(request.url), dict(request.headers)))
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base, client_for(base) as client:
        await client.me()
    url, headers = seen[0]
    assert headers["Circle-Token"] == TOKEN
    assert headers["Accept"] == "application/json"
    assert TOKEN not in url


@pytest.mark.anyio
async def test_a_redirect_to_another_origin_does_not_carry_the_token(serve: ServeApp) -> None:
    elsewhere: list[dict[str, str]] = []

    async def other(request: web.Request) -> web.Response:
        elsewhere.append(dict(request.headers))
        return web.json_response(me_json())

    other_app = web.Application()
    other_app.router.add_get("/me", other)
    async with serve(other_app) as other_base:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(other_base + "/me")

        app = web.Application()
        app.router.add_get("/api/v2/me", redirect)
        async with serve(app) as base, client_for(base) as client:
            assert (await client.me()).login == "octocat"
    assert len(elsewhere) == 1
    assert "Circle-Token" not in elsewhere[0]
    assert TOKEN not in str(elsewhere[0])


@pytest.mark.anyio
async def test_the_token_appears_in_no_repr_log_line_or_exception(
    serve: ServeApp, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"message": "Invalid token provided."}, status=401)

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    caplog.set_level(logging.DEBUG)
    async with serve(app) as base, client_for(base) as client:
        with pytest.raises(Unauthorized) as info:
            await client.me()
        texts = [
            repr(client),
            str(client),
            repr(client.token),
            str(client.token),
            repr(client.limiter),
            repr(client.transport),
            str(info.value),
            repr(info.value),
            repr(info.value.headers),
            repr(vars(info.value)),
        ]
    texts.append(caplog.text)
    for text in texts:
        assert TOKEN not in text
    assert "Invalid token provided." in str(info.value)


def test_a_client_without_token_reads_circle_token_then_circleci_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CIRCLE_TOKEN", raising=False)
    monkeypatch.setenv("CIRCLECI_TOKEN", "second")
    assert Client().token is not None
    assert Client().token.reveal() == "second"  # type: ignore[union-attr]
    monkeypatch.setenv("CIRCLE_TOKEN", "first")
    assert Client().token.reveal() == "first"  # type: ignore[union-attr]


def test_base_url_comes_from_circleci_base_url_and_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CIRCLECI_BASE_URL", raising=False)
    assert Client("t").base_url == "https://circleci.com/api/v2"
    monkeypatch.setenv("CIRCLECI_BASE_URL", "http://127.0.0.1:8080/api/v2/")
    assert Client("t").base_url == "http://127.0.0.1:8080/api/v2"
    from aiocircleci import ConfigurationError

    with pytest.raises(ConfigurationError, match="invalid base URL"):
        Client("t", base_url="ftp://example.com")


@pytest.mark.anyio
async def test_a_borrowed_session_is_left_open(serve: ServeApp) -> None:
    import aiohttp

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    async with serve(app) as base, aiohttp.ClientSession() as session:
        async with client_for(base, session=session) as client:
            await client.me()
        assert not session.closed


@pytest.mark.anyio
async def test_one_limiter_shared_by_two_clients_spends_one_budget(serve: ServeApp) -> None:
    from aiocircleci import RateLimiter

    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response(me_json())

    app = web.Application()
    app.router.add_get("/api/v2/me", handler)
    shared = RateLimiter(20.0, burst=1)
    async with serve(app) as base:
        async with client_for(base, limiter=shared) as a, client_for(base, limiter=shared) as b:
            async with anyio.create_task_group() as tg:
                for client in (a, b) * 3:
                    tg.start_soon(client.me)
    span = max(arrivals) - min(arrivals)
    # Six requests at 20/s from one shared budget need at least 5 intervals of 50 ms.
    assert span >= 0.24


def test_unknown_status_values_decode_and_keep_the_raw_string() -> None:
    import msgspec

    from aiocircleci.models import Workflow, WorkflowStatus

    raw = {
        "id": "w",
        "name": "build",
        "status": "brand-new-status",
        "created_at": "2026-11-01T10:00:00Z",
        "pipeline_id": "p",
        "pipeline_number": 1,
        "project_slug": "gh/o/r",
        "started_by": "u",
        "stopped_at": None,
        "a_field_from_the_future": {"x": 1},
    }
    workflow = msgspec.convert(raw, Workflow)
    assert workflow.status is not None
    assert workflow.status.is_unknown
    assert workflow.status.name == "UNKNOWN"
    assert str(workflow.status) == workflow.status.value == "brand-new-status"
    assert workflow.status != WorkflowStatus.SUCCESS


def test_no_warning_is_left_over() -> None:
    # filterwarnings=error turns stray ResourceWarnings into failures; this
    # guards that the module imports cleanly under it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import aiocircleci  # noqa: F401


@pytest.mark.anyio
async def test_a_listing_closed_early_fetches_no_further_page(serve: ServeApp) -> None:
    app, requests = endless_pipelines()
    async with serve(app) as base, client_for(base) as client:
        async with aclosing(client.pipelines("gh/org/repo").pages()) as pages:
            async for page in pages:
                assert len(page.items) == 20
                await pages.aclose()
        items = client.pipelines("gh/org/repo").__aiter__()
        assert (await anext(items)).number == 0
        await items.aclose()
        with pytest.raises(StopAsyncIteration):
            await anext(items)
    assert len(requests) == 2


@pytest.mark.anyio
async def test_response_headers_read_case_insensitively_and_the_first_value_wins(
    serve: ServeApp,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=b"x", headers={"ETag": '"v1"'})
        response.headers.add("X-Twice", "first")
        response.headers.add("x-twice", "second")
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    async with serve(app) as base, AiohttpTransport() as transport:
        async with transport.stream(Request("GET", base + "/")) as response:
            headers = response.headers
    assert headers["x-TWICE"] == "first"
    assert headers.get("etag") == '"v1"'
    assert "X-TWICE" in headers
    assert "Missing" not in headers
    assert headers.get("Missing") is None
    names = list(headers)
    assert [n.lower() for n in names].count("x-twice") == 1
    assert len(headers) == len(names)
    assert list(headers.lower_names()) == [n.lower() for n in names]
    assert dict(headers)["X-Twice"] == "first"
