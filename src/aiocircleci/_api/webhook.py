"""The Webhook operations of API v2."""

from __future__ import annotations

from collections.abc import Sequence

from .._pagination import Paginator
from ..models import Message, Model, Webhook, WebhookEvent
from ._base import APIBase, seg

__all__ = ["WebhookAPI"]


class _Scope(Model, frozen=True):
    id: str
    type: str


class _NewWebhook(Model, frozen=True, rename="kebab"):
    name: str
    url: str
    events: list[str]
    verify_tls: bool
    signing_secret: str
    scope: _Scope


class _WebhookChanges(Model, frozen=True, rename="kebab"):
    name: str | None = None
    url: str | None = None
    events: list[str] | None = None
    verify_tls: bool | None = None
    signing_secret: str | None = None


def _events(events: Sequence[WebhookEvent | str]) -> list[str]:
    if isinstance(events, str):
        raise TypeError("events takes a list of events, not one string")
    return [str(event) for event in events]


class WebhookAPI(APIBase):
    """Webhook: outbound webhooks that CircleCI calls when workflows or jobs complete.

    A webhook's scope is a project, named by its id (``Project.id``), not its slug.
    """

    def webhooks(
        self, scope_id: str, *, scope_type: str = "project", limit: int | None = None
    ) -> Paginator[Webhook]:
        """GET /webhook

        The webhooks of a project (``scope_id`` is the project's id).
        """
        params = {"scope-id": scope_id, "scope-type": scope_type}
        return self._paginate("/webhook", Webhook, params=params, limit=limit)

    async def create_webhook(
        self,
        *,
        name: str,
        url: str,
        events: Sequence[WebhookEvent | str],
        scope_id: str,
        signing_secret: str,
        verify_tls: bool = True,
        scope_type: str = "project",
    ) -> Webhook:
        """POST /webhook

        Create a webhook; CircleCI signs each delivery with an HMAC of ``signing_secret``.
        """
        body = _NewWebhook(
            name=name,
            url=url,
            events=_events(events),
            verify_tls=verify_tls,
            signing_secret=signing_secret,
            scope=_Scope(id=scope_id, type=scope_type),
        )
        return await self._call("POST", "/webhook", Webhook, json=body)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        """GET /webhook/{webhook-id}

        A webhook by id.
        """
        return await self._call("GET", f"/webhook/{seg(webhook_id)}", Webhook)

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent | str] | None = None,
        signing_secret: str | None = None,
        verify_tls: bool | None = None,
    ) -> Webhook:
        """PUT /webhook/{webhook-id}

        Change the given fields of a webhook; its scope cannot change.
        """
        body = _WebhookChanges(
            name=name,
            url=url,
            events=None if events is None else _events(events),
            verify_tls=verify_tls,
            signing_secret=signing_secret,
        )
        return await self._call("PUT", f"/webhook/{seg(webhook_id)}", Webhook, json=body)

    async def delete_webhook(self, webhook_id: str) -> Message:
        """DELETE /webhook/{webhook-id}

        Delete a webhook.
        """
        return await self._call("DELETE", f"/webhook/{seg(webhook_id)}", Message)
