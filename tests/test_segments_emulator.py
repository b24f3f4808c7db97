"""Segmented fetching against the emulator's storage host, over real sockets.

Each test writes into a real temporary file with ``os.pwrite`` at the
segments' offsets and judges from the file and from the emulator's log.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiocircleci import RetryPolicy
from aiocircleci._auth import OriginPolicy, Token
from aiocircleci._http import Request
from aiocircleci._segments import (
    PrefixHasher,
    RangeNotHonoured,
    Segment,
    SegmentConfig,
    SegmentURLExpired,
    fetch_segments,
    plan_segments,
)
from aiocircleci._send import Sender
from aiocircleci._transport import AiohttpTransport
from aiocircleci.errors import IncompleteDownload
from aiocircleci.testing import (
    Artifact,
    FakeCircleCI,
    Faults,
    MiB,
    RequestRecord,
    RouteClass,
    WorldConfig,
)

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)
LARGE = 3 * MiB + 1  # 512 KiB segments: six full ones and a last one of 1 byte
CONFIG = WorldConfig(
    projects=1, pipelines_per_project=1, large_artifacts=2, large_artifact_size=LARGE
)


class WallClock:
    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def large_artifacts(fake: FakeCircleCI, size: int = LARGE) -> list[Artifact]:
    """The artifacts of ``size`` that storage serves (the artifact host serves HTML)."""
    return [
        a for a in fake.world.iter_artifacts() if a.size == size and not a.path.endswith(".html")
    ]


@asynccontextmanager
async def _sender(fake: FakeCircleCI) -> AsyncIterator[Sender]:
    async with AiohttpTransport() as transport:
        yield Sender(
            transport,
            token=Token(fake.token),
            policy=OriginPolicy([fake.artifact_origin]),
            headers={"Accept-Encoding": "identity"},
        )


class PartFile:
    """A real file written at offsets, as the downloader's part file is."""

    def __init__(self, path: Path, total: int) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self.fd, total)
        self.path = path

    def write_at(self, offset: int, data: bytes) -> None:
        os.pwrite(self.fd, data, offset)

    def read(self) -> bytes:
        return self.path.read_bytes()

    def close(self) -> None:
        os.close(self.fd)


async def _storage_log(fake: FakeCircleCI, count: int) -> list[RequestRecord]:
    # A handler logs its request after its last byte: the client may look first.
    for _ in range(200):
        if len(fake.storage_requests) >= count:
            break
        await anyio.sleep(0.005)
    return fake.storage_requests


def _range(record: RequestRecord) -> tuple[int, int]:
    value = record.header("Range") or ""
    assert value.startswith("bytes="), value
    first, _, last = value[6:].partition("-")
    return int(first), int(last) + 1


async def _fetch(
    fake: FakeCircleCI,
    artifact: Artifact,
    part: PartFile,
    config: SegmentConfig,
    *,
    done: frozenset[int] = frozenset(),
    url: str | None = None,
    signed: bool = False,
    on_done: Callable[[Segment], None] | None = None,
    connections: anyio.CapacityLimiter | None = None,
) -> list[Segment]:
    finished: list[Segment] = []

    def record(segment: Segment) -> None:
        finished.append(segment)
        if on_done is not None:
            on_done(segment)

    async with _sender(fake) as sender:
        await fetch_segments(
            sender,
            url or artifact.url,
            total=artifact.size,
            validator=artifact.etag,
            write_at=part.write_at,
            plan=plan_segments(artifact.size, segment_size=config.segment_size, done=done),
            config=config,
            connections=connections,
            on_done=record,
            signed=signed,
            retry=FAST_RETRY,
        )
    return finished


