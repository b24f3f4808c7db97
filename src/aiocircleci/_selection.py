"""Which pipelines, workflows, jobs and artifacts a mirror takes.

Pure code: no I/O, no clock of its own. ``parse_time`` reads ``7d``, ``12h``,
``2025-06-01`` or ``2025-06-01T12:00:00Z`` against an injected ``now``;
``Globs`` holds include and exclude patterns; ``Selection`` is the frozen value
a mirror is given, and answers "is this pipeline (workflow, job, artifact) in?".
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from ._shard import Shard
from .models import Job, JobStatus, JobType, Pipeline, Workflow, WorkflowStatus

__all__ = [
    "FINISHED_JOB_STATUSES",
    "FINISHED_WORKFLOW_STATUSES",
    "Globs",
    "Selection",
    "in_window",
    "parse_age",
    "parse_time",
    "pipeline_branch",
]

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_AGE_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")

# Statuses after which a workflow's jobs, or a job's artifacts, no longer change.
FINISHED_WORKFLOW_STATUSES: Final = frozenset(
    {
        WorkflowStatus.SUCCESS,
        WorkflowStatus.FAILED,
        WorkflowStatus.ERROR,
        WorkflowStatus.CANCELED,
        WorkflowStatus.NOT_RUN,
        WorkflowStatus.UNAUTHORIZED,
    }
)
FINISHED_JOB_STATUSES: Final = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.NOT_RUN,
        JobStatus.RETRIED,
        JobStatus.INFRASTRUCTURE_FAIL,
        JobStatus.TIMEDOUT,
        JobStatus.TERMINATED_UNKNOWN,
        JobStatus.CANCELED,
        JobStatus.UNAUTHORIZED,
    }
)
_WORKFLOW_STATUS_NAMES: Final = frozenset(s.value for s in WorkflowStatus) - {"unknown"}


def parse_age(text: str) -> timedelta | None:
    """``7d``, ``12h``, ``1d12h``, ``90m``, ``2w`` or ``30s`` as a timedelta, else ``None``."""
    compact = text.strip().lower().replace(" ", "")
    if not _AGE.fullmatch(compact):
        return None
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _AGE_PART.findall(compact))
    return timedelta(seconds=seconds)


def parse_time(text: str, *, now: datetime) -> datetime:
    """A point in time from a user: an age before ``now`` or an ISO date or date-time.

    ``7d`` is seven days before ``now``; ``2025-06-01`` is that day's midnight
    UTC; ``2025-06-01T12:00:00Z`` (or with an offset) is that moment, and a
    date-time without an offset is taken as UTC. Raises ``ValueError`` with a
    message fit for a user. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    value = text.strip()
    age = parse_age(value)
    if age is not None:
        return now - age
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise ValueError(
        f"invalid time {text!r}: expected an age such as 7d, 12h or 30m, an ISO date "
        "such as 2025-06-01, or a date-time such as 2025-06-01T12:00:00Z"
    )


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


@dataclass(frozen=True, slots=True)
class Globs:
    """Shell-style include and exclude patterns (``*``, ``?``, ``[abc]``), case-sensitive.

    A name is in when it matches some include pattern (or there are none) and
    no exclude pattern. ``*`` also matches ``/``, so ``*.xml`` takes
    ``test-results/junit.xml``.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def matches(self, name: str) -> bool:
        if self.include and not any(_compiled(p).match(name) for p in self.include):
            return False
        return not any(_compiled(p).match(name) for p in self.exclude)


Moment = datetime | timedelta | None


def _resolve(value: Moment, now: datetime) -> datetime | None:
    if isinstance(value, timedelta):
        return now - value
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """What a mirror takes. The default takes everything.

    ``branches``: only pipelines of these branches (each listed with the API's
    ``branch`` filter). ``since`` / ``until``: pipelines created at or after
    ``since`` and before ``until``; a ``timedelta`` counts back from when the
    mirror starts. Listing is newest first and stops at the first pipeline
    older than ``since``. ``pipeline_numbers``: only these pipelines, fetched by
    number (project slugs only). ``latest``: only the newest selected pipeline of
    each branch (of each project). ``workflow_statuses``: only workflows in these
    statuses (``success``, ``failed``...). ``workflows``, ``jobs``, ``artifacts``:
    glob patterns on workflow names, job names and artifact paths. ``shard``:
    only the pipelines this machine owns when N machines split the work
    (``--shard K/N``, see ``_shard.py``).
    """

    branches: tuple[str, ...] = ()
    since: Moment = None
    until: Moment = None
    pipeline_numbers: tuple[int, ...] = ()
    latest: bool = False
    workflow_statuses: frozenset[str] = field(default_factory=frozenset)
    workflows: Globs = Globs()
    jobs: Globs = Globs()
    artifacts: Globs = Globs()
    shard: Shard | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "branches", tuple(dict.fromkeys(self.branches)))
        numbers = tuple(dict.fromkeys(int(n) for n in self.pipeline_numbers))
        if any(n < 1 for n in numbers):
            raise ValueError("pipeline numbers start at 1")
        object.__setattr__(self, "pipeline_numbers", numbers)
        statuses = frozenset(str(s).strip().lower() for s in self.workflow_statuses)
        unknown = sorted(statuses - _WORKFLOW_STATUS_NAMES)
        if unknown:
            raise ValueError(
                f"unknown workflow status {unknown[0]!r}: expected one of "
                + ", ".join(sorted(_WORKFLOW_STATUS_NAMES))
            )
        object.__setattr__(self, "workflow_statuses", statuses)
        if self.latest and numbers:
            raise ValueError("choose pipeline numbers or the latest pipelines, not both")
        for name in ("since", "until"):
            value = getattr(self, name)
            if isinstance(value, timedelta) and value < timedelta(0):
                raise ValueError(f"{name} must not lie in the future")
        since, until = self.since, self.until
        if isinstance(since, datetime) and isinstance(until, datetime):
            self.window(since)  # raises when the window is empty

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """``(since, until)`` as moments, relative ones counted back from ``now``."""
        since, until = _resolve(self.since, now), _resolve(self.until, now)
        if since is not None and until is not None and since >= until:
            raise ValueError("since must be earlier than until")
        return since, until

    def takes_pipeline_branch(self, pipeline: Pipeline) -> bool:
        if not self.branches:
            return True
        return pipeline.vcs is not None and pipeline.vcs.branch in self.branches

    def takes_pipeline_shard(self, pipeline: Pipeline) -> bool:
        return self.shard is None or self.shard.owns(pipeline.project_slug, pipeline.id)

    def takes_workflow(self, workflow: Workflow) -> bool:
        if self.workflow_statuses and str(workflow.status) not in self.workflow_statuses:
            return False
        return self.workflows.matches(workflow.name)

    def takes_job(self, job: Job) -> bool:
        """Build jobs with a number whose name matches; never approval jobs."""
        if job.type is JobType.APPROVAL or job.job_number is None:
            return False
        return self.jobs.matches(job.name)

    def takes_artifact(self, path: str) -> bool:
        return self.artifacts.matches(path)


def pipeline_branch(pipeline: Pipeline) -> str | None:
    """The branch of a pipeline (``None`` for a tag)."""
    return pipeline.vcs.branch if pipeline.vcs is not None else None


def in_window(created: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or created >= since) and (until is None or created < until)
