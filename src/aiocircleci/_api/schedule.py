"""The Schedule operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["ScheduleAPI"]


class ScheduleAPI(APIBase):
    """Schedule: methods are added here, one per operation of the spec."""
