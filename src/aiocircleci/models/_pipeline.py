from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = [
    "Actor",
    "Commit",
    "Pipeline",
    "PipelineConfig",
    "PipelineCreation",
    "PipelineError",
    "PipelineErrorType",
    "PipelineRunResult",
    "PipelineState",
    "Trigger",
    "TriggerType",
    "Vcs",
]


class PipelineState(StatusEnum):
    CREATED = "created"
    ERRORED = "errored"
    SETUP_PENDING = "setup-pending"
    SETUP = "setup"
    PENDING = "pending"
    UNKNOWN = "unknown"


class PipelineErrorType(StatusEnum):
    CONFIG = "config"
    INVALID_TRIGGER_SETUP = "invalid-trigger-setup"
    CONFIG_FETCH = "config-fetch"
    TIMEOUT = "timeout"
    PERMISSION = "permission"
    OTHER = "other"
    TRIGGER_RULE = "trigger-rule"
    PLAN = "plan"
    UNKNOWN = "unknown"


class TriggerType(StatusEnum):
    SCHEDULED_PIPELINE = "scheduled_pipeline"
    EXPLICIT = "explicit"
    API = "api"
    WEBHOOK = "webhook"
    UNKNOWN = "unknown"


class PipelineError(Model, frozen=True):
    type: PipelineErrorType | None = None
    message: str | None = None


class Actor(Model, frozen=True):
    login: str | None = None
    avatar_url: str | None = None


class Trigger(Model, frozen=True):
    type: TriggerType | None = None
    received_at: datetime | None = None
    actor: Actor | None = None


class Commit(Model, frozen=True):
    subject: str | None = None
    body: str | None = None


class Vcs(Model, frozen=True):
    provider_name: str | None = None
    target_repository_url: str | None = None
    origin_repository_url: str | None = None
    revision: str | None = None
    branch: str | None = None
    tag: str | None = None
    review_id: str | None = None
    review_url: str | None = None
    commit: Commit | None = None


class Pipeline(Model, frozen=True):
    """A pipeline: ``GET /pipeline/{pipeline-id}`` and the pipeline listings."""

    id: str
    number: int
    project_slug: str
    created_at: datetime
    state: PipelineState | None = None
    trigger: Trigger | None = None
    errors: list[PipelineError] = []
    updated_at: datetime | None = None
    trigger_parameters: dict[str, object] | None = None
    vcs: Vcs | None = None


class PipelineCreation(Model, frozen=True):
    """What ``POST /project/{project-slug}/pipeline`` answers."""

    id: str
    state: PipelineState | None = None
    number: int | None = None
    created_at: datetime | None = None


class PipelineConfig(
    Model,
    frozen=True,
    rename={"setup_config": "setup-config", "compiled_setup_config": "compiled-setup-config"},
):
    """``GET /pipeline/{pipeline-id}/config``: the source and compiled YAML."""

    source: str | None = None
    compiled: str | None = None
    setup_config: str | None = None
    compiled_setup_config: str | None = None


class PipelineRunResult(Model, frozen=True):
    """What ``POST /project/{provider}/{organization}/{project}/pipeline/run`` answers.

    A triggered pipeline (201) has ``id``, ``state``, ``number`` and
    ``created_at``; when CircleCI decides not to run one (200) only ``message``
    is set. The spec marks every field optional.
    """

    id: str | None = None
    state: PipelineState | None = None
    number: int | None = None
    created_at: datetime | None = None
    message: str | None = None

    @property
    def triggered(self) -> bool:
        """Whether a pipeline was created."""
        return self.id is not None
