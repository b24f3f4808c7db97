from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = [
    "Artifact",
    "Job",
    "JobDetails",
    "JobExecutor",
    "JobMessage",
    "JobStatus",
    "JobType",
    "NamedRef",
    "ParallelRun",
    "TestMetadata",
]


class JobStatus(StatusEnum):
    SUCCESS = "success"
    RUNNING = "running"
    NOT_RUN = "not_run"
    FAILED = "failed"
    RETRIED = "retried"
    QUEUED = "queued"
    NOT_RUNNING = "not_running"
    INFRASTRUCTURE_FAIL = "infrastructure_fail"
    TIMEDOUT = "timedout"
    ON_HOLD = "on_hold"
    TERMINATED_UNKNOWN = "terminated-unknown"
    BLOCKED = "blocked"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN = "unknown"


class JobType(StatusEnum):
    BUILD = "build"
    APPROVAL = "approval"
    UNKNOWN = "unknown"


class Job(Model, frozen=True):
    """A job of a workflow (``GET /workflow/{id}/job``).

    ``job_number`` is missing for approval jobs and jobs that have not started.
    """

    id: str
    name: str
    type: JobType | None = None
    status: JobStatus | None = None
    project_slug: str | None = None
    dependencies: list[str] = []
    job_number: int | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    approved_by: str | None = None
    canceled_by: str | None = None
    approval_request_id: str | None = None
    requires: dict[str, list[str]] | None = None


class NamedRef(Model, frozen=True):
    id: str | None = None
    name: str | None = None
    slug: str | None = None
    external_url: str | None = None


class ParallelRun(Model, frozen=True):
    index: int | None = None
    status: str | None = None


class JobExecutor(Model, frozen=True):
    resource_class: str | None = None
    type: str | None = None


class JobMessage(Model, frozen=True):
    type: str | None = None
    message: str | None = None
    reason: str | None = None


class JobDetails(Model, frozen=True):
    """``GET /project/{project-slug}/job/{job-number}``."""

    number: int
    name: str | None = None
    status: JobStatus | None = None
    web_url: str | None = None
    project: NamedRef | None = None
    pipeline: NamedRef | None = None
    latest_workflow: NamedRef | None = None
    organization: NamedRef | None = None
    executor: JobExecutor | None = None
    parallelism: int | None = None
    parallel_runs: list[ParallelRun] = []
    messages: list[JobMessage] = []
    contexts: list[NamedRef] = []
    created_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    duration: int | None = None


class Artifact(Model, frozen=True):
    """An artifact of a job. ``path`` comes from the build: treat it as untrusted."""

    path: str
    node_index: int
    url: str


class TestMetadata(Model, frozen=True):
    """A test result of a job (``GET /project/{project-slug}/{job-number}/tests``)."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    classname: str | None = None
    result: str | None = None
    message: str | None = None
    source: str | None = None
    file: str | None = None
    run_time: float | None = None
