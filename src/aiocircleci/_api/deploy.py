"""The Deploy operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["DeployAPI"]


class DeployAPI(APIBase):
    """Deploy: methods are added here, one per operation of the spec."""
