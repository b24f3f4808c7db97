"""Outbound webhooks, through the client and the emulator."""

from __future__ import annotations

import pytest

from aiocircleci import BadRequest, NotFound
from aiocircleci.models import WebhookEvent

from .conftest import emulator_client as emulator
from .conftest import some

pytestmark = pytest.mark.anyio

SECRET = "whsec-0123456789abcdef"


async def test_a_webhook_is_created_listed_updated_and_deleted() -> None:
    async with emulator(page_size=1) as (fake, client):
        project = fake.world.projects[0]
        created = await client.create_webhook(
            name="deploy notifier",
            url="https://hooks.example.com/deploys",
            events=[WebhookEvent.WORKFLOW_COMPLETED, "job-completed"],
            scope_id=project.id,
            signing_secret=SECRET,
        )
        assert some(created.scope).id == project.id
        assert some(created.scope).type == "project"
        assert created.events == [WebhookEvent.WORKFLOW_COMPLETED, WebhookEvent.JOB_COMPLETED]
        assert created.verify_tls is True
        assert await client.get_webhook(created.id) == created
        # Page by page (one each): two seeded webhooks of this project, then the new one.
        listed = [w.id async for w in client.webhooks(project.id)]
        assert len(listed) == 3
        assert listed[-1] == created.id

        updated = await client.update_webhook(
            created.id,
            url="https://hooks.example.com/v2/deploys",
            events=["job-completed"],
            verify_tls=False,
        )
        assert updated.url == "https://hooks.example.com/v2/deploys"
        assert updated.events == [WebhookEvent.JOB_COMPLETED]
        assert updated.verify_tls is False
        assert updated.name == created.name
        assert updated.created_at == created.created_at
        assert await client.get_webhook(created.id) == updated

        await client.delete_webhook(created.id)
        with pytest.raises(NotFound):
            await client.get_webhook(created.id)
        assert created.id not in [w.id async for w in client.webhooks(project.id)]


async def test_the_signing_secret_never_comes_back_in_clear() -> None:
    async with emulator() as (fake, client):
        created = await client.create_webhook(
            name="n",
            url="https://example.com/h",
            events=["workflow-completed"],
            scope_id=fake.world.projects[1].id,
            signing_secret=SECRET,
        )
        assert SECRET not in some(created.signing_secret)
        assert some(created.signing_secret).endswith(SECRET[-4:])
        for webhook in [w async for w in client.webhooks(fake.world.projects[0].id)]:
            assert some(webhook.signing_secret).startswith("****")


async def test_each_project_lists_only_its_own_webhooks() -> None:
    async with emulator() as (fake, client):
        first, second, third = fake.world.projects
        assert len([w async for w in client.webhooks(first.id)]) == 2
        assert [w.name async for w in client.webhooks(second.id)] == [
            f"{second.name} notifications"
        ]
        assert [w async for w in client.webhooks(third.id)] == []


async def test_bad_webhooks_are_refused() -> None:
    async with emulator() as (fake, client):
        project = fake.world.projects[0].id
        good = {
            "name": "n",
            "url": "https://example.com/h",
            "events": ["workflow-completed"],
            "scope_id": project,
            "signing_secret": SECRET,
        }
        for change, reason in (
            ({"url": "http://example.com/h"}, "https"),
            ({"events": []}, "events"),
            ({"events": ["build-started"]}, "events"),
            ({"name": ""}, "name"),
        ):
            with pytest.raises(BadRequest, match=reason):
                await client.create_webhook(**{**good, **change})  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="Project"):
            await client.create_webhook(
                **{**good, "scope_id": "00000000-0000-4000-8000-000000000000"}  # type: ignore[arg-type]
            )
        with pytest.raises(TypeError, match="list of events"):
            await client.create_webhook(**{**good, "events": "job-completed"})  # type: ignore[arg-type]
        with pytest.raises(BadRequest, match="scope-id"):
            await client.webhooks("not-a-uuid").collect()


async def test_unknown_webhooks_are_not_found() -> None:
    async with emulator() as (_, client):
        missing = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(NotFound):
            await client.get_webhook(missing)
        with pytest.raises(NotFound):
            await client.update_webhook(missing, name="x")
        with pytest.raises(NotFound):
            await client.delete_webhook(missing)