@pytest.mark.parametrize(
    ("segment_size", "per_file"),
    [
        (512 * 1024, 4),  # 7 segments, the last of 1 byte
        (LARGE, 2),  # one segment: the whole file
        (LARGE - 1, 2),  # two: all but one byte, then one byte
        (1_000_003, 3),  # not a multiple of anything the emulator uses
        ((LARGE - 1) // 3, 8),  # an exact division of all but the last byte
    ],
)
async def test_segments_reassemble_the_file_byte_exact(
    tmp_path: Path, segment_size: int, per_file: int
) -> None:
    config = SegmentConfig(segment_size=segment_size, segments_per_file=per_file)
    async with FakeCircleCI(seed=31, config=CONFIG) as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", artifact.size)
        try:
            finished = await _fetch(fake, artifact, part, config)
        finally:
            part.close()
        log = await _storage_log(fake, len(finished))
    assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    assert sorted(s.index for s in finished) == list(range(-(-LARGE // segment_size)))
    ranges = sorted(_range(r) for r in log)
    assert ranges == [(s.start, s.end) for s in plan_segments(LARGE, segment_size=segment_size)]
    assert all(r.status == 206 and r.header("If-Range") == artifact.etag for r in log)
    # The token went to the artifact host only, never to storage.
    assert not any(r.header("Circle-Token") for r in log)


async def test_small_files_of_many_sizes_come_out_byte_exact(tmp_path: Path) -> None:
    async with FakeCircleCI(
        seed=32, config=WorldConfig(projects=1, pipelines_per_project=1)
    ) as fake:
        artifacts = [
            a for a in fake.world.iter_artifacts() if a.size > 1 and not a.path.endswith(".html")
        ][:6]
        assert artifacts
        for n, artifact in enumerate(artifacts):
            size = artifact.size
            for segment_size in {max(1, size // 3), size - 1, 4093}:
                part = PartFile(tmp_path / f"{n}-{segment_size}.part", size)
                try:
                    await _fetch(fake, artifact, part, SegmentConfig(segment_size=segment_size))
                finally:
                    part.close()
                assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256, (
                    size,
                    segment_size,
                )


async def test_segments_run_over_several_connections_within_the_shared_cap(
    tmp_path: Path,
) -> None:
    # The cap keeps each 512 KiB segment on the wire for ~60 ms, so they overlap.
    config = SegmentConfig(segment_size=512 * 1024, segments_per_file=4)
    async with FakeCircleCI(seed=33, config=CONFIG, limit_rate=8 * MiB) as fake:
        first, second = large_artifacts(fake)
        parts = [PartFile(tmp_path / "a.part", LARGE), PartFile(tmp_path / "b.part", LARGE)]
        shared = anyio.CapacityLimiter(3)  # two files, 4 segments each, 3 connections at most

        async def fetch(artifact: Artifact, part: PartFile) -> None:
            await _fetch(fake, artifact, part, config, connections=shared)

        try:
            async with anyio.create_task_group() as tg:
                for artifact, part in zip((first, second), parts, strict=True):
                    tg.start_soon(fetch, artifact, part)
        finally:
            for part in parts:
                part.close()
        peak = fake.max_concurrent(RouteClass.STORAGE)
        connections = fake.connections(RouteClass.STORAGE)
    for artifact, part in zip((first, second), parts, strict=True):
        assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    assert peak == 3
    assert connections >= 3


async def test_a_reset_in_one_segment_refetches_only_the_rest_of_that_segment(
    tmp_path: Path,
) -> None:
    faults = Faults(Faults.parse("storage:reset-mid-body#2").rules, cut_bytes=100_000)
    config = SegmentConfig(segment_size=512 * 1024, segments_per_file=3)
    plan = plan_segments(LARGE, segment_size=config.segment_size)
    async with FakeCircleCI(seed=34, config=CONFIG, faults=faults) as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)
        try:
            await _fetch(fake, artifact, part, config)
        finally:
            part.close()
        log = await _storage_log(fake, len(plan) + 1)
    assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    assert len(log) == len(plan) + 1
    [broken] = [r for r in log if "reset-mid-body" in r.faults]
    start, end = _range(broken)
    retried = [r for r in log if r is not broken and _range(r)[1] == end]
    assert len(retried) == 1
    resumed_at = _range(retried[0])[0]
    # The retry starts where that segment stopped (past the bytes that arrived).
    assert start < resumed_at <= start + 100_000
    assert retried[0].header("If-Range") == artifact.etag
    # Every other segment was asked for exactly once, whole.
    others = sorted(_range(r) for r in log if r is not broken and r is not retried[0])
    assert others == [(s.start, s.end) for s in plan if s.end != end]


async def test_a_server_that_ignores_ranges_raises_the_fallback_signal(tmp_path: Path) -> None:
    config = SegmentConfig(segment_size=512 * 1024, segments_per_file=2)
    async with FakeCircleCI(seed=35, config=CONFIG, faults="storage:ignore-range") as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)
        try:
            with pytest.raises(RangeNotHonoured):
                await _fetch(fake, artifact, part, config)
        finally:
            part.close()
        log = await _storage_log(fake, 1)
    # No segment was retried: the first 200s ended it.
    assert 1 <= len(log) <= 2
    assert all(r.status == 200 for r in log)


async def test_a_url_expiring_midway_signals_and_the_rest_comes_through_a_fresh_one(
    tmp_path: Path,
) -> None:
    wall = WallClock()
    config = SegmentConfig(segment_size=512 * 1024, segments_per_file=1)
    async with FakeCircleCI(seed=36, config=CONFIG, wall_clock=wall, url_ttl=60) as fake:
        artifact = large_artifacts(fake)[0]

        async def resolve() -> str:
            # What the caller does: follow the artifact URL to a signed storage URL.
            async with (
                _sender(fake) as sender,
                sender.open(Request("GET", artifact.url, headers={"Range": "bytes=0-0"})) as ex,
            ):
                assert ex.redirects == 1
                await ex.response.read()
                return ex.response.url

        done: set[int] = set()

        def expire_after_first(segment: Segment) -> None:
            done.add(segment.index)
            wall.now += 61  # the signed URL is now past its lifetime

        part = PartFile(tmp_path / "big.part", LARGE)
        try:
            url = await resolve()
            with pytest.raises(SegmentURLExpired):
                await _fetch(
                    fake, artifact, part, config, url=url, signed=True, on_done=expire_after_first
                )
            assert done == {0}
            fresh = await resolve()
            assert fresh != url
            await _fetch(fake, artifact, part, config, url=fresh, signed=True, done=frozenset(done))
        finally:
            part.close()
        log = fake.storage_requests
    assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    assert [r.status for r in log].count(403) == 1
    # Segment 0 was fetched once: the second call asked only for the rest.
    assert sum(1 for r in log if r.header("Range") == f"bytes=0-{512 * 1024 - 1}") == 1


async def test_an_expired_url_behind_the_artifact_redirect_signals_too(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=37, config=CONFIG, url_ttl=-60) as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)
        try:
            with pytest.raises(SegmentURLExpired):
                await _fetch(fake, artifact, part, SegmentConfig(segment_size=MiB))
        finally:
            part.close()


async def test_the_prefix_hash_follows_segments_and_matches_the_artifact(tmp_path: Path) -> None:
    config = SegmentConfig(segment_size=256 * 1024, segments_per_file=6)
    async with FakeCircleCI(seed=38, config=CONFIG, limit_rate=32 * MiB) as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)
        hasher = PrefixHasher(part.fd)
        try:
            async with _sender(fake) as sender:
                await fetch_segments(
                    sender,
                    artifact.url,
                    total=LARGE,
                    validator=artifact.etag,
                    write_at=part.write_at,
                    plan=plan_segments(LARGE, segment_size=config.segment_size),
                    config=config,
                    on_done=lambda s: hasher.add(s.start, s.end),
                    retry=FAST_RETRY,
                )
        finally:
            part.close()
    assert hasher.hexdigest(LARGE) == artifact.sha256


def _wrong_range_app(body: bytes, content_range: Callable[[int, int], str]) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        first, _, last = request.headers["Range"][6:].partition("-")
        start, end = int(first), int(last) + 1
        return web.Response(
            status=206,
            body=body[start:end],
            headers={"Content-Range": content_range(start, end), "Accept-Ranges": "bytes"},
        )

    app = web.Application()
    app.router.add_get("/file", handler)
    return app


@pytest.mark.parametrize(
    "content_range",
    [
        lambda a, b: f"bytes {a + 1}-{b}/1000",  # shifted by one
        lambda a, b: f"bytes {a}-{b - 1}/1001",  # another total
        lambda a, b: f"bytes {a}-{b - 1}/１０００",  # non-ASCII digits
        lambda a, b: f"bytes {a}-{b - 1}/*",
    ],
)
async def test_a_206_for_another_range_is_never_written(
    tmp_path: Path, content_range: Callable[[int, int], str]
) -> None:
    body = os.urandom(1000)
    writes: list[tuple[int, int]] = []
    async with TestServer(_wrong_range_app(body, content_range)) as server:
        url = str(server.make_url("/file"))
        async with AiohttpTransport() as transport:
            with pytest.raises(IncompleteDownload, match="asked for bytes"):
                await fetch_segments(
                    Sender(transport),
                    url,
                    total=1000,
                    validator=None,
                    write_at=lambda offset, data: writes.append((offset, len(data))),
                    plan=plan_segments(1000, segment_size=300),
                    retry=FAST_RETRY,
                )
    assert writes == []


async def test_a_503_on_one_segment_retries_that_segment_alone(tmp_path: Path) -> None:
    config = SegmentConfig(segment_size=MiB, segments_per_file=2)
    plan = plan_segments(LARGE, segment_size=config.segment_size)
    async with FakeCircleCI(seed=39, config=CONFIG, faults="storage:503#3") as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)
        try:
            await _fetch(fake, artifact, part, config)
        finally:
            part.close()
        log = await _storage_log(fake, len(plan) + 1)
    assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    [refused] = [r for r in log if r.status == 503]
    assert len(log) == len(plan) + 1
    # The refused range was asked again, whole; every range was answered once.
    asked = sorted(_range(r) for r in log if r.status == 206)
    assert asked == [(s.start, s.end) for s in plan]
    assert _range(refused) in asked


async def test_a_segment_body_reaches_the_file_in_bounded_pieces(tmp_path: Path) -> None:
    # One 3 MiB segment: its body never sits in memory whole.
    config = SegmentConfig(segment_size=LARGE, write_size=64 * 1024)
    pieces: list[int] = []
    async with FakeCircleCI(seed=40, config=CONFIG) as fake:
        artifact = large_artifacts(fake)[0]
        part = PartFile(tmp_path / "big.part", LARGE)

        def write_at(offset: int, data: bytes) -> None:
            pieces.append(len(data))
            part.write_at(offset, data)

        try:
            async with _sender(fake) as sender:
                await fetch_segments(
                    sender,
                    artifact.url,
                    total=LARGE,
                    validator=artifact.etag,
                    write_at=write_at,
                    plan=plan_segments(LARGE, segment_size=LARGE),
                    config=config,
                    retry=FAST_RETRY,
                )
        finally:
            part.close()
    assert hashlib.sha256(part.read()).hexdigest() == artifact.sha256
    assert sum(pieces) == LARGE
    # At most the write size plus one socket read (asyncio reads up to 256 KiB).
    assert max(pieces) <= 64 * 1024 + 256 * 1024
    assert len(pieces) >= LARGE // (320 * 1024)
