"""The Webhook operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["WebhookAPI"]


class WebhookAPI(APIBase):
    """Webhook: methods are added here, one per operation of the spec."""
