"""Workflows: lookups, a pipeline's workflows, a workflow's jobs, cancel, rerun, approve."""

from __future__ import annotations

from typing import Any

import msgspec

from .._entities import Job, Workflow
from .._world import WorldError
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso, iso_or_none
from .pipelines import pipeline_of

__all__ = ["ROUTES", "render_workflow", "workflow_of"]


def workflow_of(call: ApiCall) -> Workflow:
    workflow_id = call.uuid_param("id", "Workflow ID provided")
    return find(lambda: call.world.workflow(workflow_id), "Workflow not found")


def render_workflow(workflow: Workflow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pipeline_id": workflow.pipeline_id,
        "id": workflow.id,
        "name": workflow.name,
        "project_slug": workflow.project_slug,
        "status": workflow.status,
        "started_by": workflow.started_by,
        "pipeline_number": workflow.pipeline_number,
        "created_at": iso(workflow.created_at),
        "stopped_at": iso_or_none(workflow.stopped_at),
    }
    if workflow.tag is not None:
        body["tag"] = workflow.tag
    if workflow.canceled_by is not None:
        body["canceled_by"] = workflow.canceled_by
    if workflow.errored_by is not None:
        body["errored_by"] = workflow.errored_by
    if workflow.auto_rerun_number is not None:
        body["auto_rerun_number"] = workflow.auto_rerun_number
        body["max_auto_reruns"] = workflow.max_auto_reruns
    return body


def render_workflow_job(job: Job) -> dict[str, Any]:
    # started_at is required by the spec, yet the real service sends null for
    # jobs that have not started; job_number is simply absent for them.
    body: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "type": job.type,
        "status": job.status,
        "project_slug": job.project_slug,
        "dependencies": list(job.dependencies),
        "started_at": iso_or_none(job.started_at),
    }
    if job.number is not None:
        body["job_number"] = job.number
    if job.started_at is not None:
        body["stopped_at"] = iso_or_none(job.stopped_at)
    if job.dependencies:
        body["requires"] = {dep: ["success"] for dep in job.dependencies}
    if job.approval_request_id is not None:
        body["approval_request_id"] = job.approval_request_id
    if job.approved_by is not None:
        body["approved_by"] = job.approved_by
    if job.canceled_by is not None:
        body["canceled_by"] = job.canceled_by
    return body


def get_workflow(call: ApiCall) -> Reply:
    """GET /workflow/{id}"""
    return Reply(render_workflow(workflow_of(call)))


def list_pipeline_workflows(call: ApiCall) -> Reply:
    """GET /pipeline/{pipeline-id}/workflow"""
    pipeline = pipeline_of(call)
    workflows = call.world.workflows(pipeline.id)
    return Reply(call.page(workflows, f"workflows:{pipeline.id}", render=render_workflow))


def list_workflow_jobs(call: ApiCall) -> Reply:
    """GET /workflow/{id}/job"""
    workflow = workflow_of(call)
    jobs = call.world.jobs(workflow.id)
    return Reply(call.page(jobs, f"jobs:{workflow.id}", render=render_workflow_job))


def cancel_workflow(call: ApiCall) -> Reply:
    """POST /workflow/{id}/cancel"""
    workflow = workflow_of(call)
    call.world.cancel_workflow(workflow.id, now=call.now)
    return Reply({"message": "Accepted."}, 202)


class _Rerun(msgspec.Struct):
    enable_ssh: bool = False
    from_failed: bool = False
    jobs: list[str] = []
    sparse_tree: bool = False


def rerun_workflow(call: ApiCall) -> Reply:
    """POST /workflow/{id}/rerun"""
    workflow = workflow_of(call)
    body = call.optional_json(_Rerun) or _Rerun()
    try:
        new = call.world.rerun_workflow(
            workflow.id, now=call.now, from_failed=body.from_failed, jobs=body.jobs
        )
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply({"workflow_id": new.id}, 202)


def approve(call: ApiCall) -> Reply:
    """POST /workflow/{id}/approve/{approval_request_id}"""
    workflow = workflow_of(call)
    request_id = call.uuid_param("approval_request_id", "approval_request_id")
    try:
        call.world.approve(workflow.id, request_id, now=call.now)
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply({"message": "Accepted."}, 202)


ROUTES = (
    ApiRoute("GET", "/workflow/{id}", "getWorkflowById", get_workflow),
    ApiRoute(
        "GET",
        "/pipeline/{pipeline-id}/workflow",
        "listWorkflowsByPipelineId",
        list_pipeline_workflows,
    ),
    ApiRoute("GET", "/workflow/{id}/job", "listWorkflowJobs", list_workflow_jobs),
    ApiRoute("POST", "/workflow/{id}/cancel", "cancelWorkflow", cancel_workflow),
    ApiRoute("POST", "/workflow/{id}/rerun", "rerunWorkflow", rerun_workflow),
    ApiRoute(
        "POST",
        "/workflow/{id}/approve/{approval_request_id}",
        "approvePendingApprovalJobById",
        approve,
    ),
)
