"""Every route the emulator serves answers JSON that validates against CircleCI's spec.

The spec is read from ``AIOCIRCLECI_OPENAPI_SPEC`` or from
``../shared/reference/circleci-api-v2.openapi.json`` beside the repository. The
real service sends ``null`` where the spec does not say ``nullable`` (the last
page's ``next_page_token``, ``avatar_url``...), and the real service wins, so a
property that does not mention ``nullable`` also accepts ``null``; nothing else
is loosened.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_schema_validator._format import oas30_format_checker

from aiocircleci.testing import FakeCircleCI, Job, Workflow, WorldConfig
from aiocircleci.testing._api import all_routes

pytestmark = pytest.mark.anyio

TOKEN = "conformance-token"
_SPEC_ENV = "AIOCIRCLECI_OPENAPI_SPEC"
_DEFAULT_SPEC = (
    Path(__file__).resolve().parents[1].parent / "shared/reference/circleci-api-v2.openapi.json"
)


def _spec_path() -> Path | None:
    configured = os.environ.get(_SPEC_ENV)
    if configured:
        return Path(configured)
    return _DEFAULT_SPEC if _DEFAULT_SPEC.exists() else None


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = _spec_path()
    if path is None or not path.exists():
        pytest.skip(
            f"CircleCI OpenAPI spec not found: set {_SPEC_ENV} or place it at {_DEFAULT_SPEC}"
        )
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


# ------------------------------------------------------------ schema plumbing

_NULL_ONLY = {"type": "string", "nullable": True, "enum": [None]}


def _inline(node: Any, spec: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """Replace every local ``$ref`` by its target (a cycle becomes ``{}``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in stack:
                return {}
            target: Any = spec
            for part in ref[2:].split("/"):
                target = target[part]
            return _inline(target, spec, (*stack, ref))
        return {key: _inline(value, spec, stack) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, spec, stack) for item in node]
    return node


def allow_null(schema: Any) -> Any:
    """Let every property that does not mention ``nullable`` also be ``null``; nothing more."""
    if isinstance(schema, list):
        return [allow_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: allow_null(value) for key, value in schema.items() if key != "properties"}
    if isinstance(schema.get("properties"), dict):
        result["properties"] = {
            name: allow_null(prop)
            if "nullable" in prop
            else {"anyOf": [allow_null(prop), _NULL_ONLY]}
            for name, prop in schema["properties"].items()
        }
    return result


