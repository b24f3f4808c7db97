"""OIDC custom claims of organizations and projects, through the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from aiocircleci import BadRequest, Client, Forbidden
from aiocircleci.testing import FakeCircleCI, Project, WorldConfig

from .conftest import emulator_client

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(projects=3, pipelines_per_project=1, artifacts_per_job=0)
NO_SUCH = "00000000-0000-4000-8000-000000000000"


@dataclass
class Env:
    fake: FakeCircleCI
    client: Client
    project: Project

    @property
    def org_id(self) -> str:
        return self.project.organization.id


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with emulator_client(CONFIG, seed=5) as (fake, client):
        yield Env(fake, client, fake.world.projects[0])


async def test_the_first_organization_starts_with_an_audience_and_a_ttl(env: Env) -> None:
    claims = await env.client.get_org_oidc_claims(env.org_id)
    assert claims.org_id == env.org_id
    assert claims.project_id is None
    assert claims.audience == ["https://acme-corp.example.com", "sts.amazonaws.com"]
    assert claims.ttl == "1h"
    assert claims.audience_updated_at is not None
    assert claims.ttl_updated_at is not None


async def test_org_claims_can_be_set_changed_and_deleted_one_by_one(env: Env) -> None:
    client, org_id = env.client, env.org_id
    before = await client.get_org_oidc_claims(org_id)
    changed = await client.update_org_oidc_claims(org_id, ttl=timedelta(minutes=30))
    assert changed.ttl == "1800s"
    assert changed.audience == before.audience  # untouched
    assert await client.get_org_oidc_claims(org_id) == changed

    changed = await client.update_org_oidc_claims(org_id, audience=["my-aud"], ttl="2h")
    assert (changed.audience, changed.ttl) == (["my-aud"], "2h")

    without_ttl = await client.delete_org_oidc_claims(org_id, ["ttl"])
    assert (without_ttl.audience, without_ttl.ttl, without_ttl.ttl_updated_at) == (
        ["my-aud"],
        None,
        None,
    )
    empty = await client.delete_org_oidc_claims(org_id, ["audience", "ttl"])
    assert (empty.audience, empty.ttl) == (None, None)
    assert await client.get_org_oidc_claims(org_id) == empty
    query = dict(env.fake.api_requests[-2].query)
    assert query == {"claims": "audience,ttl"}


async def test_project_claims_are_kept_apart_from_the_organizations(env: Env) -> None:
    client, org_id, pid = env.client, env.org_id, env.project.id
    fresh = await client.get_project_oidc_claims(org_id, pid)
    assert (fresh.org_id, fresh.project_id, fresh.audience, fresh.ttl) == (org_id, pid, None, None)

    set_ = await client.update_project_oidc_claims(
        org_id, pid, audience=["project-aud"], ttl=timedelta(milliseconds=1500)
    )
    assert (set_.audience, set_.ttl) == (["project-aud"], "1500ms")
    assert await client.get_project_oidc_claims(org_id, pid) == set_
    assert (await client.get_org_oidc_claims(org_id)).audience != ["project-aud"]

    cleared = await client.delete_project_oidc_claims(org_id, pid, ["audience"])
    assert (cleared.audience, cleared.ttl) == (None, "1500ms")
    assert await client.get_project_oidc_claims(org_id, pid) == cleared


async def test_orgs_and_projects_the_token_cannot_see_are_forbidden(env: Env) -> None:
    with pytest.raises(Forbidden):
        await env.client.get_org_oidc_claims(NO_SUCH)
    other_org = next(o for o in env.fake.world.organizations if o.id != env.org_id)
    with pytest.raises(Forbidden):
        await env.client.get_project_oidc_claims(other_org.id, env.project.id)


async def test_bad_ids_durations_and_claim_names_are_refused_with_the_error_message(
    env: Env,
) -> None:
    with pytest.raises(BadRequest, match="OrgID: must be a valid UUID"):
        await env.client.get_org_oidc_claims("acme-corp")
    with pytest.raises(BadRequest, match="ttl"):
        await env.client.update_org_oidc_claims(env.org_id, ttl="forever")
    with pytest.raises(BadRequest, match="Nothing to patch"):
        await env.client.update_org_oidc_claims(env.org_id)
    with pytest.raises(BadRequest, match="claims"):
        await env.client.delete_org_oidc_claims(env.org_id, ["issuer"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="non-empty"):
        await env.client.delete_org_oidc_claims(env.org_id, [])
    with pytest.raises(ValueError, match="positive"):
        await env.client.update_org_oidc_claims(env.org_id, ttl=timedelta(0))
    assert (await env.client.get_org_oidc_claims(env.org_id)).ttl == "1h"
