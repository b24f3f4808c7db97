from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = ["Message", "RerunResult", "Workflow", "WorkflowStatus"]


class WorkflowStatus(StatusEnum):
    SUCCESS = "success"
    RUNNING = "running"
    NOT_RUN = "not_run"
    FAILED = "failed"
    ERROR = "error"
    FAILING = "failing"
    ON_HOLD = "on_hold"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN = "unknown"


class Workflow(Model, frozen=True):
    """A workflow: ``GET /workflow/{id}`` and ``GET /pipeline/{pipeline-id}/workflow`` items.

    The spec describes it twice (an inline schema and the ``workflow``
    component); both decode to this one model.
    """

    id: str
    name: str
    status: WorkflowStatus | None = None
    created_at: datetime | None = None
    pipeline_id: str | None = None
    pipeline_number: int | None = None
    project_slug: str | None = None
    started_by: str | None = None
    stopped_at: datetime | None = None
    canceled_by: str | None = None
    errored_by: str | None = None
    tag: str | None = None
    auto_rerun_number: int | None = None
    max_auto_reruns: int | None = None


class Message(Model, frozen=True):
    """The ``{"message": ...}`` answer of actions such as cancel and approve."""

    message: str | None = None


class RerunResult(Model, frozen=True):
    """What ``POST /workflow/{id}/rerun`` answers."""

    workflow_id: str | None = None
