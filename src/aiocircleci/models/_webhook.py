"""Models of the Webhook operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = ["Webhook", "WebhookEvent", "WebhookScope"]


class WebhookEvent(StatusEnum):
    WORKFLOW_COMPLETED = "workflow-completed"
    JOB_COMPLETED = "job-completed"
    UNKNOWN = "unknown"


class WebhookScope(Model, frozen=True):
    """What a webhook listens to: for now always a project (``type`` ``"project"``, its id)."""

    id: str
    type: str | None = None


class Webhook(Model, frozen=True, rename="kebab"):
    """An outbound webhook. ``signing_secret`` comes back masked, never in clear."""

    id: str
    name: str | None = None
    url: str | None = None
    scope: WebhookScope | None = None
    events: list[WebhookEvent] = []
    verify_tls: bool | None = None
    signing_secret: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
