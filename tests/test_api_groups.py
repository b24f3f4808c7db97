"""Groups of an organization, through the client and the emulator."""

from __future__ import annotations

import pytest

from aiocircleci import BadRequest, Conflict, NotFound
from aiocircleci.testing import FakeCircleCI

from .conftest import emulator_client as emulator

pytestmark = pytest.mark.anyio


def standalone(fake: FakeCircleCI) -> str:
    return next(o.id for o in fake.world.organizations if o.vcs_type == "circleci")


async def test_a_standalone_organization_lists_its_groups_across_pages() -> None:
    async with emulator(page_size=2) as (fake, client):
        names = [g.name async for g in client.groups(standalone(fake))]
        assert names == ["Project A Editors", "Release Managers", "Viewers"]


async def test_a_group_is_created_fetched_listed_and_deleted() -> None:
    async with emulator() as (fake, client):
        org = standalone(fake)
        created = await client.create_group(org, name="Deployers", description="Ship it")
        assert created.name == "Deployers"
        assert await client.get_group(org, created.id) == created
        assert created.id in [g.id async for g in client.groups(org)]

        await client.delete_group(org, created.id)
        with pytest.raises(NotFound):
            await client.get_group(org, created.id)
        with pytest.raises(NotFound):
            await client.delete_group(org, created.id)
        assert created.id not in [g.id async for g in client.groups(org)]


async def test_group_names_are_unique_within_an_organization() -> None:
    async with emulator() as (fake, client):
        with pytest.raises(Conflict):
            await client.create_group(standalone(fake), name="viewers")


async def test_vcs_organizations_have_no_groups_to_create() -> None:
    async with emulator() as (fake, client):
        github = fake.world.organizations[0]
        assert github.vcs_type == "github"
        assert await client.groups(github.id).collect() == []
        with pytest.raises(BadRequest, match="standalone"):
            await client.create_group(github.id, name="Admins")


async def test_groups_of_unknown_organizations_or_ids_are_not_found() -> None:
    async with emulator() as (fake, client):
        missing = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(NotFound):
            await client.groups(missing).collect()
        with pytest.raises(NotFound):
            await client.get_group(standalone(fake), missing)
        # A group is found only under its own organization.
        group = (await client.groups(standalone(fake)).collect())[0]
        with pytest.raises(NotFound):
            await client.get_group(fake.world.organizations[0].id, group.id)
