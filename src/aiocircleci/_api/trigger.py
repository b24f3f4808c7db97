"""The Trigger operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from .._pagination import Paginator
from ..models import DefinitionTrigger, Message, TriggerEventPreset
from ._base import APIBase, seg

__all__ = ["TriggerAPI"]

EventProvider = Literal[
    "github_app", "github_server", "github_oauth", "bitbucket_dc", "webhook", "schedule"
]
AttributionActor = Literal["current", "system"]


def _settings(
    *,
    event_preset: TriggerEventPreset | str | None,
    checkout_ref: str | None,
    config_ref: str | None,
    event_name: str | None,
    disabled: bool | None,
    parameters: Mapping[str, object] | None,
) -> dict[str, object]:
    """The body fields that creating and updating a trigger share; ``None`` is not sent."""
    fields: dict[str, object | None] = {
        "event_preset": None if event_preset is None else str(event_preset),
        "checkout_ref": checkout_ref,
        "config_ref": config_ref,
        "event_name": event_name,
        "disabled": disabled,
        "parameters": None if parameters is None else dict(parameters),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _source_details(
    *,
    webhook_sender: str | None,
    cron_expression: str | None,
    attribution_actor: AttributionActor | None,
) -> dict[str, object]:
    source: dict[str, object] = {}
    if webhook_sender is not None:
        source["webhook"] = {"sender": webhook_sender}
    schedule: dict[str, object] = {}
    if cron_expression is not None:
        schedule["cron_expression"] = cron_expression
    if attribution_actor is not None:
        schedule["attribution_actor"] = attribution_actor
    if schedule:
        source["schedule"] = schedule
    return source


class TriggerAPI(APIBase):
    """Trigger: what starts the pipelines of a pipeline definition."""

    def pipeline_definition_triggers(
        self, project_id: str, pipeline_definition_id: str, *, limit: int | None = None
    ) -> Paginator[DefinitionTrigger]:
        """GET /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}/triggers

        The triggers of a pipeline definition.
        """
        return self._paginate(
            f"/projects/{seg(project_id)}/pipeline-definitions/"
            f"{seg(pipeline_definition_id)}/triggers",
            DefinitionTrigger,
            limit=limit,
        )

    async def create_trigger(
        self,
        project_id: str,
        pipeline_definition_id: str,
        *,
        provider: EventProvider,
        repo_id: str | None = None,
        webhook_sender: str | None = None,
        cron_expression: str | None = None,
        attribution_actor: AttributionActor | None = None,
        event_preset: TriggerEventPreset | str | None = None,
        checkout_ref: str | None = None,
        config_ref: str | None = None,
        event_name: str | None = None,
        disabled: bool | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> DefinitionTrigger:
        """POST /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}/triggers

        Create a trigger: a repository (``repo_id`` is its ``external_id``), a
        webhook (``webhook_sender``) or a schedule (``cron_expression``).
        """
        source: dict[str, object] = {"provider": provider}
        if repo_id is not None:
            source["repo"] = {"external_id": repo_id}
        source.update(
            _source_details(
                webhook_sender=webhook_sender,
                cron_expression=cron_expression,
                attribution_actor=attribution_actor,
            )
        )
        body: dict[str, object] = {
            "event_source": source,
            **_settings(
                event_preset=event_preset,
                checkout_ref=checkout_ref,
                config_ref=config_ref,
                event_name=event_name,
                disabled=disabled,
                parameters=parameters,
            ),
        }
        return await self._call(
            "POST",
            f"/projects/{seg(project_id)}/pipeline-definitions/"
            f"{seg(pipeline_definition_id)}/triggers",
            DefinitionTrigger,
            json=body,
        )

    async def get_trigger(self, project_id: str, trigger_id: str) -> DefinitionTrigger:
        """GET /projects/{project_id}/triggers/{trigger_id}

        A trigger by id.
        """
        return await self._call(
            "GET", f"/projects/{seg(project_id)}/triggers/{seg(trigger_id)}", DefinitionTrigger
        )

    async def update_trigger(
        self,
        project_id: str,
        trigger_id: str,
        *,
        webhook_sender: str | None = None,
        cron_expression: str | None = None,
        attribution_actor: AttributionActor | None = None,
        event_preset: TriggerEventPreset | str | None = None,
        checkout_ref: str | None = None,
        config_ref: str | None = None,
        event_name: str | None = None,
        disabled: bool | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> DefinitionTrigger:
        """PATCH /projects/{project_id}/triggers/{trigger_id}

        Change a trigger; only the arguments given are sent. Its provider and repository stay.
        """
        body = _settings(
            event_preset=event_preset,
            checkout_ref=checkout_ref,
            config_ref=config_ref,
            event_name=event_name,
            disabled=disabled,
            parameters=parameters,
        )
        source = _source_details(
            webhook_sender=webhook_sender,
            cron_expression=cron_expression,
            attribution_actor=attribution_actor,
        )
        if source:
            body["event_source"] = source
        return await self._call(
            "PATCH",
            f"/projects/{seg(project_id)}/triggers/{seg(trigger_id)}",
            DefinitionTrigger,
            json=body,
        )

    async def delete_trigger(self, project_id: str, trigger_id: str) -> Message:
        """DELETE /projects/{project_id}/triggers/{trigger_id}

        Delete a trigger.
        """
        return await self._call(
            "DELETE", f"/projects/{seg(project_id)}/triggers/{seg(trigger_id)}", Message
        )
