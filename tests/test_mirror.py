"""The mirror as a library: pipelined, rate-bound, deduplicating, and safe to cancel.

Most tests run against the emulator; the few cases the emulator does not
generate (one job number listed by a rerun workflow, colliding artifact paths,
a listing that always fails) run against a small aiohttp app on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from aiocircleci import Client, RetryPolicy
from aiocircleci._manifest import read_manifest
from aiocircleci.cli._mirror import api_limits
from aiocircleci.mirror import (
    JobSelected,
    ListingFailed,
    Mirror,
    MirrorEvent,
    PipelineSelected,
    Selection,
    mirror_artifacts,
)
from aiocircleci.testing import FakeCircleCI, RouteClass, WorldConfig

from .conftest import ServeApp

FAST_RETRY = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.02)
WORLD = WorldConfig(
    projects=2,
    pipelines_per_project=8,
    workflows_per_pipeline=2,
    jobs_per_workflow=3,
    artifacts_per_job=3,
    max_artifact_size=4096,
)


def _client(fake: FakeCircleCI, rate: float = 1000.0) -> Client:
    return Client(
        fake.token,
        base_url=fake.base_url,
        limits=api_limits(rate),
        artifact_hosts=(fake.artifact_origin,),
        retry=FAST_RETRY,
    )


def _files(root: Path) -> list[str]:
    """Every file under ``root``, relative and POSIX-style."""
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def _world_shas(fake: FakeCircleCI) -> Counter[str]:
    return Counter(a.sha256 for a in fake.world.iter_artifacts())


def _disk_shas(dest: Path) -> Counter[str]:
    return Counter(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in dest.rglob("*")
        if p.is_file() and not p.name.startswith(".aiocircleci-")
    )


@pytest.mark.anyio
async def test_downloads_start_within_the_first_requests_and_the_rate_is_never_exceeded(
    tmp_path: Path,
) -> None:
    rate = 40.0
    async with FakeCircleCI(seed=51, config=WORLD, rate_limit=rate) as fake:
        slugs = [p.slug for p in fake.world.projects]
        async with _client(fake, rate) as client:
            started = time.perf_counter()
            report = await mirror_artifacts(client, slugs, tmp_path)
            elapsed = time.perf_counter() - started
        log = fake.requests
        violations = fake.violations
    assert report.ok
    api = [i for i, r in enumerate(log) if r.route_class is RouteClass.API]
    first_download = next(i for i, r in enumerate(log) if r.route_class is RouteClass.ARTIFACT)
    # Downloads begin after a few dozen requests, with most of the listing still ahead.
    before = sum(1 for i in api if i < first_download)
    assert before < 40
    assert before < len(api) // 2
    assert report.rate_limited == 0
    assert violations == 0
    # The rate is the bound: the client's burst is half a second, the rest runs at R.
    assert elapsed < (report.requests - rate / 2) / rate * 1.3 + 1.0
    assert _disk_shas(tmp_path) == _world_shas(fake)


@pytest.mark.anyio
async def test_events_name_pipelines_and_jobs_and_approval_jobs_are_never_listed(
    tmp_path: Path,
) -> None:
    events: list[MirrorEvent] = []
    async with FakeCircleCI(seed=52, config=WORLD) as fake:
        async with _client(fake) as client:
            report = await mirror_artifacts(
                client, fake.world.projects[0].slug, tmp_path, on_event=events.append
            )
        listed = {
            int(r.path.split("/")[-2])
            for r in fake.api_requests
            if r.operation == "getJobArtifacts"
        }
        approvals = {
            j.number
            for p in fake.world.pipelines(fake.world.projects[0].slug)
            for w in fake.world.workflows(p.id)
            for j in fake.world.jobs(w.id)
            if j.type == "approval" and j.number is not None
        }
    pipelines = [e for e in events if isinstance(e, PipelineSelected)]
    jobs = [e for e in events if isinstance(e, JobSelected)]
    assert len(pipelines) == report.pipelines == 8
    assert len(jobs) == report.jobs == len(listed)
    assert approvals  # the world has numbered approval jobs; none is listed
    assert not listed & approvals
    assert all(e.job.job_number is not None for e in jobs)


@pytest.mark.anyio
async def test_cancelling_a_mirror_leaves_no_task_and_the_next_run_completes_it(
    tmp_path: Path,
) -> None:
    async with FakeCircleCI(seed=53, config=WORLD, latency_ms=5) as fake:
        slugs = [p.slug for p in fake.world.projects]
        async with _client(fake) as client:
            with anyio.move_on_after(0.4) as scope:
                await mirror_artifacts(client, slugs, tmp_path, workers=2)
            assert scope.cancelled_caught
            partial = list(read_manifest(tmp_path))
            report = await mirror_artifacts(client, slugs, tmp_path)
    assert 0 < len(partial) < sum(_world_shas(fake).values())
    assert report.ok
    assert report.files_done + report.files_skipped == sum(_world_shas(fake).values())
    assert _disk_shas(tmp_path) == _world_shas(fake)
    assert not [p for p in _files(tmp_path) if p.endswith((".part", ".part.meta"))]


@pytest.mark.anyio
async def test_a_dry_run_makes_no_download_and_creates_nothing(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=54, config=WORLD) as fake:
        async with _client(fake) as client:
            report = await mirror_artifacts(
                client, fake.world.projects[1].slug, tmp_path / "d", dry_run=True
            )
        downloads = fake.artifact_requests
    assert not downloads
    assert not (tmp_path / "d").exists()
    assert len(report.planned) == sum(
        1 for a in fake.world.iter_artifacts() if a.project_slug == fake.world.projects[1].slug
    )
    assert {p.status for p in report.planned} == {"new"}


def test_a_selection_refuses_numbers_with_an_org_before_any_request() -> None:
    async def main() -> None:
        async with Client("t", base_url="http://127.0.0.1:9/api/v2") as client:
            mirror = Mirror(
                client, "unused", selection=Selection(pipeline_numbers=(1,)), dry_run=True
            )
            async with mirror:
                await mirror.run(orgs=["gh/org"])

    with pytest.raises(ValueError, match="project slugs"):
        anyio.run(main, backend="asyncio")
    assert not Path("unused").exists()


# ---------------------------------------------------------------- a hand-made API


PIPELINE = "11111111-1111-4111-8111-111111111111"
FIRST = "aaaaaaaa-0000-4000-8000-000000000001"
RERUN = "bbbbbbbb-0000-4000-8000-000000000002"
T0 = "2025-06-01T12:00:00.000Z"


def _job(number: int | None, name: str, type_: str = "build") -> dict[str, object]:
    job: dict[str, object] = {
        "id": f"job-{name}-{number}",
        "name": name,
        "type": type_,
        "status": "success",
        "project_slug": "gh/o/r",
        "dependencies": [],
    }
    if number is not None:
        job["job_number"] = number
    return job


def _workflow(wid: str, created: str, status: str) -> dict[str, object]:
    return {
        "id": wid,
        "name": "build",
        "status": status,
        "created_at": created,
        "pipeline_id": PIPELINE,
        "pipeline_number": 1,
        "project_slug": "gh/o/r",
        "started_by": "u",
    }


ARTIFACTS = {
    7: [(0, "report"), (0, "report/index.html"), (0, "x.txt"), (1, "x.txt"), (0, "../evil")],
    8: [(0, "y.txt")],
}


def _content(number: int, node: int, path: str) -> bytes:
    return f"{number}:{node}:{path}\n".encode() * 50


def _app(requests: Counter[str]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        requests[path] += 1
        base = f"http://{request.host}"
        if path == "/api/v2/project/gh/o/r/pipeline":
            pipeline = {
                "id": PIPELINE,
                "number": 1,
                "project_slug": "gh/o/r",
                "state": "created",
                "created_at": T0,
                "trigger": {"type": "webhook", "received_at": T0, "actor": {"login": "u"}},
                "vcs": {
                    "provider_name": "GitHub",
                    "target_repository_url": "https://github.com/o/r",
                    "origin_repository_url": "https://github.com/o/r",
                    "revision": "0" * 40,
                    "branch": "main",
                },
            }
            return web.json_response({"items": [pipeline], "next_page_token": None})
        if path == f"/api/v2/pipeline/{PIPELINE}/workflow":
            # The rerun comes first in the listing; the mirror orders by creation.
            items = [
                _workflow(RERUN, "2025-06-01T13:00:00.000Z", "success"),
                _workflow(FIRST, "2025-06-01T12:01:00.000Z", "failed"),
            ]
            return web.json_response({"items": items, "next_page_token": None})
        if path == f"/api/v2/workflow/{FIRST}/job":
            jobs = [_job(7, "test"), _job(9, "hold", "approval"), _job(None, "later")]
            return web.json_response({"items": jobs, "next_page_token": None})
        if path == f"/api/v2/workflow/{RERUN}/job":
            jobs = [_job(7, "test"), _job(8, "deploy"), _job(10, "flaky")]
            return web.json_response({"items": jobs, "next_page_token": None})
        if path.startswith("/api/v2/project/gh/o/r/") and path.endswith("/artifacts"):
            number = int(path.split("/")[-2])
            if number not in ARTIFACTS:
                return web.json_response({"message": "Internal error."}, status=500)
            items = [
                {"path": p, "node_index": n, "url": f"{base}/files/{number}/{n}/{i}"}
                for i, (n, p) in enumerate(ARTIFACTS[number])
            ]
            return web.json_response({"items": items, "next_page_token": None})
        if path.startswith("/files/"):
            _, _, job, node, index = path.split("/")
            _, artifact_path = ARTIFACTS[int(job)][int(index)]
            return web.Response(body=_content(int(job), int(node), artifact_path))
        return web.json_response({"message": "Not found."}, status=404)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


@pytest.mark.anyio
async def test_a_job_a_rerun_lists_again_is_mirrored_once_and_colliding_paths_get_their_own_names(
    tmp_path: Path, serve: ServeApp
) -> None:
    requests: Counter[str] = Counter()
    failures: list[str] = []

    def on_event(event: MirrorEvent) -> None:
        if isinstance(event, ListingFailed):
            failures.append(event.failure.what)

    async with serve(_app(requests)) as origin:
        async with Client(
            "t", base_url=origin + "/api/v2", artifact_hosts=(origin,), retry=FAST_RETRY
        ) as client:
            report = await mirror_artifacts(client, "gh/o/r", tmp_path, on_event=on_event)
    first = "gh/o/r/1/build-aaaaaaaa"
    files = {
        f"{first}/test-7/0/report": (7, 0, "report"),
        f"{first}/test-7/0/report~2/index.html": (7, 0, "report/index.html"),
        f"{first}/test-7/0/x.txt": (7, 0, "x.txt"),
        f"{first}/test-7/1/x.txt": (7, 1, "x.txt"),
        "gh/o/r/1/build-bbbbbbbb/deploy-8/0/y.txt": (8, 0, "y.txt"),
    }
    on_disk = {p for p in _files(tmp_path) if not p.startswith(".aiocircleci")}
    assert on_disk == set(files)
    for rel, key in files.items():
        assert (tmp_path / rel).read_bytes() == _content(*key)
    assert requests["/api/v2/project/gh/o/r/7/artifacts"] == 1  # once, not per workflow
    assert "/api/v2/project/gh/o/r/9/artifacts" not in requests  # an approval job
    assert report.jobs == 3
    assert [r.request.path for r in report.failed] == ["../evil"]
    assert "climbs out" in report.failed[0].reason
    assert failures == ["artifacts of job flaky #10 of gh/o/r pipeline #1 (build)"]
    assert not report.ok
    assert {r.path for r in read_manifest(tmp_path)} == set(files)
