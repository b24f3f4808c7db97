"""Insights, computed from the world's own workflows, jobs and test results.

Reporting windows end at the newest run in the world rather than at today, so
that a world generated for a fixed date still has data in every window.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._entities import Job, Pipeline, Project, Workflow
from .._world import FINISHED_WORKFLOW
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso
from .projects import project_of

__all__ = ["ROUTES"]

_WINDOWS = {
    "last-24-hours": 1.0,
    "last-7-days": 7.0,
    "last-30-days": 30.0,
    "last-60-days": 60.0,
    "last-90-days": 90.0,
}
_RUN_STATUSES = frozenset({"success", "failed", "error", "canceled", "unauthorized"})
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class _Run:
    workflow: Workflow
    pipeline: Pipeline
    jobs: tuple[Job, ...]

    @property
    def duration(self) -> float:
        stopped = self.workflow.stopped_at or self.workflow.created_at
        return max(0.0, stopped - self.workflow.created_at)

    @property
    def credits(self) -> int:
        return sum(j.credits for j in self.jobs)

    @property
    def branch(self) -> str:
        return self.pipeline.branch or self.pipeline.tag or ""


def _runs(
    call: ApiCall,
    project: Project,
    *,
    workflow_name: str | None = None,
    branch_filter: bool = True,
) -> list[_Run]:
    """Finished runs of a project, newest first, filtered the way the query asks."""
    world = call.world
    branch = call.query.get("branch") or None
    all_branches = call.flag("all-branches") or not branch_filter
    wanted = branch if branch is not None else None if all_branches else project.default_branch
    runs: list[_Run] = []
    for pipeline in world.pipelines(project.slug):
        if wanted is not None and pipeline.branch != wanted:
            continue
        for workflow in world.workflows(pipeline.id):
            if workflow.status not in FINISHED_WORKFLOW or workflow.tag == "setup":
                continue
            if workflow_name is not None and workflow.name != workflow_name:
                continue
            runs.append(_Run(workflow, pipeline, tuple(world.jobs(workflow.id))))
    return runs


def _window(call: ApiCall, runs: Sequence[_Run]) -> tuple[float, float, float]:
    days = _WINDOWS.get(call.query.get("reporting-window", "last-90-days"), 90.0)
    end = max([call.world.config.start_time, *(r.workflow.created_at for r in runs)])
    return end - days * _DAY, end, days


def _in_window(runs: Iterable[_Run], start: float) -> list[_Run]:
    return [r for r in runs if r.workflow.created_at >= start]


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def _durations(values: Sequence[float], *, mean: bool = True) -> dict[str, Any]:
    if not values:
        body: dict[str, Any] = {"min": None, "median": None, "p95": None, "max": None}
        if mean:
            body.update(mean=None, standard_deviation=None)
        return body
    body = {
        "min": int(min(values)),
        "median": int(statistics.median(values)),
        "p95": int(_percentile(values, 0.95)),
        "max": int(max(values)),
    }
    if mean:
        body["mean"] = int(statistics.fmean(values))
        body["standard_deviation"] = statistics.pstdev(values)
    return body


def _recoveries(runs: Sequence[_Run]) -> tuple[int, int | None]:
    """How often a failed run was followed by a success, and the mean time it took."""
    times: list[float] = []
    failed_at: float | None = None
    for run in sorted(runs, key=lambda r: r.workflow.created_at):
        if run.workflow.status in ("failed", "error") and failed_at is None:
            failed_at = run.workflow.stopped_at or run.workflow.created_at
        elif run.workflow.status == "success" and failed_at is not None:
            times.append((run.workflow.stopped_at or run.workflow.created_at) - failed_at)
            failed_at = None
    return len(times), int(statistics.fmean(times)) if times else None


def _basic(runs: Sequence[_Run], days: float) -> dict[str, Any]:
    success = sum(1 for r in runs if r.workflow.status == "success")
    failed = sum(1 for r in runs if r.workflow.status in ("failed", "error"))
    return {
        "total_runs": len(runs),
        "successful_runs": success,
        "failed_runs": failed,
        "success_rate": success / len(runs) if runs else 0.0,
        "total_credits_used": sum(r.credits for r in runs),
        "throughput": len(runs) / days,
    }


def _trend(now: float, before: float) -> float:
    return 0.0 if before == 0 else (now - before) / before


def _workflow_metrics(runs: Sequence[_Run], days: float) -> dict[str, Any]:
    recoveries, mttr = _recoveries(runs)
    metrics = _basic(runs, days)
    metrics.update(
        mttr=mttr,
        total_recoveries=recoveries,
        duration_metrics=_durations([r.duration for r in runs]),
    )
    return metrics


def _names(runs: Iterable[_Run]) -> list[str]:
    return sorted({r.workflow.name for r in runs})


def _require_name(call: ApiCall, project: Project) -> None:
    name = call.params["workflow-name"]
    if not any(r.workflow.name == name for r in _runs(call, project, branch_filter=False)):
        raise ApiError(404, f"Workflow {name} not found")


def workflow_metrics(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/workflows"""
    project = project_of(call)
    runs = _runs(call, project)
    start, end, days = _window(call, runs)
    runs = _in_window(runs, start)
    items = [
        {
            "name": name,
            "metrics": _workflow_metrics([r for r in runs if r.workflow.name == name], days),
            "window_start": iso(start),
            "window_end": iso(end),
            "project_id": project.id,
        }
        for name in _names(runs)
    ]
    return Reply(call.page(items, f"insights-workflows:{project.slug}:{call.filters()}"))


