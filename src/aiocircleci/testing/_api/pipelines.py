"""Pipelines: the project and org-wide lists, lookups, config, values, trigger, continue."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from .._entities import Pipeline, Project
from .._world import WorldError
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso
from .projects import project_by_parts, project_of

__all__ = ["ROUTES", "pipeline_of", "render_pipeline"]

# Pipelines are frozen and rendered on every list page, so each one is encoded
# once; the cache entry is valid for as long as it refers to the same value.
_RENDERED: dict[str, tuple[Pipeline, msgspec.Raw]] = {}


def pipeline_of(call: ApiCall, name: str = "pipeline-id") -> Pipeline:
    pipeline_id = call.uuid_param(name, "pipeline-id")
    return find(lambda: call.world.pipeline(pipeline_id), "Pipeline not found")


def render_pipeline(pipeline: Pipeline, project: Project) -> msgspec.Raw:
    """The pipeline as the API shows it, encoded once per pipeline value."""
    cached = _RENDERED.get(pipeline.id)
    if cached is not None and cached[0] is pipeline:
        return cached[1]
    vcs: dict[str, Any] = {
        "provider_name": "GitHub" if project.provider == "CircleCI" else project.provider,
        "origin_repository_url": project.vcs_url,
        "target_repository_url": project.vcs_url,
        "revision": pipeline.revision,
        "commit": {"subject": pipeline.commit_subject, "body": pipeline.commit_body},
    }
    if pipeline.branch is not None:
        vcs["branch"] = pipeline.branch
    if pipeline.tag is not None:
        vcs["tag"] = pipeline.tag
    if pipeline.review_id is not None:
        vcs["review_id"] = pipeline.review_id
        vcs["review_url"] = pipeline.review_url
    body: dict[str, Any] = {
        "id": pipeline.id,
        "errors": [{"type": e.type, "message": e.message} for e in pipeline.errors],
        "project_slug": pipeline.project_slug,
        "updated_at": iso(pipeline.updated_at),
        "number": pipeline.number,
        "state": pipeline.state,
        "created_at": iso(pipeline.created_at),
        "trigger": {
            "type": pipeline.trigger_type,
            "received_at": iso(pipeline.trigger_received_at),
            "actor": {"login": pipeline.actor_login, "avatar_url": pipeline.actor_avatar_url},
        },
        "vcs": vcs,
    }
    if pipeline.trigger_parameters is not None:
        body["trigger_parameters"] = pipeline.trigger_parameters
    raw = msgspec.Raw(msgspec.json.encode(body))
    if len(_RENDERED) > 200_000:  # many emulators in one process: start over
        _RENDERED.clear()
    _RENDERED[pipeline.id] = (pipeline, raw)
    return raw


def _render(call: ApiCall, pipeline: Pipeline) -> msgspec.Raw:
    return render_pipeline(pipeline, call.world.project(pipeline.project_slug))


def list_pipelines(call: ApiCall) -> Reply:
    """GET /pipeline"""
    org_slug = call.query.get("org-slug") or None
    mine = call.flag("mine")
    pipelines = find(lambda: call.world.org_pipelines(org_slug), "Organization not found")
    if mine:
        login = call.world.user.login
        pipelines = [p for p in pipelines if p.actor_login == login]
    scope = f"pipelines:{org_slug}:{mine}"
    return Reply(call.page(pipelines, scope, from_end=True, render=lambda p: _render(call, p)))


def list_project_pipelines(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/pipeline"""
    project = project_of(call)
    branch = call.query.get("branch") or None
    pipelines = call.world.pipelines(project.slug, branch=branch)
    scope = f"pipelines:{project.slug}:{branch}"
    return Reply(
        call.page(pipelines, scope, from_end=True, render=lambda p: render_pipeline(p, project))
    )


