"""The Policy Management operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["PolicyAPI"]


class PolicyAPI(APIBase):
    """Policy Management: methods are added here, one per operation of the spec."""
