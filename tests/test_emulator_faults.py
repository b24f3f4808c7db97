"""Injected faults and the server-side rate limit, as a raw aiohttp client sees them."""

from __future__ import annotations

import asyncio
import email.utils
import time

import aiohttp
import pytest

from aiocircleci._ratelimit import parse_retry_after
from aiocircleci.testing import FakeCircleCI, FaultKind, FaultRule, Faults, RouteClass, WorldConfig

pytestmark = pytest.mark.anyio

TOKEN = "fault-token"
CONFIG = WorldConfig(projects=1, pipelines_per_project=30, max_artifact_size=400_000)
HEADERS = {"Circle-Token": TOKEN}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pipelines_url(fake: FakeCircleCI) -> str:
    return f"{fake.base_url}/project/{fake.world.projects[0].slug}/pipeline"


async def _statuses(fake: FakeCircleCI, count: int, path: str = "/me") -> list[int]:
    found = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for _ in range(count):
            async with session.get(fake.base_url + path) as response:
                await response.read()
                found.append(response.status)
    return found


# --------------------------------------------------------------- the fault spec


@pytest.mark.parametrize(
    "spec",
    [
        "api:503@0.1",
        "artifact:reset-mid-body@0.05",
        "storage:short-body#3",
        "*:latency=20-80",
        "api/getJobArtifacts:page-token-404#1",
        "api:500#2-4,storage:stall#5+,api/listPipelinesForProject:ignore-page-token",
        "artifact:reset,storage:504@1",
    ],
)
def test_fault_specs_round_trip(spec: str) -> None:
    assert str(Faults.parse(spec)) == spec
    assert Faults.parse(str(Faults.parse(spec))) == Faults.parse(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "api",
        "api:418",
        "db:500",
        "api:500@2",
        "api:500#0",
        "api:500#3-1",
        "storage/x:500",
        "api:reset=5",
        "api:latency",
        "api:500@0.5#2",
    ],
)
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        Faults.parse(spec)


def test_the_python_api_and_the_spec_agree() -> None:
    rules = (
        FaultRule(kind=FaultKind.HTTP_503, route_class=RouteClass.API, probability=0.1),
        FaultRule(kind=FaultKind.SHORT_BODY, route_class=RouteClass.STORAGE, nth=(3, 3)),
        FaultRule(kind=FaultKind.LATENCY, latency_ms=(20, 80)),
    )
    assert Faults(rules) == Faults.parse("api:503@0.1,storage:short-body#3,*:latency=20-80")


# ------------------------------------------------------------ each fault kind


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_status_faults_answer_with_that_status(status: int) -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults=f"api:{status}#2") as fake:
        assert await _statuses(fake, 3) == [200, status, 200]
        assert fake.requests[1].faults == (str(status),)
        async with aiohttp.ClientSession() as session:
            fake.faults = f"storage:{status}"
            artifact = next(a for a in fake.world.iter_artifacts() if not a.path.endswith("html"))
            async with session.get(artifact.url, headers=HEADERS) as response:
                assert response.status == status
                assert (await response.read()).startswith(b"<?xml")
                assert response.history[0].status == 302


async def test_status_fault_bodies_on_the_api_are_json_messages() -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:502") as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
        session.get(fake.base_url + "/me") as response,
    ):
        assert (response.status, await response.json()) == (502, {"message": "Bad gateway."})


async def test_reset_before_headers_breaks_the_connection() -> None:
    # aiohttp silently retries an idempotent request once after a reset, so it
    # takes two resets in a row for the caller to see one.
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:reset#1-2") as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(fake.base_url + "/me") as response:
                await response.read()
        assert await _statuses(fake, 1) == [200]
        first, second, third = fake.requests
        assert (first.status, first.faults, first.fault) == (None, ("reset",), "reset")
        assert (second.status, second.faults) == (None, ("reset",))
        assert (third.status, third.faults) == (200, ())


async def _read_until_failure(response: aiohttp.ClientResponse) -> tuple[int, BaseException | None]:
    received = 0
    try:
        async for chunk in response.content.iter_any():
            received += len(chunk)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        return received, exc
    return received, None


@pytest.mark.parametrize("kind", ["reset-mid-body", "short-body"])
async def test_body_faults_cut_the_body_after_some_bytes(kind: str) -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults=f"storage:{kind}") as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = next(a for a in fake.world.iter_artifacts() if a.size > 200_000)
        async with session.get(artifact.url, headers=HEADERS, allow_redirects=False) as redirect:
            location = redirect.headers["Location"]
        async with session.get(location) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(artifact.size)
            received, error = await _read_until_failure(response)
        assert error is not None
        assert received == 64 * 1024
        record = fake.storage_requests[-1]
        assert (record.faults, record.bytes_sent) == ((kind,), 64 * 1024)


async def test_a_short_json_body_fails_to_decode_on_the_api() -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:short-body") as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
        session.get(_pipelines_url(fake)) as response,
    ):
        received, error = await _read_until_failure(response)
        assert isinstance(error, aiohttp.ClientPayloadError)
        assert 0 < received < int(response.headers["Content-Length"])


async def test_a_stalled_body_times_the_client_out_and_does_not_hold_up_shutdown() -> None:
    fake = FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:stall")
    async with fake, aiohttp.ClientSession(headers=HEADERS) as session:
        timeout = aiohttp.ClientTimeout(sock_read=0.3)
        async with session.get(_pipelines_url(fake), timeout=timeout) as response:
            assert response.status == 200
            with pytest.raises(TimeoutError):
                await response.read()
        # A second stalled request is still hanging when the server stops.
        stalled = await session.get(_pipelines_url(fake))
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    stalled.close()
    assert [r.faults for r in fake.requests] == [("stall",), ("stall",)]


