"""The storage host as a segmented downloader sees it.

Arbitrary single ranges answer 206 byte-exact, each connection is numbered in
the log (so a test can tell that segments used several), ``limit_rate`` caps
each response the way nginx and object stores cap one stream, and the
``ignore-range`` fault turns the host into a server without range support.
"""

from __future__ import annotations

import hashlib
import random
import time

import aiohttp
import anyio
import pytest

from aiocircleci.testing import (
    Artifact,
    FakeCircleCI,
    MiB,
    RequestRecord,
    RouteClass,
    WorldConfig,
)

pytestmark = pytest.mark.anyio

TOKEN = "ranges-token"
SIZE = 3 * MiB + 12_345  # not a multiple of the 64 KiB content block
CONFIG = WorldConfig(
    projects=1, pipelines_per_project=2, large_artifacts=3, large_artifact_size=SIZE
)


def _large(fake: FakeCircleCI) -> Artifact:
    # HTML artifacts are served in place, the others through the storage host.
    return next(
        a for a in fake.world.iter_artifacts() if a.size == SIZE and not a.path.endswith(".html")
    )


async def _storage_url(session: aiohttp.ClientSession, artifact: Artifact) -> str:
    async with session.get(
        artifact.url, headers={"Circle-Token": TOKEN}, allow_redirects=False
    ) as response:
        assert response.status == 302
        return response.headers["Location"]


async def _storage_log(fake: FakeCircleCI, count: int) -> list[RequestRecord]:
    """The storage log once it holds ``count`` records.

    A handler logs its request after the last byte went out, so a client that
    has read everything can look before the record is there.
    """
    for _ in range(200):
        log = fake.storage_requests
        if len(log) >= count:
            return log
        await anyio.sleep(0.005)
    raise AssertionError(f"{len(fake.storage_requests)} storage requests logged, not {count}")


async def test_any_single_range_answers_206_with_exactly_those_bytes() -> None:
    async with (
        FakeCircleCI(seed=21, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _large(fake)
        url = await _storage_url(session, artifact)
        rng = random.Random(21)
        cases: list[tuple[str, int, int]] = [
            ("bytes=0-0", 0, 1),
            (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE),
            (f"bytes=65535-{65536 * 3}", 65535, 65536 * 3 + 1),  # across block boundaries
            (f"bytes={SIZE - 10}-{SIZE + 1000}", SIZE - 10, SIZE),  # end clamped to the size
            ("bytes=2000000-", 2_000_000, SIZE),
            ("bytes=-65537", SIZE - 65537, SIZE),
            (f"bytes=-{SIZE * 2}", 0, SIZE),  # a suffix longer than the file is all of it
        ]
        for _ in range(8):
            start = rng.randrange(SIZE)
            end = rng.randrange(start, min(SIZE, start + MiB)) + 1
            cases.append((f"bytes={start}-{end - 1}", start, end))
        for header, start, end in cases:
            async with session.get(url, headers={"Range": header}) as response:
                body = await response.read()
                assert response.status == 206, header
                assert response.headers["Accept-Ranges"] == "bytes"
                assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
                assert int(response.headers["Content-Length"]) == end - start
            assert body == artifact.read(start, end), header


async def test_segments_on_separate_connections_show_in_the_log_and_reassemble_exactly() -> None:
    # A cap keeps each segment on the wire for ~50 ms, so the four overlap.
    async with (
        FakeCircleCI(seed=22, token=TOKEN, config=CONFIG, limit_rate=16 * MiB) as fake,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=4)) as session,
    ):
        artifact = _large(fake)
        url = await _storage_url(session, artifact)
        fake.clear_requests()
        bounds = [(i * SIZE // 4, (i + 1) * SIZE // 4) for i in range(4)]
        parts: dict[int, bytes] = {}

        async def fetch(index: int) -> None:
            start, end = bounds[index]
            headers = {"Range": f"bytes={start}-{end - 1}"}
            async with session.get(url, headers=headers) as response:
                assert response.status == 206
                parts[index] = await response.read()

        async with anyio.create_task_group() as tg:
            for index in range(4):
                tg.start_soon(fetch, index)
        whole = b"".join(parts[i] for i in range(4))
        assert hashlib.sha256(whole).hexdigest() == artifact.sha256

        log = await _storage_log(fake, 4)
        assert len({r.connection for r in log}) == 4
        assert fake.max_concurrent(RouteClass.STORAGE) == 4
        # A keep-alive request reuses a connection: still four of them.
        async with session.get(url, headers={"Range": "bytes=0-9"}) as response:
            assert await response.read() == artifact.read(0, 10)
        assert (await _storage_log(fake, 5))[-1].connection in {r.connection for r in log}
        assert fake.connections(RouteClass.STORAGE) == 4


async def test_limit_rate_caps_each_response_not_the_host() -> None:
    rate = 4 * MiB
    async with (
        FakeCircleCI(seed=23, token=TOKEN, config=CONFIG, limit_rate=rate) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _large(fake)
        url = await _storage_url(session, artifact)
        length = MiB // 2  # 125 ms at the cap
        elapsed: list[float] = []

        async def fetch(start: int) -> None:
            began = time.perf_counter()
            headers = {"Range": f"bytes={start}-{start + length - 1}"}
            async with session.get(url, headers=headers) as response:
                assert await response.read() == artifact.read(start, start + length)
            elapsed.append(time.perf_counter() - began)

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, 0)
            tg.start_soon(fetch, MiB)
        # The last 20 ms slice may leave as soon as the 105 ms before it have passed.
        assert min(elapsed) >= length / rate - 0.025
        assert fake.max_concurrent(RouteClass.STORAGE) == 2
        assert [r.bytes_sent for r in await _storage_log(fake, 2)] == [length, length]


async def test_ignore_range_serves_the_whole_body_without_accept_ranges() -> None:
    async with (
        FakeCircleCI(seed=24, token=TOKEN, config=CONFIG, faults="storage:ignore-range#2") as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _large(fake)
        url = await _storage_url(session, artifact)
        async with session.get(url, headers={"Range": "bytes=100-199"}) as response:
            assert response.status == 206
        async with session.get(url, headers={"Range": "bytes=100-199"}) as response:
            body = await response.read()
            assert response.status == 200
            assert "Accept-Ranges" not in response.headers
            assert "Content-Range" not in response.headers
        assert hashlib.sha256(body).hexdigest() == artifact.sha256
        assert [r.fault for r in await _storage_log(fake, 2)] == [None, "ignore-range"]