def list_my_pipelines(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/pipeline/mine"""
    project = project_of(call)
    login = call.world.user.login
    pipelines = [p for p in call.world.pipelines(project.slug) if p.actor_login == login]
    return Reply(
        call.page(
            pipelines,
            f"mine:{project.slug}",
            from_end=True,
            render=lambda p: render_pipeline(p, project),
        )
    )


def get_pipeline(call: ApiCall) -> Reply:
    """GET /pipeline/{pipeline-id}"""
    return Reply(_render(call, pipeline_of(call)))


def get_pipeline_by_number(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/pipeline/{pipeline-number}"""
    project = project_of(call)
    number = call.int_param("pipeline-number", "Pipeline not found")
    pipeline = find(
        lambda: call.world.pipeline_by_number(project.slug, number), "Pipeline not found"
    )
    return Reply(_render(call, pipeline))


def _config_text(call: ApiCall, pipeline: Pipeline) -> str:
    lines = ["version: 2.1", "jobs:"]
    names: dict[str, list[str]] = {}
    for workflow in call.world.workflows(pipeline.id):
        jobs = call.world.jobs(workflow.id)
        names[workflow.name] = [j.name for j in jobs]
        for job in jobs:
            if job.type == "build":
                lines += [
                    f"  {job.name}:",
                    "    docker:",
                    "      - image: cimg/base:stable",
                    f"    resource_class: {job.resource_class}",
                ]
                if job.parallelism > 1:
                    lines.append(f"    parallelism: {job.parallelism}")
                lines += [
                    "    steps:",
                    "      - checkout",
                    "      - store_artifacts:",
                    "          path: out",
                ]
    lines.append("workflows:")
    for workflow_name, jobs_of in names.items():
        lines += [f"  {workflow_name}:", "    jobs:"]
        lines += [f"      - {name}" for name in jobs_of]
    return "\n".join(dict.fromkeys(lines)) + "\n"


def get_config(call: ApiCall) -> Reply:
    """GET /pipeline/{pipeline-id}/config"""
    pipeline = pipeline_of(call)
    text = _config_text(call, pipeline)
    body: dict[str, Any] = {"source": text, "compiled": text}
    if pipeline.state in ("setup", "setup-pending") or any(
        w.tag == "setup" for w in call.world.workflows(pipeline.id)
    ):
        setup = (
            "version: 2.1\nsetup: true\njobs:\n  setup:\n    docker:\n"
            "      - image: cimg/base:stable\n"
        )
        body["setup-config"] = setup
        body["compiled-setup-config"] = setup
    return Reply(body)


def get_values(call: ApiCall) -> Reply:
    """GET /pipeline/{pipeline-id}/values"""
    pipeline = pipeline_of(call)
    project = call.world.project(pipeline.project_slug)
    values: dict[str, Any] = {
        "pipeline.id": pipeline.id,
        "pipeline.number": pipeline.number,
        "pipeline.project.git_url": project.vcs_url,
        "pipeline.project.type": project.organization.vcs_type,
        "pipeline.git.revision": pipeline.revision,
        "pipeline.trigger_source": pipeline.trigger_type,
        "pipeline.in_setup": pipeline.state == "setup",
    }
    if pipeline.branch is not None:
        values["pipeline.git.branch"] = pipeline.branch
    if pipeline.tag is not None:
        values["pipeline.git.tag"] = pipeline.tag
    return Reply(values)


class _Trigger(msgspec.Struct, forbid_unknown_fields=True):
    branch: str | None = None
    tag: str | None = None
    parameters: dict[str, int | str | bool] | None = None


def _trigger(
    call: ApiCall,
    slug: str,
    branch: str | None,
    tag: str | None,
    parameters: Mapping[str, Any] | None,
) -> Reply:
    """Start a pipeline in the world; 201 with what both trigger operations answer."""
    try:
        pipeline = call.world.trigger_pipeline(
            slug, now=call.now, branch=branch, tag=tag, parameters=parameters
        )
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply(
        {
            "id": pipeline.id,
            "state": pipeline.state,
            "number": pipeline.number,
            "created_at": iso(pipeline.created_at),
        },
        201,
    )


def trigger(call: ApiCall) -> Reply:
    """POST /project/{project-slug}/pipeline"""
    project = project_of(call)
    body = call.optional_json(_Trigger) or _Trigger()
    return _trigger(call, project.slug, body.branch, body.tag, body.parameters)


class _Continue(msgspec.Struct):
    continuation_key: str = msgspec.field(name="continuation-key")
    configuration: str
    parameters: dict[str, int | str | bool] | None = None


def continue_pipeline(call: ApiCall) -> Reply:
    """POST /pipeline/continue"""
    body = call.json(_Continue)
    try:
        call.world.continue_pipeline(body.continuation_key, body.configuration, now=call.now)
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply({"message": "Accepted."})


class _Ref(msgspec.Struct, forbid_unknown_fields=True):
    branch: str | None = None
    tag: str | None = None


class _Run(msgspec.Struct, forbid_unknown_fields=True):
    definition_id: uuid.UUID | None = None
    config: _Ref | None = None
    checkout: _Ref | None = None
    parameters: dict[str, Any] | None = None


def _check_run(body: _Run) -> None:
    for name, ref in (("config", body.config), ("checkout", body.checkout)):
        if ref is not None and ref.branch is not None and ref.tag is not None:
            raise ApiError(400, f"{name}: branch and tag are mutually exclusive.")
    parameters = body.parameters or {}
    if len(parameters) > 100:
        raise ApiError(400, "At most 100 pipeline parameters are allowed.")
    for key, value in parameters.items():
        if len(key) > 128:
            raise ApiError(400, f"Pipeline parameter name too long: {key[:20]}...")
        if not isinstance(value, str | int | float) or len(str(value)) > 512:
            raise ApiError(400, f"Pipeline parameter {key} must be a string, number or boolean.")


def run_pipeline(call: ApiCall) -> Reply:
    """POST /project/{provider}/{organization}/{project}/pipeline/run"""
    project = project_by_parts(call)
    body = call.optional_json(_Run) or _Run()
    _check_run(body)
    # The code checked out decides the pipeline's branch or tag; the config ref
    # only says where the configuration came from.
    ref = body.checkout or body.config or _Ref()
    return _trigger(call, project.slug, ref.branch, ref.tag, body.parameters)


ROUTES = (
    ApiRoute("GET", "/pipeline", "listPipelines", list_pipelines),
    ApiRoute("POST", "/pipeline/continue", "continuePipeline", continue_pipeline),
    ApiRoute("GET", "/pipeline/{pipeline-id}", "getPipelineById", get_pipeline),
    ApiRoute("GET", "/pipeline/{pipeline-id}/config", "getPipelineConfigById", get_config),
    ApiRoute("GET", "/pipeline/{pipeline-id}/values", "getPipelineValuesById", get_values),
    ApiRoute(
        "GET", "/project/{project-slug}/pipeline", "listPipelinesForProject", list_project_pipelines
    ),
    ApiRoute("POST", "/project/{project-slug}/pipeline", "triggerPipeline", trigger),
    ApiRoute(
        "POST",
        "/project/{provider}/{organization}/{project}/pipeline/run",
        "triggerPipelineRun",
        run_pipeline,
    ),
    ApiRoute("GET", "/project/{project-slug}/pipeline/mine", "listMyPipelines", list_my_pipelines),
    ApiRoute(
        "GET",
        "/project/{project-slug}/pipeline/{pipeline-number}",
        "getPipelineByNumber",
        get_pipeline_by_number,
    ),
)
