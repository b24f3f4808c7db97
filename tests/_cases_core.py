"""Conformance cases of the core families: users, projects, pipelines, workflows,
jobs, insights and contexts."""

from __future__ import annotations

from aiocircleci.testing import FakeCircleCI

from ._conformance import (
    NO_SUCH,
    Call,
    Case,
    artifact_job,
    context_id,
    job,
    job_path,
    on_hold,
    org,
    pipeline_id,
    setup_key,
    slug,
    test_job,
    workflow,
    workflow_name,
)

__all__ = ["ERRORS", "SUCCESS"]

EXPRESSION = 'pipeline.git.branch == "main"'


def fingerprint(fake: FakeCircleCI, newest: bool = False) -> str:
    keys = fake.world.checkout_keys(fake.world.projects[0].slug)
    return keys[-1 if newest else 0].md5


def new_project_slug(fake: FakeCircleCI) -> str:
    return next(p.slug for p in fake.world.projects if p.name == "brand-new")


def expression_id(fake: FakeCircleCI) -> str:
    restrictions = fake.world.context_restrictions(context_id(fake))
    return next(r.id for r in restrictions if r.value == EXPRESSION)


# One success case per operation; mutating cases run after the reads.
SUCCESS: dict[str, Case] = {
    "getCurrentUser": lambda f: Call("GET", "/me", 200),
    "getCollaborations": lambda f: Call("GET", "/me/collaborations", 200),
    "getUser": lambda f: Call("GET", f"/user/{f.world.user.id}", 200),
    "getProjectBySlug": lambda f: Call("GET", f"/project/{slug(f, 2)}", 200),
    "listEnvVars": lambda f: Call("GET", f"/project/{slug(f)}/envvar", 200),
    "getEnvVar": lambda f: Call("GET", f"/project/{slug(f)}/envvar/NPM_TOKEN", 200),
    "listCheckoutKeys": lambda f: Call(
        "GET", f"/project/{slug(f)}/checkout-key", 200, params={"digest": "sha256"}
    ),
    "getCheckoutKey": lambda f: Call(
        "GET", f"/project/{slug(f)}/checkout-key/{fingerprint(f)}", 200
    ),
    "getProjectSettings": lambda f: Call("GET", f"/project/{slug(f, 1)}/settings", 200),
    "listPipelines": lambda f: Call("GET", "/pipeline", 200, params={"org-slug": "gh/acme-corp"}),
    "listPipelinesForProject": lambda f: Call("GET", f"/project/{slug(f)}/pipeline", 200),
    "listMyPipelines": lambda f: Call("GET", f"/project/{slug(f)}/pipeline/mine", 200),
    "getPipelineById": lambda f: Call("GET", f"/pipeline/{pipeline_id(f, 'errored')}", 200),
    "getPipelineByNumber": lambda f: Call("GET", f"/project/{slug(f, 1)}/pipeline/3", 200),
    "getPipelineConfigById": lambda f: Call(
        "GET", f"/pipeline/{pipeline_id(f, 'setup')}/config", 200
    ),
    "getPipelineValuesById": lambda f: Call("GET", f"/pipeline/{pipeline_id(f)}/values", 200),
    "listWorkflowsByPipelineId": lambda f: Call("GET", f"/pipeline/{pipeline_id(f)}/workflow", 200),
    "getWorkflowById": lambda f: Call("GET", f"/workflow/{workflow(f, 'canceled').id}", 200),
    "listWorkflowJobs": lambda f: Call("GET", f"/workflow/{on_hold(f)[0].id}/job", 200),
    "getJobDetails": lambda f: Call("GET", f"/project/{job_path(artifact_job(f))}", 200),
    "getJobArtifacts": lambda f: Call(
        "GET", f"/project/{job_path(artifact_job(f), '{slug}/{number}/artifacts')}", 200
    ),
    "getTests": lambda f: Call(
        "GET", f"/project/{job_path(test_job(f), '{slug}/{number}/tests')}", 200
    ),
    "getProjectWorkflowMetrics": lambda f: Call(
        "GET", f"/insights/{slug(f)}/workflows", 200, params={"all-branches": "true"}
    ),
    "getProjectWorkflowRuns": lambda f: Call(
        "GET", f"/insights/{slug(f)}/workflows/{workflow_name(f)}", 200
    ),
    "getProjectWorkflowJobMetrics": lambda f: Call(
        "GET", f"/insights/{slug(f)}/workflows/{workflow_name(f)}/jobs", 200
    ),
    "getWorkflowSummary": lambda f: Call(
        "GET", f"/insights/{slug(f)}/workflows/{workflow_name(f)}/summary", 200
    ),
    "getProjectWorkflowTestMetrics": lambda f: Call(
        "GET", f"/insights/{slug(f)}/workflows/{workflow_name(f)}/test-metrics", 200
    ),
    "getAllInsightsBranches": lambda f: Call("GET", f"/insights/{slug(f)}/branches", 200),
    "getFlakyTests": lambda f: Call("GET", f"/insights/{slug(f)}/flaky-tests", 200),
    "getProjectWorkflowsPageData": lambda f: Call("GET", f"/insights/pages/{slug(f)}/summary", 200),
    "getJobTimeseries": lambda f: Call(
        "GET", f"/insights/time-series/{slug(f)}/workflows/{workflow_name(f)}/jobs", 200
    ),
    "getOrgSummaryData": lambda f: Call("GET", "/insights/gh/acme-corp/summary", 200),
    "listContexts": lambda f: Call("GET", "/context", 200, params={"owner-id": org(f)}),
    "getContext": lambda f: Call("GET", f"/context/{context_id(f)}", 200),
    "listEnvironmentVariablesFromContext": lambda f: Call(
        "GET", f"/context/{context_id(f)}/environment-variable", 200
    ),
    "getContextRestrictions": lambda f: Call("GET", f"/context/{context_id(f)}/restrictions", 200),
    # Changes to the world from here on.
    "triggerPipeline": lambda f: Call(
        "POST", f"/project/{slug(f)}/pipeline", 201, json={"branch": "feature/x"}
    ),
    "triggerPipelineRun": lambda f: Call(
        "POST",
        f"/project/{slug(f)}/pipeline/run",
        201,
        json={
            "definition_id": NO_SUCH,
            "config": {"branch": "main"},
            "checkout": {"tag": "v1.2.3"},
            "parameters": {"deploy": True, "retries": 3},
        },
    ),
    "continuePipeline": lambda f: Call(
        "POST",
        "/pipeline/continue",
        200,
        json={"continuation-key": setup_key(f), "configuration": "version: 2.1"},
    ),
    "approvePendingApprovalJobById": lambda f: Call(
        "POST",
        f"/workflow/{on_hold(f)[0].id}/approve/{on_hold(f)[1].approval_request_id}",
        202,
    ),
    "cancelWorkflow": lambda f: Call("POST", f"/workflow/{workflow(f, 'running').id}/cancel", 202),
    "rerunWorkflow": lambda f: Call(
        "POST", f"/workflow/{workflow(f, 'failed').id}/rerun", 202, json={"from_failed": True}
    ),
    "cancelJobByJobNumber": lambda f: Call(
        "POST",
        "/project/"
        + job_path(job(f, lambda j: j.status == "running" and j.number is not None))
        + "/cancel",
        200,
    ),
    "cancelJobByJobID": lambda f: Call(
        "POST", f"/jobs/{job(f, lambda j: j.status == 'running').id}/cancel", 200
    ),
    "createEnvVar": lambda f: Call(
        "POST", f"/project/{slug(f)}/envvar", 201, json={"name": "NEW_VAR", "value": "s3cr3t!"}
    ),
    "deleteEnvVar": lambda f: Call("DELETE", f"/project/{slug(f)}/envvar/NEW_VAR", 200),
    "createCheckoutKey": lambda f: Call(
        "POST", f"/project/{slug(f)}/checkout-key", 201, json={"type": "user-key"}
    ),
    "deleteCheckoutKey": lambda f: Call(
        "DELETE", f"/project/{slug(f)}/checkout-key/{fingerprint(f, newest=True)}", 200
    ),
    "patchProjectSettings": lambda f: Call(
        "PATCH",
        f"/project/{slug(f, 1)}/settings",
        200,
        json={"advanced": {"oss": True, "pr_only_branch_overrides": ["main", "release/*"]}},
    ),
    "createProject": lambda f: Call(
        "POST", f"/organization/{org(f)}/project", 200, json={"name": "brand-new"}
    ),
    "deleteProjectBySlug": lambda f: Call("DELETE", f"/project/{new_project_slug(f)}", 200),
    "createContext": lambda f: Call(
        "POST",
        "/context",
        200,
        json={"name": "fresh", "owner": {"id": org(f), "type": "organization"}},
    ),
    "addEnvironmentVariableToContext": lambda f: Call(
        "PUT", f"/context/{context_id(f)}/environment-variable/FRESH", 200, json={"value": "v"}
    ),
    "deleteEnvironmentVariableFromContext": lambda f: Call(
        "DELETE", f"/context/{context_id(f)}/environment-variable/FRESH", 200
    ),
    "createContextRestriction": lambda f: Call(
        "POST",
        f"/context/{context_id(f)}/restrictions",
        201,
        json={"restriction_type": "expression", "restriction_value": EXPRESSION},
    ),
    "deleteContextRestriction": lambda f: Call(
        "DELETE", f"/context/{context_id(f)}/restrictions/{expression_id(f)}", 200
    ),
    "deleteContext": lambda f: Call("DELETE", f"/context/{context_id(f)}", 200),
}

