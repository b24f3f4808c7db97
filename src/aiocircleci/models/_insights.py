from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = [
    "DurationMetrics",
    "FlakyTest",
    "FlakyTests",
    "JobMetrics",
    "WorkflowJobMetrics",
    "WorkflowMetrics",
    "WorkflowRun",
    "WorkflowRunStatus",
    "WorkflowSummary",
]


class DurationMetrics(Model, frozen=True):
    min: int
    mean: int
    median: int
    p95: int
    max: int
    standard_deviation: float


class WorkflowMetrics(Model, frozen=True):
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float
    throughput: float
    duration_metrics: DurationMetrics
    mttr: int | None = None
    total_credits_used: int | None = None
    total_recoveries: int | None = None


class WorkflowSummary(Model, frozen=True):
    """One workflow's metrics (``GET /insights/{project-slug}/workflows``)."""

    name: str
    metrics: WorkflowMetrics
    window_start: datetime
    window_end: datetime
    project_id: str | None = None


class WorkflowRunStatus(StatusEnum):
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN = "unknown"


class WorkflowRun(Model, frozen=True):
    """One run of a workflow (``GET /insights/{project-slug}/workflows/{workflow-name}``)."""

    id: str
    branch: str | None
    duration: int
    created_at: datetime
    stopped_at: datetime
    credits_used: int
    status: WorkflowRunStatus
    is_approval: bool = False


class JobMetrics(Model, frozen=True):
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float
    throughput: float
    duration_metrics: DurationMetrics
    total_credits_used: int | None = None


class WorkflowJobMetrics(Model, frozen=True):
    """One job's metrics within a workflow (``.../workflows/{workflow-name}/jobs``)."""

    name: str
    metrics: JobMetrics
    window_start: datetime
    window_end: datetime


class FlakyTest(
    Model,
    frozen=True,
    rename={
        "time_wasted": "time-wasted",
        "workflow_created_at": "workflow-created-at",
        "workflow_id": "workflow-id",
        "pipeline_number": "pipeline-number",
        "workflow_name": "workflow-name",
        "test_name": "test-name",
        "job_name": "job-name",
        "job_number": "job-number",
        "times_flaked": "times-flaked",
    },
):
    test_name: str
    classname: str
    file: str | None
    source: str | None
    job_name: str
    job_number: int
    workflow_name: str
    workflow_id: str
    workflow_created_at: datetime
    pipeline_number: int
    times_flaked: int
    time_wasted: int | None = None


class FlakyTests(
    Model,
    frozen=True,
    rename={"flaky_tests": "flaky-tests", "total_flaky_tests": "total-flaky-tests"},
):
    """``GET /insights/{project-slug}/flaky-tests``."""

    flaky_tests: list[FlakyTest]
    total_flaky_tests: float
