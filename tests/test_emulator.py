"""The emulator's API: auth, error bodies, pagination, consistency, determinism."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import pytest

import aiocircleci.testing as testing
from aiocircleci.testing import FakeCircleCI, World, WorldConfig

pytestmark = pytest.mark.anyio

TOKEN = "test-token"
SMALL = WorldConfig(projects=3, pipelines_per_project=9, max_artifact_size=2048)


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Circle-Token": TOKEN})


async def _get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.json()


def test_exported_members_are_deliberate_and_sorted() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert hasattr(testing, name), name
    assert {"FakeCircleCI", "World", "WorldConfig", "Faults", "RequestRecord"} <= set(
        testing.__all__
    )


@pytest.mark.parametrize("shapes", ["live", "spec"])
async def test_each_auth_form_is_accepted_and_anything_else_gets_401_with_a_message(
    shapes: Literal["live", "spec"],
) -> None:
    basic = base64.b64encode(f"{TOKEN}:".encode()).decode()
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL, shapes=shapes) as fake:
        url = fake.base_url + "/me"
        async with aiohttp.ClientSession() as session:
            for headers in (
                {"Circle-Token": TOKEN},
                {"Authorization": f"Basic {basic}"},
                {"Authorization": f"Bearer {TOKEN}"},
            ):
                status, body = await _get(session, url, headers=headers)
                assert (status, body["login"]) == (200, fake.world.user.login)
            login = b'{"message":"You must log in first."}'
            # The live API answers a missing token with JSON labelled text/plain,
            # and a wrong one with plain text; the spec says JSON for both.
            for headers, live in (
                ({}, login),
                ({"Circle-Token": "not-the-token"}, b"Invalid token provided."),
                ({"Authorization": "Basic !!!"}, login),
                ({"Authorization": f"Token {TOKEN}"}, login),
            ):
                async with session.get(url, headers=headers) as response:
                    assert response.status == 401
                    body = await response.read()
                    kind = response.content_type
                if shapes == "live":
                    assert (kind, body) == ("text/plain", live)
                else:
                    assert (kind, json.loads(body)) == (
                        "application/json",
                        {"message": "You must log in first."},
                    )
            # The query-string token stopped working for good reasons; no URL carries it.
            async with session.get(url, params={"circle-token": TOKEN}) as response:
                assert response.status == 401


async def test_unknown_ids_get_404_with_a_message() -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake, _session() as session:
        slug = fake.world.projects[0].slug
        for path in (
            f"/pipeline/{missing}",
            f"/workflow/{missing}",
            f"/workflow/{missing}/job",
            "/project/gh/no-such-org/no-such-repo",
            f"/project/{slug}/pipeline/99999",
            f"/project/{slug}/job/1",
            f"/project/{slug}/999999/artifacts",
            "/no/such/route",
        ):
            status, body = await _get(session, fake.base_url + path)
            assert status == 404, path
            assert set(body) == {"message"}, path
            assert body["message"], path


async def test_bad_bodies_and_malformed_ids_get_400_with_a_message() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake, _session() as session:
        trigger = f"{fake.base_url}/project/{fake.world.projects[0].slug}/pipeline"
        for data in (b"{not json", b'{"branch": 5}', b'{"branch": "a", "tag": "b"}', b"[1]"):
            async with session.post(
                trigger, data=data, headers={"Content-Type": "application/json"}
            ) as response:
                body = await response.json()
                assert response.status == 400, data
                assert set(body) == {"message"}
                assert body["message"]
        status, body = await _get(session, fake.base_url + "/workflow/not-a-uuid")
        assert (status, body) == (400, {"message": "Workflow ID provided is invalid."})
        async with session.post(fake.base_url + "/pipeline/continue", json={}) as response:
            assert response.status == 400
        assert len(fake.world.pipelines(fake.world.projects[0].slug)) == 9


async def test_slugs_accept_long_vcs_names_and_escaped_slashes() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake, _session() as session:
        project = fake.world.projects[0]
        for form in ("github/acme-corp/web-app", quote(project.slug, safe="")):
            status, body = await _get(session, f"{fake.base_url}/project/{form}")
            assert (status, body["slug"]) == (200, project.slug)


async def test_pages_have_a_fixed_size_and_end_with_a_null_token() -> None:
    config = WorldConfig(projects=1, pipelines_per_project=45)
    async with FakeCircleCI(seed=2, token=TOKEN, config=config) as fake, _session() as session:
        url = f"{fake.base_url}/project/{fake.world.projects[0].slug}/pipeline"
        numbers: list[int] = []
        sizes: list[int] = []
        tokens: list[str] = []
        token: str | None = None
        while True:
            params = {"page-token": token} if token else {}
            status, body = await _get(session, url, params=params)
            assert status == 200
            numbers += [item["number"] for item in body["items"]]
            sizes.append(len(body["items"]))
            token = body["next_page_token"]
            if token is None:
                break
            tokens.append(token)
        assert sizes == [20, 20, 5]
        assert numbers == list(range(45, 0, -1))
        assert all(not t.isdigit() and "20" not in t for t in tokens)  # opaque
        # A made-up token, or one from another list (the same filters must come
        # back with it): the spec says 400, the live API answers 404 Not Found.
        refused = 400 if fake.shapes == "spec" else 404
        for params in ({"page-token": "bogus"}, {"page-token": tokens[0], "branch": "main"}):
            status, body = await _get(session, url, params=params)
            assert status == refused
            assert body["message"]
            if fake.shapes == "live":
                assert body == {"message": "Not Found"}


async def test_a_pipeline_triggered_between_pages_does_not_shift_later_pages() -> None:
    config = WorldConfig(projects=1, pipelines_per_project=30)
    async with FakeCircleCI(seed=3, token=TOKEN, config=config) as fake, _session() as session:
        slug = fake.world.projects[0].slug
        url = f"{fake.base_url}/project/{slug}/pipeline"
        status, first = await _get(session, url)
        async with session.post(url, json={"branch": "main"}) as response:
            created = await response.json()
            assert response.status == 201
        assert created["number"] == 31
        status, second = await _get(session, url, params={"page-token": first["next_page_token"]})
        assert [p["number"] for p in second["items"]] == list(range(10, 0, -1))
        status, again = await _get(session, url)
        assert again["items"][0]["id"] == created["id"]


async def test_a_triggered_pipeline_is_consistent_everywhere() -> None:
    async with FakeCircleCI(seed=4, token=TOKEN, config=SMALL) as fake, _session() as session:
        project = fake.world.projects[1]
        url = f"{fake.base_url}/project/{project.slug}/pipeline"
        async with session.post(
            url, json={"branch": "feature/y", "parameters": {"deploy": True}}
        ) as response:
            assert response.status == 201
            created = await response.json()
        assert created["number"] == 10
        assert created["state"] == "created"
        world_pipeline = fake.world.pipeline(created["id"])
        assert fake.world.pipelines(project.slug)[0] == world_pipeline
        status, by_number = await _get(session, f"{url}/10")
        status, by_id = await _get(session, f"{fake.base_url}/pipeline/{created['id']}")
        assert by_number == by_id
        assert by_id["vcs"]["branch"] == "feature/y"
        assert by_id["trigger"]["actor"]["login"] == fake.world.user.login
        assert by_id["trigger_parameters"] == {"deploy": True}
        status, mine = await _get(session, f"{url}/mine")
        assert mine["items"][0]["id"] == created["id"]
        status, workflows = await _get(
            session, f"{fake.base_url}/pipeline/{created['id']}/workflow"
        )
        assert [w["status"] for w in workflows["items"]] == ["running", "running"]
        org = project.organization.slug
        status, org_list = await _get(
            session, f"{fake.base_url}/pipeline", params={"org-slug": org}
        )
        assert org_list["items"][0]["id"] == created["id"]


async def test_cancel_rerun_and_approve_change_the_world_consistently() -> None:
    async with FakeCircleCI(seed=5, token=TOKEN, config=SMALL) as fake, _session() as session:
        world = fake.world
        workflows = [
            w
            for p in world.projects
            for pipeline in world.pipelines(p.slug)
            for w in world.workflows(pipeline.id)
        ]
        on_hold = next(w for w in workflows if w.status == "on_hold")
        hold = next(j for j in world.jobs(on_hold.id) if j.status == "on_hold")
        url = f"{fake.base_url}/workflow/{on_hold.id}/approve/{hold.approval_request_id}"
        async with session.post(url) as response:
            assert (response.status, await response.json()) == (202, {"message": "Accepted."})
        assert world.job(hold.id).status == "success"
        assert world.job(hold.id).approved_by == world.user.id
        assert world.workflow(on_hold.id).status == "running"
        async with session.post(url) as response:
            assert response.status == 400  # no longer on hold

        async with session.post(f"{fake.base_url}/workflow/{on_hold.id}/cancel") as response:
            assert response.status == 202
        status, body = await _get(session, f"{fake.base_url}/workflow/{on_hold.id}")
        assert body["status"] == "canceled"
        assert body["canceled_by"] == world.user.id
        status, jobs = await _get(session, f"{fake.base_url}/workflow/{on_hold.id}/job")
        assert "running" not in {j["status"] for j in jobs["items"]}

        failed = next(w for w in workflows if w.status == "failed")
        rerun = f"{fake.base_url}/workflow/{failed.id}/rerun"
        async with session.post(rerun, json={"from_failed": True}) as response:
            assert response.status == 202
            new_id = (await response.json())["workflow_id"]
        new = world.workflow(new_id)
        assert (new.name, new.pipeline_id, new.status) == (
            failed.name,
            failed.pipeline_id,
            "running",
        )
        status, listed = await _get(
            session, f"{fake.base_url}/pipeline/{failed.pipeline_id}/workflow"
        )
        assert listed["items"][-1]["id"] == new_id
        running = next(j for j in world.jobs(new_id) if j.status == "running")
        status, details = await _get(
            session, f"{fake.base_url}/project/{running.project_slug}/job/{running.number}"
        )
        assert details["latest_workflow"]["id"] == new_id


async def test_jobs_include_approval_jobs_and_jobs_without_a_number() -> None:
    async with FakeCircleCI(seed=6, token=TOKEN, config=SMALL) as fake, _session() as session:
        world = fake.world
        jobs = [
            j
            for p in world.projects
            for pipeline in world.pipelines(p.slug)
            for w in world.workflows(pipeline.id)
            for j in world.jobs(w.id)
        ]
        assert any(j.type == "approval" and j.number is None for j in jobs)
        assert any(j.type == "build" and j.number is None for j in jobs)
        numbered_approval = next(j for j in jobs if j.type == "approval" and j.number is not None)
        url = f"{fake.base_url}/project/{numbered_approval.project_slug}/job"
        status, body = await _get(session, f"{url}/{numbered_approval.number}")
        assert status == 404
        assert body["message"]
        unnumbered = next(j for j in jobs if j.number is None)
        status, listing = await _get(
            session, f"{fake.base_url}/workflow/{unnumbered.workflow_id}/job"
        )
        item = next(i for i in listing["items"] if i["id"] == unnumbered.id)
        assert "job_number" not in item


async def test_every_workflow_status_and_pipeline_state_appears() -> None:
    world = World(seed=8, config=WorldConfig(projects=1, pipelines_per_project=12))
    pipelines = world.pipelines(world.projects[0].slug)
    assert {p.state for p in pipelines} >= {
        "created",
        "errored",
        "setup",
        "setup-pending",
        "pending",
    }
    errored = next(p for p in pipelines if p.state == "errored")
    assert errored.errors
    assert world.workflows(errored.id) == []
    statuses = {w.status for p in pipelines for w in world.workflows(p.id)}
    spec_statuses = {"success", "running", "not_run", "failed", "error", "failing"}
    assert statuses >= spec_statuses | {"on_hold", "canceled", "unauthorized"}
    assert {p.tag is not None for p in pipelines} == {True, False}


def test_the_same_seed_makes_the_same_world_and_another_seed_another() -> None:
    config = WorldConfig(projects=2, pipelines_per_project=6, max_artifact_size=4096)

    def snapshot(world: World) -> bytes:
        artifacts = [
            (a.path, a.node_index, a.size, a.sha256, a.url) for a in world.iter_artifacts()
        ]
        pipelines = [world.pipelines(p.slug) for p in world.projects]
        jobs = [world.job(a.job_id) for a in world.iter_artifacts()]
        return json.dumps([artifacts, repr(pipelines), repr(jobs)]).encode()

    assert snapshot(World(seed=11, config=config)) == snapshot(World(seed=11, config=config))
    assert snapshot(World(seed=11, config=config)) != snapshot(World(seed=12, config=config))


async def test_two_servers_with_the_same_seed_answer_byte_for_byte_alike() -> None:
    async def crawl(fake: FakeCircleCI) -> list[bytes]:
        bodies: list[bytes] = []
        async with _session() as session:
            paths = ["/me", "/me/collaborations"]
            for project in fake.world.projects:
                slug = project.slug
                paths += [
                    f"/project/{slug}",
                    f"/project/{slug}/pipeline",
                    f"/insights/{slug}/workflows",
                ]
                for pipeline in fake.world.pipelines(slug)[:3]:
                    paths += [f"/pipeline/{pipeline.id}", f"/pipeline/{pipeline.id}/workflow"]
                    for workflow in fake.world.workflows(pipeline.id):
                        paths.append(f"/workflow/{workflow.id}/job")
                        for job in fake.world.jobs(workflow.id):
                            if job.number is not None:
                                paths.append(f"/project/{slug}/{job.number}/artifacts")
            for path in paths:
                async with session.get(fake.base_url + path) as response:
                    bodies.append(await response.read())
            artifact = next(a for a in fake.world.iter_artifacts() if a.size > 100)
            async with session.get(artifact.url) as response:
                bodies.append(await response.read())
        origin = fake.artifact_origin.encode()
        return [body.replace(origin, b"ARTIFACTS") for body in bodies]

    async with FakeCircleCI(seed=21, token=TOKEN, config=SMALL) as one:
        first = await crawl(one)
    async with FakeCircleCI(seed=21, token=TOKEN, config=SMALL) as two:
        second = await crawl(two)
    assert len(first) > 50
    assert first == second
    assert hashlib.sha256(first[-1]).hexdigest() == next(
        a.sha256 for a in World(seed=21, config=SMALL).iter_artifacts() if a.size > 100
    )


def test_a_background_thread_serves_synchronous_code() -> None:
    with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake:
        request = urllib.request.Request(fake.base_url + "/me", headers={"Circle-Token": TOKEN})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["id"] == fake.world.user.id
        assert fake.requests[-1].status == 200
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url


async def test_the_log_records_route_class_operation_headers_and_status() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake, _session() as session:
        await _get(session, fake.base_url + "/me/collaborations", params={"x": "1"})
        record = fake.requests[-1]
        assert record.route_class is testing.RouteClass.API
        assert record.operation == "getCollaborations"
        assert (record.method, record.path, record.query) == (
            "GET",
            "/api/v2/me/collaborations",
            (("x", "1"),),
        )
        assert record.header("circle-token") == TOKEN
        assert record.status == 200
        assert record.faults == ()
        assert record.bytes_sent > 0


async def test_project_and_context_env_vars_can_be_listed_created_and_deleted() -> None:
    async with FakeCircleCI(seed=1, token=TOKEN, config=SMALL) as fake, _session() as session:
        slug = fake.world.projects[0].slug
        url = f"{fake.base_url}/project/{slug}/envvar"
        async with session.post(url, json={"name": "API_KEY", "value": "abcdef123"}) as response:
            assert (response.status, await response.json()) == (
                201,
                {"name": "API_KEY", "value": "xxxxf123"},
            )
        status, listed = await _get(session, url)
        assert {"name": "API_KEY", "value": "xxxxf123"} in listed["items"]
        async with session.delete(f"{url}/API_KEY") as response:
            assert response.status == 200
        status, _ = await _get(session, f"{url}/API_KEY")
        assert status == 404

        org = fake.world.organizations[0]
        async with session.post(
            fake.base_url + "/context", json={"name": "new-ctx", "owner": {"slug": org.slug}}
        ) as response:
            context = await response.json()
        assert fake.world.context(context["id"]).name == "new-ctx"
        env = f"{fake.base_url}/context/{context['id']}/environment-variable"
        async with session.put(f"{env}/SECRET", json={"value": "v"}) as response:
            assert (await response.json())["variable"] == "SECRET"
        status, listed = await _get(session, env)
        assert [item["variable"] for item in listed["items"]] == ["SECRET"]
        status, contexts = await _get(
            session, fake.base_url + "/context", params={"owner-slug": org.slug}
        )
        assert "new-ctx" in {c["name"] for c in contexts["items"]}
        async with session.delete(f"{fake.base_url}/context/{context['id']}") as response:
            assert response.status == 200
        status, _ = await _get(session, f"{fake.base_url}/context/{context['id']}")
        assert status == 404
