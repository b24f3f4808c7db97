"""A property of the decoding policy, on real emulator bodies served back to the client.

Drop any field a model does not require from an emulator response, or set it to
``null``, and the call still succeeds and still finds the same entities. Also:
the raw view exists for every operation, and a ``DecodeError`` says where.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci import Client, DecodeError, DecodeWarning, Limits
from aiocircleci.models import (
    Artifact,
    Collaboration,
    FlakyTests,
    Job,
    JobDetails,
    Page,
    Pipeline,
    Project,
    User,
    Workflow,
    WorkflowRun,
    WorkflowSummary,
)
from aiocircleci.testing import FakeCircleCI, WorldConfig

from . import _apitable
from .conftest import some

pytestmark = pytest.mark.anyio

FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
CONFIG = WorldConfig(projects=2, pipelines_per_project=3, jobs_per_workflow=2, tests_per_job=3)
SLUG = "gh/acme-corp/web-app"

Call = Callable[[Client], Awaitable[Any]]


class Operation(msgspec.Struct, frozen=True):
    name: str
    type: Any  # what the body decodes to
    call: Call  # the typed call, against an app that serves the body at any path
    listing: bool = False


def _list(paginator: Any) -> Awaitable[Any]:
    result: Awaitable[Any] = paginator.collect()
    return result


OPERATIONS = [
    Operation("me", User, lambda c: c.me()),
    Operation("collaborations", list[Collaboration], lambda c: c.collaborations()),
    Operation("get_project", Project, lambda c: c.get_project(SLUG)),
    Operation("get_pipeline", Pipeline, lambda c: c.get_pipeline("p")),
    Operation("pipelines", Pipeline, lambda c: _list(c.pipelines(SLUG)), listing=True),
    Operation("get_workflow", Workflow, lambda c: c.get_workflow("w")),
    Operation("workflow_jobs", Job, lambda c: _list(c.workflow_jobs("w")), listing=True),
    Operation("get_job", JobDetails, lambda c: c.get_job(SLUG, 1)),
    Operation("job_artifacts", Artifact, lambda c: _list(c.job_artifacts(SLUG, 1)), listing=True),
    Operation(
        "workflow_metrics", WorkflowSummary, lambda c: _list(c.workflow_metrics(SLUG)), listing=True
    ),
    Operation(
        "workflow_runs", WorkflowRun, lambda c: _list(c.workflow_runs(SLUG, "w")), listing=True
    ),
    Operation("flaky_tests", FlakyTests, lambda c: c.flaky_tests(SLUG)),
]


async def _bodies() -> dict[str, Any]:
    """One live-shaped emulator body per operation, fetched through ``client.raw``."""
    async with (
        FakeCircleCI(seed=4, config=CONFIG, shapes="live") as fake,
        Client(fake.token, base_url=fake.base_url, limits=FAST) as client,
    ):
        world = fake.world
        project = world.projects[0]
        pipeline = world.pipelines(project.slug)[0]
        workflow = world.workflows(pipeline.id)[0]
        job = next(
            j
            for p in world.pipelines(project.slug)
            for w in world.workflows(p.id)
            for j in world.jobs(w.id)
            if j.number is not None and j.started_at is not None and world.artifacts(j)
        )
        raw = client.raw
        bodies: dict[str, Any] = {
            "me": await raw.me(),
            "collaborations": await raw.collaborations(),
            "get_project": await raw.get_project(project.slug),
            "get_pipeline": await raw.get_pipeline(pipeline.id),
            "pipelines": await raw.pipelines(project.slug).collect(),
            "get_workflow": await raw.get_workflow(workflow.id),
            "workflow_jobs": await raw.workflow_jobs(workflow.id).collect(),
            "get_job": await raw.get_job(project.slug, some(job.number)),
            "job_artifacts": await raw.job_artifacts(project.slug, some(job.number)).collect(),
            "workflow_metrics": await raw.workflow_metrics(project.slug).collect(),
            "workflow_runs": await raw.workflow_runs(project.slug, workflow.name).collect(),
            "flaky_tests": await raw.flaky_tests(project.slug),
        }
    for op in OPERATIONS:
        if op.listing:
            bodies[op.name] = {"items": bodies[op.name], "next_page_token": None}
    return bodies


Path = tuple[str | int, ...]


def _optional_paths(info: mi.Type, value: Any, at: Path = ()) -> list[Path]:
    """Every path in ``value`` to a field its model does not require."""
    found: list[Path] = []
    if isinstance(info, mi.UnionType):
        for option in info.types:
            if isinstance(option, mi.StructType) and isinstance(value, dict):
                return _optional_paths(option, value, at)
            if isinstance(option, mi.ListType) and isinstance(value, list):
                return _optional_paths(option, value, at)
        return found
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        for f in info.fields:
            if f.encode_name in value:
                if not f.required:
                    found.append((*at, f.encode_name))
                found += _optional_paths(f.type, value[f.encode_name], (*at, f.encode_name))
    elif isinstance(info, mi.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            found += _optional_paths(info.item_type, item, (*at, index))
    return found


def _body_type(op: Operation) -> Any:
    item: Any = op.type
    return Page[item] if op.listing else item


def _identities(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    plain = msgspec.to_builtins(items)
    return [
        (i.get("id"), i.get("slug"), i.get("name"), i.get("path")) if isinstance(i, dict) else i
        for i in plain
    ]


def _mutated(body: Any, path: Path, drop: bool) -> Any:
    copy = msgspec.json.decode(msgspec.json.encode(body))
    node = copy
    for step in path[:-1]:
        node = node[step]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = None
    return copy


async def _call_with(body: Any, op: Operation) -> Any:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        async with Client("t", base_url=base, limits=FAST) as client:
            return await op.call(client)
    finally:
        await server.close()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def bodies() -> dict[str, Any]:
    return await _bodies()


def test_every_operation_has_an_optional_field_to_mutate() -> None:
    assert len({op.name for op in OPERATIONS}) == len(OPERATIONS)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_dropping_or_nulling_any_field_a_model_does_not_require_keeps_the_call_working(
    bodies: dict[str, Any], data: st.DataObject
) -> None:
    op = data.draw(st.sampled_from(OPERATIONS), label="operation")
    body = bodies[op.name]
    paths = _optional_paths(mi.type_info(_body_type(op)), body)
    assert paths, f"{op.name}: nothing optional in {body!r:.200}"
    path = data.draw(st.sampled_from(paths), label="path")
    drop = data.draw(st.booleans(), label="drop")
    original = await _call_with(body, op)
    changed = await _call_with(_mutated(body, path, drop), op)
    if path[-1] in ("name", "slug", "id", "path"):
        # A non-identity field that shares an identity's name (a pipeline's vcs.branch...).
        assert len(_identities(changed)) == len(_identities(original))
    else:
        assert _identities(changed) == _identities(original)


async def test_the_raw_view_has_every_operation_and_answers_plain_json(
    bodies: dict[str, Any],
) -> None:
    async with Client("t", base_url="http://127.0.0.1:9/api/v2") as client:
        raw = client.raw
        names = [name for _, name, _, _ in _apitable.operations()]
        assert len(names) == 113
        for name in names:
            method = getattr(raw, name)
            assert method.__self__ is raw, name
            assert method.__func__ is getattr(Client, name), name
    for op in OPERATIONS:
        assert isinstance(bodies[op.name], dict | list)


async def test_a_decode_error_names_method_endpoint_path_and_value_but_never_the_token() -> None:
    token = "very-secret-token-value"
    body = {"id": "p1", "number": 3, "project_slug": SLUG, "created_at": f"not a time {token}"}

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        async with Client(token, base_url=base, limits=FAST) as client:
            with pytest.raises(DecodeError) as info:
                await client.get_pipeline("p1")
    finally:
        await server.close()
    error = info.value
    text = str(error)
    assert "Client.get_pipeline (GET /pipeline/{pipeline-id})" in text
    assert error.path == "$.created_at"
    assert error.excerpt.startswith('"not a time ****')
    assert token not in text + error.excerpt + repr(error)
    assert SLUG not in text  # other fields of the body are not quoted


async def _decode_served(body: Any, call: Call, *, strict: bool = False) -> Any:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        async with Client("t", base_url=base, limits=FAST, strict=strict) as client:
            return await call(client)
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00+00:00"),
        ("2026-11-01T10:00:00.123Z", "2026-11-01T10:00:00.123000+00:00"),
        ("2026-11-01T10:00:00.123456789Z", "2026-11-01T10:00:00.123457+00:00"),
        ("2026-11-01T12:00:00+02:00", "2026-11-01T12:00:00+02:00"),
        ("2026-11-01T05:00:00.5-05:00", "2026-11-01T05:00:00.500000-05:00"),
    ],
)
async def test_timestamps_decode_with_or_without_fractions_and_with_z_or_an_offset(
    sent: str, expected: str
) -> None:
    body = {"id": "p1", "number": 1, "project_slug": SLUG, "created_at": sent}
    pipeline = await _decode_served(body, lambda c: c.get_pipeline("p1"))
    assert pipeline.created_at.isoformat() == expected


async def test_strict_mode_refuses_a_null_list_and_a_bad_item_that_tolerance_accepts() -> None:
    good = {"id": "p1", "number": 1, "project_slug": SLUG, "created_at": "2026-11-01T10:00:00Z"}
    nulled = {**good, "errors": None}
    tolerant = await _decode_served(nulled, lambda c: c.get_pipeline("p1"))
    assert tolerant.errors == []
    with pytest.raises(DecodeError) as info:
        await _decode_served(nulled, lambda c: c.get_pipeline("p1"), strict=True)
    assert info.value.path == "$.errors"

    page = {"items": [good, {**good, "id": "p2", "number": "two"}], "next_page_token": None}
    with pytest.raises(DecodeError) as page_error:
        await _decode_served(page, lambda c: _list(c.pipelines(SLUG)), strict=True)
    assert page_error.value.path == "$.items[1].number"
    assert "Client.pipelines (GET /project/{project-slug}/pipeline)" in str(page_error.value)


async def test_a_bare_list_skips_the_item_that_does_not_decode_and_keeps_the_others() -> None:
    orgs = [{"name": "a", "vcs_type": "github"}, {"vcs_type": "github"}, {"name": "c"}]
    with pytest.warns(DecodeWarning, match=r"Client\.collaborations .*\$\[1\]"):
        found = await _decode_served(orgs, lambda c: c.collaborations())
    assert [c.name for c in found] == ["a", "c"]
    with pytest.raises(DecodeError):
        await _decode_served(orgs, lambda c: c.collaborations(), strict=True)
