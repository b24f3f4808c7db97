"""Projects through the client and the emulator: create and delete, env vars, keys, settings."""

from __future__ import annotations

import math

import pytest
from aiohttp import web

from aiocircleci import BadRequest, Client, Conflict, Limits, NotFound, RetryPolicy
from aiocircleci.models import AdvancedSettings, CheckoutKeyType, ProjectSettings, VcsProvider
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .conftest import ServeApp, some

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=3,
    pipelines_per_project=4,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=1,
    max_artifact_size=64,
    tests_per_job=1,
    env_vars_per_project=5,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def client_for(fake: FakeCircleCI) -> Client:
    return Client(fake.token, base_url=fake.base_url, limits=FAST, retry=RETRY)


async def test_a_created_project_is_fetched_configured_and_deleted() -> None:
    async with FakeCircleCI(seed=1, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organization("gh/acme-corp")
        created = await client.create_project(org.id, "brand-new")
        assert (created.slug, created.name) == ("gh/acme-corp/brand-new", "brand-new")
        assert (created.organization_id, some(created.vcs_info).provider) == (
            org.id,
            VcsProvider.GITHUB,
        )

        fetched = await client.get_project(created.slug)
        assert fetched == created
        assert [p async for p in client.pipelines(created.slug)] == []
        assert [e async for e in client.env_vars(created.slug)] == []
        assert [k async for k in client.checkout_keys(created.slug)] == []

        updated = await client.update_project_settings(
            created.slug, AdvancedSettings(autocancel_builds=True)
        )
        assert updated.advanced is not None
        assert updated.advanced.autocancel_builds is True
        assert await client.get_project_settings(created.slug) == updated

        deleted = await client.delete_project(created.slug)
        assert deleted.message
        with pytest.raises(NotFound):
            await client.get_project(created.slug)
        with pytest.raises(NotFound):
            await client.get_project_settings(created.slug)
        with pytest.raises(NotFound):
            await client.delete_project(created.slug)


async def test_a_project_in_a_github_app_org_gets_an_opaque_slug() -> None:
    async with FakeCircleCI(seed=2, config=CONFIG) as fake, client_for(fake) as client:
        org = next(o for o in fake.world.organizations if o.vcs_type == "circleci")
        created = await client.create_project(org.id, "My App")
        assert created.slug == f"circleci/{org.id}/{created.id}"
        assert some(created.vcs_info).provider is VcsProvider.CIRCLECI
        assert (await client.get_project(created.slug)).name == "My App"


async def test_a_second_project_of_the_same_name_conflicts_and_bad_names_are_refused() -> None:
    async with FakeCircleCI(seed=3, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organization("gh/acme-corp")
        existing = next(p for p in fake.world.projects if p.organization.id == org.id)
        with pytest.raises(Conflict):
            await client.create_project(org.id, existing.name.upper())
        with pytest.raises(BadRequest):
            await client.create_project(org.id, "no spaces in repo names")
        with pytest.raises(NotFound):
            await client.create_project("00000000-0000-4000-8000-000000000000", "x")
        with pytest.raises(ValueError, match="VCS/ORG"):
            await client.create_project("gh/acme-corp/too-deep", "x")
        assert len(fake.api_requests) == 3  # the malformed org never left the client


async def test_deleting_a_project_takes_its_pipelines_and_workflows_with_it() -> None:
    async with FakeCircleCI(seed=4, config=CONFIG) as fake, client_for(fake) as client:
        project = fake.world.projects[0]
        pipeline = fake.world.pipelines(project.slug)[0]
        await client.delete_project(project.slug)
        with pytest.raises(NotFound):
            await client.get_pipeline(pipeline.id)
        listed = [p.project_slug async for p in client.org_pipelines(project.organization.slug)]
        assert project.slug not in listed
        assert project.slug not in {p.slug for p in fake.world.projects}


async def test_env_vars_are_masked_listed_across_pages_and_deleted() -> None:
    async with (
        FakeCircleCI(seed=5, config=CONFIG, page_size=2) as fake,
        client_for(fake) as client,
    ):
        slug = fake.world.projects[1].slug
        created = await client.create_env_var(slug, "DEPLOY_KEY", "s3cr3t-value")
        assert (created.name, created.value) == ("DEPLOY_KEY", "xxxxalue")
        listed = [e async for e in client.env_vars(slug)]
        assert [e.name for e in listed] == [e.name for e in fake.world.env_vars(slug)]
        assert len(listed) == CONFIG.env_vars_per_project + 1  # three pages of two
        assert all(some(e.value).startswith("xxxx") for e in listed)
        assert await client.get_env_var(slug, "DEPLOY_KEY") == created

        replaced = await client.create_env_var(slug, "DEPLOY_KEY", "another-one")
        assert replaced.value == "xxxx-one"
        assert (await client.delete_env_var(slug, "DEPLOY_KEY")).message
        with pytest.raises(NotFound):
            await client.get_env_var(slug, "DEPLOY_KEY")
        with pytest.raises(NotFound):
            await client.delete_env_var(slug, "DEPLOY_KEY")


async def test_a_user_key_becomes_the_preferred_checkout_key_until_it_is_deleted() -> None:
    async with FakeCircleCI(seed=6, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug  # a GitHub project
        before = [k async for k in client.checkout_keys(slug)]
        assert before
        assert sum(bool(k.preferred) for k in before) == 1

        deploy = await client.create_checkout_key(slug, "deploy-key")
        user = await client.create_checkout_key(slug, "user-key")
        assert deploy.type is CheckoutKeyType.DEPLOY_KEY
        assert user.type is CheckoutKeyType.GITHUB_USER_KEY
        assert user.preferred
        assert some(user.public_key).startswith("ssh-ed25519 ")
        keys = {k.fingerprint: k for k in [k async for k in client.checkout_keys(slug)]}
        assert [k.fingerprint for k in keys.values() if k.preferred] == [user.fingerprint]
        assert deploy.fingerprint in keys
        assert not keys[deploy.fingerprint].preferred

        assert await client.get_checkout_key(slug, user.fingerprint) == user
        sha = [k async for k in client.checkout_keys(slug, digest="sha256")]
        by_sha = next(k for k in sha if k.public_key == user.public_key)
        assert by_sha.fingerprint.startswith("SHA256:")
        assert (await client.get_checkout_key(slug, by_sha.fingerprint)).public_key == (
            user.public_key
        )

        assert (await client.delete_checkout_key(slug, by_sha.fingerprint)).message
        with pytest.raises(NotFound):
            await client.get_checkout_key(slug, user.fingerprint)
        after = [k async for k in client.checkout_keys(slug)]
        assert len(after) == len(before) + 1
        assert sum(bool(k.preferred) for k in after) == 1


async def test_checkout_keys_are_refused_where_the_service_refuses_them() -> None:
    async with FakeCircleCI(seed=7, config=CONFIG) as fake, client_for(fake) as client:
        github, bitbucket, app = (p.slug for p in fake.world.projects)
        assert app.startswith("circleci/")
        assert [k async for k in client.checkout_keys(app)] == []
        with pytest.raises(BadRequest, match="GitHub App"):
            await client.create_checkout_key(app, "deploy-key")
        with pytest.raises(BadRequest, match="GitHub"):
            await client.create_checkout_key(bitbucket, "user-key")
        assert (await client.create_checkout_key(bitbucket, "deploy-key")).preferred
        with pytest.raises(NotFound):
            await client.get_checkout_key(github, "00:11:22")


async def test_a_settings_update_changes_only_what_it_names() -> None:
    async with FakeCircleCI(seed=8, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[1].slug
        before = await client.get_project_settings(slug)
        assert before.advanced is not None
        assert before.advanced.pr_only_branch_overrides == ["main"]

        wanted = ProjectSettings(
            advanced=AdvancedSettings(
                oss=not before.advanced.oss, pr_only_branch_overrides=["main", "release/*"]
            )
        )
        after = await client.update_project_settings(slug, wanted)
        assert after.advanced is not None
        assert after.advanced.oss is not before.advanced.oss
        assert after.advanced.pr_only_branch_overrides == ["main", "release/*"]
        unchanged = {"oss", "pr_only_branch_overrides"}
        for field in AdvancedSettings.__struct_fields__:
            if field not in unchanged:
                assert getattr(after.advanced, field) == getattr(before.advanced, field), field
        assert await client.get_project_settings(slug) == after
        with pytest.raises(NotFound):
            await client.get_project_settings("gh/acme-corp/no-such-repo")


async def test_an_org_slug_goes_into_the_path_segment_by_segment(serve: ServeApp) -> None:
    # The emulator routes projects' orgs by id only, so a small server records the path.
    seen: list[str] = []

    async def create(request: web.Request) -> web.Response:
        seen.append(request.rel_url.raw_path)
        body = await request.json()
        return web.json_response(
            {
                "slug": f"gh/acme corp/{body['name']}",
                "name": body["name"],
                "id": "5034460f-c7c4-4c43-9457-de07e2029e7b",
                "organization_name": "acme corp",
                "organization_slug": "gh/acme corp",
                "organization_id": "a5b3c5f1-1c5e-4a3e-8c6e-2b0f1e6d4a11",
                "vcs_info": {"vcs_url": "", "provider": "GitHub", "default_branch": "main"},
            }
        )

    app = web.Application()
    app.router.add_post("/organization/{vcs}/{org}/project", create)
    async with serve(app) as base, Client("t", base_url=base, retry=RETRY) as client:
        created = await client.create_project("gh/acme corp", "app")
    assert seen == ["/organization/gh/acme%20corp/project"]
    assert created.organization_slug == "gh/acme corp"
