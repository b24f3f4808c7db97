"""Models of the OIDC Token Management operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model

__all__ = ["OIDCClaims"]


class OIDCClaims(Model, frozen=True):
    """Custom claims of the OIDC tokens of an organization or a project (``ClaimResponse``).

    ``ttl`` is a duration such as ``"1h"`` or ``"30m"``; ``project_id`` is set
    for project-level claims only.
    """

    org_id: str | None = None
    project_id: str | None = None
    audience: list[str] | None = None
    audience_updated_at: datetime | None = None
    ttl: str | None = None
    ttl_updated_at: datetime | None = None
