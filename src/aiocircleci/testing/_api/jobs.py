"""Jobs: details, cancel (by number and by id), artifacts and test metadata."""

from __future__ import annotations

from typing import Any

from .._entities import Artifact, Job, TestResult
from ._core import ApiCall, ApiRoute, Reply, find, iso, iso_or_none
from .projects import project_of

__all__ = ["ROUTES", "job_of"]

_WEB_VCS = {"gh": "github", "bb": "bitbucket"}


def job_of(call: ApiCall) -> Job:
    project = project_of(call)
    number = call.int_param("job-number", "Job not found")
    return find(lambda: call.world.job_by_number(project.slug, number), "Job not found")


def get_job(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/job/{job-number}"""
    job = job_of(call)
    if not job.has_details or job.number is None or job.started_at is None:
        # Approval jobs can carry a number, yet the real service has no details for them.
        return Reply({"message": "Job not found"}, 404)
    world = call.world
    project = world.project(job.project_slug)
    workflow = world.workflow(job.workflow_id)
    vcs, rest = project.slug.split("/", 1)
    web_slug = f"{_WEB_VCS.get(vcs, vcs)}/{rest}"
    duration = None
    if job.stopped_at is not None:
        duration = int((job.stopped_at - job.started_at) * 1000)
    run_status = "running" if job.stopped_at is None else job.status
    body: dict[str, Any] = {
        "web_url": f"https://app.circleci.com/pipelines/{web_slug}/{workflow.pipeline_number}"
        f"/workflows/{workflow.id}/jobs/{job.number}",
        "project": {
            "id": project.id,
            "slug": project.slug,
            "name": project.name,
            "external_url": project.vcs_url,
        },
        "parallel_runs": [{"index": i, "status": run_status} for i in range(job.parallelism)],
        "started_at": iso(job.started_at),
        "latest_workflow": {"id": workflow.id, "name": workflow.name},
        "name": job.name,
        "executor": {"resource_class": job.resource_class, "type": job.executor_type},
        "parallelism": job.parallelism,
        "status": job.status,
        "number": job.number,
        "pipeline": {"id": job.pipeline_id},
        "duration": duration,
        "created_at": iso(job.created_at),
        "messages": [],
        "contexts": [{"name": name} for name in job.contexts],
        "organization": {"name": project.organization.name},
        "queued_at": iso(job.queued_at),
        "stopped_at": iso_or_none(job.stopped_at),
    }
    return Reply(body)


def cancel_job_by_number(call: ApiCall) -> Reply:
    """POST /project/{project-slug}/job/{job-number}/cancel"""
    job = job_of(call)
    call.world.cancel_job(job.id, now=call.now)
    return Reply({"message": "Accepted."})


def cancel_job_by_id(call: ApiCall) -> Reply:
    """POST /jobs/{job-id}/cancel"""
    job_id = call.uuid_param("job-id", "job_id")
    job = find(lambda: call.world.job(job_id), "Job not found")
    call.world.cancel_job(job.id, now=call.now)
    return Reply({"message": "Accepted."})


def _render_artifact(artifact: Artifact) -> dict[str, Any]:
    return {"path": artifact.path, "node_index": artifact.node_index, "url": artifact.url}


def _render_test(test: TestResult) -> dict[str, Any]:
    return {
        "message": test.message,
        "source": test.source,
        "run_time": test.run_time,
        "file": test.file,
        "result": test.result,
        "name": test.name,
        "classname": test.classname,
    }


def list_artifacts(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/{job-number}/artifacts"""
    job = job_of(call)
    artifacts = call.world.artifacts(job)
    return Reply(call.page(artifacts, f"artifacts:{job.id}", render=_render_artifact))


def list_tests(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/{job-number}/tests"""
    job = job_of(call)
    return Reply(call.page(call.world.tests(job), f"tests:{job.id}", render=_render_test))


ROUTES = (
    ApiRoute("GET", "/project/{project-slug}/job/{job-number}", "getJobDetails", get_job),
    ApiRoute(
        "POST",
        "/project/{project-slug}/job/{job-number}/cancel",
        "cancelJobByJobNumber",
        cancel_job_by_number,
    ),
    ApiRoute("POST", "/jobs/{job-id}/cancel", "cancelJobByJobID", cancel_job_by_id),
    ApiRoute(
        "GET", "/project/{project-slug}/{job-number}/artifacts", "getJobArtifacts", list_artifacts
    ),
    ApiRoute("GET", "/project/{project-slug}/{job-number}/tests", "getTests", list_tests),
)
