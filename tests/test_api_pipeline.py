"""Pipelines through the client and the emulator: mine, values, continue, and pipeline/run."""

from __future__ import annotations

import math

import pytest
from aiohttp import web

from aiocircleci import BadRequest, Client, Limits, NotFound, RetryPolicy
from aiocircleci.models import PipelineState, WorkflowStatus
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .conftest import ServeApp

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=2,
    pipelines_per_project=10,
    workflows_per_pipeline=2,
    jobs_per_workflow=2,
    artifacts_per_job=0,
    tests_per_job=0,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def client_for(fake: FakeCircleCI) -> Client:
    return Client(fake.token, base_url=fake.base_url, limits=FAST, retry=RETRY)


async def test_my_pipelines_are_the_ones_the_token_user_triggered_newest_first() -> None:
    async with (
        FakeCircleCI(seed=1, config=CONFIG, page_size=2) as fake,
        client_for(fake) as client,
    ):
        slug = fake.world.projects[0].slug
        login = fake.world.user.login
        mine = [p async for p in client.my_pipelines(slug)]
        expected = [p.id for p in fake.world.pipelines(slug) if p.actor_login == login]
        assert len(expected) > 2  # more than one page
        assert [p.id for p in mine] == expected
        # Very old pipelines have no trigger actor on the live API.
        actors = {p.trigger.actor.login for p in mine if p.trigger and p.trigger.actor}
        assert actors == {login}

        created = await client.trigger_pipeline(slug, branch="main")
        assert [p.id async for p in client.my_pipelines(slug, limit=1)] == [created.id]
        with pytest.raises(NotFound):
            await client.my_pipelines("gh/acme-corp/nothing-here").collect()


async def test_pipeline_values_describe_the_pipeline() -> None:
    async with FakeCircleCI(seed=2, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[1].slug
        pipeline = next(p for p in fake.world.pipelines(slug) if p.branch is not None)
        values = await client.get_pipeline_values(pipeline.id)
        assert values["pipeline.id"] == pipeline.id
        assert values["pipeline.number"] == pipeline.number
        assert values["pipeline.git.branch"] == pipeline.branch
        assert values["pipeline.git.revision"] == pipeline.revision
        assert values["pipeline.in_setup"] is False
        with pytest.raises(NotFound):
            await client.get_pipeline_values("00000000-0000-4000-8000-000000000000")


async def test_a_setup_pipeline_continues_once_and_then_has_workflows() -> None:
    async with FakeCircleCI(seed=3, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        setup = next(p for p in fake.world.pipelines(slug) if p.continuation_key)
        key = fake.world.continuation_key(setup.id)
        assert key is not None
        before = [w.name async for w in client.pipeline_workflows(setup.id)]

        answer = await client.continue_pipeline(
            key, "version: 2.1\nworkflows: {}\n", parameters={"deploy": True}
        )
        assert answer.message
        after = [w async for w in client.pipeline_workflows(setup.id)]
        assert len(after) > len(before)
        assert {w.status for w in after[len(before) :]} == {WorkflowStatus.RUNNING}
        assert (await client.get_pipeline(setup.id)).state is PipelineState.CREATED
        with pytest.raises(BadRequest):
            await client.continue_pipeline(key, "version: 2.1\n")


async def test_pipeline_run_builds_on_the_checkout_ref_and_shows_up_everywhere() -> None:
    async with FakeCircleCI(seed=4, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        newest = fake.world.pipelines(slug)[0]
        result = await client.run_pipeline(
            slug,
            definition_id="2338d0ae-5541-4bbf-88a2-55e9f7281f80",
            config_branch="main",
            checkout_tag="v2.0.0",
            parameters={"deploy": True, "replicas": 3, "image": "app:2"},
        )
        assert result.triggered
        assert result.id is not None
        assert (result.number, result.state) == (newest.number + 1, PipelineState.CREATED)

        pipeline = await client.get_pipeline(result.id)
        assert pipeline.vcs is not None
        assert pipeline.vcs.tag == "v2.0.0"
        assert pipeline.trigger_parameters == {"deploy": True, "replicas": 3, "image": "app:2"}
        assert [p.id async for p in client.pipelines(slug, limit=1)] == [result.id]
        assert await client.get_pipeline_by_number(slug, newest.number + 1) == pipeline

        plain = await client.run_pipeline(slug)
        assert plain.number == newest.number + 2
        branch = (await client.get_pipeline(str(plain.id))).vcs
        assert branch is not None
        assert branch.branch == fake.world.projects[0].default_branch


async def test_pipeline_run_refuses_bad_refs_and_unknown_projects() -> None:
    async with FakeCircleCI(seed=5, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[1].slug
        with pytest.raises(ValueError, match="checkout branch or a checkout tag"):
            await client.run_pipeline(slug, checkout_branch="main", checkout_tag="v1")
        with pytest.raises(BadRequest):
            await client.run_pipeline(slug, definition_id="not-a-uuid")
        with pytest.raises(BadRequest):
            await client.run_pipeline(slug, parameters={"x" * 129: 1})
        with pytest.raises(NotFound):
            await client.run_pipeline("gh/acme-corp/no-such-repo")
        assert len(fake.world.pipelines(slug)) == CONFIG.pipelines_per_project


async def test_a_pipeline_run_that_was_not_triggered_says_why(serve: ServeApp) -> None:
    # The spec's 200 answer (no pipeline, only a message); the emulator always triggers.
    async def run(request: web.Request) -> web.Response:
        return web.json_response({"message": "Pipeline not triggered: filtered out."})

    app = web.Application()
    app.router.add_post("/project/{vcs}/{org}/{repo}/pipeline/run", run)
    async with serve(app) as base, Client("t", base_url=base, retry=RETRY) as client:
        result = await client.run_pipeline("gh/acme/app", config_branch="main")
        assert not result.triggered
        assert result.message == "Pipeline not triggered: filtered out."
