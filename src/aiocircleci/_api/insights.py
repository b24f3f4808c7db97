"""The Insights operations of API v2."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import (
    FlakyTests,
    InsightsBranches,
    JobTimeseries,
    OrgSummaryData,
    ProjectWorkflowsPageData,
    WorkflowInsights,
    WorkflowJobMetrics,
    WorkflowRun,
    WorkflowSummary,
    WorkflowTestMetrics,
)
from ._base import APIBase, seg, slug_path
from .project import org_path

__all__ = ["InsightsAPI", "ReportingWindow"]

ReportingWindow = Literal[
    "last-24-hours", "last-7-days", "last-30-days", "last-60-days", "last-90-days"
]


def _many(values: Sequence[str] | None) -> list[str] | None:
    """A repeated query parameter (``?branches=a&branches=b``); a lone string is one value."""
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def _date(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class InsightsAPI(APIBase):
    """Insights: workflow and job metrics, runs and flaky tests."""

    def workflow_metrics(
        self,
        slug: str | ProjectSlug,
        *,
        branch: str | None = None,
        all_branches: bool | None = None,
        reporting_window: ReportingWindow | None = None,
        limit: int | None = None,
    ) -> Paginator[WorkflowSummary]:
        """GET /insights/{project-slug}/workflows

        Summary metrics of a project's workflows.
        """
        params = {
            "branch": branch,
            "all-branches": all_branches,
            "reporting-window": reporting_window,
        }
        return self._paginate(
            f"/insights/{slug_path(slug)}/workflows", WorkflowSummary, params=params, limit=limit
        )

    def workflow_runs(
        self,
        slug: str | ProjectSlug,
        workflow_name: str,
        *,
        branch: str | None = None,
        all_branches: bool | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        limit: int | None = None,
    ) -> Paginator[WorkflowRun]:
        """GET /insights/{project-slug}/workflows/{workflow-name}

        Recent runs of one workflow.
        """
        params = {
            "branch": branch,
            "all-branches": all_branches,
            "start-date": start_date,
            "end-date": end_date,
        }
        return self._paginate(
            f"/insights/{slug_path(slug)}/workflows/{seg(workflow_name)}",
            WorkflowRun,
            params=params,
            limit=limit,
        )

    def workflow_job_metrics(
        self,
        slug: str | ProjectSlug,
        workflow_name: str,
        *,
        branch: str | None = None,
        all_branches: bool | None = None,
        reporting_window: ReportingWindow | None = None,
        job_name: str | None = None,
        limit: int | None = None,
    ) -> Paginator[WorkflowJobMetrics]:
        """GET /insights/{project-slug}/workflows/{workflow-name}/jobs

        Summary metrics of the jobs of one workflow.
        """
        params = {
            "branch": branch,
            "all-branches": all_branches,
            "reporting-window": reporting_window,
            "job-name": job_name,
        }
        return self._paginate(
            f"/insights/{slug_path(slug)}/workflows/{seg(workflow_name)}/jobs",
            WorkflowJobMetrics,
            params=params,
            limit=limit,
        )

    async def flaky_tests(self, slug: str | ProjectSlug) -> FlakyTests:
        """GET /insights/{project-slug}/flaky-tests

        The tests that flaked in a project.
        """
        return await self._call("GET", f"/insights/{slug_path(slug)}/flaky-tests", FlakyTests)

    async def workflow_summary(
        self,
        slug: str | ProjectSlug,
        workflow_name: str,
        *,
        branch: str | None = None,
        all_branches: bool | None = None,
    ) -> WorkflowInsights:
        """GET /insights/{project-slug}/workflows/{workflow-name}/summary

        A workflow's metrics over the window, their trends, and the project's workflow names.
        """
        params = {"branch": branch, "all-branches": all_branches}
        return await self._call(
            "GET",
            f"/insights/{slug_path(slug)}/workflows/{seg(workflow_name)}/summary",
            WorkflowInsights,
            params=params,
        )

    async def workflow_test_metrics(
        self,
        slug: str | ProjectSlug,
        workflow_name: str,
        *,
        branch: str | None = None,
        all_branches: bool | None = None,
    ) -> WorkflowTestMetrics:
        """GET /insights/{project-slug}/workflows/{workflow-name}/test-metrics

        A workflow's most failed and slowest tests, and the test counts of each run.
        """
        params = {"branch": branch, "all-branches": all_branches}
        return await self._call(
            "GET",
            f"/insights/{slug_path(slug)}/workflows/{seg(workflow_name)}/test-metrics",
            WorkflowTestMetrics,
            params=params,
        )

    async def insights_branches(
        self, slug: str | ProjectSlug, *, workflow_name: str | None = None
    ) -> InsightsBranches:
        """GET /insights/{project-slug}/branches

        The branches a project (or one of its workflows) has Insights data for.
        """
        return await self._call(
            "GET",
            f"/insights/{slug_path(slug)}/branches",
            InsightsBranches,
            params={"workflow-name": workflow_name},
        )

    async def project_summary(
        self,
        slug: str | ProjectSlug,
        *,
        reporting_window: ReportingWindow | None = None,
        branches: Sequence[str] | None = None,
        workflow_names: Sequence[str] | None = None,
    ) -> ProjectWorkflowsPageData:
        """GET /insights/pages/{project-slug}/summary

        A project's totals and trends, per workflow and per workflow and branch;
        ``branches`` and ``workflow_names`` narrow the per-workflow rows.
        """
        params = {
            "reporting-window": reporting_window,
            "branches": _many(branches),
            "workflow-names": _many(workflow_names),
        }
        return await self._call(
            "GET",
            f"/insights/pages/{slug_path(slug)}/summary",
            ProjectWorkflowsPageData,
            params=params,
        )

    def job_timeseries(
        self,
        slug: str | ProjectSlug,
        workflow_name: str,
        *,
        branch: str | None = None,
        granularity: Literal["daily", "hourly"] | None = None,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        limit: int | None = None,
    ) -> Paginator[JobTimeseries]:
        """GET /insights/time-series/{project-slug}/workflows/{workflow-name}/jobs

        Per-job metrics of a workflow, one item per job and hour or day; ``end_date``
        needs ``start_date``, at most 90 days before it.
        """
        if end_date is not None and start_date is None:
            raise ValueError("job_timeseries: end_date needs start_date")
        params = {
            "branch": branch,
            "granularity": granularity,
            "start-date": _date(start_date),
            "end-date": _date(end_date),
        }
        return self._paginate(
            f"/insights/time-series/{slug_path(slug)}/workflows/{seg(workflow_name)}/jobs",
            JobTimeseries,
            params=params,
            limit=limit,
        )

    async def org_summary(
        self,
        org_slug: str,
        *,
        reporting_window: ReportingWindow | None = None,
        project_names: Sequence[str] | None = None,
    ) -> OrgSummaryData:
        """GET /insights/{org-slug}/summary

        An organization's totals and trends, and each project's (``project_names`` narrows).
        """
        params = {"reporting-window": reporting_window, "project-names": _many(project_names)}
        return await self._call(
            "GET",
            f"/insights/{org_path(org_slug, allow_id=False)}/summary",
            OrgSummaryData,
            params=params,
        )
