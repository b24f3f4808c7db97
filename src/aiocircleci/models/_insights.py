from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from ._base import Model, StatusEnum

__all__ = [
    "AggregateInsights",
    "AggregateMetrics",
    "AggregateTrends",
    "DurationMetrics",
    "FlakyTest",
    "FlakyTests",
    "InsightsBranches",
    "JobMetrics",
    "JobTimeseries",
    "JobTimeseriesMetrics",
    "OrgProjectData",
    "OrgSummaryData",
    "ProjectWorkflowBranchData",
    "ProjectWorkflowData",
    "ProjectWorkflowsPageData",
    "RunSummaryMetrics",
    "RunSummaryTrends",
    "TestCounts",
    "TestMetrics",
    "TestRunCounts",
    "WorkflowInsights",
    "WorkflowJobMetrics",
    "WorkflowMetrics",
    "WorkflowRun",
    "WorkflowRunStatus",
    "WorkflowSummary",
    "WorkflowTestMetrics",
    "WorkflowTrends",
]


class DurationMetrics(Model, frozen=True):
    """Durations of a group of runs, in seconds; ``None`` when the group is empty.

    Workflow and job metrics carry ``mean`` and ``standard_deviation``; the job
    time series carries ``total`` instead.
    """

    min: int | None = None
    mean: int | None = None
    median: int | None = None
    p95: int | None = None
    max: int | None = None
    standard_deviation: float | None = None
    total: int | None = None


class WorkflowMetrics(Model, frozen=True):
    """A workflow's metrics over a window.

    The workflow summary adds ``completed_runs`` and the window's bounds; the
    workflow listing adds ``total_recoveries``.
    """

    total_runs: int | None = None
    successful_runs: int | None = None
    failed_runs: int | None = None
    success_rate: float | None = None
    throughput: float | None = None
    duration_metrics: DurationMetrics | None = None
    mttr: int | None = None
    total_credits_used: int | None = None
    total_recoveries: int | None = None
    completed_runs: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


class WorkflowSummary(Model, frozen=True):
    """One workflow's metrics (``GET /insights/{project-slug}/workflows``)."""

    name: str
    metrics: WorkflowMetrics | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    project_id: str | None = None


class WorkflowRunStatus(StatusEnum):
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN = "unknown"


class WorkflowRun(Model, frozen=True):
    """One run of a workflow (``GET /insights/{project-slug}/workflows/{workflow-name}``).

    ``status`` is ``None`` for a run outside the spec's statuses (one that never ran).
    """

    id: str
    branch: str | None = None
    duration: int | None = None
    created_at: datetime | None = None
    stopped_at: datetime | None = None
    credits_used: int | None = None
    status: WorkflowRunStatus | None = None
    is_approval: bool = False


class JobMetrics(Model, frozen=True):
    total_runs: int | None = None
    successful_runs: int | None = None
    failed_runs: int | None = None
    success_rate: float | None = None
    throughput: float | None = None
    duration_metrics: DurationMetrics | None = None
    total_credits_used: int | None = None


class WorkflowJobMetrics(Model, frozen=True):
    """One job's metrics within a workflow (``.../workflows/{workflow-name}/jobs``)."""

    name: str
    metrics: JobMetrics | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


class FlakyTest(Model, frozen=True):
    """A flaky test. The live API is snake_case, the spec kebab-case: both decode."""

    __spellings__: ClassVar[dict[str, str]] = {
        "time-wasted": "time_wasted",
        "workflow-created-at": "workflow_created_at",
        "workflow-id": "workflow_id",
        "pipeline-number": "pipeline_number",
        "workflow-name": "workflow_name",
        "test-name": "test_name",
        "job-name": "job_name",
        "job-number": "job_number",
        "times-flaked": "times_flaked",
    }

    test_name: str | None = None
    classname: str | None = None
    file: str | None = None
    source: str | None = None
    job_name: str | None = None
    job_number: int | None = None
    workflow_name: str | None = None
    workflow_id: str | None = None
    workflow_created_at: datetime | None = None
    pipeline_number: int | None = None
    times_flaked: int | None = None
    time_wasted: int | None = None


class FlakyTests(Model, frozen=True):
    """``GET /insights/{project-slug}/flaky-tests`` (snake_case or kebab-case keys)."""

    __spellings__: ClassVar[dict[str, str]] = {
        "flaky-tests": "flaky_tests",
        "total-flaky-tests": "total_flaky_tests",
    }

    flaky_tests: list[FlakyTest] = []
    total_flaky_tests: float | None = None


class WorkflowTrends(Model, frozen=True):
    """How a workflow's metrics moved between the two halves of the window (0.1 is +10%)."""

    total_runs: float | None = None
    failed_runs: float | None = None
    success_rate: float | None = None
    p95_duration_secs: float | None = None
    median_duration_secs: float | None = None
    total_credits_used: float | None = None
    mttr: float | None = None
    throughput: float | None = None


