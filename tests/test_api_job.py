"""Jobs through the client and the emulator: cancelling a job by its id."""

from __future__ import annotations

import math

import pytest

from aiocircleci import BadRequest, Client, Limits, NotFound, RetryPolicy
from aiocircleci.models import JobStatus, WorkflowStatus
from aiocircleci.testing import FakeCircleCI, WorldConfig

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=1,
    pipelines_per_project=4,
    workflows_per_pipeline=1,
    jobs_per_workflow=3,
    artifacts_per_job=0,
    tests_per_job=0,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def client_for(fake: FakeCircleCI) -> Client:
    return Client(fake.token, base_url=fake.base_url, limits=FAST, retry=RETRY)


async def test_cancelling_a_job_by_id_cancels_it_and_its_workflow() -> None:
    async with FakeCircleCI(seed=1, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        created = await client.trigger_pipeline(slug, branch="main")
        workflow = [w async for w in client.pipeline_workflows(created.id)][0]
        jobs = [j async for j in client.workflow_jobs(workflow.id)]
        running = next(j for j in jobs if j.status is JobStatus.RUNNING)

        assert (await client.cancel_job_by_id(running.id)).message
        after = {j.id: j for j in [j async for j in client.workflow_jobs(workflow.id)]}
        assert after[running.id].status is JobStatus.CANCELED
        assert after[running.id].canceled_by == fake.world.user.id
        assert (await client.get_workflow(workflow.id)).status is WorkflowStatus.CANCELED
        assert running.job_number is not None
        details = await client.get_job(slug, running.job_number)
        assert details.status is JobStatus.CANCELED


async def test_cancelling_a_finished_job_by_id_leaves_it_as_it_was() -> None:
    async with FakeCircleCI(seed=2, config=CONFIG) as fake, client_for(fake) as client:
        world = fake.world
        done = next(
            j
            for p in world.pipelines(world.projects[0].slug)
            for w in world.workflows(p.id)
            for j in world.jobs(w.id)
            if j.status == "success"
        )
        assert (await client.cancel_job_by_id(done.id)).message
        listed = [j async for j in client.workflow_jobs(done.workflow_id)]
        assert next(j for j in listed if j.id == done.id).status is JobStatus.SUCCESS


async def test_cancelling_an_unknown_or_malformed_job_id_is_an_error() -> None:
    async with FakeCircleCI(seed=3, config=CONFIG) as fake, client_for(fake) as client:
        with pytest.raises(NotFound):
            await client.cancel_job_by_id("00000000-0000-4000-8000-000000000000")
        with pytest.raises(BadRequest):
            await client.cancel_job_by_id("job-42")
        assert [r.status for r in fake.api_requests] == [404, 400]
