"""The downloader fetches large files as ranges: against the emulator, over real sockets.

Small sizes keep it fast: 1 MiB files, 128 KiB segments, a 256 KiB threshold.
Each test judges from DEST and from the emulator's log of storage requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiocircleci import RetryPolicy
from aiocircleci._auth import OriginPolicy, Token
from aiocircleci._segments import SegmentRecord, plan_segments
from aiocircleci.download import (
    Downloader,
    DownloadEvent,
    DownloadProgress,
    DownloadReport,
    DownloadRequest,
    DownloadStarted,
    SegmentConfig,
)
from aiocircleci.testing import (
    Artifact,
    FakeCircleCI,
    Faults,
    MiB,
    RequestRecord,
    RouteClass,
    WorldConfig,
)

from .test_segments_emulator import WallClock, large_artifacts

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)
SIZE = 1 * MiB + 5  # eight full segments and a last one of 5 bytes
SEGMENT = 128 * 1024
SEGMENTS = SegmentConfig(segment_size=SEGMENT, segments_per_file=4, threshold=256 * 1024)
PLAN = plan_segments(SIZE, segment_size=SEGMENT)
WORLD = WorldConfig(
    projects=1, pipelines_per_project=1, large_artifacts=2, large_artifact_size=SIZE
)


def _downloader(
    fake: FakeCircleCI, dest: Path, *, subscribers: Sequence[Callable[[DownloadEvent], Any]] = ()
) -> Downloader:
    return Downloader(
        dest,
        token=Token(fake.token),
        policy=OriginPolicy([fake.artifact_origin]),
        retry=FAST_RETRY,
        segments=SEGMENTS,
        subscribers=subscribers,
    )


async def _download(
    fake: FakeCircleCI, dest: Path, artifacts: list[Artifact], **kwargs: Any
) -> DownloadReport:
    async with _downloader(fake, dest, **kwargs) as dl:
        for i, artifact in enumerate(artifacts):
            await dl.submit(DownloadRequest(artifact.url, f"big{i}.bin"))
    return dl.report


async def _storage_log(fake: FakeCircleCI, ranged: int) -> list[RequestRecord]:
    """The storage requests that asked for a range, once ``ranged`` of them are logged."""
    # A handler logs its request after its last byte: the client may look first.
    for _ in range(200):
        if len([r for r in fake.storage_requests if r.header("Range")]) >= ranged:
            break
        await anyio.sleep(0.005)
    return [r for r in fake.storage_requests if r.header("Range")]


def _range(record: RequestRecord) -> tuple[int, int]:
    value = record.header("Range") or ""
    assert value.startswith("bytes="), value
    first, _, last = value[6:].partition("-")
    return int(first), int(last) + 1


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_large_files_arrive_byte_exact_over_several_storage_connections(
    tmp_path: Path,
) -> None:
    # The cap keeps each 128 KiB segment on the wire for ~16 ms, so they overlap.
    async with FakeCircleCI(seed=51, config=WORLD, limit_rate=8 * MiB) as fake:
        artifacts = large_artifacts(fake, SIZE)
        report = await _download(fake, tmp_path, artifacts)
        log = await _storage_log(fake, 2 * (len(PLAN) - 1))
        storage = fake.storage_requests
        connections = fake.connections(RouteClass.STORAGE)
        peak = fake.max_concurrent(RouteClass.STORAGE)
    assert report.ok, report.failed
    for i, artifact in enumerate(artifacts):
        assert _sha(tmp_path / f"big{i}.bin") == artifact.sha256
    assert {r.sha256 for r in report.done} == {a.sha256 for a in artifacts}
    assert sorted(os.listdir(tmp_path)) == ["big0.bin", "big1.bin"]  # no .part, no .meta left
    # Segment 0 came with the first answer (a plain GET, read up to the segment's
    # end); every other segment was asked for once, as a range with If-Range.
    assert sorted(_range(r) for r in log) == sorted(2 * [(s.start, s.end) for s in PLAN[1:]])
    assert len([r for r in storage if r.header("Range") is None]) == 2
    assert len(storage) == 2 * len(PLAN)
    assert {r.status for r in log} == {206}
    assert {r.header("If-Range") for r in log} == {a.etag for a in artifacts}
    assert connections > 2
    assert peak > 1


async def test_a_reset_in_one_segment_fetches_again_only_the_rest_of_it(tmp_path: Path) -> None:
    faults = Faults(Faults.parse("storage:reset-mid-body#3").rules, cut_bytes=50_000)
    async with FakeCircleCI(seed=52, config=WORLD, faults=faults) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        report = await _download(fake, tmp_path, [artifact])
        log = await _storage_log(fake, len(PLAN))
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    [broken] = [r for r in log if "reset-mid-body" in r.faults]
    start, end = _range(broken)
    [retried] = [r for r in log if r is not broken and _range(r)[1] == end]
    # The retry starts where that segment stopped, past the bytes that arrived.
    assert start < _range(retried)[0] <= start + 50_000
    others = sorted(_range(r) for r in log if r is not broken and r is not retried)
    assert others == [(s.start, s.end) for s in PLAN[1:] if s.end != end]


async def test_a_first_answer_cut_inside_segment_0_is_continued_as_a_range(
    tmp_path: Path,
) -> None:
    faults = Faults(Faults.parse("storage:reset-mid-body#1").rules, cut_bytes=50_000)
    async with FakeCircleCI(seed=52, config=WORLD, faults=faults) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        report = await _download(fake, tmp_path, [artifact])
        log = await _storage_log(fake, len(PLAN))
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    # The 50,000 bytes of the cut first answer were kept: segment 0 went on from there.
    assert sorted(_range(r) for r in log) == [(50_000, SEGMENT)] + [
        (s.start, s.end) for s in PLAN[1:]
    ]


async def test_a_run_cancelled_midway_is_resumed_segment_by_segment(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=53, config=WORLD) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        received = 0

        with anyio.CancelScope() as scope:

            def cancel_halfway(event: DownloadEvent) -> None:
                nonlocal received
                if isinstance(event, DownloadProgress):
                    received += event.delta
                    if received >= SIZE // 2:
                        scope.cancel()

            await _download(fake, tmp_path, [artifact], subscribers=[cancel_halfway])
        assert scope.cancelled_caught
        assert not (tmp_path / "big0.bin").exists()
        meta = json.loads((tmp_path / "big0.bin.part.meta").read_bytes())
        done = SegmentRecord(**meta["segments"]).done_for(SIZE, SEGMENT)
        assert 0 < len(done) < len(PLAN)
        assert (tmp_path / "big0.bin.part").stat().st_size == SIZE
        fake.clear_requests()

        report = await _download(fake, tmp_path, [artifact])
        rerun = await _storage_log(fake, len(PLAN[1:]) - len(done - {0}))
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert report.done[0].sha256 == artifact.sha256
    # The re-run asked only for the segments the first run had not finished
    # (segment 0, if among them, comes with the first answer).
    assert sorted(_range(r) for r in rerun) == [
        (s.start, s.end) for s in PLAN[1:] if s.index not in done
    ]


async def test_a_part_cut_short_after_a_crash_is_fetched_again_whole(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=58, config=WORLD) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        received = 0

        with anyio.CancelScope() as scope:

            def cancel_halfway(event: DownloadEvent) -> None:
                nonlocal received
                if isinstance(event, DownloadProgress):
                    received += event.delta
                    if received >= SIZE // 2:
                        scope.cancel()

            await _download(fake, tmp_path, [artifact], subscribers=[cancel_halfway])
        meta = json.loads((tmp_path / "big0.bin.part.meta").read_bytes())
        assert SegmentRecord(**meta["segments"]).done_for(SIZE, SEGMENT)
        # The .part no longer has the size its record was kept for: nothing in it is trusted.
        os.truncate(tmp_path / "big0.bin.part", SIZE - 1)
        fake.clear_requests()

        report = await _download(fake, tmp_path, [artifact])
        rerun = await _storage_log(fake, len(PLAN) - 1)
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert sorted(_range(r) for r in rerun) == [(s.start, s.end) for s in PLAN[1:]]


async def test_a_killed_cli_run_resumes_only_unfinished_segments(tmp_path: Path) -> None:
    """``aiocircleci download`` killed with SIGKILL mid-file, then run again."""
    async with FakeCircleCI(seed=54, config=WORLD, faults="storage:latency=150#5+") as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        env = {**os.environ, "CIRCLECI_BASE_URL": fake.base_url, "CIRCLE_TOKEN": fake.token}
        argv = [
            sys.executable,
            "-m",
            "aiocircleci",
            "download",
            "-i",
            "-",
            "--dest",
            str(tmp_path),
            "--artifact-host",
            fake.artifact_origin,
            "--segment-size",
            "128K",
            "--segment-threshold",
            "256K",
        ]
        meta_path = tmp_path / artifact.path.lstrip("/")
        async with await anyio.open_process(argv, env=env) as process:
            assert process.stdin is not None
            await process.stdin.send(f"{artifact.url}\n".encode())
            await process.stdin.aclose()
            done: set[int] = set()
            for _ in range(400):
                metas = await anyio.to_thread.run_sync(lambda: list(tmp_path.rglob("*.part.meta")))
                if metas:
                    meta_path = metas[0]
                    try:
                        meta = json.loads(meta_path.read_bytes())
                        done = SegmentRecord(**meta["segments"]).done_for(SIZE, SEGMENT)
                    except (ValueError, KeyError, FileNotFoundError):
                        done = set()
                    if len(done) >= 2:
                        break
                await anyio.sleep(0.01)
            process.kill()
            await process.wait()
        assert 2 <= len(done) < len(PLAN), done
        final = meta_path.with_name(meta_path.name.removesuffix(".part.meta"))
        assert not final.exists()
        done = SegmentRecord(**json.loads(meta_path.read_bytes())["segments"]).done_for(
            SIZE, SEGMENT
        )
        # Requests of the killed run may still be logged: judge those that arrived later.
        started = time.time()
        rerun = await anyio.run_process(
            argv, input=f"{artifact.url}\n".encode(), env=env, check=False
        )
        await _storage_log(fake, len(PLAN[1:]) - len(done - {0}))
        log = [r for r in fake.storage_requests if r.header("Range") and r.timestamp >= started]
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert _sha(final) == artifact.sha256
    assert sorted(_range(r) for r in log) == [
        (s.start, s.end) for s in PLAN[1:] if s.index not in done
    ]


async def test_a_url_that_expires_midway_is_fetched_again_through_the_artifact_url(
    tmp_path: Path,
) -> None:
    wall = WallClock()
    async with FakeCircleCI(seed=55, config=WORLD, wall_clock=wall, url_ttl=60) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        received = 0

        def expire_late(event: DownloadEvent) -> None:
            nonlocal received
            if isinstance(event, DownloadProgress):
                received += event.delta
                if received >= SIZE * 3 // 4 and wall.now < 1_760_000_061:
                    wall.now += 61  # every signed URL handed out so far is past its lifetime

        report = await _download(fake, tmp_path, [artifact], subscribers=[expire_late])
        log = await _storage_log(fake, len(PLAN))
        artifact_requests = [r for r in fake.requests if r.route_class is RouteClass.ARTIFACT]
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert 403 in {r.status for r in log}
    # The artifact URL was asked twice: once at the start, once for a fresh signed URL.
    assert len(artifact_requests) == 2
    # Segments finished before the expiry were not fetched again: only those in
    # flight at the 403 (at most one per connection of the file) came twice.
    expired = next(i for i, r in enumerate(log) if r.status == 403)
    after = [r for r in log[expired:] if r.status == 206]
    assert len(after) < len(PLAN)
    assert len([r for r in log if r.status == 206]) <= len(PLAN) + SEGMENTS.segments_per_file


async def test_a_server_that_stops_honouring_ranges_falls_back_to_one_stream(
    tmp_path: Path,
) -> None:
    # The first answer offers ranges; the range requests then get the whole body (200).
    async with FakeCircleCI(seed=56, config=WORLD, faults="storage:ignore-range#2+") as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        report = await _download(fake, tmp_path, [artifact])
        for _ in range(200):
            if fake.storage_requests and fake.storage_requests[-1].status == 200:
                break
            await anyio.sleep(0.005)
        log = fake.storage_requests
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert any(r.header("Range") and r.status == 200 for r in log)
    last = log[-1]
    assert last.header("Range") is None
    assert last.status == 200


async def test_segments_off_fetches_a_large_file_as_one_stream(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=57, config=WORLD) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        async with Downloader(
            tmp_path,
            token=Token(fake.token),
            policy=OriginPolicy([fake.artifact_origin]),
            segments=None,
        ) as dl:
            await dl.submit(DownloadRequest(artifact.url, "big0.bin"))
        log = fake.storage_requests
    assert dl.report.ok, dl.report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert [r.header("Range") for r in log] == [None]


class _Shown:
    """What a progress bar fed by the events shows for each file: the offset the
    file started at plus every delta since."""

    def __init__(self) -> None:
        self.bytes: dict[str, int] = {}
        self.totals: dict[str, int | None] = {}

    def __call__(self, event: DownloadEvent) -> None:
        if isinstance(event, DownloadStarted):
            self.totals[event.path] = event.total
            self.bytes[event.path] = self.bytes.get(event.path, 0) + event.offset
        elif isinstance(event, DownloadProgress):
            self.bytes[event.path] = self.bytes.get(event.path, 0) + event.delta


async def test_progress_ends_at_the_file_size_after_a_fallback_to_one_stream(
    tmp_path: Path,
) -> None:
    # Requests 2-4 (the first ranges) are honoured, then the server sends whole bodies.
    shown = _Shown()
    async with FakeCircleCI(
        seed=59, config=WORLD, limit_rate=8 * MiB, faults="storage:ignore-range#5+"
    ) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        report = await _download(fake, tmp_path, [artifact], subscribers=[shown])
        log = fake.storage_requests
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert any(r.header("Range") and r.status == 206 for r in log)
    assert shown.totals == {"big0.bin": SIZE}
    assert shown.bytes == {"big0.bin": SIZE}


async def test_progress_ends_at_the_file_size_after_a_url_expires_midway(
    tmp_path: Path,
) -> None:
    # The second range is cut after 50,000 bytes; its retry waits (the injected
    # sleep) until the signed URLs have expired, so the file is fetched again
    # through the artifact URL with that segment unfinished.
    wall = WallClock()
    expired = anyio.Event()
    shown = _Shown()
    faults = Faults(Faults.parse("storage:reset-mid-body#3").rules, cut_bytes=50_000)

    def expire_late(event: DownloadEvent) -> None:
        shown(event)
        if shown.bytes.get("big0.bin", 0) >= SIZE // 2 and not expired.is_set():
            wall.now += 61  # every signed URL handed out so far is past its lifetime
            expired.set()

    async def sleep_until_expired(seconds: float) -> None:
        await expired.wait()

    async with FakeCircleCI(
        seed=60, config=WORLD, wall_clock=wall, url_ttl=60, faults=faults
    ) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        async with Downloader(
            tmp_path,
            token=Token(fake.token),
            policy=OriginPolicy([fake.artifact_origin]),
            retry=FAST_RETRY,
            segments=SEGMENTS,
            subscribers=[expire_late],
            sleep=sleep_until_expired,
        ) as dl:
            await dl.submit(DownloadRequest(artifact.url, "big0.bin"))
        # The cut request is logged once its handler gives up on it: wait for it.
        for _ in range(200):
            if any("reset-mid-body" in r.faults for r in fake.storage_requests):
                break
            await anyio.sleep(0.005)
        log = await _storage_log(fake, len(PLAN) + 2)
    assert dl.report.ok, dl.report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    [cut] = [r for r in log if "reset-mid-body" in r.faults]
    assert 403 in {r.status for r in log}
    # After the refetch, the unfinished segment came again from its start: the
    # bytes it had shown before the expiry were shown twice unless taken back.
    # The log is in the order requests ended; the (fake) wall clock says when they began.
    same = sorted((r for r in log if _range(r)[1] == _range(cut)[1]), key=lambda r: r.timestamp)
    first, *retries, last = same
    assert first is cut
    assert {r.status for r in retries} <= {403}  # a retry that met the expiry, if any
    assert (_range(last), last.status) == (_range(cut), 206)
    assert shown.bytes == {"big0.bin": SIZE}


async def test_progress_of_a_resumed_run_counts_the_segments_already_on_disk(
    tmp_path: Path,
) -> None:
    async with FakeCircleCI(seed=53, config=WORLD) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        first = _Shown()
        with anyio.CancelScope() as scope:

            def cancel_halfway(event: DownloadEvent) -> None:
                first(event)
                if first.bytes.get("big0.bin", 0) >= SIZE // 2:
                    scope.cancel()

            await _download(fake, tmp_path, [artifact], subscribers=[cancel_halfway])
        assert scope.cancelled_caught
        meta = json.loads((tmp_path / "big0.bin.part.meta").read_bytes())
        done = SegmentRecord(**meta["segments"]).done_for(SIZE, SEGMENT)
        assert done
        second = _Shown()
        report = await _download(fake, tmp_path, [artifact], subscribers=[second])
    assert report.ok, report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert second.bytes == {"big0.bin": SIZE}


async def test_one_connection_per_host_still_finishes_a_segmented_file(tmp_path: Path) -> None:
    # The first answer's exchange holds its host's only slot until it ends: the
    # ranges that follow must not wait behind it.
    async with FakeCircleCI(seed=57, config=WORLD) as fake:
        artifact = large_artifacts(fake, SIZE)[0]
        with anyio.fail_after(10):
            async with Downloader(
                tmp_path,
                token=Token(fake.token),
                policy=OriginPolicy([fake.artifact_origin]),
                retry=FAST_RETRY,
                segments=SEGMENTS,
                max_connections_per_host=1,
            ) as dl:
                await dl.submit(DownloadRequest(artifact.url, "big0.bin"))
        log = await _storage_log(fake, len(PLAN))
    assert dl.report.ok, dl.report.failed
    assert _sha(tmp_path / "big0.bin") == artifact.sha256
    assert sorted(_range(r) for r in log) == [(s.start, s.end) for s in PLAN]
