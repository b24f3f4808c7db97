"""End to end: the downloader against the CircleCI emulator (API, artifact and storage hosts)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from aiocircleci import Client, RetryPolicy
from aiocircleci.download import (
    MAX_REFETCHES,
    Downloader,
    DownloadEvent,
    DownloadProgress,
    DownloadRequest,
)
from aiocircleci.errors import UnsafePath
from aiocircleci.testing import Artifact, FakeCircleCI, Faults, MiB, WorldConfig

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)


def _world(**overrides: int | bool) -> WorldConfig:
    """A world of ``artifacts_per_job`` artifacts in one job, unless told otherwise."""
    counts: dict[str, int | bool] = {
        "projects": 1,
        "pipelines_per_project": 1,
        "workflows_per_pipeline": 1,
        "jobs_per_workflow": 1,
        "artifacts_per_job": 2,
        "quirks": False,
    }
    return WorldConfig(**(counts | overrides))  # type: ignore[arg-type]


def _request(artifact: Artifact) -> DownloadRequest:
    # Job number and node keep two jobs' (or nodes') "report.xml" apart.
    return DownloadRequest(
        artifact.url, f"{artifact.job_number}/{artifact.node_index}/{artifact.path}"
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _downloader(fake: FakeCircleCI, dest: Path, **kwargs: object) -> Downloader:
    client = Client(fake.token, base_url=fake.base_url)
    return Downloader.from_client(
        client, dest, artifact_hosts=[fake.artifact_origin], retry=FAST_RETRY, **kwargs
    )


async def _download(
    fake: FakeCircleCI, dest: Path, requests: list[DownloadRequest], **kwargs: object
) -> Downloader:
    async with _downloader(fake, dest, **kwargs) as dl:
        for request in requests:
            await dl.submit(request)
    return dl


def _large(fake: FakeCircleCI) -> Artifact:
    return max(fake.world.iter_artifacts(), key=lambda a: a.size)


@pytest.mark.anyio
async def test_500_artifacts_across_hosts_arrive_byte_exact(tmp_path: Path) -> None:
    config = _world(
        pipelines_per_project=5, workflows_per_pipeline=2, jobs_per_workflow=5, artifacts_per_job=10
    )
    async with FakeCircleCI(seed=5, config=config) as fake:
        artifacts = list(fake.world.iter_artifacts())
        dl = await _download(fake, tmp_path, [_request(a) for a in artifacts], workers=16)
        storage, artifact_hits = fake.storage_requests, fake.artifact_requests
    assert len(artifacts) == 500
    assert dl.report.ok, dl.report.failed[:3]
    by_url = {a.url: a for a in artifacts}
    for result in dl.report.done:
        artifact = by_url[result.request.url]
        assert result.sha256 == artifact.sha256
        assert _sha_file(tmp_path / result.path) == artifact.sha256
    # HTML is served by the artifact host itself, everything else by storage.
    assert 0 < len(storage) < len(artifact_hits) == 500
    assert all(dict(r.headers).get("Circle-Token") == fake.token for r in artifact_hits)
    assert not any(k.lower() == "circle-token" for r in storage for k, _ in r.headers)


@pytest.mark.anyio
async def test_reset_mid_body_resumes_from_the_bytes_written(tmp_path: Path) -> None:
    faults = Faults(Faults.parse("storage:reset-mid-body#1").rules, cut_bytes=400_000)
    config = _world(large_artifacts=1, large_artifact_size=2 * MiB)
    async with FakeCircleCI(seed=1, config=config, faults=faults) as fake:
        big = _large(fake)
        dl = await _download(fake, tmp_path, [_request(big)])
        storage = [dict(r.headers) for r in fake.storage_requests]
    assert dl.report.ok, dl.report.failed
    result = dl.report.done[0]
    assert result.sha256 == big.sha256 == _sha_file(tmp_path / result.path)
    resumed = storage[1]
    assert resumed["Range"].startswith("bytes=")
    assert 0 < int(resumed["Range"][6:-1]) <= 400_000
    assert resumed["If-Range"] == big.etag
    assert dl.report.bytes < big.size + 400_000  # the first bytes were not fetched twice


@pytest.mark.anyio
async def test_truncated_body_is_detected_and_never_gets_the_final_name(tmp_path: Path) -> None:
    config = _world(large_artifacts=1, large_artifact_size=1 * MiB)
    async with FakeCircleCI(seed=2, config=config, faults="storage:short-body") as fake:
        big = _large(fake)
        dl = await _download(fake, tmp_path, [_request(big)])
        failure = dl.report.failed[0]
        assert failure.attempts == FAST_RETRY.max_attempts
        assert not (tmp_path / failure.path).exists()
        fake.faults = "storage:short-body#1"  # once only: the next run repairs it
        again = await _download(fake, tmp_path, [_request(big)])
    assert again.report.ok
    assert _sha_file(tmp_path / failure.path) == big.sha256


@pytest.mark.anyio
async def test_expired_signed_url_is_fetched_again_and_then_given_up(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=3, config=_world()) as fake:
        artifact = next(a for a in fake.world.iter_artifacts() if not a.path.endswith(".html"))
        fake.url_ttl = -60  # every signed URL is born expired
        dl = await _download(fake, tmp_path, [_request(artifact)])
        artifact_hits = len(fake.artifact_requests)
    failure = dl.report.failed[0]
    assert "expired" in failure.reason
    assert artifact_hits == 1 + MAX_REFETCHES  # each 403 went back to the artifact URL
    assert failure.attempts == 1 + MAX_REFETCHES


@pytest.mark.anyio
async def test_stale_part_gets_a_200_to_its_range_request_and_starts_over(tmp_path: Path) -> None:
    config = _world(large_artifacts=1, large_artifact_size=1 * MiB)
    async with FakeCircleCI(seed=4, config=config) as fake:
        big = _large(fake)
        request = _request(big)
        part = tmp_path / (request.path + ".part")
        part.parent.mkdir(parents=True)
        part.write_bytes(b"x" * 1000)
        part.with_name(part.name + ".meta").write_text('{"validator": "\\"old-etag\\""}')
        deltas: list[int] = []

        def on_event(event: DownloadEvent) -> None:
            if isinstance(event, DownloadProgress):
                deltas.append(event.delta)

        dl = await _download(fake, tmp_path, [request], subscribers=[on_event])
        sent = dict(fake.storage_requests[0].headers)
    assert (sent["Range"], sent["If-Range"]) == ("bytes=1000-", '"old-etag"')
    assert dl.report.ok
    assert deltas[0] == -1000
    assert _sha_file(tmp_path / request.path) == big.sha256
    assert not part.exists()


@pytest.mark.anyio
async def test_cancel_mid_download_then_rerun_completes_byte_exact(tmp_path: Path) -> None:
    faults = Faults(Faults.parse("storage:stall#1").rules, cut_bytes=300_000)
    config = _world(large_artifacts=1, large_artifact_size=2 * MiB)
    async with FakeCircleCI(seed=6, config=config, faults=faults) as fake:
        artifacts = list(fake.world.iter_artifacts())
        big = _large(fake)
        seen = 0
        stalled = anyio.Event()

        def on_event(event: DownloadEvent) -> None:
            nonlocal seen
            if isinstance(event, DownloadProgress) and event.request.url == big.url:
                seen += event.delta
                if seen >= 300_000:
                    stalled.set()

        with anyio.CancelScope() as scope:
            async with _downloader(fake, tmp_path, subscribers=[on_event]) as dl:
                await dl.submit(_request(big))
                with anyio.fail_after(10):
                    await stalled.wait()
                scope.cancel()  # as Ctrl-C would
        assert scope.cancelled_caught
        left = [p.name for p in _files(tmp_path)]
        fake.clear_requests()
        again = await _download(fake, tmp_path, [_request(a) for a in artifacts])
        ranges = [dict(r.headers).get("Range") for r in fake.storage_requests]
    assert all(name.endswith((".part", ".part.meta")) for name in left)
    assert left
    assert again.report.ok
    assert "bytes=300000-" in ranges
    for artifact in artifacts:
        assert _sha_file(tmp_path / _request(artifact).path) == artifact.sha256


@pytest.mark.anyio
async def test_hostile_artifact_paths_fail_alone_and_nothing_escapes(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    config = _world(pipelines_per_project=3, jobs_per_workflow=2, hostile_paths=True)
    async with FakeCircleCI(seed=7, config=config) as fake:
        artifacts = list(fake.world.iter_artifacts())
        # Raw artifact paths, as a careless mirror would use them.
        requests = [DownloadRequest(a.url, a.path) for a in artifacts]
        dl = await _download(fake, dest, requests)
    report = dl.report
    assert report.files_done + report.files_failed == len(artifacts)
    assert report.files_failed >= 1
    assert all(isinstance(r.error, UnsafePath) for r in report.failed)
    outside = [p for p in _files(tmp_path) if dest not in p.parents]
    assert outside == []
    assert len(_files(dest)) == report.files_done


@pytest.mark.anyio
async def test_second_run_skips_complete_files_without_a_request(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=8, config=_world(artifacts_per_job=6)) as fake:
        requests = [_request(a) for a in fake.world.iter_artifacts()]
        first = await _download(fake, tmp_path, requests)
        fake.clear_requests()
        second = await _download(fake, tmp_path, requests)
        quiet = len(fake.requests)
        third = await _download(fake, tmp_path, requests, overwrite=True)
    assert first.report.files_done == second.report.files_skipped == len(requests)
    assert quiet == 0
    assert third.report.files_done == len(requests)
