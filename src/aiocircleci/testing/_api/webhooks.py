"""Outbound webhooks of a project.

Signing secrets are stored but only ever shown masked. A webhook of a project
that no longer exists is gone with it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Literal

import msgspec

from .._entities import Project
from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, iso
from .organizations import random_uuid

__all__ = ["ROUTES", "Webhooks"]

Event = Literal["workflow-completed", "job-completed"]


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project_id: str
    name: str
    url: str
    events: tuple[str, ...]
    verify_tls: bool
    signing_secret: str
    created_at: float
    updated_at: float


class Webhooks:
    """Every webhook by id, in the order they were made."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:webhooks")
        self.items: dict[str, Webhook] = {}
        at = world.config.start_time - 7 * 86400.0
        for project in world.projects[:2]:
            self.add(
                project.id,
                name=f"{project.name} notifications",
                url=f"https://hooks.example.com/circleci/{project.name}",
                events=("workflow-completed",),
                verify_tls=True,
                signing_secret=f"{self.rng.getrandbits(128):032x}",
                now=at,
            )
        if world.projects:
            self.add(
                world.projects[0].id,
                name="job audit",
                url="https://audit.example.com/ingest",
                events=("workflow-completed", "job-completed"),
                verify_tls=False,
                signing_secret=f"{self.rng.getrandbits(128):032x}",
                now=at + 3600.0,
            )

    def add(
        self,
        project_id: str,
        *,
        name: str,
        url: str,
        events: tuple[str, ...],
        verify_tls: bool,
        signing_secret: str,
        now: float,
    ) -> Webhook:
        webhook = Webhook(
            id=random_uuid(self.rng),
            project_id=project_id,
            name=name,
            url=url,
            events=events,
            verify_tls=verify_tls,
            signing_secret=signing_secret,
            created_at=now,
            updated_at=now,
        )
        self.items[webhook.id] = webhook
        return webhook


def _mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


def _render(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "scope": {"id": webhook.project_id, "type": "project"},
        "events": list(webhook.events),
        "verify-tls": webhook.verify_tls,
        "signing-secret": _mask(webhook.signing_secret),
        "created-at": iso(webhook.created_at),
        "updated-at": iso(webhook.updated_at),
    }


def _project_by_id(call: ApiCall, project_id: str) -> Project | None:
    return next((p for p in call.world.projects if p.id == project_id), None)


def _scope(call: ApiCall, scope_id: str | None, scope_type: str | None) -> Project:
    if not scope_id or not scope_type:
        raise ApiError(400, "scope-id and scope-type are required.")
    if scope_type != "project":
        raise ApiError(400, "scope-type must be project.")
    try:
        project_id = str(uuid.UUID(scope_id))
    except ValueError:
        raise ApiError(400, "scope-id is invalid.") from None
    project = _project_by_id(call, project_id)
    if project is None:
        raise ApiError(404, "Project not found.")
    return project


def _webhook(call: ApiCall) -> Webhook:
    webhook_id = call.uuid_param("webhook-id", "webhook-id")
    found = call.world.state(Webhooks).items.get(webhook_id)
    if found is None or _project_by_id(call, found.project_id) is None:
        raise ApiError(404, "Webhook not found.")
    return found


def _check_url(url: str) -> str:
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise ApiError(400, "url must be an https:// URL.")
    return url


def _check_events(events: tuple[str, ...]) -> tuple[str, ...]:
    if not events:
        raise ApiError(400, "events must name at least one event.")
    return tuple(dict.fromkeys(events))


def _check_name(name: str) -> str:
    if not name.strip():
        raise ApiError(400, "name must not be empty.")
    return name


def _check_secret(secret: str) -> str:
    if not secret:
        raise ApiError(400, "signing-secret must not be empty.")
    return secret


def list_webhooks(call: ApiCall) -> Reply:
    """GET /webhook"""
    project = _scope(call, call.query.get("scope-id"), call.query.get("scope-type"))
    items = [w for w in call.world.state(Webhooks).items.values() if w.project_id == project.id]
    return Reply(call.page(items, f"webhooks:{project.id}", render=_render))


class _Scope(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    type: str


class _NewWebhook(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    name: str
    events: tuple[Event, ...]
    url: str
    verify_tls: bool
    signing_secret: str
    scope: _Scope


def create_webhook(call: ApiCall) -> Reply:
    """POST /webhook"""
    body = call.json(_NewWebhook)
    project = _scope(call, body.scope.id, body.scope.type)
    webhook = call.world.state(Webhooks).add(
        project.id,
        name=_check_name(body.name),
        url=_check_url(body.url),
        events=_check_events(body.events),
        verify_tls=body.verify_tls,
        signing_secret=_check_secret(body.signing_secret),
        now=call.now,
    )
    return Reply(_render(webhook), 201)


def get_webhook(call: ApiCall) -> Reply:
    """GET /webhook/{webhook-id}"""
    return Reply(_render(_webhook(call)))


class _WebhookChanges(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    name: str | None = None
    events: tuple[Event, ...] | None = None
    url: str | None = None
    signing_secret: str | None = None
    verify_tls: bool | None = None


def update_webhook(call: ApiCall) -> Reply:
    """PUT /webhook/{webhook-id}"""
    webhook = _webhook(call)
    body = call.json(_WebhookChanges)
    changes: dict[str, Any] = {"updated_at": call.now}
    if body.name is not None:
        changes["name"] = _check_name(body.name)
    if body.events is not None:
        changes["events"] = _check_events(body.events)
    if body.url is not None:
        changes["url"] = _check_url(body.url)
    if body.signing_secret is not None:
        changes["signing_secret"] = _check_secret(body.signing_secret)
    if body.verify_tls is not None:
        changes["verify_tls"] = body.verify_tls
    updated = msgspec.structs.replace(webhook, **changes)
    call.world.state(Webhooks).items[updated.id] = updated
    return Reply(_render(updated))


def delete_webhook(call: ApiCall) -> Reply:
    """DELETE /webhook/{webhook-id}"""
    webhook = _webhook(call)
    del call.world.state(Webhooks).items[webhook.id]
    return Reply({"message": "Webhook deleted."})


ROUTES = (
    ApiRoute("GET", "/webhook", "getWebhooks", list_webhooks),
    ApiRoute("POST", "/webhook", "createWebhook", create_webhook),
    ApiRoute("GET", "/webhook/{webhook-id}", "getWebhookById", get_webhook),
    ApiRoute("PUT", "/webhook/{webhook-id}", "updateWebhook", update_webhook),
    ApiRoute("DELETE", "/webhook/{webhook-id}", "deleteWebhook", delete_webhook),
)
