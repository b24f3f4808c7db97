"""Triggers of pipeline definitions: repository events, custom webhooks, schedules.

Triggers live in the pipeline definition store (``pipeline_definitions``), so
a deleted definition takes its triggers with it. A repository trigger must
name a repository the world knows; a webhook trigger gets a URL; a schedule
needs a five-field cron expression. Event presets apply to repository
triggers only, and ``event_source.webhook`` / ``.schedule`` may only change a
trigger of that kind.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import msgspec

from ._core import ApiCall, ApiError, ApiRoute, Reply, iso
from .pipeline_definitions import (
    REPO_PROVIDERS,
    TriggerRecord,
    definition_of,
    project_by_id,
    render_repo,
    repo_of,
    store,
)

__all__ = ["ROUTES"]

_PROVIDERS = REPO_PROVIDERS | {"webhook", "schedule"}
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")

EventPreset = Literal[
    "all-pushes",
    "only-tags",
    "default-branch-pushes",
    "only-build-prs",
    "only-open-prs",
    "only-labeled-prs",
    "only-merged-prs",
    "only-ready-for-review-prs",
    "only-branch-delete",
    "only-build-pushes-to-non-draft-prs",
    "only-merged-or-closed-prs",
    "pr-comment-equals-run-ci",
    "non-draft-pr-opened",
    "pushes-to-merge-queues",
]


def _render(trigger: TriggerRecord) -> dict[str, Any]:
    source: dict[str, Any] = {"provider": trigger.provider}
    if trigger.repo is not None:
        source["repo"] = render_repo(trigger.repo)
    if trigger.provider == "webhook":
        webhook = {"url": trigger.webhook_url}
        if trigger.webhook_sender is not None:
            webhook["sender"] = trigger.webhook_sender
        source["webhook"] = webhook
    if trigger.cron_expression is not None:
        source["schedule"] = {"cron_expression": trigger.cron_expression}
    body: dict[str, Any] = {
        "id": trigger.id,
        "created_at": iso(trigger.created_at),
        "event_source": source,
        "disabled": trigger.disabled,
    }
    optional = {
        "event_name": trigger.event_name,
        "event_preset": trigger.event_preset,
        "checkout_ref": trigger.checkout_ref,
        "config_ref": trigger.config_ref,
        "parameters": trigger.parameters,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


class _RepoRef(msgspec.Struct, forbid_unknown_fields=True):
    external_id: str


class _Webhook(msgspec.Struct, forbid_unknown_fields=True):
    sender: str | None = None


class _Schedule(msgspec.Struct, forbid_unknown_fields=True):
    cron_expression: str | None = None
    attribution_actor: Literal["current", "system"] | None = None


class _NewEventSource(msgspec.Struct, forbid_unknown_fields=True):
    provider: str
    repo: _RepoRef | None = None
    webhook: _Webhook | None = None
    schedule: _Schedule | None = None


class _EventSourceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    webhook: _Webhook | None = None
    schedule: _Schedule | None = None


class _NewTrigger(msgspec.Struct, forbid_unknown_fields=True):
    event_source: _NewEventSource
    event_preset: EventPreset | None = None
    checkout_ref: str | None = None
    config_ref: str | None = None
    event_name: str | None = None
    disabled: bool | None = None
    parameters: dict[str, Any] | None = None


class _TriggerUpdate(msgspec.Struct, forbid_unknown_fields=True):
    event_source: _EventSourceUpdate | None = None
    event_preset: EventPreset | None = None
    checkout_ref: str | None = None
    config_ref: str | None = None
    event_name: str | None = None
    disabled: bool | None = None
    parameters: dict[str, Any] | None = None


def _cron(expression: str | None) -> str:
    fields = (expression or "").split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ApiError(400, "event_source.schedule.cron_expression must have five cron fields.")
    return " ".join(fields)


def trigger_of(call: ApiCall) -> TriggerRecord:
    project = project_by_id(call)
    found = store(call.world).triggers.get(call.params["trigger_id"])
    if found is None or found.project_id != project.id:
        raise ApiError(404, "Trigger not found.")
    return found


def list_triggers(call: ApiCall) -> Reply:
    """GET /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}/triggers"""
    definition = definition_of(call)
    triggers = store(call.world).triggers.values()
    return Reply({"items": [_render(t) for t in triggers if t.definition_id == definition.id]})


def create_trigger(call: ApiCall) -> Reply:
    """POST /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}/triggers"""
    definition = definition_of(call)
    body = call.json(_NewTrigger)
    source = body.event_source
    provider = source.provider
    if provider not in _PROVIDERS:
        raise ApiError(
            400, f"event_source.provider must be one of {', '.join(sorted(_PROVIDERS))}."
        )
    is_repo = provider in REPO_PROVIDERS
    if is_repo != (source.repo is not None):
        raise ApiError(400, "event_source.repo is required for repository providers only.")
    if source.webhook is not None and provider != "webhook":
        raise ApiError(400, "event_source.webhook is only for webhook triggers.")
    if (source.schedule is not None) != (provider == "schedule"):
        raise ApiError(400, "event_source.schedule is required for schedule triggers only.")
    if body.event_preset is not None and not is_repo:
        raise ApiError(400, "event_preset is only for repository triggers.")
    state = store(call.world)
    trigger = TriggerRecord(
        id=state.new_id(),
        project_id=definition.project_id,
        definition_id=definition.id,
        created_at=call.now,
        provider=provider,
        repo=None if source.repo is None else repo_of(call, source.repo.external_id),
        event_preset=body.event_preset,
        checkout_ref=body.checkout_ref,
        config_ref=body.config_ref,
        event_name=body.event_name,
        disabled=bool(body.disabled),
        parameters=body.parameters,
    )
    if provider == "webhook":
        secret = hashlib.sha256(f"{call.world.seed}:{trigger.id}".encode()).hexdigest()[:32]
        trigger.webhook_url = (
            f"https://internal.circleci.com/private/soc/e/{trigger.id}?secret={secret}"
        )
        trigger.webhook_sender = None if source.webhook is None else source.webhook.sender
    if source.schedule is not None:
        trigger.cron_expression = _cron(source.schedule.cron_expression)
        trigger.attribution_actor = source.schedule.attribution_actor or "current"
    state.triggers[trigger.id] = trigger
    return Reply(_render(trigger))


def get_trigger(call: ApiCall) -> Reply:
    """GET /projects/{project_id}/triggers/{trigger_id}"""
    return Reply(_render(trigger_of(call)))


def update_trigger(call: ApiCall) -> Reply:
    """PATCH /projects/{project_id}/triggers/{trigger_id}"""
    trigger = trigger_of(call)
    body = call.json(_TriggerUpdate)
    source = body.event_source or _EventSourceUpdate()
    if source.webhook is not None and trigger.provider != "webhook":
        raise ApiError(400, "event_source.webhook only applies to webhook triggers.")
    if source.schedule is not None and trigger.provider != "schedule":
        raise ApiError(400, "event_source.schedule only applies to schedule triggers.")
    if body.event_preset is not None and trigger.provider not in REPO_PROVIDERS:
        raise ApiError(400, "event_preset is only for repository triggers.")
    cron = trigger.cron_expression
    if source.schedule is not None and source.schedule.cron_expression is not None:
        cron = _cron(source.schedule.cron_expression)
    trigger.cron_expression = cron
    if source.schedule is not None and source.schedule.attribution_actor is not None:
        trigger.attribution_actor = source.schedule.attribution_actor
    if source.webhook is not None and source.webhook.sender is not None:
        trigger.webhook_sender = source.webhook.sender
    for name in ("event_preset", "checkout_ref", "config_ref", "event_name", "parameters"):
        value = getattr(body, name)
        if value is not None:
            setattr(trigger, name, value)
    if body.disabled is not None:
        trigger.disabled = body.disabled
    return Reply(_render(trigger))


def delete_trigger(call: ApiCall) -> Reply:
    """DELETE /projects/{project_id}/triggers/{trigger_id}"""
    trigger = trigger_of(call)
    del store(call.world).triggers[trigger.id]
    return Reply({"message": "Trigger deleted successfully."})


_OF_DEFINITION = "/projects/{project_id}/pipeline-definitions/{pipeline_definition_id}/triggers"
_ONE = "/projects/{project_id}/triggers/{trigger_id}"

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", _OF_DEFINITION, "listPipelineDefinitionTriggers", list_triggers),
    ApiRoute("POST", _OF_DEFINITION, "createTrigger", create_trigger),
    ApiRoute("GET", _ONE, "getTrigger", get_trigger),
    ApiRoute("PATCH", _ONE, "updateTrigger", update_trigger),
    ApiRoute("DELETE", _ONE, "deleteTrigger", delete_trigger),
)