async def test_latency_is_added_and_logged() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:latency=150") as fake:
        started = time.monotonic()
        await _statuses(fake, 1)
        assert time.monotonic() - started >= 0.15
        assert fake.requests[0].faults == ("latency=150",)
        assert fake.requests[0].fault is None
        fake.faults = None
        fake.latency_ms = 100
        started = time.monotonic()
        await _statuses(fake, 1)
        assert time.monotonic() - started >= 0.1


async def test_a_page_token_can_404() -> None:
    spec = "api/listPipelinesForProject:page-token-404#1"
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults=spec) as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):
        async with session.get(_pipelines_url(fake)) as response:
            token = (await response.json())["next_page_token"]
        params = {"page-token": token}
        async with session.get(_pipelines_url(fake), params=params) as response:
            message = "Not Found" if fake.shapes == "live" else "Page not found."
            assert (response.status, await response.json()) == (404, {"message": message})
        async with session.get(_pipelines_url(fake), params=params) as response:
            assert response.status == 200
        assert [r.faults for r in fake.requests] == [(), ("page-token-404",), ()]


async def test_an_endpoint_can_ignore_page_token_and_serve_the_same_page_forever() -> None:
    spec = "api/listPipelinesForProject:ignore-page-token"
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults=spec) as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):
        pages = []
        token = None
        for _ in range(3):
            params: dict[str, str] = {"page-token": token} if token else {}
            async with session.get(_pipelines_url(fake), params=params) as response:
                body = await response.json()
            pages.append(body["items"])
            token = body["next_page_token"]
            assert token is not None
        assert pages[0] == pages[1] == pages[2]


async def test_faults_are_seeded_and_reproducible() -> None:
    async def run(seed: int) -> list[int]:
        async with FakeCircleCI(
            seed=seed, token=TOKEN, config=CONFIG, faults="api:503@0.4"
        ) as fake:
            return await _statuses(fake, 30)

    first = await run(3)
    assert first == await run(3)
    assert 503 in first
    assert 200 in first
    assert first != await run(4)


async def test_nth_triggers_and_operation_targets() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:500#2-3") as fake:
        assert await _statuses(fake, 5) == [200, 500, 500, 200, 200]
    async with FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults="api:500#4+") as fake:
        assert await _statuses(fake, 5) == [200, 200, 200, 500, 500]
    spec = "api/getCurrentUser:503"
    async with FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, faults=spec) as fake:
        assert await _statuses(fake, 2, "/me") == [503, 503]
        assert await _statuses(fake, 2, "/me/collaborations") == [200, 200]


# ---------------------------------------------------------------- rate limits


async def test_past_the_rate_limit_a_429_says_when_to_come_back() -> None:
    mono = Clock(100.0)
    async with (
        FakeCircleCI(
            seed=1, token=TOKEN, config=CONFIG, rate_limit=1.0, rate_limit_burst=2, clock=mono
        ) as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):
        assert await _statuses(fake, 2) == [200, 200]
        async with session.get(fake.base_url + "/me") as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            assert response.content_type == "text/plain"
            assert await response.text() == "Rate limited."
        assert fake.violations == 0
        mono.now += 0.5  # too early: counted, and refused again
        assert await _statuses(fake, 1) == [429]
        assert fake.violations == 1
        assert fake.requests[-1].violation
        mono.now += 1.0
        assert await _statuses(fake, 1) == [200]
        assert fake.violations == 1


async def test_retry_after_as_an_http_date() -> None:
    mono, wall = Clock(0.0), Clock(1_760_000_000.25)
    async with (
        FakeCircleCI(
            seed=1,
            token=TOKEN,
            config=CONFIG,
            rate_limit=0.5,
            rate_limit_burst=1,
            retry_after_style="http-date",
            clock=mono,
            wall_clock=wall,
        ) as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):
        await _statuses(fake, 1)
        async with session.get(fake.base_url + "/me") as response:
            header = response.headers["Retry-After"]
        assert email.utils.parsedate_to_datetime(header).timestamp() == 1_760_000_003
        wait = parse_retry_after(header, now=wall.now, maximum=60)
        assert wait is not None
        assert 2.0 <= wait <= 3.0
        # The bucket already has a token again, but the date said later: a violation.
        mono.now += wait - 0.1
        assert await _statuses(fake, 1) == [200]
        assert fake.violations == 1


async def test_a_429_may_carry_no_retry_after_and_then_nothing_is_a_violation() -> None:
    mono = Clock(0.0)
    async with FakeCircleCI(
        seed=1,
        token=TOKEN,
        config=CONFIG,
        rate_limit=1,
        retry_after_style="missing",
        clock=mono,
    ) as fake:
        assert await _statuses(fake, 3) == [200, 429, 429]
        async with (
            aiohttp.ClientSession(headers=HEADERS) as session,
            session.get(fake.base_url + "/me") as response,
        ):
            assert response.status == 429
            assert "Retry-After" not in response.headers
        assert fake.violations == 0
        fake.set_rate_limit(None)
        assert await _statuses(fake, 3) == [200, 200, 200]


async def test_requests_in_flight_when_the_first_429_went_out_are_not_violations() -> None:
    mono = Clock(0.0)
    async with (
        FakeCircleCI(
            seed=1, token=TOKEN, config=CONFIG, rate_limit=1, rate_limit_burst=2, clock=mono
        ) as fake,
        aiohttp.ClientSession(headers=HEADERS) as session,
    ):

        async def get() -> int:
            async with session.get(fake.base_url + "/me") as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(get() for _ in range(10)))
        assert sorted(statuses) == [200] * 2 + [429] * 8
        assert fake.violations == 0
        mono.now += fake.violation_grace  # too late to be in flight, too early to retry
        assert await get() == 429
        assert fake.violations == 1
