"""The Groups operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["GroupsAPI"]


class GroupsAPI(APIBase):
    """Groups: methods are added here, one per operation of the spec."""
