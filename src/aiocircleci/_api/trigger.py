"""The Trigger operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["TriggerAPI"]


class TriggerAPI(APIBase):
    """Trigger: methods are added here, one per operation of the spec."""
