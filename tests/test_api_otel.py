"""OTLP exporters, through the client and the emulator."""

from __future__ import annotations

import pytest

from aiocircleci import BadRequest, NotFound
from aiocircleci.models import OtelProtocol

from .conftest import emulator_client as emulator

pytestmark = pytest.mark.anyio


async def test_an_exporter_is_created_listed_and_deleted() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        seeded = await client.otel_exporters(org)
        assert [e.protocol for e in seeded] == [OtelProtocol.GRPC]

        created = await client.create_otel_exporter(
            org,
            endpoint="https://otlp.example.com/v1/traces",
            protocol=OtelProtocol.HTTP,
            insecure=True,
            headers={"authorization": "Bearer abc"},
        )
        assert created.org_id == org
        assert created.protocol is OtelProtocol.HTTP
        assert created.insecure is True
        assert created.headers == {"authorization": "Bearer abc"}
        assert await client.otel_exporters(org) == [*seeded, created]

        await client.delete_otel_exporter(created.id)
        assert await client.otel_exporters(org) == seeded
        with pytest.raises(NotFound):
            await client.delete_otel_exporter(created.id)


async def test_an_organization_has_at_most_five_exporters() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[1].id
        for n in range(5):
            await client.create_otel_exporter(
                org, endpoint=f"c{n}.example.com:4317", protocol="grpc"
            )
        with pytest.raises(BadRequest, match="at most 5"):
            await client.create_otel_exporter(org, endpoint="c5.example.com:4317", protocol="grpc")
        assert len(await client.otel_exporters(org)) == 5
        assert len(await client.otel_exporters(fake.world.organizations[0].id)) == 1


async def test_bad_exporters_and_unknown_organizations_are_refused() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        with pytest.raises(BadRequest):
            await client.create_otel_exporter(org, endpoint="c.example.com:4317", protocol="udp")
        with pytest.raises(BadRequest, match="endpoint"):
            await client.create_otel_exporter(org, endpoint=" ", protocol="grpc")
        with pytest.raises(BadRequest, match="org-id"):
            await client.otel_exporters("acme-corp")
        missing = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(NotFound):
            await client.otel_exporters(missing)
        with pytest.raises(NotFound):
            await client.create_otel_exporter(missing, endpoint="c:4317", protocol="grpc")
