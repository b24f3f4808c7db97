"""Walking a whole seeded world through the API, page by page, finds exactly the world.

Raw aiohttp for now; the client's own walk of the emulator lives with the client.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from aiocircleci.testing import FakeCircleCI, WorldConfig

pytestmark = pytest.mark.anyio

TOKEN = "listing-token"
CONFIG = WorldConfig(
    projects=3,
    pipelines_per_project=7,
    workflows_per_pipeline=4,
    jobs_per_workflow=5,
    artifacts_per_job=4,
    max_parallelism=3,
    max_artifact_size=20_000,
)


async def _collect(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every item of a paginated list; fails on a repeated token instead of looping."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    token: str | None = None
    while True:
        query = dict(params or {})
        if token is not None:
            query["page-token"] = token
        async with session.get(url, params=query) as response:
            assert response.status == 200, (url, await response.text())
            body = await response.json()
        items.extend(body["items"])
        token = body.get("next_page_token")  # the live API may leave it out
        if token is None:
            return items
        assert token not in seen, f"{url} repeated a page token"
        seen.add(token)


async def test_listing_the_whole_world_across_pages_finds_every_artifact() -> None:
    async with (
        FakeCircleCI(seed=31, token=TOKEN, config=CONFIG, page_size=3) as fake,
        aiohttp.ClientSession(headers={"Circle-Token": TOKEN}) as session,
    ):
        api = fake.base_url
        async with session.get(f"{api}/me/collaborations") as response:
            orgs = await response.json()
        org_pipelines = await asyncio.gather(
            *(_collect(session, f"{api}/pipeline", {"org-slug": org["slug"]}) for org in orgs)
        )
        slugs = sorted({p["project_slug"] for pipelines in org_pipelines for p in pipelines})
        assert any(slug.startswith("circleci/") for slug in slugs)

        projects = []
        for slug in slugs:
            async with session.get(f"{api}/project/{quote(slug, safe='/')}") as response:
                projects.append(await response.json())
        assert [p["slug"] for p in projects] == slugs

        pipelines_of = await asyncio.gather(
            *(_collect(session, f"{api}/project/{quote(s, safe='/')}/pipeline") for s in slugs)
        )
        pipelines = [p for group in pipelines_of for p in group]
        assert len(pipelines) == 21
        for group in pipelines_of:
            numbers = [p["number"] for p in group]
            assert numbers == sorted(numbers, reverse=True)

        workflows_of = await asyncio.gather(
            *(_collect(session, f"{api}/pipeline/{p['id']}/workflow") for p in pipelines)
        )
        workflows = [w for group in workflows_of for w in group]
        jobs_of = await asyncio.gather(
            *(_collect(session, f"{api}/workflow/{w['id']}/job") for w in workflows)
        )
        jobs = [j for group in jobs_of for j in group]
        numbered = [j for j in jobs if "job_number" in j]
        artifacts_of = await asyncio.gather(
            *(
                _collect(
                    session,
                    f"{api}/project/{quote(j['project_slug'], safe='/')}"
                    f"/{j['job_number']}/artifacts",
                )
                for j in numbered
            )
        )
        listed = {
            (job["project_slug"], job["job_number"], a["node_index"], a["path"], a["url"])
            for job, group in zip(numbered, artifacts_of, strict=True)
            for a in group
        }

        world = fake.world
        expected = {
            (a.project_slug, a.job_number, a.node_index, a.path, a.url)
            for a in world.iter_artifacts()
        }
        assert listed == expected
        assert len(expected) > 300
        assert {w["id"] for w in workflows} == {
            w.id for s in slugs for p in world.pipelines(s) for w in world.workflows(p.id)
        }
        assert sorted(j["id"] for j in jobs) == sorted(
            j.id for w in workflows for j in world.jobs(w["id"])
        )

        # Every kind of list took more than one page somewhere.
        with_token = Counter(
            r.operation for r in fake.api_requests if any(k == "page-token" for k, _ in r.query)
        )
        for operation in (
            "listPipelines",
            "listPipelinesForProject",
            "listWorkflowsByPipelineId",
            "listWorkflowJobs",
            "getJobArtifacts",
        ):
            assert with_token[operation] > 0, operation

        # And what was listed downloads to the bytes the world promises.
        async with aiohttp.ClientSession() as plain:
            for artifact in list(world.iter_artifacts())[::40]:
                async with plain.get(
                    artifact.url, headers={"Circle-Token": TOKEN}, allow_redirects=False
                ) as response:
                    body = await response.read()
                    location = response.headers.get("Location")
                if location is not None:  # HTML is served in place, the rest redirects
                    async with plain.get(location) as response:
                        body = await response.read()
                digest = hashlib.sha256(body).hexdigest()
                assert digest == artifact.sha256, artifact.path
