"""Each departure of the live API from its spec, through the client, against the emulator.

The emulator serves the live API's shapes (``shapes="live"``, its default); the
same calls in spec mode must give the same models. The departures are the ones
listed in the project's notes on CircleCI ("Where the real API departs from its
spec"); each test names the one it covers.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import pytest
from aiohttp import web

from aiocircleci import Client, DecodeError, Limits, NotFound, Unauthorized
from aiocircleci._decode import DecodeWarning
from aiocircleci.models import DayOfWeek, Timetable
from aiocircleci.testing import FakeCircleCI, WorldConfig
from aiocircleci.testing._shapes import ODD_TRIGGER_TYPE

from .conftest import ServeApp, some

pytestmark = pytest.mark.anyio

Shapes = Literal["live", "spec"]
CONFIG = WorldConfig(
    projects=3,
    pipelines_per_project=14,
    workflows_per_pipeline=2,
    jobs_per_workflow=2,
    artifacts_per_job=3,
    tests_per_job=3,
    max_artifact_size=512,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)


@asynccontextmanager
async def emulator(
    shapes: Shapes = "live", *, page_size: int = 20
) -> AsyncIterator[tuple[FakeCircleCI, Client]]:
    async with (
        FakeCircleCI(seed=11, config=CONFIG, shapes=shapes, page_size=page_size) as fake,
        Client(fake.token, base_url=fake.base_url, limits=FAST) as client,
    ):
        yield fake, client


async def test_collaborations_carry_vcs_type_live_and_vcs_hyphen_type_in_the_spec() -> None:
    """GET /me/collaborations: ``vcs_type`` live, ``vcs-type`` in the spec."""
    results = {}
    modes: tuple[tuple[Shapes, str], ...] = (("live", "vcs_type"), ("spec", "vcs-type"))
    for shapes, key in modes:
        async with emulator(shapes) as (fake, client):
            raw = await client.raw.collaborations()
            assert all(key in org for org in raw)
            results[shapes] = await client.collaborations()
            wanted = [o.vcs_type for o in fake.world.organizations]
            assert [c.vcs_type for c in results[shapes]] == wanted
    assert results["live"] == results["spec"]


async def test_flaky_tests_decode_from_snake_case_as_from_kebab_case() -> None:
    """GET /insights/{project-slug}/flaky-tests: snake_case live, kebab-case in the spec."""
    results = {}
    modes: tuple[tuple[Shapes, str], ...] = (
        ("live", "total_flaky_tests"),
        ("spec", "total-flaky-tests"),
    )
    for shapes, key in modes:
        async with emulator(shapes) as (fake, client):
            slug = fake.world.projects[0].slug
            assert key in await client.raw.flaky_tests(slug)
            results[shapes] = await client.flaky_tests(slug)
    flaky = results["live"]
    assert flaky.flaky_tests, "the world should hold flaky tests"
    assert flaky.total_flaky_tests == len(flaky.flaky_tests)
    assert all(t.test_name and t.times_flaked for t in flaky.flaky_tests)
    assert results["live"] == results["spec"]


async def test_workflow_runs_without_branch_or_is_approval_still_decode() -> None:
    """GET /insights/{project-slug}/workflows/{workflow-name}: runs may lack ``branch``."""
    async with emulator() as (fake, client):
        slug = fake.world.projects[0].slug
        name = fake.world.workflows(fake.world.pipelines(slug)[0].id)[0].name
        raw = [r async for r in client.raw.workflow_runs(slug, name, all_branches=True)]
        runs = [r async for r in client.workflow_runs(slug, name, all_branches=True)]
    assert len(runs) == len(raw) > 1
    bare = [i for i, r in enumerate(raw) if "branch" not in r and "is_approval" not in r]
    assert bare
    assert all(runs[i].branch is None and not runs[i].is_approval for i in bare)
    assert [r.id for r in runs] == [r["id"] for r in raw]


async def test_workflow_summaries_with_fields_outside_the_spec_decode() -> None:
    """Workflow summaries carry ``median_credits_used``, ``duration_metrics.total_duration``."""
    async with emulator() as (fake, client):
        slug = fake.world.projects[0].slug
        raw = await client.raw.workflow_metrics(slug).collect()
        assert all("median_credits_used" in s["metrics"] for s in raw)
        summaries = await client.workflow_metrics(slug).collect()
        assert [s.name for s in summaries] == [s["name"] for s in raw]
        assert all(some(s.metrics).total_runs for s in summaries)


async def test_older_projects_without_id_decode_and_providers_are_display_names() -> None:
    """GET /project/{project-slug}: older bodies lack ``id``; the provider is ``GitHub``."""
    async with emulator() as (fake, client):
        old = next(p for p in fake.world.projects if p.slug.startswith("bb/"))
        project = await client.get_project(old.slug)
        assert (project.slug, project.id, project.organization_id) == (old.slug, None, None)
        github = await client.get_project(fake.world.projects[0].slug)
        assert str(some(github.vcs_info).provider) == "GitHub"


async def test_pipelines_with_null_provider_odd_trigger_type_and_no_actor_decode() -> None:
    """Pipelines: ``vcs.provider_name: null``, trigger types outside the spec, no actor."""
    async with emulator() as (fake, client):
        slug = fake.world.projects[0].slug
        pipelines = {p.number: p async for p in client.pipelines(slug)}
        assert len(pipelines) == len(fake.world.pipelines(slug))
        fifth, seventh = pipelines[10], pipelines[7]
        assert some(fifth.vcs).provider_name is None
        kind = some(some(fifth.trigger).type)
        # The raw string is kept, where a user sees it.
        assert kind.is_unknown
        assert str(kind) == kind.value == ODD_TRIGGER_TYPE
        assert some(seventh.trigger).actor is None
        fetched = await client.get_pipeline(fifth.id)
        assert fetched == fifth


async def test_strict_mode_refuses_the_trigger_type_the_tolerant_mode_keeps() -> None:
    async with emulator() as (fake, client):
        slug = fake.world.projects[0].slug
        pipeline = next(p for p in fake.world.pipelines(slug) if p.number == 10)
        async with Client(fake.token, base_url=fake.base_url, limits=FAST, strict=True) as strict:
            assert strict.strict
            with pytest.raises(DecodeError) as info:
                await strict.get_pipeline(pipeline.id)
        error = info.value
        assert error.path == "$.trigger.type"
        assert ODD_TRIGGER_TYPE in error.excerpt
        assert "Client.get_pipeline (GET /pipeline/{pipeline-id})" in str(error)
        assert (await client.get_pipeline(pipeline.id)).id == pipeline.id


async def test_workflows_of_old_pipelines_with_pipeline_id_null_decode() -> None:
    """Workflows: ``pipeline_id: null`` in old bodies."""
    async with emulator() as (fake, client):
        world_workflow = next(
            w
            for project in fake.world.projects
            for p in fake.world.pipelines(project.slug)
            if p.number == 11
            for w in fake.world.workflows(p.id)
        )
        workflow = await client.get_workflow(world_workflow.id)
        assert (workflow.id, workflow.pipeline_id) == (world_workflow.id, None)
        assert workflow.canceled_by is None  # sent as null


async def test_a_workflow_not_yet_created_with_id_null_is_skipped_and_named(
    serve: ServeApp,
) -> None:
    """Workflows with ``id: null``: the listing keeps the others and warns about that one.

    (The emulator never serves one; a small app stands in for that body.)
    """
    items: list[dict[str, Any]] = [
        {"id": "w1", "name": "build", "status": "success"},
        {"id": None, "name": "deploy", "status": "not_run"},
        {"id": "w3", "name": "test", "status": None, "pipeline_id": None},
    ]

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"items": items})

    app = web.Application()
    app.router.add_get("/pipeline/{id}/workflow", page)
    async with serve(app) as base, Client("secret-token", base_url=base, limits=FAST) as client:
        with pytest.warns(DecodeWarning) as caught:
            workflows = await client.pipeline_workflows("p1").collect()
    assert [w.id for w in workflows] == ["w1", "w3"]
    message = str(caught[0].message)
    assert "Client.pipeline_workflows (GET /pipeline/{pipeline-id}/workflow)" in message
    assert "$.items[1].id" in message
    assert "secret-token" not in message


async def test_running_jobs_have_null_times_and_duration() -> None:
    """Job details: ``duration``, ``stopped_at`` null while a job runs (sent as null)."""
    async with emulator() as (fake, client):
        running = [
            j
            for p in fake.world.projects
            for pipe in fake.world.pipelines(p.slug)
            for w in fake.world.workflows(pipe.id)
            for j in fake.world.jobs(w.id)
            if j.number is not None and j.started_at is not None and j.stopped_at is None
        ]
        assert running, "the world should hold a running job"
        job = running[0]
        details = await client.get_job(job.project_slug, some(job.number))
        assert (details.number, details.stopped_at, details.duration) == (job.number, None, None)


async def test_context_variables_and_schedules_without_updated_at_decode() -> None:
    """Context variables without ``updated_at``; schedules without ``updated-at``."""
    async with emulator() as (fake, client):
        org = fake.world.organizations[0]
        contexts = [c async for c in client.contexts(owner_slug=org.slug)]
        variables = [v for c in contexts for v in await client.context_env_vars(c.id).collect()]
        assert len(variables) > 1
        assert any(v.updated_at is None for v in variables)
        assert all(v.variable for v in variables)
        slug = fake.world.projects[0].slug
        for name in ("nightly", "weekly"):
            await client.create_schedule(
                slug,
                name=name,
                timetable=Timetable(per_hour=1, hours_of_day=[1], days_of_week=[DayOfWeek.MON]),
                parameters={"branch": "main"},
            )
        schedules = [s async for s in client.schedules(slug)]
        assert {s.name for s in schedules} >= {"nightly", "weekly"}
        assert any(s.updated_at is None for s in schedules)


async def test_pages_without_next_page_token_end_the_listing() -> None:
    """Pages: ``next_page_token`` absent (not null) on the last page of artifacts."""
    async with emulator(page_size=2) as (fake, client):
        job = next(
            j
            for p in fake.world.projects
            for pipe in fake.world.pipelines(p.slug)
            for w in fake.world.workflows(pipe.id)
            for j in fake.world.jobs(w.id)
            if j.number is not None and len(fake.world.artifacts(j)) > 2
        )
        fake.clear_requests()
        artifacts = [a async for a in client.job_artifacts(job.project_slug, some(job.number))]
        assert [a.path for a in artifacts] == [a.path for a in fake.world.artifacts(job)]
        pages = len(fake.api_requests)
        assert pages == math.ceil(len(artifacts) / 2)


@pytest.mark.parametrize("shapes", ["live", "spec"])
async def test_error_bodies_become_the_same_errors_in_both_modes(
    shapes: Shapes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors: 404 messages, a bad page token, and both kinds of 401."""
    async with emulator(shapes) as (fake, client):
        with pytest.raises(NotFound, match="Project not found"):
            await client.get_project("gh/acme-corp/no-such-repo")
        slug = fake.world.projects[0].slug
        path = f"/project/{slug}/pipeline"
        if shapes == "live":
            # An expired or foreign page token: 404 {"message": "Not Found"}.
            with pytest.raises(NotFound, match="Not Found"):
                await client.request("GET", path, params={"page-token": "bogus"}, type=dict)
        async with Client("wrong-token", base_url=fake.base_url, limits=FAST) as wrong:
            with pytest.raises(Unauthorized) as info:
                await wrong.me()
        expected = "Invalid token provided." if shapes == "live" else "You must log in first."
        assert info.value.message == expected
        assert "wrong-token" not in str(info.value)
        # No token at all: JSON labelled text/plain on the live API, JSON in the spec.
        for name in ("CIRCLE_TOKEN", "CIRCLECI_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        async with Client(base_url=fake.base_url, limits=FAST) as anonymous:
            assert not anonymous.has_token
            with pytest.raises(Unauthorized) as missing:
                await anonymous.me()
        assert missing.value.message == "You must log in first."


async def test_the_raw_view_answers_plain_json_even_where_methods_reshape_the_body() -> None:
    """``client.raw``: singles, listings, and the methods that build a model from a body."""
    async with emulator() as (fake, client):
        raw = client.raw
        world = fake.world
        slug = world.projects[0].slug
        pipeline = world.pipelines(slug)[0]
        got = await raw.get_pipeline(pipeline.id)
        assert isinstance(got, dict)
        assert (got["id"], got["number"]) == (pipeline.id, pipeline.number)
        listed = await raw.pipelines(slug).collect()
        assert [p["id"] for p in listed] == [p.id for p in world.pipelines(slug)]
        assert all(isinstance(p, dict) for p in listed)

        org = world.organizations[0].id
        entries = await raw.url_orb_allow_list(org)
        assert isinstance(entries, dict)  # the whole page, as sent, not its items
        assert [e["id"] for e in entries["items"]] == [
            e.id for e in await client.url_orb_allow_list(org)
        ]
        bundle = await raw.get_policy_bundle(org)
        assert isinstance(bundle, dict)
        assert set(bundle) == set((await client.get_policy_bundle(org)).policies)
        context = await client.create_context("raw-view", owner_id=org)
        answer = await raw.set_context_env_var(context.id, "NAME", "value")
        assert isinstance(answer, dict)
        assert answer["variable"] == "NAME"