# Error answers, validated against the status the operation declares (or its default).
ERRORS: list[tuple[str, Case]] = [
    ("getCurrentUser", lambda f: Call("GET", "/me", 401, token=None)),
    ("getWorkflowById", lambda f: Call("GET", "/workflow/not-a-uuid", 400)),
    ("getWorkflowById", lambda f: Call("GET", f"/workflow/{NO_SUCH}", 404)),
    ("getWorkflowById", lambda f: Call("GET", f"/workflow/{NO_SUCH}", 401, token="wrong")),
    ("getPipelineById", lambda f: Call("GET", f"/pipeline/{NO_SUCH}", 404)),
    ("getProjectBySlug", lambda f: Call("GET", "/project/gh/nobody/nothing", 404)),
    ("cancelJobByJobID", lambda f: Call("POST", f"/jobs/{NO_SUCH}/cancel", 404)),
    ("cancelJobByJobID", lambda f: Call("POST", "/jobs/nope/cancel", 400)),
    ("getContext", lambda f: Call("GET", f"/context/{NO_SUCH}", 404)),
    ("getContextRestrictions", lambda f: Call("GET", "/context/nope/restrictions", 400)),
    (
        "createContextRestriction",
        lambda f: Call(
            "POST",
            f"/context/{context_id(f)}/restrictions",
            400,
            json={"restriction_type": "project", "restriction_value": "not-a-uuid"},
        ),
    ),
    (
        "deleteContextRestriction",
        lambda f: Call("DELETE", f"/context/{context_id(f)}/restrictions/nope", 400),
    ),
    (
        "deleteContextRestriction",
        lambda f: Call("DELETE", f"/context/{context_id(f)}/restrictions/{NO_SUCH}", 404),
    ),
    ("getCheckoutKey", lambda f: Call("GET", f"/project/{slug(f)}/checkout-key/aa:bb", 404)),
    (
        "createCheckoutKey",
        lambda f: Call(
            "POST", f"/project/{slug(f, 2)}/checkout-key", 400, json={"type": "deploy-key"}
        ),
    ),
    ("getProjectSettings", lambda f: Call("GET", "/project/gh/nobody/nothing/settings", 404)),
    (
        "patchProjectSettings",
        lambda f: Call("PATCH", f"/project/{slug(f)}/settings", 400, json={"advanced": {"x": 1}}),
    ),
    ("createProject", lambda f: Call("POST", f"/organization/{NO_SUCH}/project", 404, json={})),
    ("deleteProjectBySlug", lambda f: Call("DELETE", "/project/gh/nobody/nothing", 404)),
    (
        "triggerPipelineRun",
        lambda f: Call(
            "POST",
            f"/project/{slug(f)}/pipeline/run",
            400,
            json={"checkout": {"branch": "main", "tag": "v1"}},
        ),
    ),
    ("triggerPipelineRun", lambda f: Call("POST", "/project/gh/nobody/nothing/pipeline/run", 404)),
    ("triggerPipeline", lambda f: Call("POST", f"/project/{slug(f)}/pipeline", 400, json=[1])),
    (
        "rerunWorkflow",
        lambda f: Call(
            "POST", f"/workflow/{workflow(f, 'success').id}/rerun", 400, json={"jobs": ["x"]}
        ),
    ),
]
