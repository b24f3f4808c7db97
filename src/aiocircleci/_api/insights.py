from __future__ import annotations

from typing import Literal

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import FlakyTests, WorkflowJobMetrics, WorkflowRun, WorkflowSummary
from ._base import APIBase, seg, slug_path

__all__ = ["InsightsAPI", "ReportingWindow"]

ReportingWindow = Literal[
    "last-24-hours", "last-7-days", "last-30-days", "last-60-days", "last-90-days"
]


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
