"""Pipeline definitions and their triggers, through the client against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from msgspec.structs import replace

from aiocircleci import BadRequest, Client, NotFound
from aiocircleci.models import (
    CheckoutSource,
    ConfigSource,
    DefinitionTrigger,
    PipelineDefinition,
    PipelineDefinitionRepo,
    TriggerEventPreset,
    TriggerEventSource,
    TriggerSchedule,
)
from aiocircleci.testing import FakeCircleCI, Project, WorldConfig

from .conftest import emulator_client

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(projects=2, pipelines_per_project=2, artifacts_per_job=0)
NO_SUCH = "00000000-0000-4000-8000-000000000000"


@dataclass
class Env:
    fake: FakeCircleCI
    client: Client
    project: Project

    async def main_definition(self) -> PipelineDefinition:
        return (await self.client.pipeline_definitions(self.project.id).collect())[0]

    async def repo_id(self) -> str:
        """The ``external_id`` of the project's own repository."""
        main = await self.main_definition()
        repo = main.checkout_source.repo if main.checkout_source else None
        assert repo is not None
        assert repo.external_id is not None
        return repo.external_id

    async def nightly(self) -> DefinitionTrigger:
        main = await self.main_definition()
        triggers = self.client.pipeline_definition_triggers(self.project.id, main.id)
        return (await triggers.collect())[1]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with emulator_client(CONFIG, seed=3) as (fake, client):
        yield Env(fake, client, fake.world.projects[0])


async def test_each_project_starts_with_a_definition_reading_its_own_repository(env: Env) -> None:
    definitions = await env.client.pipeline_definitions(env.project.id).collect()
    assert [d.name for d in definitions] == ["build-and-test"]
    main = definitions[0]
    repo = PipelineDefinitionRepo(full_name="acme-corp/web-app", external_id=await env.repo_id())
    assert main.config_source == ConfigSource(
        provider="github_oauth", repo=repo, file_path=".circleci/config.yml"
    )
    assert main.checkout_source == CheckoutSource(provider="github_oauth", repo=repo)
    assert main.created_at is not None
    assert await env.client.get_pipeline_definition(env.project.id, main.id) == main


async def test_a_definition_can_be_created_listed_updated_and_deleted(env: Env) -> None:
    client, pid = env.client, env.project.id
    main = await env.main_definition()
    repo_id = await env.repo_id()

    created = await client.create_pipeline_definition(
        pid,
        name="release",
        description="tags only",
        config_provider="github_app",
        config_file_path=".circleci/release.yml",
        config_repo_id=repo_id,
        checkout_provider="github_app",
        checkout_repo_id=repo_id,
    )
    assert (created.name, created.description) == ("release", "tags only")
    assert created.config_source == ConfigSource(
        provider="github_app",
        repo=PipelineDefinitionRepo(full_name="acme-corp/web-app", external_id=repo_id),
        file_path=".circleci/release.yml",
    )
    assert [d.id async for d in client.pipeline_definitions(pid)] == [main.id, created.id]
    assert await client.get_pipeline_definition(pid, created.id) == created

    updated = await client.update_pipeline_definition(
        pid, created.id, name="release-v2", config_file_path=".circleci/v2.yml"
    )
    assert (updated.name, updated.description) == ("release-v2", "tags only")
    assert updated.config_source is not None
    assert updated.config_source.file_path == ".circleci/v2.yml"
    assert await client.get_pipeline_definition(pid, created.id) == updated

    trigger = await client.create_trigger(
        pid, created.id, provider="github_app", repo_id=repo_id, event_preset="only-tags"
    )
    assert trigger.event_preset is TriggerEventPreset.ONLY_TAGS
    assert (await client.delete_pipeline_definition(pid, created.id)).message
    with pytest.raises(NotFound):
        await client.get_pipeline_definition(pid, created.id)
    with pytest.raises(NotFound):
        await client.get_trigger(pid, trigger.id)  # its triggers went with it
    assert [d.id async for d in client.pipeline_definitions(pid)] == [main.id]


async def test_a_definition_on_the_circleci_provider_needs_no_config_repository(env: Env) -> None:
    repo_id = await env.repo_id()
    created = await env.client.create_pipeline_definition(
        env.project.id,
        name="inline",
        config_provider="circleci",
        config_file_path=".circleci/config.yml",
        checkout_provider="github_server",
        checkout_repo_id=repo_id,
    )
    assert created.config_source == ConfigSource(
        provider="circleci", file_path=".circleci/config.yml"
    )
    assert created.checkout_source == CheckoutSource(
        provider="github_server",
        repo=PipelineDefinitionRepo(full_name="acme-corp/web-app", external_id=repo_id),
    )


async def test_a_missing_config_repository_is_refused_before_anything_is_sent(env: Env) -> None:
    env.fake.clear_requests()
    with pytest.raises(ValueError, match="config_repo_id"):
        await env.client.create_pipeline_definition(
            env.project.id,
            name="x",
            config_provider="github_app",
            config_file_path=".circleci/x.yml",
            checkout_provider="github_app",
            checkout_repo_id="1",
        )
    assert env.fake.api_requests == []


