"""Usage exports, through the client and the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiocircleci import BadRequest, NotFound
from aiocircleci.models import UsageExportState

from .conftest import emulator_client as emulator

pytestmark = pytest.mark.anyio

END = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
START = END - timedelta(days=30)


async def test_an_export_is_created_then_processed_then_completed_with_download_urls() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        job = await client.create_usage_export(org, start=START, end=END)
        assert job.state is UsageExportState.CREATED
        assert (job.start, job.end) == (START, END)
        assert job.download_urls == []

        polled = await client.get_usage_export(org, job.usage_export_job_id)
        assert polled.state is UsageExportState.PROCESSING
        done = await client.get_usage_export(org, job.usage_export_job_id)
        assert done.state is UsageExportState.COMPLETED
        assert done.download_urls
        assert all(url.startswith(fake.artifact_origin + "/") for url in done.download_urls)
        assert await client.get_usage_export(org, job.usage_export_job_id) == done


async def test_an_export_including_an_unknown_shared_org_ends_failed_with_a_reason() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        stranger = "00000000-0000-4000-8000-000000000000"
        job = await client.create_usage_export(
            org, start=START, end=END, shared_org_ids=[fake.world.organizations[1].id, stranger]
        )
        await client.get_usage_export(org, job.usage_export_job_id)
        failed = await client.get_usage_export(org, job.usage_export_job_id)
        assert failed.state is UsageExportState.FAILED
        assert failed.error_reason is not None
        assert stranger in failed.error_reason
        assert failed.download_urls == []


async def test_export_ranges_are_checked() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        with pytest.raises(BadRequest, match="31 days"):
            await client.create_usage_export(org, start=END - timedelta(days=32), end=END)
        with pytest.raises(BadRequest, match="before start"):
            await client.create_usage_export(org, start=END, end=START)
        long_ago = datetime.now(UTC) - timedelta(days=400)
        with pytest.raises(BadRequest, match="one year"):
            await client.create_usage_export(org, start=long_ago, end=long_ago + timedelta(days=1))
        with pytest.raises(BadRequest, match="UUID"):
            await client.create_usage_export(org, start=START, end=END, shared_org_ids=["acme"])


async def test_naive_datetimes_are_refused_before_any_request() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        with pytest.raises(ValueError, match="timezone"):
            await client.create_usage_export(org, start=START.replace(tzinfo=None), end=END)
        assert fake.api_requests == []


async def test_exports_are_found_only_under_their_own_organization() -> None:
    async with emulator() as (fake, client):
        mine, other = fake.world.organizations[0].id, fake.world.organizations[1].id
        job = await client.create_usage_export(mine, start=START, end=END)
        with pytest.raises(NotFound):
            await client.get_usage_export(other, job.usage_export_job_id)
        with pytest.raises(NotFound):
            await client.get_usage_export(mine, "00000000-0000-4000-8000-000000000000")
        with pytest.raises(NotFound):
            await client.create_usage_export(
                "00000000-0000-4000-8000-000000000000", start=START, end=END
            )
