"""Organizations and their URL orb allow-lists, through the client and the emulator."""

from __future__ import annotations

import pytest

from aiocircleci import BadRequest, Conflict, NotFound
from aiocircleci.models import Message, OrganizationVcsType, URLOrbAllowListAuth

from .conftest import emulator_client as emulator

pytestmark = pytest.mark.anyio


async def test_a_created_standalone_organization_can_be_fetched_then_deleted() -> None:
    async with emulator() as (_, client):
        created = await client.create_organization(name="skunkworks", vcs_type="circleci")
        assert created.vcs_type is OrganizationVcsType.CIRCLECI
        assert created.slug == f"circleci/{created.id}"

        assert await client.get_organization(created.id) == created

        assert isinstance(await client.delete_organization(created.id), Message)
        with pytest.raises(NotFound):
            await client.get_organization(created.id)
        with pytest.raises(NotFound):
            await client.delete_organization(created.id)


async def test_the_worlds_organizations_are_there_by_id() -> None:
    async with emulator() as (fake, client):
        for org in fake.world.organizations:
            got = await client.get_organization(org.id)
            assert (got.id, got.name, got.slug) == (org.id, org.name, org.slug)


async def test_a_vcs_organization_gets_a_vcs_slug_and_cannot_be_created_twice() -> None:
    async with emulator() as (_, client):
        created = await client.create_organization(
            name="new-gh-org", vcs_type=OrganizationVcsType.GITHUB
        )
        assert created.slug == "gh/new-gh-org"
        with pytest.raises(Conflict):
            await client.create_organization(name="new-gh-org", vcs_type="github")
        with pytest.raises(Conflict):
            await client.create_organization(name="acme-corp", vcs_type="github")


async def test_an_unknown_vcs_type_or_an_empty_name_is_a_bad_request() -> None:
    async with emulator() as (_, client):
        with pytest.raises(BadRequest):
            await client.create_organization(name="x", vcs_type="gitlab")
        with pytest.raises(BadRequest):
            await client.create_organization(name=" ", vcs_type="circleci")


async def test_a_malformed_organization_is_refused_before_any_request() -> None:
    async with emulator() as (fake, client):
        for bad in ("", "/", "gh//acme", "gh/acme/repo"):
            with pytest.raises(ValueError, match="invalid organization"):
                await client.get_organization(bad)
        assert fake.api_requests == []


async def test_url_orb_allow_list_entries_are_added_listed_and_removed() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        seeded = await client.url_orb_allow_list(org)
        assert [e.auth for e in seeded] == [URLOrbAllowListAuth.NONE]

        added = await client.create_url_orb_allow_list_entry(
            org,
            name="our orbs",
            prefix="https://orbs.example.com/acme/",
            auth=URLOrbAllowListAuth.GITHUB_APP,
        )
        entries = {e.id: e for e in await client.url_orb_allow_list(org)}
        assert set(entries) == {seeded[0].id, added.id}
        assert entries[added.id].prefix == "https://orbs.example.com/acme/"
        assert entries[added.id].auth is URLOrbAllowListAuth.GITHUB_APP

        removed = await client.remove_url_orb_allow_list_entry(org, added.id)
        assert removed.id == added.id
        assert [e.id for e in await client.url_orb_allow_list(org)] == [seeded[0].id]
        with pytest.raises(NotFound):
            await client.remove_url_orb_allow_list_entry(org, added.id)


async def test_an_allow_list_prefix_must_be_https_and_the_auth_known() -> None:
    async with emulator() as (fake, client):
        org = fake.world.organizations[0].id
        with pytest.raises(BadRequest, match="https"):
            await client.create_url_orb_allow_list_entry(
                org, name="plain", prefix="http://orbs.example.com/", auth="none"
            )
        with pytest.raises(BadRequest):
            await client.create_url_orb_allow_list_entry(
                org, name="odd", prefix="https://orbs.example.com/", auth="password"
            )


async def test_a_deleted_organization_takes_its_allow_list_groups_and_exporters_along() -> None:
    async with emulator() as (_, client):
        org = await client.create_organization(name="short-lived", vcs_type="circleci")
        await client.create_group(org.id, name="Admins")
        await client.create_otel_exporter(org.id, endpoint="otel.example.com:4317", protocol="grpc")
        await client.delete_organization(org.id)
        with pytest.raises(NotFound):
            await client.url_orb_allow_list(org.id)
        with pytest.raises(NotFound):
            await client.groups(org.id).collect()
        with pytest.raises(NotFound):
            await client.otel_exporters(org.id)
