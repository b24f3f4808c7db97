"""Models of the Trigger operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum
from ._pipeline_definition import PipelineDefinitionRepo

__all__ = [
    "DefinitionTrigger",
    "TriggerEventPreset",
    "TriggerEventSource",
    "TriggerSchedule",
    "TriggerWebhook",
]


class TriggerEventPreset(StatusEnum):
    """Which repository events start a pipeline (the spec's ``trigger_event_preset``)."""

    ALL_PUSHES = "all-pushes"
    ONLY_TAGS = "only-tags"
    DEFAULT_BRANCH_PUSHES = "default-branch-pushes"
    ONLY_BUILD_PRS = "only-build-prs"
    ONLY_OPEN_PRS = "only-open-prs"
    ONLY_LABELED_PRS = "only-labeled-prs"
    ONLY_MERGED_PRS = "only-merged-prs"
    ONLY_READY_FOR_REVIEW_PRS = "only-ready-for-review-prs"
    ONLY_BRANCH_DELETE = "only-branch-delete"
    ONLY_BUILD_PUSHES_TO_NON_DRAFT_PRS = "only-build-pushes-to-non-draft-prs"
    ONLY_MERGED_OR_CLOSED_PRS = "only-merged-or-closed-prs"
    PR_COMMENT_EQUALS_RUN_CI = "pr-comment-equals-run-ci"
    NON_DRAFT_PR_OPENED = "non-draft-pr-opened"
    PUSHES_TO_MERGE_QUEUES = "pushes-to-merge-queues"
    UNKNOWN = "unknown"


class TriggerWebhook(Model, frozen=True):
    """A custom webhook trigger: the URL to call, and who calls it."""

    url: str | None = None
    sender: str | None = None


class TriggerSchedule(Model, frozen=True):
    """A scheduled trigger's cron expression."""

    cron_expression: str | None = None


class TriggerEventSource(Model, frozen=True):
    """What fires a trigger: a repository, a webhook or a schedule (``provider`` says which)."""

    provider: str | None = None
    repo: PipelineDefinitionRepo | None = None
    webhook: TriggerWebhook | None = None
    schedule: TriggerSchedule | None = None


class DefinitionTrigger(Model, frozen=True):
    """A trigger of a pipeline definition (the spec's ``trigger``).

    Named apart from ``Trigger``, which says how one pipeline was started.
    """

    id: str
    created_at: datetime | None = None
    event_name: str | None = None
    event_source: TriggerEventSource | None = None
    event_preset: TriggerEventPreset | None = None
    checkout_ref: str | None = None
    config_ref: str | None = None
    disabled: bool | None = None
    parameters: dict[str, object] | None = None
