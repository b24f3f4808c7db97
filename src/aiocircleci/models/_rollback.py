"""Models of the Rollback operations."""

from __future__ import annotations

from ._base import Model

__all__ = ["Rollback"]


class Rollback(Model, frozen=True):
    """What ``POST /projects/{project_id}/rollback`` answers: the accepted rollback."""

    id: str
    rollback_type: str | None = None
