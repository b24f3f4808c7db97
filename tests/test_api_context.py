"""Contexts through the client and the emulator: contexts, their variables and restrictions."""

from __future__ import annotations

import math

import pytest
from aiohttp import web

from aiocircleci import BadRequest, Client, Conflict, DecodeError, Limits, NotFound, RetryPolicy
from aiocircleci.models import ContextEnvVar, Message, RestrictionType
from aiocircleci.testing import FakeCircleCI, WorldConfig

from ._conformance import NO_SUCH
from .conftest import ServeApp, some

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=3,
    pipelines_per_project=2,
    workflows_per_pipeline=1,
    jobs_per_workflow=1,
    artifacts_per_job=0,
    tests_per_job=0,
    contexts_per_org=5,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)
EXPRESSION = 'pipeline.git.branch == "main"'


def client_for(fake: FakeCircleCI) -> Client:
    return Client(fake.token, base_url=fake.base_url, limits=FAST, retry=RETRY)


async def test_a_context_and_its_variables_round_trip_until_deleted() -> None:
    async with FakeCircleCI(seed=1, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organizations[0]
        created = await client.create_context("release-keys", owner_slug=org.slug)
        listed = [c async for c in client.contexts(owner_slug=org.slug)]
        assert created in listed
        assert await client.get_context(created.id) == created

        first = await client.set_context_env_var(created.id, "NPM_TOKEN", "one")
        assert isinstance(first, ContextEnvVar)
        assert (first.variable, first.context_id) == ("NPM_TOKEN", created.id)
        again = await client.set_context_env_var(created.id, "NPM_TOKEN", "two")
        assert isinstance(again, ContextEnvVar)
        assert again.created_at == first.created_at
        assert some(again.updated_at) >= some(first.updated_at)
        assert fake.world.context_env_vars(created.id)[0].value == "two"
        variables = [v async for v in client.context_env_vars(created.id)]
        assert [v.variable for v in variables] == ["NPM_TOKEN"]

        assert (await client.delete_context_env_var(created.id, "NPM_TOKEN")).message
        assert [v async for v in client.context_env_vars(created.id)] == []
        with pytest.raises(NotFound):
            await client.delete_context_env_var(created.id, "NPM_TOKEN")

        assert (await client.delete_context(created.id)).message
        with pytest.raises(NotFound):
            await client.get_context(created.id)
        assert created not in [c async for c in client.contexts(owner_id=org.id)]


async def test_contexts_are_listed_by_owner_id_or_slug_across_pages() -> None:
    async with (
        FakeCircleCI(seed=2, config=CONFIG, page_size=2) as fake,
        client_for(fake) as client,
    ):
        for org in fake.world.organizations:
            by_id = [c.id async for c in client.contexts(owner_id=org.id)]
            by_slug = [
                c.id async for c in client.contexts(owner_slug=org.slug, owner_type="organization")
            ]
            assert by_id == by_slug == [c.id for c in fake.world.contexts(org.id)]
            assert len(by_id) == CONFIG.contexts_per_org  # three pages of two
        with pytest.raises(ValueError, match="exactly one"):
            client.contexts()
        with pytest.raises(ValueError, match="exactly one"):
            await client.create_context("x", owner_id="a", owner_slug="b")
        with pytest.raises(ValueError, match="organization"):
            await client.create_context("x", owner_slug="gh/acme-corp", owner_type="account")
        with pytest.raises(NotFound):
            await client.create_context("x", owner_slug="gh/no-such-org")


async def test_the_variables_of_a_seeded_context_come_page_by_page_with_their_times() -> None:
    async with (
        FakeCircleCI(seed=3, config=CONFIG, page_size=1) as fake,
        client_for(fake) as client,
    ):
        context = fake.world.contexts(fake.world.organizations[0].id)[0]
        listed = [v async for v in client.context_env_vars(context.id)]
        assert [v.variable for v in listed] == ["API_KEY", "DEPLOY_TOKEN"]
        stored = fake.world.context_env_vars(context.id)
        assert [some(v.updated_at).timestamp() for v in listed] == [
            pytest.approx(e.updated_at, abs=0.001) for e in stored
        ]
        with pytest.raises(BadRequest):
            await client.get_context("not-a-uuid")


async def test_restrictions_round_trip_and_refuse_duplicates_and_foreign_projects() -> None:
    async with FakeCircleCI(seed=4, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organizations[0]
        context = fake.world.contexts(org.id)[0]
        seeded = [r async for r in client.context_restrictions(context.id)]
        own = next(p for p in fake.world.projects if p.organization.id == org.id)
        assert [(r.restriction_type, r.restriction_value, r.name) for r in seeded] == [
            (RestrictionType.PROJECT, own.id, own.name)
        ]

        created = await client.create_context_restriction(context.id, "expression", EXPRESSION)
        assert (created.restriction_type, created.restriction_value) == (
            RestrictionType.EXPRESSION,
            EXPRESSION,
        )
        listed = [r async for r in client.context_restrictions(context.id)]
        assert [r.id for r in listed] == [seeded[0].id, created.id]
        assert {r.context_id for r in listed} == {context.id}
        with pytest.raises(Conflict):
            await client.create_context_restriction(context.id, "expression", EXPRESSION)

        foreign = next(p for p in fake.world.projects if p.organization.id != org.id)
        with pytest.raises(BadRequest):
            await client.create_context_restriction(context.id, "project", foreign.id)
        with pytest.raises(BadRequest):
            await client.create_context_restriction(context.id, "group", "not-a-uuid")

        assert created.id is not None
        assert (await client.delete_context_restriction(context.id, created.id)).message
        with pytest.raises(NotFound):
            await client.delete_context_restriction(context.id, created.id)
        assert [r.id async for r in client.context_restrictions(context.id)] == [seeded[0].id]


async def test_restrictions_go_with_their_context_and_their_project() -> None:
    async with FakeCircleCI(seed=5, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organizations[0]
        context = await client.create_context("scoped", owner_id=org.id)
        project = next(p for p in fake.world.projects if p.organization.id == org.id)
        restriction = await client.create_context_restriction(context.id, "project", project.id)
        assert (restriction.name, restriction.project_id) == (project.name, project.id)

        await client.delete_project(project.slug)
        assert [r async for r in client.context_restrictions(context.id)] == []
        await client.delete_context(context.id)
        with pytest.raises(NotFound):
            await client.context_restrictions(context.id).collect()


async def test_a_bare_message_answer_to_setting_a_variable_is_a_message(serve: ServeApp) -> None:
    # The spec lets PUT .../environment-variable/{name} answer {"message": ...} instead of
    # the variable; the emulator never does, so a small server stands in for that answer.
    answers = iter([{"message": "Environment variable updated."}, {"variable": 1}])

    async def put(request: web.Request) -> web.Response:
        return web.json_response(next(answers))

    app = web.Application()
    app.router.add_put("/context/{context_id}/environment-variable/{name}", put)
    async with serve(app) as base, Client("t", base_url=base, retry=RETRY) as client:
        answer = await client.set_context_env_var(NO_SUCH, "NAME", "value")
        assert answer == Message(message="Environment variable updated.")
        with pytest.raises(DecodeError, match="variable"):
            await client.set_context_env_var(NO_SUCH, "NAME", "value")
