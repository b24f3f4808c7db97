from __future__ import annotations

from datetime import datetime

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

    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float
    throughput: float
    duration_metrics: DurationMetrics
    mttr: int | None = None
    total_credits_used: int | None = None
    total_recoveries: int | None = None
    completed_runs: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


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
    """One run of a workflow (``GET /insights/{project-slug}/workflows/{workflow-name}``).

    ``status`` is ``None`` for a run outside the spec's statuses (one that never ran).
    """

    id: str
    branch: str | None
    duration: int
    created_at: datetime
    stopped_at: datetime
    credits_used: int
    status: WorkflowRunStatus | None
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


class WorkflowTrends(Model, frozen=True):
    """How a workflow's metrics moved between the two halves of the window (0.1 is +10%)."""

    total_runs: float
    failed_runs: float
    success_rate: float
    p95_duration_secs: float
    median_duration_secs: float
    total_credits_used: float
    mttr: float
    throughput: float


class WorkflowInsights(Model, frozen=True):
    """``GET /insights/{project-slug}/workflows/{workflow-name}/summary``."""

    metrics: WorkflowMetrics
    trends: WorkflowTrends
    workflow_names: list[str]


class TestMetrics(Model, frozen=True):
    """One test's runs, failures and 95th percentile duration (seconds) within a workflow."""

    __test__ = False  # not a pytest class, despite the name

    test_name: str
    job_name: str
    total_runs: int
    failed_runs: int
    flaky: bool
    p95_duration: float | None = None
    classname: str | None = None
    source: str | None = None
    file: str | None = None


class TestCounts(Model, frozen=True):
    __test__ = False

    error: int
    failure: int
    skipped: int
    success: int
    total: int


class TestRunCounts(Model, frozen=True):
    """The test results of one run of a workflow."""

    __test__ = False

    pipeline_number: int
    workflow_id: str
    success_rate: float
    test_counts: TestCounts


class WorkflowTestMetrics(Model, frozen=True):
    """``GET /insights/{project-slug}/workflows/{workflow-name}/test-metrics``."""

    average_test_count: int
    most_failed_tests: list[TestMetrics]
    most_failed_tests_extra: int
    slowest_tests: list[TestMetrics]
    slowest_tests_extra: int
    total_test_runs: int
    test_runs: list[TestRunCounts]


class InsightsBranches(Model, frozen=True):
    """``GET /insights/{project-slug}/branches``: the branches Insights has runs of."""

    branches: list[str]
    org_id: str | None = None
    project_id: str | None = None


class JobTimeseriesMetrics(Model, frozen=True):
    total_runs: int
    failed_runs: int
    successful_runs: int
    throughput: float
    median_credits_used: int
    total_credits_used: int
    duration_metrics: DurationMetrics


class JobTimeseries(Model, frozen=True):
    """One job's metrics over one interval (an hour or a day) starting at ``timestamp``."""

    name: str
    min_started_at: datetime
    max_ended_at: datetime
    timestamp: datetime
    metrics: JobTimeseriesMetrics


class AggregateMetrics(Model, frozen=True):
    """Totals across workflows and branches (of a project or an organization).

    ``throughput`` (runs per day) is missing from the per-project rows of an
    organization's summary.
    """

    total_runs: int
    total_duration_secs: int
    total_credits_used: int
    success_rate: float
    throughput: float | None = None


class AggregateTrends(Model, frozen=True):
    """How ``AggregateMetrics`` moved against the previous window (0.1 is +10%)."""

    total_runs: float
    total_duration_secs: float
    total_credits_used: float
    success_rate: float
    throughput: float | None = None


class AggregateInsights(Model, frozen=True):
    metrics: AggregateMetrics
    trends: AggregateTrends


class RunSummaryMetrics(Model, frozen=True):
    """Runs of one workflow (or of one workflow on one branch) in a project's summary."""

    total_runs: int
    success_rate: float
    total_credits_used: int
    p95_duration_secs: float


class RunSummaryTrends(Model, frozen=True):
    total_runs: float
    success_rate: float
    total_credits_used: float
    p95_duration_secs: float


class ProjectWorkflowData(Model, frozen=True):
    workflow_name: str
    metrics: RunSummaryMetrics
    trends: RunSummaryTrends


class ProjectWorkflowBranchData(Model, frozen=True):
    workflow_name: str
    branch: str
    metrics: RunSummaryMetrics
    trends: RunSummaryTrends


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
    project_name: str
    metrics: AggregateMetrics
    trends: AggregateTrends


class OrgSummaryData(Model, frozen=True):
    """``GET /insights/{org-slug}/summary``: an organization's metrics and each project's."""

    org_data: AggregateInsights
    org_project_data: list[OrgProjectData]
    all_projects: list[str] | None = None
