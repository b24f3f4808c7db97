"""The Rollback operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["RollbackAPI"]


class RollbackAPI(APIBase):
    """Rollback: methods are added here, one per operation of the spec."""
