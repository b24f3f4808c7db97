"""The Usage operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["UsageAPI"]


class UsageAPI(APIBase):
    """Usage: methods are added here, one per operation of the spec."""
