"""The Organization operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["OrganizationAPI"]


class OrganizationAPI(APIBase):
    """Organization: methods are added here, one per operation of the spec."""