def workflow_runs(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/workflows/{workflow-name}"""
    project = project_of(call)
    runs = _runs(call, project, workflow_name=call.params["workflow-name"])
    items = [
        {
            "id": r.workflow.id,
            "branch": r.branch,
            "duration": int(r.duration),
            "created_at": iso(r.workflow.created_at),
            "stopped_at": iso(r.workflow.stopped_at or r.workflow.created_at),
            "credits_used": r.credits,
            "status": r.workflow.status if r.workflow.status in _RUN_STATUSES else None,
            "is_approval": any(j.type == "approval" for j in r.jobs),
        }
        for r in runs
    ]
    return Reply(call.page(items, f"insights-runs:{project.slug}:{call.filters()}"))


def workflow_job_metrics(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/workflows/{workflow-name}/jobs"""
    project = project_of(call)
    runs = _runs(call, project, workflow_name=call.params["workflow-name"])
    start, end, days = _window(call, runs)
    by_name: dict[str, list[Job]] = defaultdict(list)
    for run in _in_window(runs, start):
        for job in run.jobs:
            if job.type == "build" and job.stopped_at is not None and job.started_at is not None:
                by_name[job.name].append(job)
    wanted = call.query.get("job-name")
    items = []
    for name in sorted(by_name):
        if wanted and name != wanted:
            continue
        jobs = by_name[name]
        success = sum(1 for j in jobs if j.status == "success")
        durations = [j.stopped_at - j.started_at for j in jobs if j.stopped_at and j.started_at]
        items.append(
            {
                "name": name,
                "metrics": {
                    "total_runs": len(jobs),
                    "failed_runs": len(jobs) - success,
                    "successful_runs": success,
                    "duration_metrics": _durations(durations),
                    "success_rate": success / len(jobs),
                    "total_credits_used": sum(j.credits for j in jobs),
                    "throughput": len(jobs) / days,
                },
                "window_start": iso(start),
                "window_end": iso(end),
            }
        )
    return Reply(call.page(items, f"insights-jobs:{project.slug}:{call.filters()}"))


def workflow_summary(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/workflows/{workflow-name}/summary"""
    project = project_of(call)
    _require_name(call, project)
    runs = _runs(call, project, workflow_name=call.params["workflow-name"])
    start, end, days = _window(call, runs)
    runs = _in_window(runs, start)
    metrics = _workflow_metrics(runs, days)
    completed = sum(1 for r in runs if r.workflow.status in _RUN_STATUSES)
    metrics.update(window_start=iso(start), window_end=iso(end), completed_runs=completed)
    del metrics["total_recoveries"]
    half = (start + end) / 2
    older = [r for r in runs if r.workflow.created_at < half]
    newer = [r for r in runs if r.workflow.created_at >= half]
    old_m, new_m = _basic(older, days / 2), _basic(newer, days / 2)
    trends = {
        key: _trend(new_m[key], old_m[key])
        for key in ("total_runs", "failed_runs", "success_rate", "total_credits_used", "throughput")
    }
    old_d = [r.duration for r in older]
    new_d = [r.duration for r in newer]
    both = bool(old_d and new_d)
    old_rec, new_rec = _recoveries(older)[1], _recoveries(newer)[1]
    trends.update(
        p95_duration_secs=_trend(_percentile(new_d, 0.95), _percentile(old_d, 0.95))
        if both
        else 0.0,
        median_duration_secs=_trend(statistics.median(new_d), statistics.median(old_d))
        if both
        else 0.0,
        mttr=_trend(new_rec, old_rec) if new_rec is not None and old_rec is not None else 0.0,
    )
    names = _names(_runs(call, project))
    return Reply({"metrics": metrics, "trends": trends, "workflow_names": names})


def test_metrics(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/workflows/{workflow-name}/test-metrics"""
    project = project_of(call)
    _require_name(call, project)
    runs = _runs(call, project, workflow_name=call.params["workflow-name"])
    world = call.world
    test_runs = []
    stats: dict[tuple[str, str, str], list[Any]] = {}
    total = 0
    for run in runs:
        counts = {"error": 0, "failure": 0, "skipped": 0, "success": 0, "total": 0}
        for job in run.jobs:
            for test in world.tests(job):
                counts["total"] += 1
                counts[test.result if test.result in counts else "error"] += 1
                key = (job.name, test.classname, test.name)
                entry = stats.setdefault(key, [0, 0, [], test])
                entry[0] += 1
                entry[1] += test.result == "failure"
                entry[2].append(test.run_time)
        total += counts["total"]
        test_runs.append(
            {
                "pipeline_number": run.pipeline.number,
                "workflow_id": run.workflow.id,
                "success_rate": counts["success"] / counts["total"] if counts["total"] else 0.0,
                "test_counts": counts,
            }
        )

    def render(key: tuple[str, str, str], entry: list[Any]) -> dict[str, Any]:
        test = entry[3]
        return {
            "p95_duration": _percentile(entry[2], 0.95),
            "total_runs": entry[0],
            "classname": test.classname,
            "failed_runs": entry[1],
            "flaky": 0 < entry[1] < entry[0],
            "source": test.source,
            "file": test.file,
            "job_name": key[0],
            "test_name": key[2],
        }

    ranked_failed = sorted(stats.items(), key=lambda kv: (-kv[1][1], kv[0]))
    failed = [render(k, v) for k, v in ranked_failed if v[1]]
    ranked_slow = sorted(stats.items(), key=lambda kv: (-_percentile(kv[1][2], 0.95), kv[0]))
    slow = [render(k, v) for k, v in ranked_slow]
    return Reply(
        {
            "average_test_count": total // len(runs) if runs else 0,
            "most_failed_tests": failed[:10],
            "most_failed_tests_extra": max(0, len(failed) - 10),
            "slowest_tests": slow[:10],
            "slowest_tests_extra": max(0, len(slow) - 10),
            "total_test_runs": total,
            "test_runs": test_runs,
        }
    )


def branches(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/branches"""
    project = project_of(call)
    runs = _runs(call, project, workflow_name=call.query.get("workflow-name"), branch_filter=False)
    names = sorted({r.pipeline.branch for r in runs if r.pipeline.branch is not None})
    return Reply({"org_id": project.organization.id, "project_id": project.id, "branches": names})


def flaky_tests(call: ApiCall) -> Reply:
    """GET /insights/{project-slug}/flaky-tests"""
    project = project_of(call)
    world = call.world
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for run in reversed(_runs(call, project, branch_filter=False)):
        for job in run.jobs:
            for test in world.tests(job):
                key = (run.workflow.name, job.name, test.classname, test.name)
                entry = seen.setdefault(key, {"ok": 0, "bad": 0, "wasted": 0.0})
                if test.result == "failure":
                    entry["bad"] += 1
                    entry["wasted"] += test.run_time
                    entry["last"] = (run, job, test)
                elif test.result == "success":
                    entry["ok"] += 1
    items = []
    for key, entry in sorted(seen.items()):
        if not (entry["ok"] and entry["bad"]):
            continue
        run, job, test = entry["last"]
        items.append(
            {
                "time-wasted": int(entry["wasted"]),
                "workflow-created-at": iso(run.workflow.created_at),
                "workflow-id": run.workflow.id,
                "classname": test.classname,
                "pipeline-number": run.pipeline.number,
                "workflow-name": key[0],
                "test-name": test.name,
                "job-name": job.name,
                "job-number": job.number or 0,
                "times-flaked": entry["bad"],
                "source": test.source,
                "file": test.file,
            }
        )
    return Reply({"flaky-tests": items, "total-flaky-tests": float(len(items))})


def _summary_metrics(runs: Sequence[_Run], days: float) -> dict[str, Any]:
    basic = _basic(runs, days)
    return {
        "total_runs": basic["total_runs"],
        "total_duration_secs": int(sum(r.duration for r in runs)),
        "total_credits_used": basic["total_credits_used"],
        "success_rate": basic["success_rate"],
        "throughput": basic["throughput"],
    }


def _small_metrics(runs: Sequence[_Run]) -> dict[str, Any]:
    durations = [r.duration for r in runs]
    success = sum(1 for r in runs if r.workflow.status == "success")
    return {
        "total_credits_used": sum(r.credits for r in runs),
        "p95_duration_secs": _percentile(durations, 0.95) if durations else 0.0,
        "total_runs": len(runs),
        "success_rate": success / len(runs) if runs else 0.0,
    }


def _zero_trends(metrics: dict[str, Any]) -> dict[str, float]:
    return {key: 0.0 for key in metrics}


def project_summary(call: ApiCall) -> Reply:
    """GET /insights/pages/{project-slug}/summary"""
    project = project_of(call)
    runs = _runs(call, project, branch_filter=False)
    start, _, days = _window(call, runs)
    runs = _in_window(runs, start)
    project_metrics = _summary_metrics(runs, days)
    wanted_workflows = set(call.query.getall("workflow-names", []))
    wanted_branches = set(call.query.getall("branches", []))
    workflow_data = []
    branch_data = []
    for name in _names(runs):
        if wanted_workflows and name not in wanted_workflows:
            continue
        of_name = [r for r in runs if r.workflow.name == name]
        metrics = _small_metrics(of_name)
        workflow_data.append(
            {"workflow_name": name, "metrics": metrics, "trends": _zero_trends(metrics)}
        )
        for branch in sorted({r.branch for r in of_name}):
            if wanted_branches and branch not in wanted_branches:
                continue
            metrics = _small_metrics([r for r in of_name if r.branch == branch])
            branch_data.append(
                {
                    "workflow_name": name,
                    "branch": branch,
                    "metrics": metrics,
                    "trends": _zero_trends(metrics),
                }
            )
    return Reply(
        {
            "org_id": project.organization.id,
            "project_id": project.id,
            "project_data": {"metrics": project_metrics, "trends": _zero_trends(project_metrics)},
            "project_workflow_data": workflow_data,
            "project_workflow_branch_data": branch_data,
            "all_branches": sorted({r.branch for r in runs}),
            "all_workflows": _names(runs),
        }
    )


def job_timeseries(call: ApiCall) -> Reply:
    """GET /insights/time-series/{project-slug}/workflows/{workflow-name}/jobs"""
    project = project_of(call)
    runs = _runs(call, project, workflow_name=call.params["workflow-name"])
    start, end = _date(call, "start-date"), _date(call, "end-date")
    if end is not None and start is None:
        raise ApiError(400, "start-date must be given with end-date.")
    if start is not None and end is not None and not 0 <= end - start <= 90 * _DAY:
        raise ApiError(400, "end-date must be after start-date and at most 90 days later.")
    bucket = 3600.0 if call.query.get("granularity") == "hourly" else _DAY
    groups: dict[tuple[str, float], list[Job]] = defaultdict(list)
    for run in runs:
        for job in run.jobs:
            if job.type != "build" or job.started_at is None or job.stopped_at is None:
                continue
            if start is not None and job.started_at < start:
                continue
            if end is not None and job.started_at >= end:
                continue
            groups[(job.name, job.started_at // bucket * bucket)].append(job)
    items = []
    for (name, stamp), jobs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        durations = [j.stopped_at - j.started_at for j in jobs if j.stopped_at and j.started_at]
        success = sum(1 for j in jobs if j.status == "success")
        credits = sorted(j.credits for j in jobs)
        metrics = _durations(durations, mean=False)
        metrics["total"] = int(sum(durations))
        items.append(
            {
                "name": name,
                "min_started_at": iso(min(j.started_at or stamp for j in jobs)),
                "max_ended_at": iso(max(j.stopped_at or stamp for j in jobs)),
                "timestamp": iso(stamp),
                "metrics": {
                    "total_runs": len(jobs),
                    "failed_runs": len(jobs) - success,
                    "successful_runs": success,
                    "throughput": len(jobs) / (bucket / 3600.0 if bucket < _DAY else 1.0),
                    "median_credits_used": int(statistics.median(credits)),
                    "total_credits_used": sum(credits),
                    "duration_metrics": metrics,
                },
            }
        )
    return Reply(call.page(items, f"timeseries:{project.slug}:{call.filters()}"))


def _date(call: ApiCall, name: str) -> float | None:
    value = call.query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def org_summary(call: ApiCall) -> Reply:
    """GET /insights/{org-slug}/summary"""
    world = call.world
    org = find(lambda: world.organization(call.params["org-slug"]), "Organization not found")
    projects = [p for p in world.projects if p.organization.id == org.id]
    wanted = set(call.query.getall("project-names", []))
    all_runs: list[_Run] = []
    per_project = []
    for project in projects:
        runs = _runs(call, project, branch_filter=False)
        all_runs.extend(runs)
        per_project.append((project, runs))
    start, _, days = _window(call, all_runs)
    project_data = []
    for project, runs in per_project:
        if wanted and project.name not in wanted:
            continue
        runs = _in_window(runs, start)
        summary = _summary_metrics(runs, days)
        metrics = {
            "total_credits_used": summary["total_credits_used"],
            "total_duration_secs": summary["total_duration_secs"],
            "total_runs": summary["total_runs"],
            "success_rate": summary["success_rate"],
        }
        project_data.append(
            {"project_name": project.name, "metrics": metrics, "trends": _zero_trends(metrics)}
        )
    org_metrics = _summary_metrics(_in_window(all_runs, start), days)
    return Reply(
        {
            "org_data": {"metrics": org_metrics, "trends": _zero_trends(org_metrics)},
            "org_project_data": project_data,
            "all_projects": [p.name for p in projects],
        }
    )


ROUTES = (
    ApiRoute(
        "GET",
        "/insights/pages/{project-slug}/summary",
        "getProjectWorkflowsPageData",
        project_summary,
    ),
    ApiRoute(
        "GET",
        "/insights/time-series/{project-slug}/workflows/{workflow-name}/jobs",
        "getJobTimeseries",
        job_timeseries,
    ),
    ApiRoute("GET", "/insights/{org-slug}/summary", "getOrgSummaryData", org_summary),
    ApiRoute("GET", "/insights/{project-slug}/branches", "getAllInsightsBranches", branches),
    ApiRoute("GET", "/insights/{project-slug}/flaky-tests", "getFlakyTests", flaky_tests),
    ApiRoute(
        "GET", "/insights/{project-slug}/workflows", "getProjectWorkflowMetrics", workflow_metrics
    ),
    ApiRoute(
        "GET",
        "/insights/{project-slug}/workflows/{workflow-name}",
        "getProjectWorkflowRuns",
        workflow_runs,
    ),
    ApiRoute(
        "GET",
        "/insights/{project-slug}/workflows/{workflow-name}/jobs",
        "getProjectWorkflowJobMetrics",
        workflow_job_metrics,
    ),
    ApiRoute(
        "GET",
        "/insights/{project-slug}/workflows/{workflow-name}/summary",
        "getWorkflowSummary",
        workflow_summary,
    ),
    ApiRoute(
        "GET",
        "/insights/{project-slug}/workflows/{workflow-name}/test-metrics",
        "getProjectWorkflowTestMetrics",
        test_metrics,
    ),
)
