"""The Context operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["ContextAPI"]


class ContextAPI(APIBase):
    """Context: methods are added here, one per operation of the spec."""
