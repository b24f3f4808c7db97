"""Insights through the client and the emulator: summaries, trends, test metrics, time series."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from aiocircleci import BadRequest, Client, Limits, NotFound, RetryPolicy
from aiocircleci.models import WorkflowRunStatus
from aiocircleci.testing import FakeCircleCI, WorldConfig

from ._conformance import workflow_name
from .conftest import some

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(
    projects=4,
    pipelines_per_project=30,
    workflows_per_pipeline=2,
    jobs_per_workflow=3,
    artifacts_per_job=0,
    tests_per_job=3,
)
FAST = Limits(rate=math.inf, burst=1000, max_in_flight=8)
RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def client_for(fake: FakeCircleCI) -> Client:
    return Client(fake.token, base_url=fake.base_url, limits=FAST, retry=RETRY)


async def test_a_workflow_summary_counts_the_runs_insights_lists() -> None:
    async with FakeCircleCI(seed=1, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        name = workflow_name(fake)
        runs = [r async for r in client.workflow_runs(slug, name)]
        summary = await client.workflow_summary(slug, name)
        metrics = some(summary.metrics)
        assert metrics.total_runs == len(runs) > 0
        assert metrics.successful_runs == sum(r.status is WorkflowRunStatus.SUCCESS for r in runs)
        assert metrics.window_start is not None
        assert metrics.window_end is not None
        assert some(metrics.window_start) < some(metrics.window_end)
        assert some(metrics.duration_metrics).max == max(some(r.duration) for r in runs)
        assert name in summary.workflow_names

        everywhere = await client.workflow_summary(slug, name, all_branches=True)
        assert some(some(everywhere.metrics).total_runs) >= some(metrics.total_runs)
        with pytest.raises(NotFound):
            await client.workflow_summary(slug, "no-such-workflow")


async def test_workflow_test_metrics_add_up_over_the_runs() -> None:
    async with FakeCircleCI(seed=2, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        name = workflow_name(fake)
        metrics = await client.workflow_test_metrics(slug, name, all_branches=True)
        runs = [r async for r in client.workflow_runs(slug, name, all_branches=True)]
        assert len(metrics.test_runs) == len(runs)
        assert {t.workflow_id for t in metrics.test_runs} == {r.id for r in runs}
        assert (
            metrics.total_test_runs
            == sum(some(some(t.test_counts).total) for t in metrics.test_runs)
            > 0
        )
        failed = [some(t.failed_runs) for t in metrics.most_failed_tests]
        assert failed == sorted(failed, reverse=True)
        assert all(failed)
        slowest = [t.p95_duration or 0.0 for t in metrics.slowest_tests]
        assert slowest == sorted(slowest, reverse=True)
        assert all(
            t.flaky == (0 < some(t.failed_runs) < some(t.total_runs)) for t in metrics.slowest_tests
        )


async def test_insights_branches_are_the_branches_that_have_finished_runs() -> None:
    async with FakeCircleCI(seed=3, config=CONFIG) as fake, client_for(fake) as client:
        project = fake.world.projects[0]
        pipeline_branches = {p.branch for p in fake.world.pipelines(project.slug) if p.branch}
        found = await client.insights_branches(project.slug)
        assert (found.project_id, found.org_id) == (project.id, project.organization.id)
        assert project.default_branch in found.branches
        assert set(found.branches) <= pipeline_branches
        narrowed = await client.insights_branches(project.slug, workflow_name=workflow_name(fake))
        assert set(narrowed.branches) <= set(found.branches)


async def test_a_project_summary_narrows_its_rows_to_the_workflows_and_branches_asked_for() -> None:
    async with FakeCircleCI(seed=4, config=CONFIG) as fake, client_for(fake) as client:
        slug = fake.world.projects[0].slug
        full = await client.project_summary(slug, reporting_window="last-90-days")
        assert full.project_data is not None
        assert some(some(full.project_data.metrics).total_runs) > 0
        assert [w.workflow_name for w in full.project_workflow_data] == full.all_workflows
        assert {b.branch for b in full.project_workflow_branch_data} == set(full.all_branches)
        assert full.project_id == fake.world.projects[0].id

        first = full.all_workflows[0]
        narrow = await client.project_summary(slug, workflow_names=[first], branches="main")
        assert [w.workflow_name for w in narrow.project_workflow_data] == [first]
        assert {(b.workflow_name, b.branch) for b in narrow.project_workflow_branch_data} == {
            (first, "main")
        }
        assert narrow.project_data == full.project_data  # the totals are not narrowed


async def test_the_job_time_series_pages_through_every_job_of_every_interval() -> None:
    async with (
        FakeCircleCI(seed=5, config=CONFIG, page_size=3) as fake,
        client_for(fake) as client,
    ):
        slug = fake.world.projects[0].slug
        name = workflow_name(fake)
        hourly = [t async for t in client.job_timeseries(slug, name, granularity="hourly")]
        daily = [t async for t in client.job_timeseries(slug, name, granularity="daily")]
        assert len(hourly) > 3  # more than one page
        assert sum(some(some(t.metrics).total_runs) for t in hourly) == sum(
            some(some(t.metrics).total_runs) for t in daily
        )
        assert len(daily) <= len(hourly)
        assert all(some(t.min_started_at) <= some(t.max_ended_at) for t in hourly)
        assert all(
            some(some(t.metrics).successful_runs) + some(some(t.metrics).failed_runs)
            == some(t.metrics).total_runs
            for t in hourly
        )

        stamps = sorted(some(t.timestamp) for t in hourly)
        middle = stamps[len(stamps) // 2]
        later = [
            t
            async for t in client.job_timeseries(
                slug,
                name,
                granularity="hourly",
                start_date=middle,
                end_date=stamps[-1] + timedelta(hours=1),
            )
        ]
        assert later
        assert all(some(t.timestamp) >= middle for t in later)
        assert len(later) < len(hourly)

        with pytest.raises(ValueError, match="start_date"):
            client.job_timeseries(slug, name, end_date=middle)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        with pytest.raises(BadRequest):
            await client.job_timeseries(
                slug, name, start_date=start, end_date=start + timedelta(days=91)
            ).collect()


async def test_an_org_summary_covers_every_project_of_the_org_unless_narrowed() -> None:
    async with FakeCircleCI(seed=6, config=CONFIG) as fake, client_for(fake) as client:
        org = fake.world.organization("gh/acme-corp")
        names = [p.name for p in fake.world.projects if p.organization.id == org.id]
        assert len(names) == 2
        summary = await client.org_summary(org.slug, reporting_window="last-30-days")
        assert summary.all_projects == names
        assert [p.project_name for p in summary.org_project_data] == names
        assert some(some(some(summary.org_data).metrics).total_runs) == sum(
            some(some(p.metrics).total_runs) for p in summary.org_project_data
        )
        narrowed = await client.org_summary(org.slug, project_names=[names[1]])
        assert [p.project_name for p in narrowed.org_project_data] == [names[1]]
        with pytest.raises(NotFound):
            await client.org_summary("gh/no-such-org")
        with pytest.raises(ValueError, match="VCS/ORG"):
            await client.org_summary(org.id)