def _branchwise(schema: Any) -> Any:
    """Read ``additionalProperties: false`` beside ``anyOf``/``oneOf`` as meant per branch.

    ``update_env_var`` puts it next to ``anyOf`` with no ``properties`` of its own:
    read literally, no object at all can match (every key is "additional", yet each
    branch requires keys). Each branch carries its own ``additionalProperties:
    false``, so dropping the outer one loses nothing the spec meant.
    """
    if isinstance(schema, list):
        return [_branchwise(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _branchwise(value) for key, value in schema.items()}
    if (
        result.get("additionalProperties") is False
        and "properties" not in result
        and ("anyOf" in result or "oneOf" in result)
    ):
        del result["additionalProperties"]
    return result


def response_schema(spec: dict[str, Any], operation_id: str, status: int) -> dict[str, Any]:
    """The transformed JSON schema for ``operation_id`` answering ``status``."""
    for methods in spec["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                responses = operation["responses"]
                response = responses.get(str(status), responses.get("default"))
                if response is None:
                    raise AssertionError(f"{operation_id} declares no {status} nor default")
                response = _inline(response, spec)
                schema = response["content"]["application/json"]["schema"]
                return allow_null(_branchwise(copy.deepcopy(schema)))  # type: ignore[no-any-return]
    raise AssertionError(f"operation {operation_id} is not in the spec")


def validation_errors(schema: dict[str, Any], body: Any) -> list[str]:
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    problems = []
    for error in validator.iter_errors(body):
        # anyOf (from allow_null) hides the real reason in its first branch.
        while error.context:
            first = [e for e in error.context if list(e.relative_schema_path)[:1] == [0]]
            error = (first or error.context)[0]
        problems.append(f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
    return problems


def test_null_is_the_only_thing_allow_null_loosens() -> None:
    schema = allow_null(
        {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "state": {"type": "string", "enum": ["a", "b"]},
                "tag": {"type": "string", "nullable": False},
            },
            "required": ["name", "state"],
            "additionalProperties": False,
        }
    )
    assert validation_errors(schema, {"name": None, "state": None}) == []
    assert validation_errors(schema, {"name": "x", "state": "a", "tag": "t"}) == []
    assert validation_errors(schema, {"name": 1, "state": "a"})
    assert validation_errors(schema, {"name": "x", "state": "c"})
    assert validation_errors(schema, {"name": "x"})
    assert validation_errors(schema, {"name": "x", "state": "a", "extra": 1})
    assert validation_errors(schema, {"name": "x", "state": "a", "tag": None})
    assert validation_errors(schema, None)


def test_update_env_var_schema_admits_nothing_as_written(spec: dict[str, Any]) -> None:
    literal = _inline(spec["components"]["schemas"]["update_env_var"], spec)
    body = {
        "variable": "X",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "context_id": "5034460f-c7c4-4c43-9457-de07e2029e7b",
    }
    for candidate in (body, {"message": "ok"}, {}):
        assert validation_errors(literal, candidate)
    assert validation_errors(_branchwise(literal), body) == []
    assert validation_errors(_branchwise(literal), {**body, "extra": 1})


# ------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    json: Any = None
    params: dict[str, str] | None = None
    token: str | None = TOKEN


Case = Callable[[FakeCircleCI], Call]


def _slug(fake: FakeCircleCI, index: int = 0) -> str:
    return quote(fake.world.projects[index].slug, safe="/")


def _workflows(fake: FakeCircleCI) -> list[Workflow]:
    world = fake.world
    return [
        w
        for project in world.projects
        for pipeline in world.pipelines(project.slug)
        for w in world.workflows(pipeline.id)
    ]


def _workflow(fake: FakeCircleCI, *statuses: str) -> Workflow:
    return next(w for w in _workflows(fake) if w.status in statuses)


def _jobs(fake: FakeCircleCI) -> list[Job]:
    return [j for w in _workflows(fake) for j in fake.world.jobs(w.id)]


def _job(fake: FakeCircleCI, predicate: Callable[[Job], bool]) -> Job:
    return next(j for j in _jobs(fake) if predicate(j))


def _job_path(job: Job, form: str = "{slug}/job/{number}") -> str:
    return form.format(slug=quote(job.project_slug, safe="/"), number=job.number)


def _artifact_job(fake: FakeCircleCI) -> Job:
    return _job(fake, lambda j: bool(fake.world.artifacts(j)) and j.parallelism > 1)


def _test_job(fake: FakeCircleCI) -> Job:
    return _job(fake, lambda j: j.status == "failed" and bool(fake.world.tests(j)))


def _pipeline_id(fake: FakeCircleCI, state: str = "created") -> str:
    project = fake.world.projects[0]
    return next(p.id for p in fake.world.pipelines(project.slug) if p.state == state)


def _on_hold(fake: FakeCircleCI) -> tuple[Workflow, Job]:
    workflow = _workflow(fake, "on_hold")
    job = next(j for j in fake.world.jobs(workflow.id) if j.status == "on_hold")
    return workflow, job


def _org(fake: FakeCircleCI) -> str:
    return fake.world.organizations[0].id


def _context_id(fake: FakeCircleCI) -> str:
    return fake.world.contexts(_org(fake))[0].id


def _setup_key(fake: FakeCircleCI) -> str:
    project = fake.world.projects[0]
    setup = next(p for p in fake.world.pipelines(project.slug) if p.continuation_key)
    assert setup.continuation_key is not None
    return setup.continuation_key


def _workflow_name(fake: FakeCircleCI) -> str:
    project = fake.world.projects[0]
    for pipeline in fake.world.pipelines(project.slug, branch=project.default_branch):
        for workflow in fake.world.workflows(pipeline.id):
            if workflow.status == "success" and workflow.tag is None:
                return workflow.name
    raise AssertionError("no successful workflow on the default branch")


# One success case per operation; mutating cases run after the reads.
SUCCESS: dict[str, Case] = {
    "getCurrentUser": lambda f: Call("GET", "/me", 200),
    "getCollaborations": lambda f: Call("GET", "/me/collaborations", 200),
    "getUser": lambda f: Call("GET", f"/user/{f.world.user.id}", 200),
    "getProjectBySlug": lambda f: Call("GET", f"/project/{_slug(f, 2)}", 200),
    "listEnvVars": lambda f: Call("GET", f"/project/{_slug(f)}/envvar", 200),
    "getEnvVar": lambda f: Call("GET", f"/project/{_slug(f)}/envvar/NPM_TOKEN", 200),
    "listPipelines": lambda f: Call("GET", "/pipeline", 200, params={"org-slug": "gh/acme-corp"}),
    "listPipelinesForProject": lambda f: Call("GET", f"/project/{_slug(f)}/pipeline", 200),
    "listMyPipelines": lambda f: Call("GET", f"/project/{_slug(f)}/pipeline/mine", 200),
    "getPipelineById": lambda f: Call("GET", f"/pipeline/{_pipeline_id(f, 'errored')}", 200),
    "getPipelineByNumber": lambda f: Call("GET", f"/project/{_slug(f, 1)}/pipeline/3", 200),
    "getPipelineConfigById": lambda f: Call(
        "GET", f"/pipeline/{_pipeline_id(f, 'setup')}/config", 200
    ),
    "getPipelineValuesById": lambda f: Call("GET", f"/pipeline/{_pipeline_id(f)}/values", 200),
    "listWorkflowsByPipelineId": lambda f: Call(
        "GET", f"/pipeline/{_pipeline_id(f)}/workflow", 200
    ),
    "getWorkflowById": lambda f: Call("GET", f"/workflow/{_workflow(f, 'canceled').id}", 200),
    "listWorkflowJobs": lambda f: Call("GET", f"/workflow/{_on_hold(f)[0].id}/job", 200),
    "getJobDetails": lambda f: Call("GET", f"/project/{_job_path(_artifact_job(f))}", 200),
    "getJobArtifacts": lambda f: Call(
        "GET", f"/project/{_job_path(_artifact_job(f), '{slug}/{number}/artifacts')}", 200
    ),
    "getTests": lambda f: Call(
        "GET", f"/project/{_job_path(_test_job(f), '{slug}/{number}/tests')}", 200
    ),
    "getProjectWorkflowMetrics": lambda f: Call(
        "GET", f"/insights/{_slug(f)}/workflows", 200, params={"all-branches": "true"}
    ),
    "getProjectWorkflowRuns": lambda f: Call(
        "GET", f"/insights/{_slug(f)}/workflows/{_workflow_name(f)}", 200
    ),
    "getProjectWorkflowJobMetrics": lambda f: Call(
        "GET", f"/insights/{_slug(f)}/workflows/{_workflow_name(f)}/jobs", 200
    ),
    "getWorkflowSummary": lambda f: Call(
        "GET", f"/insights/{_slug(f)}/workflows/{_workflow_name(f)}/summary", 200
    ),
    "getProjectWorkflowTestMetrics": lambda f: Call(
        "GET", f"/insights/{_slug(f)}/workflows/{_workflow_name(f)}/test-metrics", 200
    ),
    "getAllInsightsBranches": lambda f: Call("GET", f"/insights/{_slug(f)}/branches", 200),
    "getFlakyTests": lambda f: Call("GET", f"/insights/{_slug(f)}/flaky-tests", 200),
    "getProjectWorkflowsPageData": lambda f: Call(
        "GET", f"/insights/pages/{_slug(f)}/summary", 200
    ),
    "getJobTimeseries": lambda f: Call(
        "GET", f"/insights/time-series/{_slug(f)}/workflows/{_workflow_name(f)}/jobs", 200
    ),
    "getOrgSummaryData": lambda f: Call("GET", "/insights/gh/acme-corp/summary", 200),
    "listContexts": lambda f: Call("GET", "/context", 200, params={"owner-id": _org(f)}),
    "getContext": lambda f: Call("GET", f"/context/{_context_id(f)}", 200),
    "listEnvironmentVariablesFromContext": lambda f: Call(
        "GET", f"/context/{_context_id(f)}/environment-variable", 200
    ),
    # Changes to the world from here on.
    "triggerPipeline": lambda f: Call(
        "POST", f"/project/{_slug(f)}/pipeline", 201, json={"branch": "feature/x"}
    ),
    "continuePipeline": lambda f: Call(
        "POST",
        "/pipeline/continue",
        200,
        json={"continuation-key": _setup_key(f), "configuration": "version: 2.1"},
    ),
    "approvePendingApprovalJobById": lambda f: Call(
        "POST",
        f"/workflow/{_on_hold(f)[0].id}/approve/{_on_hold(f)[1].approval_request_id}",
        202,
    ),
    "cancelWorkflow": lambda f: Call("POST", f"/workflow/{_workflow(f, 'running').id}/cancel", 202),
    "rerunWorkflow": lambda f: Call(
        "POST", f"/workflow/{_workflow(f, 'failed').id}/rerun", 202, json={"from_failed": True}
    ),
    "cancelJobByJobNumber": lambda f: Call(
        "POST",
        "/project/"
        + _job_path(_job(f, lambda j: j.status == "running" and j.number is not None))
        + "/cancel",
        200,
    ),
    "cancelJobByJobID": lambda f: Call(
        "POST", f"/jobs/{_job(f, lambda j: j.status == 'running').id}/cancel", 200
    ),
    "createEnvVar": lambda f: Call(
        "POST", f"/project/{_slug(f)}/envvar", 201, json={"name": "NEW_VAR", "value": "s3cr3t!"}
    ),
    "deleteEnvVar": lambda f: Call("DELETE", f"/project/{_slug(f)}/envvar/NEW_VAR", 200),
    "createContext": lambda f: Call(
        "POST",
        "/context",
        200,
        json={"name": "fresh", "owner": {"id": _org(f), "type": "organization"}},
    ),
    "addEnvironmentVariableToContext": lambda f: Call(
        "PUT", f"/context/{_context_id(f)}/environment-variable/FRESH", 200, json={"value": "v"}
    ),
    "deleteEnvironmentVariableFromContext": lambda f: Call(
        "DELETE", f"/context/{_context_id(f)}/environment-variable/FRESH", 200
    ),
    "deleteContext": lambda f: Call("DELETE", f"/context/{_context_id(f)}", 200),
}

_NO_SUCH = "00000000-0000-4000-8000-000000000000"

# Error answers, validated against the status the operation declares (or its default).
ERRORS: list[tuple[str, Case]] = [
    ("getCurrentUser", lambda f: Call("GET", "/me", 401, token=None)),
    ("getWorkflowById", lambda f: Call("GET", "/workflow/not-a-uuid", 400)),
    ("getWorkflowById", lambda f: Call("GET", f"/workflow/{_NO_SUCH}", 404)),
    ("getWorkflowById", lambda f: Call("GET", f"/workflow/{_NO_SUCH}", 401, token="wrong")),
    ("getPipelineById", lambda f: Call("GET", f"/pipeline/{_NO_SUCH}", 404)),
    ("getProjectBySlug", lambda f: Call("GET", "/project/gh/nobody/nothing", 404)),
    ("cancelJobByJobID", lambda f: Call("POST", f"/jobs/{_NO_SUCH}/cancel", 404)),
    ("cancelJobByJobID", lambda f: Call("POST", "/jobs/nope/cancel", 400)),
    ("getContext", lambda f: Call("GET", f"/context/{_NO_SUCH}", 404)),
    ("triggerPipeline", lambda f: Call("POST", f"/project/{_slug(f)}/pipeline", 400, json=[1])),
    (
        "rerunWorkflow",
        lambda f: Call(
            "POST", f"/workflow/{_workflow(f, 'success').id}/rerun", 400, json={"jobs": ["x"]}
        ),
    ),
]


def test_every_registered_route_has_a_conformance_case() -> None:
    registered = {route.operation_id for route in all_routes()}
    assert registered == set(SUCCESS)
    assert {name for name, _ in ERRORS} <= registered


def test_every_registered_route_is_in_the_spec(spec: dict[str, Any]) -> None:
    in_spec = {
        (method.upper(), path, operation["operationId"])
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for route in all_routes():
        assert (route.method, route.path, route.operation_id) in in_spec, route


async def _run(
    session: aiohttp.ClientSession, fake: FakeCircleCI, call: Call
) -> tuple[int, Any, str]:
    headers = {"Accept": "application/json"}
    if call.token is not None:
        headers["Circle-Token"] = call.token
    async with session.request(
        call.method,
        fake.base_url + call.path,
        json=call.json,
        params=call.params,
        headers=headers,
    ) as response:
        text = await response.text()
        assert response.content_type == "application/json", (call, text)
        return response.status, json.loads(text), text


async def test_every_route_answers_json_that_the_spec_accepts(spec: dict[str, Any]) -> None:
    config = WorldConfig(projects=3, pipelines_per_project=12, max_artifact_size=256)
    problems: list[str] = []
    async with (
        FakeCircleCI(seed=7, token=TOKEN, config=config) as fake,
        aiohttp.ClientSession() as session,
    ):
        for operation_id, case in [*SUCCESS.items(), *ERRORS]:
            call = case(fake)
            status, body, text = await _run(session, fake, call)
            if status != call.status:
                problems.append(f"{operation_id}: {call} answered {status}: {text[:300]}")
                continue
            for error in validation_errors(response_schema(spec, operation_id, status), body):
                problems.append(f"{operation_id} {status}: {error}")
        answered = {r.operation for r in fake.api_requests if r.status and r.status < 300}
    assert not problems, "\n".join(problems)
    assert answered == set(SUCCESS)