class WorkflowInsights(Model, frozen=True):
    """``GET /insights/{project-slug}/workflows/{workflow-name}/summary``."""

    metrics: WorkflowMetrics | None = None
    trends: WorkflowTrends | None = None
    workflow_names: list[str] = []


class TestMetrics(Model, frozen=True):
    """One test's runs, failures and 95th percentile duration (seconds) within a workflow."""

    __test__ = False  # not a pytest class, despite the name

    test_name: str | None = None
    job_name: str | None = None
    total_runs: int | None = None
    failed_runs: int | None = None
    flaky: bool | None = None
    p95_duration: float | None = None
    classname: str | None = None
    source: str | None = None
    file: str | None = None


class TestCounts(Model, frozen=True):
    __test__ = False

    error: int | None = None
    failure: int | None = None
    skipped: int | None = None
    success: int | None = None
    total: int | None = None


class TestRunCounts(Model, frozen=True):
    """The test results of one run of a workflow."""

    __test__ = False

    pipeline_number: int | None = None
    workflow_id: str | None = None
    success_rate: float | None = None
    test_counts: TestCounts | None = None


class WorkflowTestMetrics(Model, frozen=True):
    """``GET /insights/{project-slug}/workflows/{workflow-name}/test-metrics``."""

    average_test_count: int | None = None
    most_failed_tests: list[TestMetrics] = []
    most_failed_tests_extra: int | None = None
    slowest_tests: list[TestMetrics] = []
    slowest_tests_extra: int | None = None
    total_test_runs: int | None = None
    test_runs: list[TestRunCounts] = []


class InsightsBranches(Model, frozen=True):
    """``GET /insights/{project-slug}/branches``: the branches Insights has runs of."""

    branches: list[str] = []
    org_id: str | None = None
    project_id: str | None = None


class JobTimeseriesMetrics(Model, frozen=True):
    total_runs: int | None = None
    failed_runs: int | None = None
    successful_runs: int | None = None
    throughput: float | None = None
    median_credits_used: int | None = None
    total_credits_used: int | None = None
    duration_metrics: DurationMetrics | None = None


class JobTimeseries(Model, frozen=True):
    """One job's metrics over one interval (an hour or a day) starting at ``timestamp``."""

    name: str
    min_started_at: datetime | None = None
    max_ended_at: datetime | None = None
    timestamp: datetime | None = None
    metrics: JobTimeseriesMetrics | None = None


class AggregateMetrics(Model, frozen=True):
    """Totals across workflows and branches (of a project or an organization).

    ``throughput`` (runs per day) is missing from the per-project rows of an
    organization's summary.
    """

    total_runs: int | None = None
    total_duration_secs: int | None = None
    total_credits_used: int | None = None
    success_rate: float | None = None
    throughput: float | None = None


class AggregateTrends(Model, frozen=True):
    """How ``AggregateMetrics`` moved against the previous window (0.1 is +10%)."""

    total_runs: float | None = None
    total_duration_secs: float | None = None
    total_credits_used: float | None = None
    success_rate: float | None = None
    throughput: float | None = None


class AggregateInsights(Model, frozen=True):
    metrics: AggregateMetrics | None = None
    trends: AggregateTrends | None = None


class RunSummaryMetrics(Model, frozen=True):
    """Runs of one workflow (or of one workflow on one branch) in a project's summary."""

    total_runs: int | None = None
    success_rate: float | None = None
    total_credits_used: int | None = None
    p95_duration_secs: float | None = None


class RunSummaryTrends(Model, frozen=True):
    total_runs: float | None = None
    success_rate: float | None = None
    total_credits_used: float | None = None
    p95_duration_secs: float | None = None


class ProjectWorkflowData(Model, frozen=True):
    workflow_name: str | None = None
    metrics: RunSummaryMetrics | None = None
    trends: RunSummaryTrends | None = None


class ProjectWorkflowBranchData(Model, frozen=True):
    workflow_name: str | None = None
    branch: str | None = None
    metrics: RunSummaryMetrics | None = None
    trends: RunSummaryTrends | None = None


class ProjectWorkflowsPageData(Model, frozen=True):
    """``GET /insights/pages/{project-slug}/summary``: a project's metrics and trends."""

    org_id: str | None = None
    project_id: str | None = None
    project_data: AggregateInsights | None = None
    project_workflow_data: list[ProjectWorkflowData] = []
    project_workflow_branch_data: list[ProjectWorkflowBranchData] = []
    all_branches: list[str] = []
    all_workflows: list[str] = []


class OrgProjectData(Model, frozen=True):
    project_name: str | None = None
    metrics: AggregateMetrics | None = None
    trends: AggregateTrends | None = None


class OrgSummaryData(Model, frozen=True):
    """``GET /insights/{org-slug}/summary``: an organization's metrics and each project's."""

    org_data: AggregateInsights | None = None
    org_project_data: list[OrgProjectData] = []
    all_projects: list[str] | None = None
