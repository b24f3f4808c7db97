"""The core client against the embedded emulator: whole-world walks, rate limits, changes."""

from __future__ import annotations

import math
from collections import Counter

import anyio
import pytest

from aiocircleci import Client, Limits, NotFound, RetryPolicy, Unauthorized
from aiocircleci.models import JobType, PipelineState, WorkflowStatus
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .conftest import some

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=3,
    pipelines_per_project=8,
    workflows_per_pipeline=3,
    jobs_per_workflow=4,
    artifacts_per_job=4,
    max_parallelism=3,
    max_artifact_size=4096,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=32)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def client_for(fake: FakeCircleCI, **kwargs: object) -> Client:
    options: dict[str, object] = {"limits": FAST, "retry": RETRY, **kwargs}
    return Client(fake.token, base_url=fake.base_url, **options)  # type: ignore[arg-type]


async def test_the_client_lists_projects_pipelines_workflows_jobs_and_artifacts_of_the_world() -> (
    None
):
    async with FakeCircleCI(seed=5, config=CONFIG, page_size=3) as fake:
        world = fake.world
        async with client_for(fake) as client:
            me = await client.me()
            assert me.login == world.user.login
            orgs = {c.slug for c in await client.collaborations()}
            assert orgs == {o.slug for o in world.organizations}

            seen_artifacts: Counter[tuple[str, int, str, int]] = Counter()
            for project in world.projects:
                got = await client.get_project(project.slug)
                assert got.slug == project.slug
                # The live API's older (here: Bitbucket) projects come without an id.
                old = fake.shapes == "live" and project.slug.startswith("bb/")
                assert got.id == (None if old else project.id)
                pipelines = [p async for p in client.pipelines(project.slug)]
                assert [p.id for p in pipelines] == [p.id for p in world.pipelines(project.slug)]
                assert [p.number for p in pipelines] == sorted(
                    (p.number for p in pipelines), reverse=True
                )
                for pipeline in pipelines:
                    workflows = [w async for w in client.pipeline_workflows(pipeline.id)]
                    assert [w.id for w in workflows] == [w.id for w in world.workflows(pipeline.id)]
                    for workflow in workflows:
                        jobs = [j async for j in client.workflow_jobs(workflow.id)]
                        assert [j.id for j in jobs] == [j.id for j in world.jobs(workflow.id)]
                        for job in jobs:
                            if job.job_number is None or job.type is JobType.APPROVAL:
                                continue
                            async for artifact in client.job_artifacts(
                                project.slug, job.job_number
                            ):
                                seen_artifacts[
                                    (
                                        project.slug,
                                        job.job_number,
                                        artifact.path,
                                        artifact.node_index,
                                    )
                                ] += 1
            expected = Counter(
                (a.project_slug, a.job_number, a.path, a.node_index) for a in world.iter_artifacts()
            )
            assert seen_artifacts == expected
            assert sum(expected.values()) > 3 * 3  # several pages of artifacts somewhere
            # Every list above went through pages of three.
            tokens = [r for r in fake.api_requests if any(k == "page-token" for k, _ in r.query)]
            assert len(tokens) > 50


async def test_org_pipelines_and_branch_filters_match_the_world() -> None:
    async with FakeCircleCI(seed=6, config=CONFIG, page_size=4) as fake, client_for(fake) as client:
        org = fake.world.organizations[0]
        got = [p.id async for p in client.org_pipelines(org.slug)]
        assert got == [p.id for p in fake.world.org_pipelines(org.slug)]
        project = fake.world.projects[0]
        branches = {p.branch for p in fake.world.pipelines(project.slug) if p.branch}
        for branch in branches:
            listed = [p async for p in client.pipelines(project.slug, branch=branch)]
            assert listed, branch
            assert all(p.vcs is not None and p.vcs.branch == branch for p in listed)
            assert len(listed) == len(fake.world.pipelines(project.slug, branch=branch))


async def test_every_status_the_world_holds_decodes_to_a_known_member() -> None:
    async with (
        FakeCircleCI(seed=7, config=CONFIG, page_size=50) as fake,
        client_for(fake) as client,
    ):
        project = fake.world.projects[0]
        states: set[PipelineState] = set()
        statuses: set[WorkflowStatus] = set()
        for other in fake.world.projects:
            async for pipeline in client.pipelines(other.slug):
                states.add(some(pipeline.state))
                async for workflow in client.pipeline_workflows(pipeline.id):
                    statuses.add(some(workflow.status))
        assert PipelineState.UNKNOWN not in states
        assert WorkflowStatus.UNKNOWN not in statuses
        assert len(statuses) >= 3
        assert project.slug


async def test_a_triggered_pipeline_is_listed_first_with_the_next_number() -> None:
    async with FakeCircleCI(seed=8, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[1].slug
        newest = [p async for p in client.pipelines(slug, limit=1)][0]
        created = await client.trigger_pipeline(slug, branch="main", parameters={"deploy": True})
        assert created.number == newest.number + 1
        first = [p async for p in client.pipelines(slug, limit=1)][0]
        assert first.id == created.id
        again = await client.get_pipeline_by_number(slug, created.number)
        assert again.trigger_parameters == {"deploy": True} or again.id == created.id


async def test_twenty_tasks_under_the_emulators_rate_limit_cause_no_violation() -> None:
    async with FakeCircleCI(seed=9, config=CONFIG, rate_limit=50.0, rate_limit_burst=8) as fake:
        # The client is allowed far more than the server: only 429s hold it back.
        async with client_for(fake, limits=Limits(rate=1000, burst=50, max_in_flight=20)) as c:
            slug = fake.world.projects[0].slug
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for _ in range(20):
                        tg.start_soon(c.get_project, slug)
            assert c.stats.rate_limited >= 1
        assert fake.violations == 0


@pytest.mark.parametrize("style", ["seconds", "http-date", "missing"])
async def test_each_retry_after_style_of_the_emulator_is_survived(style: str) -> None:
    async with FakeCircleCI(
        seed=10,
        config=CONFIG,
        rate_limit=5.0,
        rate_limit_burst=1,
        retry_after_style=style,  # type: ignore[arg-type]
    ) as fake:
        async with client_for(fake, limits=Limits(rate=1000, burst=10, max_in_flight=4)) as c:
            with anyio.fail_after(20):
                for _ in range(2):  # the second call finds the bucket empty
                    await c.me()
            assert c.stats.rate_limited >= 1
        if style != "missing":
            assert fake.violations == 0


async def test_a_wrong_token_and_an_unknown_project_are_typed_errors() -> None:
    async with FakeCircleCI(seed=11, config=CONFIG) as fake:
        async with Client("not-the-token", base_url=fake.base_url, retry=RETRY) as client:
            with pytest.raises(Unauthorized):
                await client.me()
        async with client_for(fake) as client:
            with pytest.raises(NotFound):
                await client.get_project("gh/no-such-org/no-such-repo")
