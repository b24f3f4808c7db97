"""Deploy environments, components and versions, and rollbacks, through the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from aiocircleci import BadRequest, Client, Conflict, NotFound
from aiocircleci.models import Component, ComponentVersion, Environment
from aiocircleci.testing import FakeCircleCI, Project, WorldConfig

from .conftest import emulator_client, some

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(projects=3, pipelines_per_project=6, artifacts_per_job=0)
NO_SUCH = "00000000-0000-4000-8000-000000000000"


@dataclass
class Env:
    fake: FakeCircleCI
    client: Client
    project: Project

    @property
    def org_id(self) -> str:
        return self.project.organization.id

    async def environment(self, name: str) -> Environment:
        (found,) = [e async for e in self.client.environments(self.org_id) if e.name == name]
        return found

    async def component(self) -> Component:
        found = self.client.components(self.org_id, project_id=self.project.id)
        return (await found.collect())[0]

    async def versions_in(self, name: str) -> list[ComponentVersion]:
        component, environment = await self.component(), await self.environment(name)
        listing = self.client.component_versions(component.id, environment_id=environment.id)
        return await listing.collect()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    # Pages of one item: every listing below goes through several pages.
    async with emulator_client(CONFIG, seed=11, page_size=1) as (fake, client):
        yield Env(fake, client, fake.world.projects[0])


def live(versions: list[ComponentVersion]) -> str:
    (name,) = [v.name for v in versions if v.is_live]
    return name


async def test_an_organization_has_production_and_staging_over_several_pages(env: Env) -> None:
    environments = await env.client.environments(env.org_id).collect()
    assert [e.name for e in environments] == ["production", "staging"]
    assert all(e.labels and e.labels[0].key == "tier" for e in environments)
    for environment in environments:
        assert await env.client.get_environment(environment.id) == environment
    sent = [dict(r.query) for r in env.fake.api_requests if r.operation == "listEnvironments"]
    assert len(sent) == 2
    assert all(q["org-id"] == env.org_id and q["page-size"] == "50" for q in sent)
    assert "page-token" in sent[1]


async def test_components_are_listed_per_organization_or_per_project(env: Env) -> None:
    everything = await env.client.components(env.org_id, page_size=10).collect()
    in_org = [p for p in env.fake.world.projects if p.organization.id == env.org_id]
    assert sorted(some(c.name) for c in everything) == sorted(some(p.name) for p in in_org)
    component = await env.component()
    assert (component.name, component.project_id) == (env.project.name, env.project.id)
    assert await env.client.get_component(component.id) == component
    versions = await env.client.component_versions(component.id).collect()
    assert component.release_count == len({v.name for v in versions})


async def test_versions_come_newest_first_with_one_live_per_environment(env: Env) -> None:
    component = await env.component()
    versions = await env.client.component_versions(component.id).collect()
    deployed = [v.last_deployed_at for v in versions if v.last_deployed_at is not None]
    assert len(deployed) == len(versions)
    assert deployed == sorted(deployed, reverse=True)
    staging, production = await env.versions_in("staging"), await env.versions_in("production")
    assert len(staging) + len(production) == len(versions)
    # Production runs one release behind staging.
    assert live(staging) == staging[0].name
    assert live(production) == production[0].name == staging[1].name


async def test_a_deploy_points_at_a_pipeline_workflow_and_job_of_the_project(env: Env) -> None:
    version = (await env.versions_in("production"))[0]
    assert version.pipeline_id is not None
    assert version.job_number is not None
    pipeline = await env.client.get_pipeline(version.pipeline_id)
    assert pipeline.project_slug == env.project.slug
    job = await env.client.get_job(env.project.slug, version.job_number)
    assert job.latest_workflow is not None
    assert job.latest_workflow.id == version.workflow_id


async def test_unknown_environments_components_and_orgs_are_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.client.get_environment(NO_SUCH)
    with pytest.raises(NotFound):
        await env.client.get_component(NO_SUCH)
    with pytest.raises(NotFound):
        await env.client.component_versions(NO_SUCH).collect()
    with pytest.raises(NotFound):
        await env.client.environments(NO_SUCH).collect()
    with pytest.raises(BadRequest):
        await env.client.get_environment("production")
    with pytest.raises(ValueError, match="page_size"):
        env.client.environments(env.org_id, page_size=0)


async def test_a_rollback_makes_an_earlier_version_live_and_a_stale_one_conflicts(
    env: Env,
) -> None:
    component = await env.component()
    staging = await env.versions_in("staging")
    before = await env.versions_in("production")
    current, target = before[0].name, before[1].name
    rollback = await env.client.rollback_project(
        env.project.id,
        environment_name="production",
        component_name=some(component.name),
        current_version=current,
        target_version=target,
        reason="bad release",
        parameters={"notify": True},
    )
    assert rollback.id
    assert rollback.rollback_type == "PIPELINE"
    after = await env.versions_in("production")
    assert after[0].name == target
    assert live(after) == target
    assert await env.versions_in("staging") == staging  # other environments stay as they were
    with pytest.raises(Conflict, match="not live"):
        await env.client.rollback_project(
            env.project.id,
            environment_name="production",
            component_name=some(component.name),
            current_version=current,
            target_version=target,
        )


async def test_a_rollback_needs_a_known_component_environment_and_target(env: Env) -> None:
    component = await env.component()
    current = live(await env.versions_in("production"))

    async def rollback(
        environment_name: str = "production",
        component_name: str = some(component.name),
        target_version: str = "1.0.0",
    ) -> None:
        await env.client.rollback_project(
            env.project.id,
            environment_name=environment_name,
            component_name=component_name,
            current_version=current,
            target_version=target_version,
        )

    with pytest.raises(NotFound, match="Component"):
        await rollback(component_name="nope")
    with pytest.raises(NotFound, match="Environment"):
        await rollback(environment_name="qa")
    with pytest.raises(NotFound, match="never deployed"):
        await rollback(target_version="9.9.9")
    with pytest.raises(BadRequest):
        await rollback(target_version=current)
    with pytest.raises(NotFound):
        await env.client.rollback_project(
            NO_SUCH,
            environment_name="production",
            component_name=some(component.name),
            current_version=current,
            target_version="1.0.0",
        )
    assert live(await env.versions_in("production")) == current