async def test_unknown_repositories_and_taken_names_are_refused(env: Env) -> None:
    main = await env.main_definition()
    repo_id = await env.repo_id()

    async def create(name: str, config_repo_id: str) -> PipelineDefinition:
        return await env.client.create_pipeline_definition(
            env.project.id,
            name=name,
            config_provider="github_app",
            config_file_path=".circleci/a.yml",
            config_repo_id=config_repo_id,
            checkout_provider="github_app",
            checkout_repo_id=repo_id,
        )

    with pytest.raises(BadRequest, match="not found"):
        await create("other", "999")
    with pytest.raises(BadRequest, match="already exists"):
        await create("build-and-test", repo_id)
    other = await create("other", repo_id)
    with pytest.raises(BadRequest, match="already exists"):
        await env.client.update_pipeline_definition(env.project.id, other.id, name=main.name)
    assert (await env.client.get_pipeline_definition(env.project.id, other.id)).name == "other"


async def test_definitions_of_an_unknown_project_or_another_project_are_not_found(
    env: Env,
) -> None:
    with pytest.raises(NotFound):
        await env.client.pipeline_definitions(NO_SUCH).collect()
    main = await env.main_definition()
    with pytest.raises(NotFound):
        await env.client.get_pipeline_definition(env.fake.world.projects[1].id, main.id)


async def test_seeded_triggers_are_a_push_trigger_and_a_nightly_schedule(env: Env) -> None:
    main = await env.main_definition()
    triggers = await env.client.pipeline_definition_triggers(env.project.id, main.id).collect()
    pushes, nightly = triggers
    assert pushes.event_preset is TriggerEventPreset.ALL_PUSHES
    assert pushes.event_source == TriggerEventSource(
        provider="github_oauth",
        repo=PipelineDefinitionRepo(full_name="acme-corp/web-app", external_id=await env.repo_id()),
    )
    assert nightly.event_source == TriggerEventSource(
        provider="schedule", schedule=TriggerSchedule(cron_expression="0 3 * * *")
    )
    assert nightly.parameters == {"nightly": True}
    assert await env.client.get_trigger(env.project.id, nightly.id) == nightly


async def test_a_schedule_trigger_can_be_created_listed_updated_and_deleted(env: Env) -> None:
    client, pid = env.client, env.project.id
    main = await env.main_definition()
    created = await client.create_trigger(
        pid,
        main.id,
        provider="schedule",
        cron_expression="15 2 * * 1-5",
        attribution_actor="system",
        event_name="weekday builds",
        config_ref="main",
        checkout_ref="main",
        parameters={"deploy": False},
    )
    assert created.event_source == TriggerEventSource(
        provider="schedule", schedule=TriggerSchedule(cron_expression="15 2 * * 1-5")
    )
    assert (created.disabled, created.parameters) == (False, {"deploy": False})
    listed = await client.pipeline_definition_triggers(pid, main.id).collect()
    assert listed[-1] == created
    assert await client.get_trigger(pid, created.id) == created

    updated = await client.update_trigger(
        pid, created.id, cron_expression="0 4 * * *", disabled=True, event_name="early"
    )
    assert updated.event_source == TriggerEventSource(
        provider="schedule", schedule=TriggerSchedule(cron_expression="0 4 * * *")
    )
    assert (updated.disabled, updated.event_name, updated.config_ref) == (True, "early", "main")
    assert await client.get_trigger(pid, created.id) == updated

    assert (await client.delete_trigger(pid, created.id)).message
    with pytest.raises(NotFound):
        await client.get_trigger(pid, created.id)
    assert created.id not in {t.id async for t in client.pipeline_definition_triggers(pid, main.id)}


async def test_a_webhook_trigger_gets_a_url_and_keeps_it_when_its_sender_changes(
    env: Env,
) -> None:
    main = await env.main_definition()
    created = await env.client.create_trigger(
        env.project.id, main.id, provider="webhook", webhook_sender="deploy-bot"
    )
    webhook = created.event_source.webhook if created.event_source else None
    assert webhook is not None
    assert webhook.sender == "deploy-bot"
    assert webhook.url is not None
    assert created.id in webhook.url
    updated = await env.client.update_trigger(
        env.project.id, created.id, webhook_sender="release-bot"
    )
    assert updated.event_source is not None
    assert updated.event_source.webhook == replace(webhook, sender="release-bot")


async def test_bad_cron_and_settings_of_another_kind_of_trigger_are_refused(env: Env) -> None:
    main = await env.main_definition()
    with pytest.raises(BadRequest, match="cron"):
        await env.client.create_trigger(
            env.project.id, main.id, provider="schedule", cron_expression="every day"
        )
    nightly = await env.nightly()
    with pytest.raises(BadRequest, match="event_preset"):
        await env.client.update_trigger(env.project.id, nightly.id, event_preset="only-tags")
    with pytest.raises(BadRequest, match="webhook"):
        await env.client.update_trigger(env.project.id, nightly.id, webhook_sender="x")
    assert await env.nightly() == nightly


async def test_a_trigger_is_only_found_under_its_own_project(env: Env) -> None:
    nightly = await env.nightly()
    with pytest.raises(NotFound):
        await env.client.get_trigger(env.fake.world.projects[1].id, nightly.id)
